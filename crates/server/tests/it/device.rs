//! The device API over real sockets: enrollment, the stream, decisions, quorum, number matching,
//! expiry, and every way a device call is refused.

use assent_protocol::auth::{DeviceAuthorization, new_nonce};
use assent_protocol::decision::{Decision, DenyReason, Outcome};
use assent_protocol::enroll::EnrollmentRequest;
use assent_protocol::request::RequestStatus;
use assent_protocol::revocation::{RevocationError, RevocationNotice};
use assent_protocol::secret::SecretString;
use assent_protocol::signed::Signed;
use assent_protocol::stream::StreamMessage;
use assent_protocol::{SigningKey, Uuid};
use assent_server::clock::unix_now;
use serde_json::json;

use assent_testkit::{
    CallbackReceiver, Options, PROMPTLY, TestDevice, TestService, authority, eventually,
    parse_answer,
};

#[tokio::test]
async fn full_flow_enroll_push_fetch_approve_callback() {
    let mut callbacks = CallbackReceiver::start().await;
    let svc = TestService::start_with(Options {
        callback_url: Some(callbacks.url.clone()),
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("flow@example.com").await;
    assert_eq!(
        device.user_id, user,
        "the device approves for the user the token was issued to"
    );
    assert_eq!(device.enrollment.app.name, "Acme Bank");
    assert_eq!(
        device.enrollment.app.accent_color.as_deref(),
        Some("#0b5fff")
    );
    assert_eq!(device.service_key, svc.state.service_key.public());

    let mut stream = device.connect().await;
    assert_eq!(
        stream.next().await,
        Some(StreamMessage::Pending { ids: vec![] }),
        "a new device has nothing pending"
    );
    let (id, number) = svc
        .backend
        .request(
            user,
            json!({
                "message": "Sign in to Acme Bank?",
                "details": {"Browser": "Firefox", "Location": "Lisbon"},
                "hidden_details": {"session": "s-123"},
                "requester": {"ip": "203.0.113.7", "location": "Lisbon, Portugal", "user_agent": "Firefox 133"},
            }),
        )
        .await;
    assert_eq!(number, None);
    assert_eq!(
        stream.next().await,
        Some(StreamMessage::Request { id }),
        "the request is pushed at once"
    );

    let (details, raw) = device.details(id).await;
    assert_eq!(raw["status"], "pending");
    assert_eq!(details.message.message, "Sign in to Acme Bank?");
    assert_eq!(
        details.message.requester.as_ref().unwrap().ip.as_deref(),
        Some("203.0.113.7")
    );
    assert!(
        !raw.to_string().contains("s-123"),
        "hidden details must never reach a device"
    );
    assert_eq!(svc.backend.status(id).await["notified"], true);

    let body = device.decision(&details, Outcome::Approve, None, None);
    let reply = device.decide_body(id, body).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "approved");
    assert_eq!(reply.body["duplicate"], false);
    assert_eq!(
        stream.next().await,
        Some(StreamMessage::Resolved {
            id,
            status: RequestStatus::Approved
        })
    );
    let status = svc.backend.status(id).await;
    assert_eq!(status["status"], "approved");
    assert!(status["processed_at"].is_string());

    let callback = callbacks.next().await;
    assert_eq!(callback.method, "POST");
    let key = assent_protocol::callback::CallbackKey::from_api_key(&svc.backend.api_key);
    assent_protocol::callback::verify_post(
        &key,
        &callback.nonce,
        &callbacks.url,
        &callback.body,
        &callback.signature,
    )
    .expect("the callback signature verifies with the app's API key");
    let payload: serde_json::Value = serde_json::from_slice(&callback.body).unwrap();
    assert_eq!(payload["status"], "approved");
    assert_eq!(payload["uuid"], id.to_string());
    assert_eq!(payload["authy_id"], user);
    assert_eq!(payload["callback_action"], "approval_request_status");
    assert_eq!(payload["device_uuid"], device.enrollment.device_alias);
    assert_eq!(
        payload["approval_request"]["transaction"]["hidden_details"]["session"],
        "s-123"
    );
    assert_eq!(
        payload["approval_request"]["transaction"]["details"]["Browser"],
        "Firefox"
    );
    assert_eq!(
        payload["approval_request"]["transaction"]["requester_details"]["ip"],
        "203.0.113.7"
    );
}

#[tokio::test]
async fn deny_with_not_me_reaches_status_and_callback() {
    let mut callbacks = CallbackReceiver::start().await;
    let svc = TestService::start_with(Options {
        callback_url: Some(callbacks.url.clone()),
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("deny@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "Sign in?"}))
        .await;
    let reply = device
        .decide(id, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    assert_eq!(reply.body["status"], "denied");
    let status = svc.backend.status(id).await;
    assert_eq!(status["status"], "denied");
    assert_eq!(status["reason"], "not_me");
    let payload: serde_json::Value = serde_json::from_slice(&callbacks.next().await.body).unwrap();
    assert_eq!(payload["status"], "denied");
    assert_eq!(
        payload["approval_request"]["transaction"]["reason"],
        "not_me"
    );
}

#[tokio::test]
async fn two_of_three_quorum_needs_two_distinct_people() {
    let svc = TestService::start().await;
    let (ana, ana_device) = svc.enrolled_user("ana@example.com").await;
    let (bo, bo_device) = svc.enrolled_user("bo@example.com").await;
    let (cy, _cy_device) = svc.enrolled_user("cy@example.com").await;
    let ana_second_device = svc.enroll(ana).await;
    let (id, _) = svc
        .backend
        .request(
            ana,
            json!({"message": "Wire $12,500?", "approvers": [bo, cy], "quorum": 2}),
        )
        .await;

    let (details, _) = bo_device.details(id).await;
    assert_eq!(details.message.approvers, {
        let mut all = vec![ana, bo, cy];
        all.sort_unstable();
        all
    });
    assert_eq!(details.message.quorum, 2);

    assert_eq!(
        ana_device.approve(id).await.body["status"],
        "pending",
        "one approval of two"
    );
    let again = ana_second_device.approve(id).await;
    assert_eq!(
        (
            again.body["status"].as_str(),
            again.body["duplicate"].as_bool()
        ),
        (Some("pending"), Some(true)),
        "the same person approving on another device is already counted: {:?}",
        again.body
    );
    assert_eq!(svc.backend.status(id).await["status"], "pending");
    assert_eq!(bo_device.approve(id).await.body["status"], "approved");
    let status = svc.backend.status(id).await;
    assert_eq!(status["status"], "approved");
    let approvers = status["approvers"].as_array().unwrap();
    assert_eq!(
        approvers
            .iter()
            .filter(|a| a["decision"] == "approve")
            .count(),
        2
    );
    assert_eq!(
        approvers.iter().find(|a| a["authy_id"] == cy).unwrap()["decision"],
        serde_json::Value::Null
    );
}

#[tokio::test]
async fn one_deny_vetoes_a_quorum() {
    let svc = TestService::start().await;
    let (ana, ana_device) = svc.enrolled_user("ana@example.com").await;
    let (bo, bo_device) = svc.enrolled_user("bo@example.com").await;
    let (cy, cy_device) = svc.enrolled_user("cy@example.com").await;
    let (id, _) = svc
        .backend
        .request(
            ana,
            json!({"message": "Wire?", "approvers": [bo, cy], "quorum": 2}),
        )
        .await;
    assert_eq!(ana_device.approve(id).await.body["status"], "pending");
    assert_eq!(
        bo_device
            .decide(id, Outcome::Deny, Some(DenyReason::Cancelled), None)
            .await
            .body["status"],
        "denied"
    );
    assert_eq!(svc.backend.status(id).await["status"], "denied");
    assert_eq!(
        cy_device.approve(id).await.code(),
        "60079",
        "a vetoed request takes no more approvals"
    );
}

#[tokio::test]
async fn number_matching_refuses_a_wrong_number_and_accepts_the_right_one() {
    let (svc, clock) = TestService::with_adjustable_clock().await;
    let (user, device) = svc.enrolled_user("nm@example.com").await;

    let (id, number) = svc
        .backend
        .request(
            user,
            json!({"message": "Sign in?", "number_matching": true, "number_matching_mode": "pick"}),
        )
        .await;
    let number = number.expect("the create response carries the number to show");
    let (details, _) = device.details(id).await;
    let matching = details
        .message
        .number_matching
        .clone()
        .expect("the device is asked to match");
    assert_eq!(matching.choices.len(), 3);
    assert!(
        matching.choices.contains(&number),
        "the right number is among the choices"
    );
    let wrong = *matching.choices.iter().find(|c| **c != number).unwrap();
    let missing = device
        .decide_body(id, device.decision(&details, Outcome::Approve, None, None))
        .await;
    assert_eq!(
        missing.code(),
        "60004",
        "approving without a number is incomplete"
    );
    assert_eq!(
        svc.backend.status(id).await["status"],
        "pending",
        "an incomplete decision changes nothing"
    );
    let reply = device
        .decide_body(
            id,
            device.decision(&details, Outcome::Approve, None, Some(wrong)),
        )
        .await;
    assert_eq!(
        reply.code(),
        "60106",
        "a wrong number is refused: {:?}",
        reply.body
    );
    let status = svc.backend.status(id).await;
    assert_eq!(
        status["status"], "denied",
        "a wrong pick denies the request"
    );
    assert_eq!(status["reason"], "wrong_number");

    // The denial holds the next request back for 10 s (push-fatigue back-off).
    clock.advance(10);
    let (id, number) = svc
        .backend
        .request(
            user,
            json!({"message": "Sign in again?", "number_matching": "true", "number_matching_mode": "pick"}),
        )
        .await;
    let reply = device.decide(id, Outcome::Approve, None, number).await;
    assert_eq!(reply.body["status"], "approved", "{:?}", reply.body);
}

#[tokio::test]
async fn an_offline_device_gets_requests_in_the_catch_up() {
    let svc = TestService::start_with(Options::several_pending()).await;
    let (user, device) = svc.enrolled_user("offline@example.com").await;
    let (first, _) = svc.backend.request(user, json!({"message": "first"})).await;
    let (second, _) = svc
        .backend
        .request(user, json!({"message": "second"}))
        .await;
    let (decided, _) = svc
        .backend
        .request(user, json!({"message": "decided"}))
        .await;
    assert_eq!(device.approve(decided).await.status, 200);
    assert_eq!(
        svc.backend.status(first).await["notified"],
        false,
        "nobody was connected"
    );
    let mut stream = device.connect().await;
    assert_eq!(
        stream.next().await,
        Some(StreamMessage::Pending {
            ids: vec![first, second]
        }),
        "every request still waiting, oldest first, and nothing already decided"
    );
    let listed = device.call("GET", "/device/v1/requests", Vec::new()).await;
    assert_eq!(
        listed.body["ids"],
        json!([first.to_string(), second.to_string()])
    );
}

#[tokio::test]
async fn expiry_reaches_the_device_and_the_status() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("exp@example.com").await;
    let mut stream = device.connect_synced().await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "quick", "seconds_to_expire": 1}))
        .await;
    assert_eq!(stream.next().await, Some(StreamMessage::Request { id }));
    let (details, _) = device.details(id).await;
    assert_eq!(
        stream.next().await,
        Some(StreamMessage::Resolved {
            id,
            status: RequestStatus::Expired
        }),
        "the device is told"
    );
    assert_eq!(svc.backend.status(id).await["status"], "expired");
    let reply = device
        .decide_body(id, device.decision(&details, Outcome::Approve, None, None))
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (409, "60079"),
        "an expired request takes no decision"
    );

    let (never, _) = svc
        .backend
        .request(user, json!({"message": "forever", "seconds_to_expire": 0}))
        .await;
    let (details, _) = device.details(never).await;
    assert_eq!(details.message.expires_at, None, "0 means never");
}

