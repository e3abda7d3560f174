//! Receipts from real approvals over real sockets: fetched by URL, carried by callbacks, checked by
//! the Rust verifier and by the independent Python one; a decision written into the database by
//! hand never gets one.

use assent_protocol::callback::{self, CallbackKey};
use assent_protocol::crypto::PublicKey;
use assent_protocol::decision::{DenyReason, Outcome};
use assent_protocol::receipt::{ReceiptError, verify_receipt};
use assent_protocol::request::RequestStatus;
use assent_testkit::process::{test_python, workspace_root};
use assent_testkit::{CallbackReceiver, Engine, Options, TestService, rogue};
use serde_json::{Value, json};
use uuid::Uuid;

/// The receipt of `id`, as bytes, with the status of the answer.
async fn fetch_receipt(svc: &TestService, id: Uuid) -> (u16, Vec<u8>) {
    let (status, bytes) = svc.backend.receipt(id).await;
    (status.as_u16(), bytes)
}

/// A service calling back `callbacks` (by GET when `get`; for expired and cancelled requests
/// too when `unanswered`).
async fn calling_back(callbacks: &CallbackReceiver, get: bool, unanswered: bool) -> TestService {
    TestService::start_with(Options {
        callback_url: Some(callbacks.url.clone()),
        callback_get: get,
        callback_expired_cancelled: unanswered,
        ..Options::default()
    })
    .await
}

