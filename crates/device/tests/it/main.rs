//! Integration tests of `assent-device` against a real `assent serve` on loopback and the real
//! OS keychain (a private gnome-keyring when run through `scripts/session`).

mod authenticator;
mod code;
mod logo;
mod session;
mod stream;
mod support;