#[tokio::test]
async fn the_same_decision_twice_is_recorded_once() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("twice@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "retry me"}))
        .await;
    let (details, _) = device.details(id).await;
    let body = device.decision(&details, Outcome::Approve, None, None);
    let first = device.decide_body(id, body.clone()).await;
    let second = device.decide_body(id, body).await;
    assert_eq!(
        (
            first.body["status"].as_str(),
            first.body["duplicate"].as_bool()
        ),
        (Some("approved"), Some(false))
    );
    assert_eq!(
        (
            second.status.as_u16(),
            second.body["status"].as_str(),
            second.body["duplicate"].as_bool()
        ),
        (200, Some("approved"), Some(true)),
        "a retry of a recorded decision succeeds as a duplicate: {:?}",
        second.body
    );
    assert_eq!(svc.rows("decisions").await, 1, "recorded once");
    let changed = device
        .decide(id, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    assert_eq!(
        changed.code(),
        "60110",
        "a different answer after the first is refused"
    );
}

#[tokio::test]
async fn enrollment_tokens_are_single_use_and_proofs_are_checked() {
    let svc = TestService::start().await;
    let user = svc.backend.create_user("enroll@example.com").await;
    let token = svc.backend.registration(user).await;
    let http = reqwest::Client::new();
    let url = format!("{}/device/v1/enroll", svc.base);

    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let mut forged = EnrollmentRequest::new(
        SecretString::new(token.clone()),
        &key,
        "laptop".into(),
        "linux".into(),
    );
    forged.public_key = assent_protocol::crypto::PublicKey::from_signing_key(
        &SigningKey::generate(&mut rand::rngs::OsRng),
    );
    let reply: serde_json::Value = http
        .post(&url)
        .json(&forged)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["error_code"], "60087",
        "a proof by another key is refused: {reply}"
    );

    TestDevice::enroll(&svc.base, &token, "laptop").await;
    let again = EnrollmentRequest::new(
        SecretString::new(token),
        &key,
        "laptop".into(),
        "linux".into(),
    );
    let response = http.post(&url).json(&again).send().await.unwrap();
    assert_eq!(response.status(), 400);
    let reply: serde_json::Value = response.json().await.unwrap();
    assert_eq!(reply["error_code"], "60100", "a used token is refused");

    let unknown = EnrollmentRequest::new(
        SecretString::new("x".repeat(43)),
        &key,
        "laptop".into(),
        "linux".into(),
    );
    let reply: serde_json::Value = http
        .post(&url)
        .json(&unknown)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["error_code"], "60100");
    let reply: serde_json::Value = http
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        reply["error_code"], "60002",
        "a malformed enrollment is refused"
    );
    assert_eq!(
        svc.rows("devices").await,
        1,
        "only the valid enrollment wrote a device"
    );
}

