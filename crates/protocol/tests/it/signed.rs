use assent_protocol::crypto::{self, MessageKind, PublicKey, Signature};
use assent_protocol::decision::{Decision, DenyReason, Outcome, VerificationMethod};
use assent_protocol::enroll::EnrollmentRequest;
use assent_protocol::request::{
    AppBranding, DetailField, NumberMatching, PersonName, RequestDetails, RequestFacts,
    RequestKind, RequesterContext, TypedCode, UserVerification,
};
use assent_protocol::revocation::RevocationNotice;
use assent_protocol::secret::SecretString;
use assent_protocol::signed::{Signed, SignedMessage, VerifyError};
use assent_protocol::{SigningKey, Uuid};
use proptest::prelude::*;
use serde_json::Value;

fn kind_of(name: &str) -> MessageKind {
    match name {
        "request_auth" => MessageKind::RequestAuth,
        "request_details" => MessageKind::RequestDetails,
        "decision" => MessageKind::Decision,
        "enrollment_proof" => MessageKind::EnrollmentProof,
        "revocation" => MessageKind::Revocation,
        other => panic!("unknown kind {other}"),
    }
}

fn check_typed<T: SignedMessage + PartialEq + std::fmt::Debug>(vector: &Value, key: &SigningKey) {
    let message: T = serde_json::from_value(vector["message"].clone())
        .expect("vector message parses as its type");
    let signed = Signed::sign(&message, key).unwrap();
    assert_eq!(
        signed.signature().to_b64(),
        vector["signature"].as_str().unwrap(),
        "{}",
        vector["name"]
    );
    let verified = signed.verify(&PublicKey::from_signing_key(key)).unwrap();
    assert_eq!(verified.message, message);
    assert_eq!(
        hex::encode(&verified.canonical),
        vector["canonical_hex"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(verified.digest),
        vector["digest_hex"].as_str().unwrap()
    );
}

#[test]
fn project_signature_vectors() {
    let vectors = crate::vectors("assent.json");
    let signatures = vectors["signatures"].as_array().unwrap();
    assert_eq!(signatures.len(), 6);
    for v in signatures {
        let key = crate::key_from_seed(v["seed_hex"].as_str().unwrap());
        let public = PublicKey::from_signing_key(&key);
        assert_eq!(
            public.to_b64(),
            v["public_key"].as_str().unwrap(),
            "{}",
            v["name"]
        );
        let kind = kind_of(v["kind"].as_str().unwrap());
        assert_eq!(kind.tag(), v["tag"].as_str().unwrap());
        let canonical = assent_protocol::canonical::canonicalize(&v["message"]).unwrap();
        assert_eq!(
            hex::encode(&canonical),
            v["canonical_hex"].as_str().unwrap(),
            "{}",
            v["name"]
        );
        assert_eq!(
            hex::encode(crypto::digest(kind, &canonical)),
            v["digest_hex"].as_str().unwrap()
        );
        let signature = Signature::from_b64(v["signature"].as_str().unwrap()).unwrap();
        assert_eq!(
            crypto::sign_canonical(&key, kind, &canonical),
            signature,
            "{}: Ed25519 is deterministic",
            v["name"]
        );
        public
            .verify_canonical(kind, &canonical, &signature)
            .unwrap();
        match kind {
            MessageKind::RequestDetails => check_typed::<RequestDetails>(v, &key),
            MessageKind::Decision => check_typed::<Decision>(v, &key),
            MessageKind::EnrollmentProof => {
                let m = &v["message"];
                let request = EnrollmentRequest::new(
                    SecretString::new(m["token"].as_str().unwrap()),
                    &key,
                    m["name"].as_str().unwrap().to_owned(),
                    m["platform"].as_str().unwrap().to_owned(),
                );
                assert_eq!(
                    request.proof, signature,
                    "enrollment proof matches the vector"
                );
                request.verify_proof().unwrap();
            }
            MessageKind::Revocation => {
                check_typed::<RevocationNotice>(v, &key);
                let notice: Signed<RevocationNotice> = serde_json::from_value(
                    serde_json::json!({"payload": v["message"], "signature": v["signature"]}),
                )
                .unwrap();
                let device: Uuid = v["message"]["device_id"].as_str().unwrap().parse().unwrap();
                assert_eq!(
                    RevocationNotice::verify_for(&notice, &public, device).map(|n| n.device_id),
                    Ok(device),
                    "the vector's notice verifies for its device"
                );
            }
            MessageKind::RequestAuth => unreachable!("auth vectors live in auth_headers"),
            MessageKind::EnrollmentRecord | MessageKind::Receipt => {
                unreachable!("receipt vectors live in receipts.json (tests/it/receipt.rs)")
            }
        }
    }
}

fn text() -> impl Strategy<Value = String> {
    // Printable text, including non-ASCII and characters JSON must escape.
    prop::string::string_regex("[a-zA-Z0-9 $,.\"\\\\\n\u{e9}\u{20ac}\u{1F680}]{0,24}").unwrap()
}

prop_compose! {
    fn request_details()(
        id in any::<u128>(),
        user_id in 1u64..1_000_000,
        message in text(),
        details in prop::collection::vec((text(), text()), 0..4),
        ip in prop::option::of(text()),
        created_at in 1_600_000_000i64..1_900_000_000,
        ttl in prop::option::of(1i64..100_000),
        choices in prop::option::of(prop::collection::vec(10u32..100, 3)),
        typed in prop::option::of((prop::array::uniform16(any::<u8>()), 0u32..1_000_000)),
        quorum in 1u32..3,
        verification in any::<bool>(),
        facts in prop::option::of((0u32..1000, prop::option::of(prop::collection::vec(any::<u128>(), 0..3)))),
        kind in prop::option::of(prop::sample::select(RequestKind::ALL.to_vec())),
        action_label in prop::option::of(text()),
        names in prop::option::of((text(), prop::option::of(text()))),
    ) -> RequestDetails {
        RequestDetails {
            v: 1,
            id: Uuid::from_u128(id),
            app: AppBranding { id: "5f2b8c1d9e3a4b6c7d8e9f01".into(), name: "Acme".into(), accent_color: None, logos: vec![] },
            user_id,
            message,
            details: details.into_iter().map(|(label, value)| DetailField { label, value }).collect(),
            requester: ip.map(|ip| RequesterContext { ip: Some(ip), location: None, user_agent: None }),
            created_at,
            expires_at: ttl.map(|t| created_at + t),
            number_matching: match (choices, typed) {
                (_, Some((salt, code))) => Some(NumberMatching { user_id, choices: vec![], typed: Some(TypedCode::bind(&format!("{code:06}"), salt)) }),
                (Some(choices), None) => Some(NumberMatching { user_id, choices, typed: None }),
                (None, None) => None,
            },
            approvers: vec![user_id, user_id + 1],
            quorum,
            user_verification: verification.then_some(UserVerification::Required),
            facts: facts.map(|(requests_last_hour, same)| RequestFacts {
                requests_last_hour,
                same_network: same.map(|ids| ids.into_iter().map(Uuid::from_u128).collect()),
            }),
            kind,
            action_label,
            people: names.map_or_else(Vec::new, |(first, second)| {
                std::iter::once(PersonName { user_id, name: first })
                    .chain(second.map(|name| PersonName { user_id: user_id + 1, name }))
                    .collect()
            }),
        }
    }
}

prop_compose! {
    fn decision()(
        id in any::<u128>(),
        digest in prop::array::uniform32(any::<u8>()),
        approve in any::<bool>(),
        number in prop::option::of(10u32..100),
        code in prop::option::of("[0-9]{2,6}"),
        method in prop::option::of(prop::sample::select(vec![VerificationMethod::None, VerificationMethod::OsPassword, VerificationMethod::Biometric])),
        not_me in any::<bool>(),
        signed_at in 1_600_000_000i64..1_900_000_000,
    ) -> Decision {
        Decision {
            v: 1,
            request_id: Uuid::from_u128(id),
            request_digest: hex::encode(digest),
            device_id: Uuid::from_u128(!id),
            outcome: if approve { Outcome::Approve } else { Outcome::Deny },
            reason: if approve { None } else if not_me { Some(DenyReason::NotMe) } else { Some(DenyReason::Cancelled) },
            number: if approve && code.is_none() { number } else { None },
            code: if approve { code } else { None },
            verification: method,
            signed_at,
        }
    }
}

/// Flips one bit of the envelope's wire bytes and checks that the result no longer passes
/// parse + verify (or, if it does, that it is byte-for-byte the same message, which a single
/// flip cannot produce).
fn assert_flip_fails<T: SignedMessage + PartialEq + std::fmt::Debug>(message: &T, bit: usize) {
    let key = SigningKey::from_bytes(&[0x42; 32]);
    let public = PublicKey::from_signing_key(&key);
    let wire = serde_json::to_vec(&Signed::sign(message, &key).unwrap()).unwrap();
    let mut flipped = wire.clone();
    let at = bit % (wire.len() * 8);
    flipped[at / 8] ^= 1 << (at % 8);
    let outcome = serde_json::from_slice::<Signed<T>>(&flipped)
        .map_err(|e| e.to_string())
        .and_then(|s| s.verify(&public).map_err(|e| e.to_string()));
    assert!(
        outcome.is_err(),
        "flipping bit {at} of {} still verified",
        String::from_utf8_lossy(&wire)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bit_flip_breaks_request_details(details in request_details(), bit in any::<usize>()) {
        assert_flip_fails(&details, bit);
    }

    #[test]
    fn any_bit_flip_breaks_a_decision(decision in decision(), bit in any::<usize>()) {
        assert_flip_fails(&decision, bit);
    }

    #[test]
    fn a_signature_of_one_kind_fails_as_every_other(decision in decision(), details in request_details()) {
        let key = SigningKey::from_bytes(&[0x43; 32]);
        let public = PublicKey::from_signing_key(&key);
        for (kind, value) in [
            (MessageKind::Decision, serde_json::to_value(&decision).unwrap()),
            (MessageKind::RequestDetails, serde_json::to_value(&details).unwrap()),
        ] {
            let signature = crypto::sign(&key, kind, &value).unwrap();
            for other in MessageKind::ALL {
                let result = public.verify(other, &value, &signature);
                prop_assert_eq!(result.is_ok(), other == kind, "signed as {:?}, checked as {:?}", kind, other);
            }
        }
    }
}

#[test]
fn a_request_signature_does_not_verify_a_decision_with_the_same_payload() {
    // Same JSON bytes under both types cannot happen (different fields), so check the envelope
    // path directly: a signature made as request-details, presented as a decision, fails.
    let key = SigningKey::from_bytes(&[0x44; 32]);
    let payload = serde_json::json!({"v": 1});
    let signature = crypto::sign(&key, MessageKind::RequestDetails, &payload).unwrap();
    let as_decision: Signed<Decision> = Signed::from_parts(payload, signature);
    assert_eq!(
        as_decision
            .verify(&PublicKey::from_signing_key(&key))
            .unwrap_err(),
        VerifyError::BadSignature
    );
}

#[test]
fn unknown_fields_and_non_objects_are_refused() {
    let key = SigningKey::from_bytes(&[0x45; 32]);
    let public = PublicKey::from_signing_key(&key);
    let signature = crypto::sign(&key, MessageKind::Decision, &serde_json::json!([1])).unwrap();
    let signed: Signed<Decision> = Signed::from_parts(serde_json::json!([1]), signature);
    assert_eq!(
        signed.verify(&public).unwrap_err(),
        VerifyError::NotAnObject
    );
    // A correctly signed object with an extra field: the signer is trusted, but the message is
    // not one this version understands, so it is refused rather than partly displayed.
    let mut value = serde_json::to_value(Decision {
        v: 1,
        request_id: Uuid::nil(),
        request_digest: "00".repeat(32),
        device_id: Uuid::nil(),
        outcome: Outcome::Approve,
        reason: None,
        code: None,
        verification: None,
        number: None,
        signed_at: 0,
    })
    .unwrap();
    value["extra"] = "x".into();
    let signature = crypto::sign(&key, MessageKind::Decision, &value).unwrap();
    let signed: Signed<Decision> = Signed::from_parts(value, signature);
    assert!(matches!(
        signed.verify(&public),
        Err(VerifyError::Malformed(_))
    ));
}
