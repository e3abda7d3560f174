//! The service as separate processes: real Authy client libraries (PyPI and npm), durability
//! across SIGKILL, and the shipped binaries under attack.

mod authy_client;
mod authy_npm;
mod durability;
mod hardening;