#[tokio::test]
async fn expired_registration_tokens_are_refused() {
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| c.registration_ttl_secs = 1)),
        ..Options::default()
    })
    .await;
    let user = svc.backend.create_user("late@example.com").await;
    let token = svc.backend.registration(user).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let request = EnrollmentRequest::new(
        SecretString::new(token),
        &key,
        "laptop".into(),
        "linux".into(),
    );
    let reply: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/device/v1/enroll", svc.base))
        .json(&request)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply["error_code"], "60100");
}

#[tokio::test]
async fn device_calls_are_refused_each_with_its_own_code() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("sec@example.com").await;
    let (_other_user, other) = svc.enrolled_user("other@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "guard me"}))
        .await;
    let target = "/device/v1/requests";

    // Replayed nonce: the exact same signed call twice.
    let header = device.auth("GET", target, b"", unix_now());
    assert_eq!(
        device
            .call_with("GET", target, Vec::new(), &header)
            .await
            .status,
        200
    );
    let replay = device.call_with("GET", target, Vec::new(), &header).await;
    assert_eq!(
        (replay.status.as_u16(), replay.code()),
        (401, "60102"),
        "replayed nonce"
    );

    // Clock skew beyond 120 s either way. Ahead by 150, not 121: the service reads its clock
    // after the test did, and a second passing in between would make 121 ahead 120 (accepted).
    // The exact boundary is unit-tested with a fixed time in the protocol crate.
    for skew in [-121, 150] {
        let header = device.auth("GET", target, b"", unix_now() + skew);
        let reply = device.call_with("GET", target, Vec::new(), &header).await;
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (401, "60101"),
            "clock skew {skew}"
        );
    }

    // Tampered body: signed over one decision, sent with another.
    let (details, _) = device.details(id).await;
    let approve = device.decision(&details, Outcome::Approve, None, None);
    let deny = device.decision(&details, Outcome::Deny, Some(DenyReason::NotMe), None);
    let decision_target = format!("/device/v1/requests/{id}/decision");
    let header = device.auth("POST", &decision_target, &approve, unix_now());
    let reply = device
        .call_with("POST", &decision_target, deny, &header)
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (401, "60087"),
        "tampered body"
    );

    // Another device's signature under this device's id.
    let forged = DeviceAuthorization::sign(
        &other.key,
        device.id,
        "GET",
        target,
        b"",
        unix_now(),
        new_nonce(),
    )
    .render();
    let reply = device.call_with("GET", target, Vec::new(), &forged).await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (401, "60087"),
        "another device's signature"
    );

    // A decision signed by another device's key, sent by this device.
    let other_signed = other.decision(&details, Outcome::Approve, None, None);
    let reply = device.decide_body(id, other_signed).await;
    assert_eq!(
        reply.code(),
        "60087",
        "a decision not signed by the calling device"
    );

    // Signature over a different digest: the person must sign what they saw.
    let mut wrong = details.clone();
    wrong.digest[0] ^= 1;
    let reply = device
        .decide_body(id, device.decision(&wrong, Outcome::Approve, None, None))
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (409, "60105"),
        "different digest"
    );

    // Not an approver.
    let reply = other
        .decide_body(id, other.decision(&details, Outcome::Approve, None, None))
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (403, "60107"),
        "another person's device"
    );
    let reply = other
        .call("GET", &format!("/device/v1/requests/{id}"), Vec::new())
        .await;
    assert_eq!(
        reply.code(),
        "60049",
        "another person's request is invisible"
    );

    // Missing, malformed and unknown-device headers.
    let reply = device
        .call_with("GET", target, Vec::new(), "Bearer abc")
        .await;
    assert_eq!((reply.status.as_u16(), reply.code()), (401, "60104"));
    let unknown = DeviceAuthorization::sign(
        &device.key,
        Uuid::new_v4(),
        "GET",
        target,
        b"",
        unix_now(),
        new_nonce(),
    )
    .render();
    let reply = device.call_with("GET", target, Vec::new(), &unknown).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (404, "60092"));
    assert!(
        reply.body.get("revocation").is_none(),
        "the service signs a revocation only for a device it revoked, never for an unknown one: {}",
        reply.body
    );

    // Decided: no further decisions.
    assert_eq!(
        device.decide_body(id, approve).await.body["status"],
        "approved"
    );
    let reply = device
        .decide(id, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    assert_eq!(
        reply.code(),
        "60110",
        "the same person changing their answer"
    );
    let second_device = svc.enroll(user).await;
    let reply = second_device.decide(id, Outcome::Approve, None, None).await;
    assert_eq!(
        reply.body["duplicate"], true,
        "a second device of the same person adds no decision: {:?}",
        reply.body
    );
    assert_eq!(
        svc.rows("decisions").await,
        1,
        "refused decisions write nothing"
    );
}

