//! Signed envelopes and canonical bytes: any JSON value canonicalizes or is refused, and a signed
//! request-details envelope verifies only with its key.
#![no_main]

use assent_protocol::canonical::canonicalize;
use assent_protocol::crypto::PublicKey;
use assent_protocol::request::RequestDetails;
use assent_protocol::signed::Signed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(bytes) = canonicalize(&value)
    {
        // Canonical bytes are JSON that canonicalizes to themselves.
        let again: serde_json::Value =
            serde_json::from_slice(&bytes).expect("canonical bytes are JSON");
        assert_eq!(canonicalize(&again).expect("canonical twice"), bytes);
    }
    if let Ok(signed) = serde_json::from_slice::<Signed<RequestDetails>>(data) {
        let key = PublicKey::from_signing_key(&ed25519_dalek::SigningKey::from_bytes(&[9; 32]));
        let _ = signed.verify(&key);
    }
});
