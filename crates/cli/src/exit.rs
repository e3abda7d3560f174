//! Exit codes, stable and documented in docs/cli.md.
//!
//! 0 success (or approved); 1 denied (or an invalid callback signature); 2 expired; 3 an error
//! (unreachable service, refused API key, unknown user, ...); 4 cancelled; 64 bad usage.

/// The request was denied; the callback signature is invalid.
pub const DENIED: u8 = 1;
/// The request expired.
pub const EXPIRED: u8 = 2;
/// The command failed.
pub const ERROR: u8 = 3;
/// The request was cancelled.
pub const CANCELLED: u8 = 4;
/// The command line was wrong.
pub const USAGE: u8 = 64;