#[tokio::test]
async fn a_decision_on_a_decided_request_is_60079() {
    let svc = TestService::start().await;
    let (ana, ana_device) = svc.enrolled_user("ana@example.com").await;
    let (bo, bo_device) = svc.enrolled_user("bo@example.com").await;
    let (id, _) = svc
        .backend
        .request(
            ana,
            json!({"message": "one of two", "approvers": [bo], "quorum": 1}),
        )
        .await;
    let (details, _) = bo_device.details(id).await;
    assert_eq!(ana_device.approve(id).await.body["status"], "approved");
    let reply = bo_device
        .decide_body(
            id,
            bo_device.decision(&details, Outcome::Approve, None, None),
        )
        .await;
    assert_eq!((reply.status.as_u16(), reply.code()), (409, "60079"));
}

/// `notice` is signed by the service key `device` pinned, names `device`, and names no other.
fn assert_revocation_of(notice: &Signed<RevocationNotice>, device: &TestDevice) {
    assert_eq!(
        RevocationNotice::verify_for(notice, &device.service_key, device.id).map(|n| n.device_id),
        Ok(device.id),
        "the notice verifies under the pinned service key for this device"
    );
    assert_eq!(
        RevocationNotice::verify_for(notice, &device.service_key, Uuid::new_v4()),
        Err(RevocationError::OtherDevice),
        "and for no other device"
    );
}

