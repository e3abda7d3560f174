//! Assent's wire format: every message the service, the device SDK and the desktop app exchange,
//! and every byte that is signed.
//!
//! Nothing here does I/O. The crate defines:
//!
//! - [`canonical`]: RFC 8785 JSON canonicalization, the byte form every signature covers;
//! - [`crypto`]: Ed25519 keys and signatures with a domain tag per [`crypto::MessageKind`], so a
//!   signature of one kind never verifies as another;
//! - [`signed`]: the `{"payload", "signature"}` envelope, verified over the payload as received;
//! - [`auth`]: the device `Authorization` header (render, parse, verify with a caller-given `now`);
//! - [`enroll`], [`request`], [`decision`], [`stream`]: the device API's messages;
//! - [`revocation`]: the service's signed revocation notice, the only word a device deletes its
//!   key on;
//! - [`callback`]: Authy-compatible callback payloads and their HMAC signature;
//! - [`receipt`], [`merkle`], [`checkpoint`]: approval receipts, the approval log's Merkle tree
//!   (RFC 6962) and its signed checkpoints (C2SP signed notes), with the verifiers a relying party
//!   or a device embeds;
//! - [`error`]: the one error body and its stable codes;
//! - [`secret`]: a string wrapper that never prints its contents;
//! - [`totp`]: RFC 6238 one-time codes (Authy-compatible token verification) and their seed.
//!
//! `docs/protocol.md` describes the same formats byte by byte; `tests/vectors/` holds vectors any
//! other implementation can check itself against.
//!
//! ```
//! use assent_protocol::crypto::PublicKey;
//! use assent_protocol::decision::{Decision, Outcome, VerificationMethod};
//! use assent_protocol::signed::Signed;
//! use ed25519_dalek::SigningKey;
//!
//! let device_key = SigningKey::from_bytes(&[7; 32]);
//! let decision = Decision {
//!     v: 1,
//!     request_id: uuid::Uuid::nil(),
//!     request_digest: "00".repeat(32),
//!     device_id: uuid::Uuid::nil(),
//!     outcome: Outcome::Approve,
//!     reason: None,
//!     number: None,
//!     code: None,
//!     verification: Some(VerificationMethod::None),
//!     signed_at: 1_700_000_000,
//! };
//! let signed = Signed::sign(&decision, &device_key).unwrap();
//! let verified = signed.verify(&PublicKey::from_signing_key(&device_key)).unwrap();
//! assert_eq!(verified.message, decision);
//! ```
#![deny(missing_docs)]

pub mod approval_log;
pub mod auth;
pub mod backend;
pub mod callback;
pub mod canonical;
pub mod checkpoint;
pub mod crypto;
pub mod decision;
pub mod enroll;
pub mod error;
pub mod merkle;
pub mod net;
pub mod params;
pub mod receipt;
pub mod request;
pub mod revocation;
pub mod secret;
pub mod signed;
pub mod stream;
pub mod text;
pub mod totp;

pub use ed25519_dalek::SigningKey;
pub use uuid::Uuid;
