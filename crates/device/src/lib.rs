//! The Assent device SDK: the part of Assent that runs on the person's machine. The desktop app
//! and the headless `assent device` commands are thin layers over it.
//!
//! - [`DeviceKey`]: an Ed25519 key generated here whose private half lives only in the OS
//!   keychain ([`Keychain`], behind the [`SecretStore`] seam); never in a file, log or IPC message.
//! - [`Account`]s: one per enrollment, kept as JSON in the data directory, with the service key
//!   pinned at enrollment. No secret is in that file.
//! - [`Authenticator`]: enroll from an `assent://enroll` link, fetch requests and verify them
//!   against the pinned key before anything is shown ([`ShownRequest`]), approve or deny with a
//!   signature over exactly what was shown, remove an account.
//! - [`PushStream`]: the live connection, reconnecting with jittered backoff and reporting each
//!   pending request exactly once.
//! - [`fetch_logo`]: relying-party logos fetched with size, type, time and address limits (no
//!   request to a private address, on any redirect hop) and re-encoded here at a fixed size, so
//!   the desktop web view loads nothing remote and decodes nothing foreign.
//! - [`RevocationProof`]: a revocation notice verified against the pinned service key, the only
//!   thing that makes a device delete a key.
//! - [`DeviceSession`]: a running device (every account's stream, the verified pending requests,
//!   links, revocation, logos, settings) emitting typed [`view::SessionEvent`]s; the desktop app
//!   and `assent device watch` are thin consumers of it.
//! - One-time codes: [`DeviceSession::code`] ([`CodeView`], the length a setting), and
//!   [`clock`]: how far each service's clock is from this device's, measured at each connection
//!   and heartbeat, for a warning only.
//! - [`LogMonitor`]: the person's watch on the service's approval log: another device enrolled
//!   for them, a decision in their name made elsewhere or with a leaked key, a rewritten log.
//! - [`UserVerifier`]: the operating system confirms the person before a key signs an approval
//!   that requires it, or every approval when the person asked for that (polkit on Linux,
//!   [`PolkitVerifier`]).
//! - [`view`]: what a session shows (the desktop UI's IPC types, from which its TypeScript is
//!   generated) and [`ErrorKind`], the one enum of error codes.
//!
//! Enrolling and approving:
//!
//! ```no_run
//! use std::sync::Arc;
//! use assent_device::{Authenticator, InsecureServer, Keychain, PushEvent};
//! use assent_protocol::enroll::EnrollLink;
//!
//! # async fn run(now: i64) -> Result<(), assent_device::Error> {
//! let device = Authenticator::open("/home/ana/.local/share/assent", Arc::new(Keychain::default()))?;
//! let link = EnrollLink::parse("assent://enroll?server=https%3A%2F%2Fauth.example.com&token=...")
//!     .map_err(|e| assent_device::Error::InvalidLink(e.to_string()))?;
//! let account = device.enroll(&link, "Ana's laptop", "linux", InsecureServer::Refuse).await?;
//!
//! let mut stream = device.stream(&account).await?;
//! while let Some(event) = stream.next().await {
//!     if let PushEvent::RequestArrived { id, .. } = event {
//!         let shown = device.request(&account, id).await?; // verified against the pinned key
//!         println!("{}: {}", shown.details.app.name, shown.details.message);
//!         device.approve(&shown, None, now).await?; // no number matching; the service's receipt, and any history error
//!     }
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod account;
mod authenticator;
mod client;
pub mod clock;
mod code;
mod error;
mod key;
mod logo;
mod monitor;
mod revocation;
mod secret_store;
mod session;
mod settings;
mod stream;
mod verification;
pub mod view;

pub use account::{Account, DataDir, HISTORY_LIMIT, HistoryEntry, host_name};
pub use authenticator::{
    Answer, Authenticator, Decided, InsecureServer, MAX_PREVIEW_ACCOUNT_NAME_CHARS,
    MAX_PREVIEW_APP_NAME_CHARS, ShownRequest, parse_enrollment, preview_enrollment,
};
pub use client::{DeviceClient, MAX_ANSWER_BYTES};
pub use code::AccountCode;
pub use error::{Error, ErrorKind, Result};
pub use key::DeviceKey;
pub use logo::picture::{PictureError, normalize as normalize_logo};
pub use logo::{
    LOGO_SIDE, LogoCache, LogoError, LogoImage, LogoLimits, LogoLookup, LogoScope, MAX_REDIRECTS,
    fetch_logo, sniff as sniff_image,
};
pub use monitor::{
    LogMonitor, MAX_ENTRIES_ANSWER_BYTES, MonitorError, MonitorErrorKind, PollReport,
    UNCONFIRMED_GRACE_SECS, fingerprint,
};
pub use revocation::RevocationProof;
#[cfg(feature = "memory-store")]
pub use secret_store::MemoryStore;
pub use secret_store::{DEFAULT_KEYCHAIN_SERVICE, KEYCHAIN_SERVICE_ENV, Keychain, SecretStore};
pub use session::{DeviceSession, LOG_POLL_ENV, SessionConfig, SessionEvents};
pub use stream::{
    Backoff, ConnectionState, HEARTBEAT_WINDOW_ENV, MAX_FRAME_BYTES, MAX_PENDING_PER_ACCOUNT,
    MAX_WAITING_PER_ACCOUNT, PushEvent, PushStream, RetryHandle, StreamConfig,
};
#[cfg(target_os = "linux")]
pub use verification::{POLKIT_ACTION, PolkitSubject, PolkitVerifier};
pub use verification::{
    PROMPT_PART_CHARS, UnsupportedPlatform, UserVerifier, VerificationError, VerificationPrompt,
    platform_verifier,
};
pub use view::CodeView;