#[tokio::test]
async fn a_revoked_device_is_refused_and_its_stream_closed() {
    let svc = TestService::start().await;
    let (_user, device) = svc.enrolled_user("rev@example.com").await;
    let mut stream = device.connect_synced().await;
    let (status, _) = svc
        .backend
        .delete(&format!("/protected/json/sdk/devices/{}", device.id))
        .await;
    assert_eq!(status, 200);
    let Some(StreamMessage::Revoked { notice }) = stream.next().await else {
        panic!("the open stream is told, with a notice")
    };
    assert_revocation_of(&notice, &device);
    assert_eq!(stream.next().await, None, "and closed");
    let reply = device.call("GET", "/device/v1/requests", Vec::new()).await;
    assert_eq!((reply.status.as_u16(), reply.code()), (401, "60103"));
    let notice: Signed<RevocationNotice> = serde_json::from_value(reply.body["revocation"].clone())
        .expect("a 60103 answer carries the signed revocation notice");
    assert_revocation_of(&notice, &device);
    let url = format!(
        "{}/device/v1/stream",
        device.base.replace("http://", "ws://")
    );
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .unwrap();
    request.headers_mut().insert(
        "Authorization",
        device
            .auth("GET", "/device/v1/stream", b"", unix_now())
            .parse()
            .unwrap(),
    );
    assert!(
        tokio_tungstenite::connect_async(request).await.is_err(),
        "a revoked device cannot open a stream"
    );
    eventually("the revoked stream is unregistered", || async {
        svc.state.hub.connections() == 0
    })
    .await;
}

#[tokio::test]
async fn a_device_can_remove_itself() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("self@example.com").await;
    assert_eq!(
        device
            .call("DELETE", "/device/v1/device", Vec::new())
            .await
            .status,
        200
    );
    let (_, body) = svc
        .backend
        .get(&format!("/protected/json/users/{user}/status"))
        .await;
    assert_eq!(body["status"]["registered"], false);
}

#[tokio::test]
async fn streams_close_with_restart_on_shutdown() {
    let svc = TestService::start().await;
    let (_user, device) = svc.enrolled_user("bye@example.com").await;
    let mut stream = device.connect_synced().await;
    stream.send_ping().await;
    let stopping = tokio::spawn(svc.stop());
    assert_eq!(
        stream.next().await,
        None,
        "the stream closes when the service stops"
    );
    stopping.await.unwrap();
}

/// A decision whose headers passed while the device was active, but whose body arrives after the
/// device was revoked, is refused with 60103 and writes nothing. The race is forced: the call
/// asks for `100 Continue`, which the service sends only once the headers passed its checks;
/// the device is revoked before the body is sent.
#[tokio::test]
async fn a_decision_whose_body_arrives_after_revocation_is_refused() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("late@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "held"})).await;
    let (details, _) = device.details(id).await;
    let body = device.decision(&details, Outcome::Approve, None, None);
    let target = format!("/device/v1/requests/{id}/decision");
    let auth = device.auth("POST", &target, &body, unix_now());
    let mut socket = tokio::net::TcpStream::connect(authority(&svc.base))
        .await
        .unwrap();
    socket
        .write_all(
            format!(
                "POST {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
                authority(&svc.base),
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut continue_line = [0u8; 25];
    tokio::time::timeout(PROMPTLY, socket.read_exact(&mut continue_line))
        .await
        .expect("the service asks for the body")
        .unwrap();
    assert!(
        continue_line.starts_with(b"HTTP/1.1 100 Continue"),
        "the headers passed: {:?}",
        String::from_utf8_lossy(&continue_line)
    );
    let (status, _) = svc
        .backend
        .delete(&format!("/protected/json/sdk/devices/{}", device.id))
        .await;
    assert_eq!(status, 200, "the device is revoked while its body is held");
    socket.write_all(&body).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PROMPTLY, socket.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let (status, text) = parse_answer(&answer);
    let reply: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (status, reply["error_code"].as_str()),
        (401, Some("60103")),
        "a decision arriving after the revocation must be refused: {reply}"
    );
    let notice: Signed<RevocationNotice> = serde_json::from_value(reply["revocation"].clone())
        .expect("the refusal carries the signed revocation notice");
    assert_revocation_of(&notice, &device);
    assert_eq!(svc.rows("decisions").await, 0, "nothing written");
    assert_eq!(svc.backend.status(id).await["status"], "pending");
}

/// A stream whose registration lands after its device was revoked is told and closed, not left
/// receiving. The race is forced by holding the stream between its call's checks and its
/// registration until the revocation is done.
#[tokio::test]
async fn a_stream_registered_after_revocation_is_told_and_closed() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("latestream@example.com").await;
    let pause = svc.state.config.pause_points.arm("stream.before_register");
    let connecting = tokio::spawn(async move {
        let mut stream = device.connect().await;
        let first = stream.next().await;
        let second = stream.next().await;
        (first, second)
    });
    pause.arrived().await;
    let devices = svc.state.store.active_devices(&[user]).await.unwrap();
    let (status, _) = svc
        .backend
        .delete(&format!("/protected/json/sdk/devices/{}", devices[0].id))
        .await;
    assert_eq!(status, 200);
    pause.release();
    let (first, second) = connecting.await.unwrap();
    let Some(StreamMessage::Revoked { notice }) = first else {
        panic!("the stream must be told it belongs to a revoked device, not {first:?}")
    };
    assert_eq!(
        RevocationNotice::verify_for(&notice, &svc.state.service_key.public(), devices[0].id)
            .map(|n| n.device_id),
        Ok(devices[0].id),
        "the notice is signed by the service key and names the device"
    );
    assert_eq!(second, None, "and closed");
    eventually("no stream stays registered", || async {
        svc.state.hub.connections() == 0
    })
    .await;
}

