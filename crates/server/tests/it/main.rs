//! Integration tests of `assent-server` over real sockets: one module per source module.

mod backend;
mod codes;
mod device;
mod http;
mod metrics;
mod outbox;
mod rate;
mod sealed;
