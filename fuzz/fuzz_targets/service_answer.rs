//! Answers a device reads from its service (or from whatever answers at its address): enrollment
//! and preview answers, signed request envelopes, pending lists, decision receipts and error
//! bodies. None panics; an error body is read whatever its `revocation` holds, its text is made
//! safe to show, and a notice in it never verifies under a key that did not sign it.
#![no_main]

use assent_protocol::crypto::PublicKey;
use assent_protocol::decision::DecisionReceipt;
use assent_protocol::enroll::{EnrollPreviewResponse, EnrollmentResponse};
use assent_protocol::error::ErrorBody;
use assent_protocol::request::{DeviceRequest, PendingRequests};
use assent_protocol::revocation::RevocationNotice;
use assent_protocol::text::{find_unsafe, shown};
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

fuzz_target!(|data: &[u8]| {
    let pinned = PublicKey::from_signing_key(&ed25519_dalek::SigningKey::from_bytes(&[8; 32]));
    if let Ok(envelope) = serde_json::from_slice::<DeviceRequest>(data) {
        assert!(
            envelope.request.verify(&pinned).is_err(),
            "request details the pinned key did not sign never verify"
        );
    }
    let _ = serde_json::from_slice::<EnrollmentResponse>(data);
    let _ = serde_json::from_slice::<EnrollPreviewResponse>(data);
    let _ = serde_json::from_slice::<PendingRequests>(data);
    let _ = serde_json::from_slice::<DecisionReceipt>(data);
    if let Some(body) = ErrorBody::from_answer(data) {
        let _ = body.code();
        for (text, max) in [(&body.message, 300), (&body.error_code, 16)] {
            let safe = shown(text, max);
            assert_eq!(find_unsafe(&safe), None, "shown text is safe: {safe:?}");
            assert!(safe.chars().count() <= max + 1, "shown text is short");
        }
        if let Some(notice) = &body.revocation {
            assert!(
                RevocationNotice::verify_for(notice, &pinned, Uuid::nil()).is_err(),
                "a notice the pinned key did not sign never verifies"
            );
        }
    }
});
