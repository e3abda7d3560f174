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
//! - [`fetch_logo`]: relying-party logos fetched with size, type and time limits, so the desktop
//!   web view loads nothing remote.
//! - [`DeviceSession`]: a running device (every account's stream, the verified pending requests,
//!   links, revocation, logos, settings) emitting typed [`view::SessionEvent`]s; the desktop app
//!   and `assent device watch` are thin consumers of it.
//! - [`view`]: what a session shows (the desktop UI's IPC types, from which its TypeScript is
//!   generated) and [`ErrorKind`], the one enum of error codes.
//!
//! Enrolling and approving:
//!
//! ```no_run
//! use std::sync::Arc;
//! use assent_device::{Authenticator, Keychain, PushEvent};
//! use assent_protocol::enroll::EnrollLink;
//!
//! # async fn run(now: i64) -> Result<(), assent_device::Error> {
//! let device = Authenticator::open("/home/ana/.local/share/assent", Arc::new(Keychain::default()))?;
//! let link = EnrollLink::parse("assent://enroll?server=https%3A%2F%2Fauth.example.com&token=...")
//!     .map_err(|e| assent_device::Error::InvalidLink(e.to_string()))?;
//! let account = device.enroll(&link, "Ana's laptop", "linux").await?;
//!
//! let mut stream = device.stream(&account).await?;
//! while let Some(event) = stream.next().await {
//!     if let PushEvent::RequestArrived { id, .. } = event {
//!         let shown = device.request(&account, id).await?; // verified against the pinned key
//!         println!("{}: {}", shown.details.app.name, shown.details.message);
//!         device.approve(&shown, None, now).await?;
//!     }
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod account;
mod authenticator;
mod client;
mod code;
mod error;
mod key;
mod logo;
mod secret_store;
mod session;
mod settings;
mod stream;
pub mod view;

pub use account::{Account, DataDir, HISTORY_LIMIT, HistoryEntry, host_name};
pub use authenticator::{Authenticator, ShownRequest, parse_enrollment};
pub use client::DeviceClient;
pub use code::AccountCode;
pub use error::{Error, ErrorKind, Result};
pub use key::DeviceKey;
pub use logo::{
    LogoCache, LogoError, LogoImage, LogoLimits, LogoLookup, fetch_logo, sniff as sniff_image,
};
#[cfg(feature = "memory-store")]
pub use secret_store::MemoryStore;
pub use secret_store::{DEFAULT_KEYCHAIN_SERVICE, KEYCHAIN_SERVICE_ENV, Keychain, SecretStore};
pub use session::{DeviceSession, SessionConfig, SessionEvents};
pub use stream::{
    Backoff, ConnectionState, HEARTBEAT_WINDOW_ENV, PushEvent, PushStream, StreamConfig,
};
