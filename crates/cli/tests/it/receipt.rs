//! `assent receipt verify` over receipts of real approvals (an in-process service from the test
//! kit, a protocol-level device): valid ones say what was decided, by whom; changed bytes, another
//! deployment's key and malformed keys are refused with what failed.

use assent_protocol::decision::{DenyReason, Outcome};
use assent_testkit::TestService;
use serde_json::json;
use uuid::Uuid;

use crate::support::run;

async fn receipt_of(svc: &TestService, id: Uuid) -> Vec<u8> {
    let (status, bytes) = svc.backend.receipt(id).await;
    assert_eq!(status, 200, "the receipt should be served");
    bytes
}

fn verify(file: &std::path::Path, key: &str) -> crate::support::Run {
    run(
        &[
            "receipt",
            "verify",
            file.to_str().unwrap(),
            "--service-key",
            key,
        ],
        &[],
    )
}

#[tokio::test]
async fn receipts_of_real_decisions_verify_and_changed_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start().await;
    let key = svc.state.notary.public().to_b64();
    let (user, device) = svc.enrolled_user("cli-receipt@example.com").await;
    let (approved, _) = svc
        .backend
        .request(user, json!({"message": "Sign in to Acme Bank?"}))
        .await;
    device.approve(approved).await;
    let (denied, _) = svc.backend.request(user, json!({"message": "m"})).await;
    device
        .decide(denied, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;

    let receipt = receipt_of(&svc, approved).await;
    let file = dir.path().join("approved.json");
    std::fs::write(&file, &receipt).unwrap();
    let out = verify(&file, &key);
    assert_eq!(out.code, 0, "a real receipt verifies: {out:?}");
    assert!(out.stdout.starts_with("valid: approved"), "{out:?}");
    assert!(
        out.stdout.contains(&device.id.to_string()) && out.stdout.contains(&user.to_string()),
        "it names the device and the person: {out:?}"
    );
    assert!(out.stdout.contains("Sign in to Acme Bank?"), "{out:?}");

    let denied_file = dir.path().join("denied.json");
    std::fs::write(&denied_file, receipt_of(&svc, denied).await).unwrap();
    let out = verify(&denied_file, &key);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.starts_with("valid: denied (not_me)"),
        "a denied request's receipt says denied: {out:?}"
    );

    // Another deployment's key.
    let other = TestService::start().await;
    let out = verify(&file, &other.state.notary.public().to_b64());
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("another deployment"), "{out:?}");

    // Single changed bytes, spread over the whole receipt (every position is covered in-process
    // by the service suite; here the binary's exit code and message).
    let changed = dir.path().join("changed.json");
    let step = (receipt.len() / 40).max(1);
    for at in (0..receipt.len()).step_by(step) {
        let mut bytes = receipt.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&changed, &bytes).unwrap();
        let out = verify(&changed, &key);
        assert_eq!(out.code, 1, "a change at byte {at} must fail: {out:?}");
        assert!(
            out.stdout.starts_with("invalid: ") && out.stdout.len() > "invalid: ".len() + 10,
            "the failure names what failed: {out:?}"
        );
    }

    let out = verify(&file, "not-a-key");
    assert_eq!(out.code, 3, "a malformed key is an error: {out:?}");
    assert!(out.stderr.contains("--service-key"), "{out:?}");
}
