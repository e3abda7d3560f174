//! Every JSON body a service or device reads from the other side: enrollment requests and
//! answers, signed decisions, request envelopes, stream messages, status answers and errors.
#![no_main]

use assent_protocol::backend::{ApprovalRequestCreated, ApprovalRequestStatus, RegistrationCreated};
use assent_protocol::crypto::PublicKey;
use assent_protocol::decision::{Decision, DecisionReceipt};
use assent_protocol::enroll::{
    EnrollPreviewRequest, EnrollPreviewResponse, EnrollmentRequest, EnrollmentResponse,
};
use assent_protocol::error::ErrorBody;
use assent_protocol::request::{DeviceRequest, PendingRequests};
use assent_protocol::signed::Signed;
use assent_protocol::stream::StreamMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = PublicKey::from_signing_key(&ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
    if let Ok(request) = serde_json::from_slice::<EnrollmentRequest>(data) {
        let _ = request.verify_proof();
    }
    if let Ok(signed) = serde_json::from_slice::<Signed<Decision>>(data)
        && let Ok(verified) = signed.verify(&key)
    {
        let _ = verified.message.check_shape();
    }
    if let Ok(envelope) = serde_json::from_slice::<DeviceRequest>(data) {
        let _ = envelope.request.verify(&key);
    }
    let _ = serde_json::from_slice::<EnrollmentResponse>(data);
    let _ = serde_json::from_slice::<EnrollPreviewRequest>(data);
    let _ = serde_json::from_slice::<EnrollPreviewResponse>(data);
    let _ = serde_json::from_slice::<StreamMessage>(data);
    let _ = serde_json::from_slice::<PendingRequests>(data);
    let _ = serde_json::from_slice::<DecisionReceipt>(data);
    let _ = serde_json::from_slice::<ErrorBody>(data);
    let _ = serde_json::from_slice::<ApprovalRequestCreated>(data);
    let _ = serde_json::from_slice::<ApprovalRequestStatus>(data);
    let _ = serde_json::from_slice::<RegistrationCreated>(data);
});