/// The time a device claims it decided at is echoed to relying parties
/// (`device_signing_time`): it must be within the same window as a call's clock.
#[tokio::test]
async fn a_decision_dated_outside_the_clock_window_is_refused() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("dated@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "when?"})).await;
    let (details, _) = device.details(id).await;
    // 150 ahead rather than 121: see the clock-skew case in `device_calls_are_refused_each_with_its_own_code`.
    for offset in [86_400i64, -86_400, 150, -121] {
        let decision = Decision {
            v: 1,
            request_id: id,
            request_digest: hex::encode(details.digest),
            device_id: device.id,
            outcome: Outcome::Approve,
            reason: None,
            number: None,
            code: None,
            verification: None,
            signed_at: unix_now() + offset,
        };
        let body = serde_json::to_vec(&Signed::sign(&decision, &device.key).unwrap()).unwrap();
        let reply = device.decide_body(id, body).await;
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (401, "60101"),
            "signed_at {offset:+} s from now must be refused: {:?}",
            reply.body
        );
    }
    assert_eq!(svc.rows("decisions").await, 0);
    assert_eq!(
        device.approve(id).await.status,
        200,
        "a decision dated now works"
    );
}

/// One device holds at most two streams: a third closes its oldest, and the metric counts devices
/// apart from connections.
#[tokio::test]
async fn a_device_holds_at_most_two_streams() {
    let svc = TestService::start().await;
    let (_user, device) = svc.enrolled_user("streams@example.com").await;
    let mut first = device.connect_synced().await;
    let _second = device.connect_synced().await;
    let _third = device.connect_synced().await;
    assert_eq!(first.next().await, None, "the oldest stream is closed");
    eventually("two streams remain", || async {
        svc.state.hub.connections() == 2
    })
    .await;
    assert_eq!(svc.state.hub.connected_devices(), 1);
}

/// Two people approving a 2-of-3 request at the same moment resolve it once, with both
/// decisions kept (the request row is locked while a decision is judged).
#[tokio::test]
async fn concurrent_approvals_resolve_a_quorum_once_with_both_kept() {
    let mut callbacks = CallbackReceiver::start().await;
    let svc = TestService::start_with(Options {
        callback_url: Some(callbacks.url.clone()),
        ..Options::default()
    })
    .await;
    for round in 0..10 {
        let (a, da) = svc.enrolled_user(&format!("qa{round}@example.com")).await;
        let (b, db) = svc.enrolled_user(&format!("qb{round}@example.com")).await;
        let (c, _dc) = svc.enrolled_user(&format!("qc{round}@example.com")).await;
        let (id, _) = svc
            .backend
            .request(
                a,
                json!({"message": "2 of 3", "approvers": [b, c], "quorum": 2}),
            )
            .await;
        let (first, second) = tokio::join!(da.approve(id), db.approve(id));
        assert_eq!((first.status.as_u16(), second.status.as_u16()), (200, 200));
        let statuses = [
            first.body["status"].as_str().unwrap().to_owned(),
            second.body["status"].as_str().unwrap().to_owned(),
        ];
        assert!(
            statuses.contains(&"approved".to_owned()) && statuses.contains(&"pending".to_owned()),
            "exactly one of the two approvals completes the quorum: {statuses:?}"
        );
        let status = svc.backend.status(id).await;
        assert_eq!(status["status"], "approved");
        let decided = status["approvers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["decision"] == "approve")
            .count();
        assert_eq!(decided, 2, "both signatures are kept: {status}");
        let callback = callbacks.next().await;
        let payload: serde_json::Value = serde_json::from_slice(&callback.body).unwrap();
        assert_eq!(payload["uuid"], id.to_string());
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        callbacks.received.try_recv().is_err(),
        "one callback per resolved request"
    );
}

/// A device that floods its stream with pings and never reads is closed: its pending answers are
/// bounded, and a write that cannot progress ends the stream, so such streams cannot pile up past
/// the per-device limit or outlive a revocation.
#[tokio::test]
async fn streams_that_flood_pings_and_never_read_are_closed() {
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| {
            c.connections.write_timeout = std::time::Duration::from_secs(2);
        })),
        ..Options::default()
    })
    .await;
    let (_user, device) = svc.enrolled_user("flood@example.com").await;
    let mut floods = Vec::new();
    for _ in 0..5 {
        let mut stream = device.connect_starved().await;
        floods.push(tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + PROMPTLY * 3;
            while tokio::time::Instant::now() < deadline {
                if !stream.flood_pings(200).await {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            false
        }));
        assert!(
            svc.state.hub.connections() <= 2,
            "a device never holds more than two streams"
        );
    }
    let (status, _) = svc
        .backend
        .delete(&format!("/protected/json/sdk/devices/{}", device.id))
        .await;
    assert_eq!(status, 200);
    for flood in floods {
        assert!(
            flood.await.unwrap(),
            "every flooding stream must be closed by the service"
        );
    }
    assert_eq!(svc.state.hub.connections(), 0);
}

