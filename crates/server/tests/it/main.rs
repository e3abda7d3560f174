//! Integration tests of `assent-server` over real sockets: one module per source module.

mod backend;
mod device;
mod metrics;
mod outbox;
mod support;
