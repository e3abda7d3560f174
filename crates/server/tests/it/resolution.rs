//! How decisions resolve a request, on the real service: typed number matching (right, wrong
//! three times, bound only as a salted hash) and required user verification.

use assent_protocol::decision::{Outcome, VerificationMethod};
use assent_protocol::receipt::verify_receipt;
use assent_protocol::request::{RequestStatus, TypedCode, UserVerification};
use assent_server::defences::AppDefences;
use assent_testkit::{Options, TestService, assert_refused};

use crate::receipts::python_verify;
use serde_json::{Value, json};

/// Every string and integer anywhere in `value`.
fn scalars(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| scalars(v, out)),
        Value::Object(map) => map.values().for_each(|v| scalars(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn a_typed_code_approves_and_the_signed_details_carry_only_its_salted_hash() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("typed@example.com").await;
    let (status, body) = svc
        .backend
        .create_request(
            user,
            json!({"message": "Sign in?", "number_matching": true, "number_matching_digits": 6}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let created = &body["approval_request"];
    assert!(
        created.get("number").is_none(),
        "typed mode is the default and has no pick number: {body}"
    );
    let code = created["code"]
        .as_str()
        .expect("the relying party gets the code to show");
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    let id = uuid::Uuid::parse_str(created["uuid"].as_str().unwrap()).unwrap();

    let (details, _) = device.details(id).await;
    let matching = details.message.number_matching.clone().unwrap();
    assert!(matching.choices.is_empty(), "no choices in typed mode");
    let typed = matching.typed.expect("typed mode");
    assert_eq!(typed.digits, 6);
    assert_eq!(
        typed.hash,
        TypedCode::hash_of(&typed.salt, code),
        "the hash binds the code under the salt"
    );
    let mut values = Vec::new();
    scalars(
        &serde_json::from_slice(&details.canonical).unwrap(),
        &mut values,
    );
    assert!(
        !values.iter().any(|v| v == code),
        "the code itself appears nowhere in the signed details: {values:?}"
    );

    let mut approval = device.draft(&details, Outcome::Approve);
    approval.code = Some(code.to_owned());
    let reply = device.decide_body(id, device.sign(&approval)).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["status"], "approved");
    let (status, receipt) = svc.backend.receipt(id).await;
    assert_eq!(status, 200);
    let verified = verify_receipt(&receipt, &svc.state.notary.public())
        .expect("the receipt of a typed-code approval verifies");
    assert_eq!(verified.decisions[0].decision.code.as_deref(), Some(code));
    let independent = python_verify(&receipt, &svc.state.notary.public());
    assert_eq!(
        independent["valid"], true,
        "the independent verifier checks the code against the bound hash too: {independent}"
    );
}

#[tokio::test]
async fn a_wrong_typed_code_is_refused_twice_and_the_third_denies() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("wrong@example.com").await;
    let (status, body) = svc
        .backend
        .create_request(
            user,
            json!({"message": "Sign in?", "number_matching": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let code = body["approval_request"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(code.len(), 4, "4 digits by default");
    let id = uuid::Uuid::parse_str(body["approval_request"]["uuid"].as_str().unwrap()).unwrap();
    let wrong = assent_testkit::another_code(&code);
    let wrong = wrong.as_str();
    let (details, _) = device.details(id).await;
    let decisions = svc.rows("decisions").await;
    for left in [2, 1] {
        let mut guess = device.draft(&details, Outcome::Approve);
        guess.code = Some(wrong.into());
        let reply = device.decide_body(id, device.sign(&guess)).await;
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (409, "60120"),
            "a wrong code with tries left: {:?}",
            reply.body
        );
        let message = reply.body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("{left} tr")),
            "the message says {left} left: {message}"
        );
        assert_eq!(svc.backend.status(id).await["status"], "pending");
        assert_eq!(
            svc.rows("decisions").await,
            decisions,
            "a wrong try records no decision"
        );
    }
    // An approval without a code (or with a pick number) is incomplete, and costs no try.
    for incomplete in [
        device.draft(&details, Outcome::Approve),
        assent_protocol::decision::Decision {
            number: Some(12),
            ..device.draft(&details, Outcome::Approve)
        },
    ] {
        let reply = device.decide_body(id, device.sign(&incomplete)).await;
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (400, "60004"),
            "{:?}",
            reply.body
        );
    }
    // A code with the wrong shape is refused before it is judged, and costs no try.
    let mut malformed = device.draft(&details, Outcome::Approve);
    malformed.code = Some("12a4".into());
    let reply = device.decide_body(id, device.sign(&malformed)).await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (400, "60004"),
        "{:?}",
        reply.body
    );
    let mut guess = device.draft(&details, Outcome::Approve);
    guess.code = Some(wrong.into());
    let reply = device.decide_body(id, device.sign(&guess)).await;
    assert_eq!(
        (reply.status.as_u16(), reply.code()),
        (409, "60106"),
        "the third wrong code denies: {:?}",
        reply.body
    );
    let status = svc.backend.status(id).await;
    assert_eq!(status["status"], "denied");
    assert_eq!(status["reason"], "wrong_number");
    let mut right = device.draft(&details, Outcome::Approve);
    right.code = Some(code);
    let reply = device.decide_body(id, device.sign(&right)).await;
    assert_eq!(
        reply.code(),
        "60110",
        "after the denial not even the right code approves: {:?}",
        reply.body
    );
    let (_, receipt) = svc.backend.receipt(id).await;
    let verified = verify_receipt(&receipt, &svc.state.notary.public())
        .expect("the wrong_number receipt verifies");
    assert_eq!(verified.status, RequestStatus::Denied);
    let independent = python_verify(&receipt, &svc.state.notary.public());
    assert_eq!(independent["valid"], true, "{independent}");
}

