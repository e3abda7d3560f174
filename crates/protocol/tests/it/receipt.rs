use assent_protocol::checkpoint::{Checkpoint, origin_for};
use assent_protocol::crypto::PublicKey;
use assent_protocol::merkle::{self, Tree};
use assent_protocol::receipt::{
    EnrollmentRecord, LogEntry, Receipt, ReceiptContent, ReceiptError, verify_receipt,
};
use assent_protocol::request::RequestStatus;
use assent_protocol::signed::Signed;
use proptest::prelude::*;
use serde_json::Value;

fn service_key(vectors: &Value) -> PublicKey {
    PublicKey::from_b64(vectors["service_public_key"].as_str().unwrap()).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

#[test]
fn receipts_of_the_independent_implementation_verify() {
    let vectors = crate::vectors("receipts.json");
    let key = service_key(&vectors);
    let receipts = vectors["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 3);
    for v in receipts {
        let verified = verify_receipt(s(&v["receipt"]).as_bytes(), &key)
            .unwrap_or_else(|e| panic!("{}: {e}", v["name"]));
        assert_eq!(verified.status.as_str(), s(&v["status"]), "{}", v["name"]);
        assert_eq!(
            hex::encode(LogEntry::Receipt(verified.entry.clone()).to_bytes()),
            s(&v["leaf_hex"]),
            "{}: Rust derives the same log entry from the receipt",
            v["name"]
        );
        assert_eq!(
            verified.checkpoint.size,
            vectors["log"]["size"].as_u64().unwrap()
        );
    }
    let denied = verify_receipt(s(&receipts[2]["receipt"]).as_bytes(), &key).unwrap();
    assert_eq!(denied.status, RequestStatus::Denied);
    assert_eq!(denied.reason.as_deref(), Some("not_me"));
    let two = verify_receipt(s(&receipts[1]["receipt"]).as_bytes(), &key).unwrap();
    assert_eq!(
        two.decisions
            .iter()
            .map(|d| d.device.user_id)
            .collect::<Vec<_>>(),
        vec![1635, 1636],
        "one receipt carries every approver's signature"
    );
}

#[test]
fn the_log_and_its_checkpoint_match_the_independent_implementation() {
    let vectors = crate::vectors("receipts.json");
    let key = service_key(&vectors);
    let log = &vectors["log"];
    let mut tree = Tree::new();
    for leaf in log["leaves_hex"].as_array().unwrap() {
        let bytes = hex::decode(s(leaf)).unwrap();
        LogEntry::parse(&bytes).expect("every leaf is a log entry");
        tree.push(merkle::leaf_hash(&bytes));
    }
    assert_eq!(hex::encode(tree.root()), s(&log["root_hex"]));
    assert_eq!(origin_for(&key), s(&log["origin"]));
    assert_eq!(
        hex::encode(assent_protocol::checkpoint::key_id(s(&log["origin"]), &key)),
        s(&log["key_id_hex"])
    );
    let checkpoint = Checkpoint::open(s(&log["checkpoint"]), &key).unwrap();
    assert_eq!(checkpoint.root, tree.root());
    let service = crate::key_from_seed(s(&vectors["service_seed_hex"]));
    assert_eq!(
        checkpoint.sign(&service),
        s(&log["checkpoint"]),
        "Rust writes the same signed note byte for byte (Ed25519 is deterministic)"
    );
    for e in vectors["enrollments"].as_array().unwrap() {
        let LogEntry::Enrollment(entry) = LogEntry::parse(s(&e["entry"]).as_bytes()).unwrap()
        else {
            panic!("{} is an enrollment entry", e["name"]);
        };
        let record = entry.enrollment.verify(&key).unwrap().message;
        let resigned = Signed::<EnrollmentRecord>::sign(&record, &service).unwrap();
        assert_eq!(resigned.signature(), entry.enrollment.signature());
    }
}

#[test]
fn rust_countersigns_the_same_receipt() {
    let vectors = crate::vectors("receipts.json");
    let service = crate::key_from_seed(s(&vectors["service_seed_hex"]));
    for v in vectors["receipts"].as_array().unwrap() {
        let text = s(&v["receipt"]);
        let python = Receipt::parse(text.as_bytes()).unwrap();
        let salt: [u8; 32] = assent_protocol::crypto::b64url_decode(&python.salt)
            .unwrap()
            .try_into()
            .unwrap();
        let content = ReceiptContent {
            request: python.request.clone(),
            status: python.status,
            reason: python.reason.clone(),
            decisions: python.decisions.clone(),
            salt,
            log_index: python.log_index,
        };
        let (mut rust, _) = content
            .countersign(&service, python.countersigned_at)
            .unwrap();
        rust.inclusion = python.inclusion.clone();
        assert_eq!(
            String::from_utf8(rust.to_bytes()).unwrap(),
            text,
            "{}: the Rust issuer writes the Python receipt byte for byte",
            v["name"]
        );
    }
}

#[test]
fn receipts_every_verifier_must_refuse() {
    let vectors = crate::vectors("receipts.json");
    for v in vectors["refusals"].as_array().unwrap() {
        let key = v.get("service_key").map_or_else(
            || service_key(&vectors),
            |k| PublicKey::from_b64(s(k)).unwrap(),
        );
        let error = verify_receipt(s(&v["receipt"]).as_bytes(), &key)
            .expect_err(&format!("{} must be refused", v["name"]));
        let expected = match s(&v["failed"]) {
            "other deployment" => matches!(error, ReceiptError::OtherDeployment { .. }),
            "status" => matches!(error, ReceiptError::Status(_)),
            "decision signature" => matches!(error, ReceiptError::DecisionSignature { .. }),
            "inclusion" => matches!(error, ReceiptError::Inclusion { .. }),
            other => panic!("unknown expected failure {other}"),
        };
        assert!(
            expected,
            "{}: refused for {error}, expected {}",
            v["name"], v["failed"]
        );
    }
}

#[test]
fn hostile_receipts_are_refused_with_what_failed() {
    let vectors = crate::vectors("receipts.json");
    let key = service_key(&vectors);
    let text = s(&vectors["receipts"][0]["receipt"]);
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(text).unwrap()).unwrap();
    assert_eq!(
        verify_receipt(pretty.as_bytes(), &key).unwrap_err(),
        ReceiptError::NotCanonical,
        "a re-formatted receipt is not the receipt that was issued"
    );
    assert_eq!(
        verify_receipt(&vec![b' '; 300 * 1024], &key).unwrap_err(),
        ReceiptError::TooLarge
    );
    assert!(matches!(
        verify_receipt(b"{\"v\":", &key),
        Err(ReceiptError::NotJson(_))
    ));
    let mut value: Value = serde_json::from_str(text).unwrap();
    value["extra"] = Value::from(1);
    let extra = assent_protocol::canonical::canonicalize(&value).unwrap();
    match verify_receipt(&extra, &key) {
        Err(ReceiptError::Malformed(m)) => assert!(m.contains("extra"), "{m}"),
        other => panic!("an unknown member must be refused by name: {other:?}"),
    }
    let mut value: Value = serde_json::from_str(text).unwrap();
    value.as_object_mut().unwrap().remove("inclusion");
    let bare = assent_protocol::canonical::canonicalize(&value).unwrap();
    assert_eq!(
        verify_receipt(&bare, &key).unwrap_err(),
        ReceiptError::NoInclusion
    );
    let with_newline = format!("{text}\n");
    assert!(
        verify_receipt(with_newline.as_bytes(), &key).is_ok(),
        "one trailing newline (as files end) is tolerated"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any single byte changed anywhere in a receipt makes it fail verification, with a message.
    #[test]
    fn any_changed_byte_fails(which in 0..3usize, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let vectors = crate::vectors("receipts.json");
        let key = service_key(&vectors);
        let mut bytes = s(&vectors["receipts"][which]["receipt"]).as_bytes().to_vec();
        let at = at.index(bytes.len());
        prop_assume!(bytes[at] != byte);
        bytes[at] = byte;
        let error = verify_receipt(&bytes, &key).expect_err("a changed receipt must not verify");
        prop_assert!(!error.to_string().is_empty());
    }
}
