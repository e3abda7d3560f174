//! The device `Authorization` header, parsed and checked on every device call before anything
//! else. Input layout: `header \0 target \0 body`.
#![no_main]

use assent_protocol::auth::DeviceAuthorization;
use assent_protocol::crypto::PublicKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |b| *b == 0);
    let Some(header) = parts.next().and_then(|h| std::str::from_utf8(h).ok()) else {
        return;
    };
    let target = parts
        .next()
        .and_then(|t| std::str::from_utf8(t).ok())
        .unwrap_or("/device/v1/requests");
    let body = parts.next().unwrap_or_default();
    if let Ok(auth) = DeviceAuthorization::parse(header) {
        let key = PublicKey::from_signing_key(&ed25519_dalek::SigningKey::from_bytes(&[5; 32]));
        let _ = auth.verify(&key, "POST", target, body, 1_700_000_000, 120);
        // A parsed header renders back to the same text (the format has one spelling; only the
        // surrounding whitespace HTTP may add is ignored).
        assert_eq!(
            auth.render(),
            header.trim_matches([' ', '\t']),
            "a parsed header must render to itself"
        );
    }
});
