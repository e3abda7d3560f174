//! Integration tests of `assent-device` against a real `assent serve` on loopback, a hostile
//! service (`assent_testkit::hostile`) where the point is what a device refuses, and the real OS
//! keychain (a private gnome-keyring when run through `scripts/session`).

mod account;
mod authenticator;
mod client;
mod clock;
mod code;
mod logo;
mod monitor;
mod revocation;
mod session;
mod stream;
mod support;
mod verification;