/// Cancels `id` through the backend API.
async fn cancel(svc: &TestService, id: Uuid) {
    let (status, body) = svc
        .backend
        .post_json(
            &format!("/onetouch/json/approval_requests/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "the cancellation should succeed: {body}");
}

/// A byte-string literal for the suite's engine.
fn bytes_literal(svc: &TestService, bytes: &[u8]) -> String {
    match svc.engine() {
        Engine::Sqlite => format!("X'{}'", hex::encode(bytes)),
        Engine::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

fn service_key(svc: &TestService) -> PublicKey {
    svc.state.notary.public()
}

/// Runs the independent Python verifier (`receipts.py verify`) over `receipt`.
pub(crate) fn python_verify(receipt: &[u8], key: &PublicKey) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("receipt.json");
    std::fs::write(&path, receipt).unwrap();
    let output = std::process::Command::new(test_python())
        .arg(workspace_root().join("crates/protocol/tests/vectors/receipts.py"))
        .arg("verify")
        .arg(&path)
        .arg(key.to_b64())
        .output()
        .expect("the test Python runs");
    assert!(
        output.status.success(),
        "receipts.py verify should run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("receipts.py prints JSON")
}

#[tokio::test]
async fn an_approval_gets_a_receipt_both_verifiers_accept() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("receipt@example.com").await;
    let (id, _) = svc
        .backend
        .request(
            user,
            json!({"message": "Wire $12,500?", "details": {"Amount": "$12,500"}, "hidden_details": {"session": "hidden session s-1"}}),
        )
        .await;
    let (status, body) = fetch_receipt(&svc, id).await;
    assert_eq!(status, 409, "a pending request has no receipt yet");
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error_code"], "60112");
    device.approve(id).await;

    let info = svc.backend.status(id).await;
    let named = info["receipt"]["url"]
        .as_str()
        .expect("the status names the receipt");
    assert!(
        named.ends_with(&format!("/protected/json/approval_requests/{id}/receipt")),
        "the status names the receipt's URL: {named}"
    );
    let (status, receipt) = fetch_receipt(&svc, id).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&receipt));
    let verified = verify_receipt(&receipt, &service_key(&svc)).expect("the receipt verifies");
    assert_eq!(verified.status, RequestStatus::Approved);
    assert_eq!(verified.request.message, "Wire $12,500?");
    assert_eq!(verified.decisions.len(), 1);
    assert_eq!(verified.decisions[0].device.user_id, user);
    assert_eq!(verified.decisions[0].device.device_id, device.id);
    assert_eq!(
        Some(verified.log_index),
        info["receipt"]["log_index"].as_u64(),
        "the status names the receipt's log index"
    );
    assert!(
        // Spaces never occur in base64url: "s-1" alone would, once in about 570 receipts.
        !String::from_utf8_lossy(&receipt).contains("hidden session"),
        "hidden details are never in a receipt"
    );

    // Every single changed byte fails, with what failed named.
    for at in 0..receipt.len() {
        let mut changed = receipt.clone();
        changed[at] ^= 0x01;
        let error = verify_receipt(&changed, &service_key(&svc))
            .err()
            .unwrap_or_else(|| panic!("a change at byte {at} must fail verification"));
        assert!(
            error.to_string().len() > 20,
            "the failure at byte {at} says what failed: {error}"
        );
    }

    let independent = python_verify(&receipt, &service_key(&svc));
    assert_eq!(
        independent["valid"], true,
        "the independent verifier accepts it: {independent}"
    );
    assert_eq!(independent["status"], "approved");

    // Another deployment's key: refused by both.
    let other = TestService::start().await;
    assert!(
        matches!(
            verify_receipt(&receipt, &service_key(&other)),
            Err(ReceiptError::OtherDeployment { .. })
        ),
        "a receipt checked with another deployment's key must fail"
    );
    assert_eq!(
        python_verify(&receipt, &service_key(&other))["valid"],
        false
    );
}

#[tokio::test]
async fn a_denial_gets_a_receipt_that_says_denied() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("denied@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "m"})).await;
    device
        .decide(id, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    let (status, receipt) = fetch_receipt(&svc, id).await;
    assert_eq!(status, 200);
    let verified = verify_receipt(&receipt, &service_key(&svc)).unwrap();
    assert_eq!(verified.status, RequestStatus::Denied);
    assert_eq!(verified.reason.as_deref(), Some("not_me"));
    let independent = python_verify(&receipt, &service_key(&svc));
    assert_eq!(independent["status"], "denied", "{independent}");
}

#[tokio::test]
async fn a_quorum_receipt_carries_every_approver_and_their_keys() {
    let mut callbacks = CallbackReceiver::start().await;
    let svc = calling_back(&callbacks, false, false).await;
    let (ana, ana_device) = svc.enrolled_user("ana@example.com").await;
    let (bea, bea_device) = svc.enrolled_user("bea@example.com").await;
    let (id, _) = svc
        .backend
        .request(
            ana,
            json!({"message": "two of two", "approvers": [ana, bea], "quorum": 2}),
        )
        .await;
    ana_device.approve(id).await;
    bea_device.approve(id).await;
    let received = callbacks.next().await;
    let key = CallbackKey::from_api_key(&svc.backend.api_key);
    callback::verify_post(
        &key,
        &received.nonce,
        &callbacks.url,
        &received.body,
        &received.signature,
    )
    .expect("the callback with its receipt is signed as Authy's");
    let payload: Value = serde_json::from_slice(&received.body).unwrap();
    let receipt = assent_protocol::canonical::canonicalize(&payload["receipt"])
        .expect("the callback carries the receipt");
    let verified = verify_receipt(&receipt, &service_key(&svc)).expect("it verifies");
    let mut deciders: Vec<(u64, Uuid)> = verified
        .decisions
        .iter()
        .map(|d| (d.device.user_id, d.device.device_id))
        .collect();
    deciders.sort();
    let mut expected = vec![(ana, ana_device.id), (bea, bea_device.id)];
    expected.sort();
    assert_eq!(
        deciders, expected,
        "every approver's decision and device are in the receipt"
    );
}

#[tokio::test]
async fn get_callbacks_carry_the_receipt_url() {
    let mut callbacks = CallbackReceiver::start().await;
    let svc = calling_back(&callbacks, true, false).await;
    let (user, device) = svc.enrolled_user("get-receipt@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "m"})).await;
    device.approve(id).await;
    let received = callbacks.next().await;
    let query = received.query.expect("a GET callback has a query");
    callback::verify_get(
        &CallbackKey::from_api_key(&svc.backend.api_key),
        &received.nonce,
        &callbacks.url,
        &query,
        &received.signature,
    )
    .expect("the GET callback verifies");
    let named = url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == "receipt_url")
        .map(|(_, value)| value.into_owned())
        .expect("the GET callback names the receipt's URL");
    assert!(
        named.starts_with("http")
            && named.ends_with(&format!("/protected/json/approval_requests/{id}/receipt")),
        "the receipt URL is a full URL at the service: {named}"
    );
    assert!(
        !query.contains("countersignature"),
        "a GET callback carries the URL, not the receipt"
    );
}

#[tokio::test]
async fn cancelled_requests_are_called_back_only_when_the_app_asked() {
    let mut callbacks = CallbackReceiver::start().await;
    let svc = calling_back(&callbacks, false, true).await;
    let (user, _device) = svc.enrolled_user("cancel@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "m"})).await;
    cancel(&svc, id).await;
    let received = callbacks.next().await;
    callback::verify_post(
        &CallbackKey::from_api_key(&svc.backend.api_key),
        &received.nonce,
        &callbacks.url,
        &received.body,
        &received.signature,
    )
    .unwrap();
    let payload: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(payload["status"], "cancelled");
    assert_eq!(payload["device"], Value::Null, "nobody decided");
    assert!(
        payload.get("receipt").is_none(),
        "a cancelled request has no receipt"
    );

    // Off by default: the same cancellation writes no callback.
    let mut quiet_callbacks = CallbackReceiver::start().await;
    let quiet = calling_back(&quiet_callbacks, false, false).await;
    let (user, _device) = quiet.enrolled_user("quiet@example.com").await;
    let (id, _) = quiet.backend.request(user, json!({"message": "m"})).await;
    cancel(&quiet, id).await;
    assert_eq!(
        quiet.rows("callback_outbox").await,
        0,
        "without the opt-in, a cancellation is not called back"
    );
    assert!(quiet_callbacks.received.try_recv().is_err());
}

#[tokio::test]
async fn a_decision_written_by_hand_never_gets_a_receipt() {
    let svc = TestService::start().await;
    let (ana, ana_device) = svc.enrolled_user("ana-rogue@example.com").await;
    let (bea, bea_device) = svc.enrolled_user("bea-rogue@example.com").await;

    // A rogue operator marks a request approved directly: no receipt exists for it.
    let (direct, _) = svc.backend.request(ana, json!({"message": "m"})).await;
    rogue::execute(
        svc.data(),
        &format!("UPDATE approval_requests SET status = 'approved' WHERE id = '{direct}'"),
    )
    .await;
    let (status, body) = fetch_receipt(&svc, direct).await;
    assert_eq!(
        status,
        409,
        "a request approved by hand has no receipt: {}",
        String::from_utf8_lossy(&body)
    );

    // A rogue operator writes Bea's approval (no device signature), then Ana approves: the
    // service refuses to countersign the result, and nothing of it is written.
    let (id, _) = svc
        .backend
        .request(
            ana,
            json!({"message": "two of two", "approvers": [ana, bea], "quorum": 2}),
        )
        .await;
    let (details, _) = bea_device.details(id).await;
    let forged: Value =
        serde_json::from_slice(&bea_device.decision(&details, Outcome::Approve, None, None))
            .unwrap();
    let payload = assent_protocol::canonical::canonicalize(&forged["payload"]).unwrap();
    rogue::execute(
        svc.data(),
        &format!(
            "INSERT INTO decisions (request_id, user_id, device_id, outcome, reason, number, signed_at, payload, signature, recorded_at) \
             VALUES ('{id}', {bea}, '{}', 'approve', NULL, NULL, {}, {}, {}, {})",
            bea_device.id,
            details.message.created_at,
            bytes_literal(&svc, &payload),
            bytes_literal(&svc, &[0; 64]),
            details.message.created_at,
        ),
    )
    .await;
    let receipts_before = svc.rows("receipts").await;
    let leaves_before = svc.rows("log_leaves").await;
    let reply = ana_device.approve(id).await;
    assert_eq!(
        reply.status, 500,
        "the service must refuse to settle a request on a forged decision: {:?}",
        reply.body
    );
    assert_eq!(
        svc.rows("receipts").await,
        receipts_before,
        "no receipt written"
    );
    assert_eq!(
        svc.rows("log_leaves").await,
        leaves_before,
        "no log leaf written"
    );
    let (status, _) = fetch_receipt(&svc, id).await;
    assert_eq!(status, 409, "the request has no receipt");
    assert_eq!(svc.backend.status(id).await["status"], "pending");
}

#[tokio::test]
async fn receipts_and_the_log_survive_a_restart_byte_for_byte() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("restart@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "m"})).await;
    device.approve(id).await;
    let store = svc.state.store.clone();
    let size = store.log_size().await.unwrap();
    let root = svc.state.log.root_at(store.as_ref(), size).await.unwrap();
    let key = service_key(&svc);
    let again = svc.restart().await;
    assert_eq!(service_key(&again), key, "the service key is kept");
    let store = again.state.store.clone();
    assert_eq!(
        again.state.log.root_at(store.as_ref(), size).await.unwrap(),
        root,
        "the tree is rebuilt from the database to the same root"
    );
    let (status, receipt) = fetch_receipt(&again, id).await;
    assert_eq!(status, 200);
    verify_receipt(&receipt, &key).expect("the receipt still verifies after a restart");
}

#[tokio::test]
async fn a_device_written_into_the_database_by_hand_is_refused_until_its_enrollment_is_published() {
    let svc = TestService::start().await;
    let (ana, ana_device) = svc.enrolled_user("ana-planted@example.com").await;

    // A rogue operator plants a device of their own for Ana, behind the service's back.
    let mut planted = ana_device.at(&svc.base);
    planted.key = assent_protocol::SigningKey::generate(&mut rand::rngs::OsRng);
    planted.id = Uuid::new_v4();
    rogue::execute(
        svc.data(),
        &format!(
            "INSERT INTO devices (id, alias, app_id, user_id, public_key, name, platform, created_at, last_seen_at) \
             SELECT '{}', (SELECT MAX(alias) + 1 FROM devices), app_id, user_id, {}, 'planted', 'linux', created_at, last_seen_at \
             FROM devices WHERE id = '{}'",
            planted.id,
            bytes_literal(&svc, planted.key.verifying_key().as_bytes()),
            ana_device.id,
        ),
    )
    .await;

    // Its decisions are refused with 60092 and write nothing: without a signed enrollment record
    // nothing it signs could go into a receipt, and no monitor could have seen it.
    let (id, _) = svc.backend.request(ana, json!({"message": "m"})).await;
    let decisions_before = svc.rows("decisions").await;
    let leaves_before = svc.rows("log_leaves").await;
    let reply = planted.approve(id).await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (404, "60092"),
        "a planted device's approval must be refused: {:?}",
        reply.body
    );
    assert_eq!(
        svc.rows("decisions").await,
        decisions_before,
        "nothing written"
    );
    assert_eq!(svc.rows("log_leaves").await, leaves_before, "no log leaf");
    assert_eq!(svc.backend.status(id).await["status"], "pending");

    // On its next start the service signs a record for it and publishes it in the public log,
    // where Ana's own device sees a device she may not know; only then can it decide.
    let key = service_key(&svc);
    let again = svc.restart().await;
    let store = again.state.store.clone();
    let size = store.log_size().await.unwrap();
    let last: Value =
        serde_json::from_slice(&store.log_leaves(size - 1, size).await.unwrap()[0]).unwrap();
    assert_eq!(
        last["type"], "enrollment",
        "the planted device is published: {last}"
    );
    assert_eq!(
        last["enrollment"]["payload"]["device_id"],
        planted.id.to_string(),
        "the published record names the planted device: {last}"
    );
    let reply = planted.at(&again.base).approve(id).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let (status, receipt) = fetch_receipt(&again, id).await;
    assert_eq!(status, 200);
    let verified = verify_receipt(&receipt, &key).expect("the receipt verifies");
    let devices: Vec<Uuid> = verified
        .decisions
        .iter()
        .map(|d| d.device.device_id)
        .collect();
    assert_eq!(
        devices,
        vec![planted.id],
        "the receipt names the planted device, so Ana can tell the decision was not hers"
    );
}
