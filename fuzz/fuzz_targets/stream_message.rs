//! Stream frames from whatever answers at the service's address: any text parses as one protocol
//! message or is refused, a parsed message serializes back to itself, and a `revoked` frame is
//! acted on only with a notice signed by the pinned key for this device (the fuzzer cannot sign:
//! a forged or misdirected notice must never verify).
#![no_main]

use assent_protocol::crypto::PublicKey;
use assent_protocol::revocation::RevocationNotice;
use assent_protocol::stream::StreamMessage;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

/// The device id the revocation notice of the protocol vectors names (seeds from make_seeds.py).
const DEVICE: Uuid = Uuid::from_u128(0x7d9e2f40_1a3b_4c5d_8e6f_7a8b9c0d1e2f);

fuzz_target!(|data: &[u8]| {
    let Ok(message) = serde_json::from_slice::<StreamMessage>(data) else {
        return;
    };
    let again: StreamMessage =
        serde_json::from_str(&serde_json::to_string(&message).expect("serializes"))
            .expect("what was read reads again");
    assert_eq!(again, message);
    if let StreamMessage::Revoked { notice } = &message {
        // The seeds (the protocol vectors) sign with key [0x11; 32]; the pinned key here is another one.
        let pinned = PublicKey::from_signing_key(&ed25519_dalek::SigningKey::from_bytes(&[8; 32]));
        assert!(
            RevocationNotice::verify_for(notice, &pinned, DEVICE).is_err(),
            "a notice not signed by the pinned key never verifies"
        );
        // Under the signing key, it verifies only for the device it names.
        let signer = PublicKey::from_signing_key(&ed25519_dalek::SigningKey::from_bytes(&[0x11; 32]));
        if let Ok(verified) = RevocationNotice::verify_for(notice, &signer, DEVICE) {
            assert_eq!(verified.device_id, DEVICE);
        }
        assert!(RevocationNotice::verify_for(notice, &signer, Uuid::from_u128(1)).is_err());
    }
});