/// Posts a preview for `token` and returns the status and the reply.
async fn preview(base: &str, token: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/device/v1/enroll/preview"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_preview_names_the_app_and_the_person_and_leaves_the_token_usable() {
    let (svc, clock) = TestService::with_adjustable_clock().await;
    let user = svc.backend.create_user("preview@example.com").await;
    let (status, created) = svc
        .backend
        .post_json(
            "/protected/json/sdk/registrations",
            json!({ "authy_id": user }),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let link = assent_protocol::enroll::EnrollLink::parse(created["enroll_url"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        created["enroll_phrase"].as_str(),
        Some(link.phrase().as_str()),
        "the enroll-link answer carries the phrase of the link it gives"
    );
    let token = link.token.expose().to_owned();

    for _ in 0..2 {
        let (status, body) = preview(&svc.base, &token).await;
        assert_eq!(status, 200, "a live token previews, repeatedly: {body}");
        assert_eq!(body["app"]["name"], "Acme Bank", "{body}");
        assert_eq!(body["account_name"], "preview@example.com", "{body}");
        assert!(
            body.get("phrase").is_none() && body.get("enroll_phrase").is_none(),
            "the phrase is never the service's to say: {body}"
        );
    }
    assert_eq!(svc.rows("devices").await, 0, "a preview enrolls nothing");
    TestDevice::enroll(&svc.base, &token, "laptop").await;

    let (status, used) = preview(&svc.base, &token).await;
    assert_eq!(
        (status, used["error_code"].as_str()),
        (400, Some("60100")),
        "a used token previews as enroll refuses it: {used}"
    );
    let (status, unknown) = preview(&svc.base, &"x".repeat(43)).await;
    assert_eq!(
        (status, unknown["error_code"].as_str()),
        (400, Some("60100"))
    );
    assert_eq!(
        unknown["message"], used["message"],
        "unknown and used tokens read the same"
    );
    let (status, long) = preview(&svc.base, &"x".repeat(5000)).await;
    assert_eq!(
        (status, long["error_code"].as_str()),
        (400, Some("60100")),
        "an over-long token is just not a token: {long}"
    );
    let (status, malformed) = {
        let response = reqwest::Client::new()
            .post(format!("{}/device/v1/enroll/preview", svc.base))
            .body(r#"{"token": "abcdefghijklmnopqrstu", "extra": 1}"#)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_eq!(
        (status, malformed["error_code"].as_str()),
        (400, Some("60002")),
        "a preview with fields it never has is refused: {malformed}"
    );

    let expiring = svc.backend.registration(user).await;
    assert_eq!(preview(&svc.base, &expiring).await.0, 200);
    clock.advance(svc.state.config.registration_ttl_secs + 1);
    let (status, expired) = preview(&svc.base, &expiring).await;
    assert_eq!(
        (status, expired["message"].as_str()),
        (400, used["message"].as_str()),
        "an expired token reads as a used one: {expired}"
    );
    assert_eq!(
        svc.rows("devices").await,
        1,
        "only the one enrollment wrote a device"
    );
}

#[tokio::test]
async fn the_second_approver_sees_answers_so_far_and_is_told_when_one_arrives() {
    let svc = TestService::start().await;
    let (ana, ana_device) = svc.enrolled_user("ana@example.com").await;
    let (bo, bo_device) = svc.enrolled_user("bo@example.com").await;
    let (cy, cy_device) = svc.enrolled_user("cy@example.com").await;
    let mut bo_stream = bo_device.connect_synced().await;
    let mut cy_stream = cy_device.connect_synced().await;
    let (id, _) = svc
        .backend
        .request(
            ana,
            json!({"message": "Wire?", "approvers": [bo, cy], "quorum": 3}),
        )
        .await;
    assert_eq!(bo_stream.next().await, Some(StreamMessage::Request { id }));
    assert_eq!(cy_stream.next().await, Some(StreamMessage::Request { id }));
    let (_, raw) = bo_device.details(id).await;
    assert!(
        raw.get("answers").is_none(),
        "nobody answered yet, so no answers are sent: {raw}"
    );

    assert_eq!(ana_device.approve(id).await.body["status"], "pending");
    assert_eq!(
        bo_stream.next().await,
        Some(StreamMessage::Answered { id }),
        "another approver's device is told an answer arrived"
    );
    assert_eq!(cy_stream.next().await, Some(StreamMessage::Answered { id }));
    let (_, raw) = bo_device.details(id).await;
    assert_eq!(
        raw["answers"],
        json!([{"user_id": ana, "outcome": "approve"}]),
        "the second approver sees the first one's answer"
    );
    assert_eq!(raw["status"], "pending");

    assert_eq!(bo_device.approve(id).await.body["status"], "pending");
    assert_eq!(cy_stream.next().await, Some(StreamMessage::Answered { id }));
    assert_eq!(
        bo_stream.next().await,
        Some(StreamMessage::Answered { id }),
        "the answering person's devices are told too (their other devices show the answer)"
    );
    let (_, raw) = cy_device.details(id).await;
    let mut want = vec![
        json!({"user_id": ana, "outcome": "approve"}),
        json!({"user_id": bo, "outcome": "approve"}),
    ];
    want.sort_by_key(|a| a["user_id"].as_u64());
    assert_eq!(raw["answers"], json!(want), "every answer, by user id");

    assert_eq!(
        cy_device
            .decide(id, Outcome::Deny, Some(DenyReason::Cancelled), None)
            .await
            .body["status"],
        "denied"
    );
    assert_eq!(
        bo_stream.next().await,
        Some(StreamMessage::Resolved {
            id,
            status: RequestStatus::Denied
        }),
        "the answer that resolves the request is announced as resolved, not answered"
    );
}

#[tokio::test]
async fn a_single_approver_request_sends_no_answers_and_no_answered_message() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("solo@example.com").await;
    let second = svc.enroll(user).await;
    let mut stream = second.connect_synced().await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "Sign in?"}))
        .await;
    assert_eq!(stream.next().await, Some(StreamMessage::Request { id }));
    assert_eq!(device.approve(id).await.body["status"], "approved");
    assert_eq!(
        stream.next().await,
        Some(StreamMessage::Resolved {
            id,
            status: RequestStatus::Approved
        })
    );
    let (_, raw) = second.details(id).await;
    assert!(raw.get("answers").is_none(), "{raw}");
}

