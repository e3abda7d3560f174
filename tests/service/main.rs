//! The service as separate processes: a real Authy client library, and durability across SIGKILL.

mod authy_client;
mod durability;