#[tokio::test]
async fn number_matching_parameters_are_checked() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("params@example.com").await;
    for (body, field) in [
        (
            json!({"message": "m", "number_matching": true, "number_matching_digits": 1}),
            "number_matching_digits",
        ),
        (
            json!({"message": "m", "number_matching": true, "number_matching_digits": 7}),
            "number_matching_digits",
        ),
        (
            json!({"message": "m", "number_matching": true, "number_matching_mode": "guess"}),
            "number_matching_mode",
        ),
        (
            json!({"message": "m", "number_matching": true, "number_matching_mode": "pick", "number_matching_digits": 4}),
            "number_matching_digits",
        ),
        (
            json!({"message": "m", "user_verification": "sometimes"}),
            "user_verification",
        ),
        (
            json!({"message": "m", "number_matching_mode": "typed"}),
            "number_matching_mode",
        ),
    ] {
        let (status, reply) = svc.backend.create_request(user, body.clone()).await;
        assert_refused!(
            status,
            reply,
            400,
            "60004",
            "{body} must be refused: {reply}"
        );
        assert!(
            reply["errors"][field].is_string(),
            "the refusal names {field}: {reply}"
        );
    }
    assert_eq!(
        svc.rows("approval_requests").await,
        0,
        "nothing was written"
    );
}

#[tokio::test]
async fn an_approval_without_required_verification_is_refused_and_changes_nothing() {
    let svc = TestService::start_with(Options::several_pending()).await;
    let (user, device) = svc.enrolled_user("uv@example.com").await;
    let (id, _) = svc
        .backend
        .request(
            user,
            json!({"message": "Release $12,500?", "user_verification": "required"}),
        )
        .await;
    let (details, _) = device.details(id).await;
    assert_eq!(
        details.message.user_verification,
        Some(UserVerification::Required),
        "the requirement is signed into the request"
    );
    let decisions = svc.rows("decisions").await;
    for (method, what) in [
        (None, "no method"),
        (Some(VerificationMethod::None), "method none"),
    ] {
        let mut approval = device.draft(&details, Outcome::Approve);
        approval.verification = method;
        let reply = device.decide_body(id, device.sign(&approval)).await;
        assert_eq!(
            (reply.status.as_u16(), reply.code()),
            (403, "60119"),
            "an approval with {what} is refused: {:?}",
            reply.body
        );
    }
    assert_eq!(svc.backend.status(id).await["status"], "pending");
    assert_eq!(svc.rows("decisions").await, decisions, "nothing written");
    let mut approval = device.draft(&details, Outcome::Approve);
    approval.verification = Some(VerificationMethod::OsPassword);
    let reply = device.decide_body(id, device.sign(&approval)).await;
    assert_eq!(reply.body["status"], "approved", "{:?}", reply.body);
    let (_, receipt) = svc.backend.receipt(id).await;
    let verified =
        verify_receipt(&receipt, &svc.state.notary.public()).expect("the receipt verifies");
    assert_eq!(
        verified.decisions[0].decision.verification,
        Some(VerificationMethod::OsPassword),
        "the receipt shows how the approver was verified"
    );
    let independent = python_verify(&receipt, &svc.state.notary.public());
    assert_eq!(independent["valid"], true, "{independent}");

    // A request that does not ask needs nothing (Authy clients send no such field).
    let (plain, _) = svc
        .backend
        .request(user, json!({"message": "Sign in?"}))
        .await;
    let (details, _) = device.details(plain).await;
    assert_eq!(details.message.user_verification, None);
    assert_eq!(device.approve(plain).await.status, 200);
}

#[tokio::test]
async fn an_app_can_require_verification_by_default_and_a_request_can_opt_out() {
    let svc = TestService::start_with(Options {
        defences: AppDefences {
            require_user_verification: true,
            max_pending_per_person: 0,
            ..AppDefences::default()
        },
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("default-uv@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "Pay?"})).await;
    let (details, _) = device.details(id).await;
    assert_eq!(
        details.message.user_verification,
        Some(UserVerification::Required)
    );
    assert_eq!(device.approve(id).await.code(), "60119");
    let (id, _) = svc
        .backend
        .request(
            user,
            json!({"message": "Look?", "user_verification": "none"}),
        )
        .await;
    let (details, _) = device.details(id).await;
    assert_eq!(details.message.user_verification, None);
    assert_eq!(device.approve(id).await.status, 200);
}
