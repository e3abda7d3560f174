//! Integration tests of `assent-server` over real sockets: one module per source module.

mod approval_log;
mod authenticator;
mod backend;
mod codes;
mod defences;
mod device;
mod http;
mod metrics;
mod outbox;
mod rate;
mod receipts;
mod resolution;
mod sealed;
