//! Integration tests of the `assent` binary against a real `assent serve` process.

mod backend;
mod bench;
mod callback;
mod demo;
mod device;
mod receipt;
mod support;
