//! The shipped packages, installed on this machine as a person or an operator would: the
//! desktop .deb and the AppImage receiving an `assent://enroll` link through `xdg-open`, signed
//! updates of the AppImage (and a forged one refused), and the service .deb's hardened unit.
//!
//! These tests install and remove system packages, so they need root and the artefacts of
//! `scripts/package --update-test`; `cargo test --workspace` does not run them (`test = false`):
//! scripts/test runs them by name, inside scripts/session, one at a time.

mod desktop;
#[path = "../e2e/driver.rs"]
#[allow(dead_code)]
mod driver;
mod service;
mod support;
mod update;

/// One package test at a time: they share dpkg, the display and the loopback update port.
pub static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