#[tokio::test]
async fn the_enrollment_answer_names_the_account_as_registered() {
    let svc = TestService::start().await;
    let (_, device) = svc.enrolled_user("ana@acme.example").await;
    assert_eq!(
        device.enrollment.account_name.as_deref(),
        Some("ana@acme.example")
    );
    let (status, body) = svc
        .backend
        .post_json(
            "/protected/json/users/new",
            json!({"user": {"cellphone": "555-123-4567", "country_code": "1"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let phone_only = svc.enroll(body["user"]["id"].as_u64().unwrap()).await;
    assert_eq!(
        phone_only.enrollment.account_name, None,
        "a person registered by phone only gets no name, never the number"
    );
}

#[tokio::test]
async fn a_stream_announces_the_logs_signed_size_with_a_heartbeat_when_it_changed() {
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| {
            c.heartbeat_interval = std::time::Duration::from_millis(300);
            c.checkpoint_interval = std::time::Duration::from_millis(200);
        })),
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("log@example.com").await;
    // The enrollment is a log entry; the checkpoint task signs it within its interval.
    eventually("the first checkpoint is signed", || async {
        svc.state.log.signed_size() >= 1
    })
    .await;
    let first = svc.state.log.signed_size();
    let mut stream = device.connect().await;
    let mut frames = Vec::new();
    while frames
        .iter()
        .filter(|f| matches!(f, StreamMessage::Heartbeat { .. }))
        .count()
        < 4
    {
        let frame = stream
            .next_frame_within(PROMPTLY)
            .await
            .expect("heartbeats keep coming")
            .expect("the stream stays open");
        frames.push(frame);
    }
    let logs: Vec<_> = frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| match f {
            StreamMessage::Log { size } => Some((i, *size)),
            _ => None,
        })
        .collect();
    assert_eq!(
        logs.iter().map(|l| l.1).collect::<Vec<_>>(),
        vec![first],
        "the signed size is said once, not with every heartbeat: {frames:?}"
    );
    assert!(
        matches!(frames[logs[0].0 + 1], StreamMessage::Heartbeat { .. }),
        "it rides on a heartbeat (the frame right after it): {frames:?}"
    );

    // The log grows (another device for the same person); once a checkpoint covers it, the next
    // heartbeat brings the new size.
    let _second = svc.enroll(user).await;
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    let grown = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match stream.next_frame_within(left).await {
            Ok(Some(StreamMessage::Log { size })) => break size,
            Ok(Some(_)) => continue,
            other => panic!("the grown log is announced on the open stream: {other:?}"),
        }
    };
    assert!(
        grown > first,
        "the announced size grew with the log: {first} then {grown}"
    );
    assert_eq!(grown, svc.state.log.signed_size());
}
