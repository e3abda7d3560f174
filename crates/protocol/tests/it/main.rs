//! Integration tests of `assent-protocol`: the committed vectors and property tests, one module
//! per source module.

mod auth;
mod callback;
mod canonical;
mod checkpoint;
mod merkle;
mod receipt;
mod signed;

use serde_json::Value;

/// Reads a vector file from `tests/vectors/`.
pub fn vectors(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// A signing key from a vector's `seed_hex`.
pub fn key_from_seed(seed_hex: &str) -> assent_protocol::SigningKey {
    let seed: [u8; 32] = hex::decode(seed_hex)
        .expect("hex seed")
        .try_into()
        .expect("32-byte seed");
    assent_protocol::SigningKey::from_bytes(&seed)
}
