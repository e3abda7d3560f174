//! The service as separate processes: a real Authy client library, durability across SIGKILL,
//! and the shipped binaries under attack.

mod authy_client;
mod durability;
mod hardening;
