//! A person's other authenticator app (`src/backend/authenticator.rs`): the QR code of
//! `POST /protected/json/users/{id}/secret` read back by an independent decoder, its codes
//! verified by the token verification endpoint with the same window, replay and lock-out rules,
//! replacement, deletion, and hostile input. On both engines.

use assent_protocol::totp::STEP_SECONDS;
use assent_server::clock::Clock;
use assent_server::sealed::SecretPurpose;
use assent_server::store::CodeUse;
use assent_testkit::{AuthenticatorApp, TestService};
use serde_json::{Value, json};

use crate::codes::{assert_invalid, mid_step, verify};

/// A service on an adjustable clock, moved to the middle of a step.
async fn service() -> (TestService, Clock) {
    let (svc, clock) = TestService::with_adjustable_clock().await;
    mid_step(&clock);
    (svc, clock)
}

fn secret_path(user: impl std::fmt::Display) -> String {
    format!("/protected/json/users/{user}/secret")
}

/// Generates a QR code for `user` and scans it.
async fn generate(svc: &TestService, user: u64, body: Value) -> (Value, AuthenticatorApp) {
    let (status, reply) = svc.backend.post_json(&secret_path(user), body).await;
    assert_eq!(status, 200, "generating a QR code should succeed: {reply}");
    let app = AuthenticatorApp::scan(reply["qr_code"].as_str().expect("a qr_code"));
    (reply, app)
}

#[tokio::test]
async fn the_qr_code_scans_to_a_seed_whose_codes_verify_once_within_the_window() {
    let (svc, clock) = service().await;
    // No device at all: the other app is enough.
    let user = svc.backend.create_user("ana@example.com").await;
    let response = reqwest::Client::new()
        .post(format!("{}{}", svc.base, secret_path(user)))
        .header("X-Authy-API-Key", &svc.backend.api_key)
        .json(&json!({"qr_size": 300, "label": "Ana (work)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "the answer carries a secret: no cache may keep it"
    );
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["success"], true);
    assert_eq!(reply["label"], "Ana (work)");
    assert_eq!(reply["issuer"], "Acme Bank");
    let app = AuthenticatorApp::scan(reply["qr_code"].as_str().unwrap());
    assert_eq!(app.issuer, "Acme Bank", "the URI names the app");
    assert_eq!(app.label, "Ana (work)", "and the label asked for");
    assert_eq!(app.digits.get(), 6);
    assert!(
        (150..=300).contains(&app.image_width),
        "about the size asked: {}",
        app.image_width
    );

    let now = clock.now();
    for offset in [-1, 0, 1] {
        let reply = verify(&svc, &app.code_at(now + offset * STEP_SECONDS), user).await;
        assert_eq!(
            reply.0, 200,
            "the app's code {offset} steps from now is accepted: {}",
            reply.1
        );
        assert_eq!(reply.1["token"], "is valid");
        assert!(
            reply.1.get("device").is_none(),
            "no Assent device is named for another app's code: {}",
            reply.1
        );
    }
    let replay = verify(&svc, &app.code_at(now), user).await;
    assert_invalid(&replay, "a code used once is refused the second time");
    assert_eq!(
        replay.1["message"],
        "Token is invalid. Token was used recently"
    );
    for offset in [-2, 2] {
        assert_invalid(
            &verify(&svc, &app.code_at(now + offset * STEP_SECONDS), user).await,
            &format!("a code {offset} steps away is outside the window"),
        );
    }
    assert_eq!(svc.rows("authenticator_app_seeds").await, 1);
    assert_eq!(svc.rows("used_authenticator_app_codes").await, 3);
}

#[tokio::test]
async fn the_default_label_is_the_email_and_the_default_size_300() {
    let (svc, _clock) = service().await;
    let user = svc.backend.create_user("bo@example.com").await;
    let (reply, app) = generate(&svc, user, json!({})).await;
    assert_eq!(reply["label"], "bo@example.com");
    assert_eq!(app.label, "bo@example.com");
    assert!(
        (150..=300).contains(&app.image_width),
        "{}",
        app.image_width
    );
    // The npm and Ruby clients send forms; PHP sends the parameters in the query.
    let (status, reply) = svc
        .backend
        .post_form(&secret_path(user), "qr_size=500&label=Bo%20at%20home")
        .await;
    assert_eq!(status, 200, "{reply}");
    let app = AuthenticatorApp::scan(reply["qr_code"].as_str().unwrap());
    assert_eq!(app.label, "Bo at home");
    assert!((300..=500).contains(&app.image_width));
}

#[tokio::test]
async fn generating_again_replaces_the_seed_and_the_old_apps_codes_stop() {
    let (svc, clock) = service().await;
    let (user, device) = svc.enrolled_user("twice@example.com").await;
    let (_, first) = generate(&svc, user, json!({})).await;
    let (_, second) = generate(&svc, user, json!({})).await;
    assert_eq!(
        svc.rows("authenticator_app_seeds").await,
        1,
        "one seed per person"
    );
    let now = clock.now();
    assert_ne!(first.seed_bytes(), second.seed_bytes(), "a new seed");
    if first.code_at(now) != second.code_at(now) {
        assert_invalid(
            &verify(&svc, &first.code_at(now), user).await,
            "the replaced app's code",
        );
    }
    let reply = verify(&svc, &second.code_at(now), user).await;
    assert_eq!(reply.0, 200, "the new app's code works: {}", reply.1);
    let reply = verify(&svc, &device.code_at(now), user).await;
    assert_eq!(
        reply.0, 200,
        "the person's Assent device keeps its own codes: {}",
        reply.1
    );
    assert_eq!(reply.1["device"]["id"], device.enrollment.device_alias);
}

#[tokio::test]
async fn a_deleted_persons_seed_is_removed_and_its_codes_stop_even_mid_verification() {
    let (svc, clock) = service().await;
    let user = svc.backend.create_user("gone@example.com").await;
    let (_, app) = generate(&svc, user, json!({})).await;
    let sealed = svc
        .state
        .store
        .authenticator_seed(user)
        .await
        .unwrap()
        .expect("a stored seed");
    let (status, _) = svc
        .backend
        .post_json(&format!("/protected/json/users/{user}/delete"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = verify(&svc, &app.code_at(clock.now()), user).await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (404, Some("60026")),
        "a deleted person verifies nothing"
    );
    assert_eq!(
        svc.rows("authenticator_app_seeds").await,
        0,
        "the seed is deleted with the person"
    );
    // A verification that read the seed just before the deletion does not accept it after.
    let step = assent_protocol::totp::time_step(clock.now());
    assert_eq!(
        svc.state
            .store
            .use_authenticator_code(user, &sealed, step, clock.now())
            .await
            .unwrap(),
        CodeUse::DeviceGone
    );
    assert_eq!(svc.rows("used_authenticator_app_codes").await, 0);
    let (status, body) = svc.backend.post_json(&secret_path(user), json!({})).await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (404, Some("60026")),
        "no new seed for a deleted person"
    );
    assert_eq!(svc.rows("authenticator_app_seeds").await, 0);
}

#[tokio::test]
async fn a_seed_replaced_during_a_verification_is_not_accepted() {
    let (svc, clock) = service().await;
    let user = svc.backend.create_user("swap@example.com").await;
    generate(&svc, user, json!({})).await;
    let old = svc
        .state
        .store
        .authenticator_seed(user)
        .await
        .unwrap()
        .unwrap();
    generate(&svc, user, json!({})).await;
    let step = assent_protocol::totp::time_step(clock.now());
    assert_eq!(
        svc.state
            .store
            .use_authenticator_code(user, &old, step, clock.now())
            .await
            .unwrap(),
        CodeUse::DeviceGone,
        "a code matched against the replaced seed is refused"
    );
}

#[tokio::test]
async fn wrong_codes_lock_the_person_for_the_other_app_too() {
    let (svc, clock) = service().await;
    let user = svc.backend.create_user("guess@example.com").await;
    let (_, app) = generate(&svc, user, json!({})).await;
    let now = clock.now();
    let wrong = if app.code_at(now) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 1..5 {
        assert_invalid(&verify(&svc, wrong, user).await, "a wrong code");
    }
    let (status, body) = verify(&svc, wrong, user).await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (429, Some("60114"))
    );
    let (status, _) = verify(&svc, &app.code_at(now), user).await;
    assert_eq!(status, 429, "locked: even the app's right code is refused");
    assert_eq!(svc.rows("used_authenticator_app_codes").await, 0);
}

#[tokio::test]
async fn hostile_input_is_refused_with_its_code_and_writes_nothing() {
    let (svc, _clock) = service().await;
    let user = svc.backend.create_user("hostile@example.com").await;
    for id in [
        "0",
        "abc",
        "99999999999999999999",
        "-1",
        "%FF",
        "9007199254740992",
    ] {
        let (status, body) = svc.backend.post_json(&secret_path(id), json!({})).await;
        assert_eq!(
            (status.as_u16(), body["error_code"].as_str()),
            (404, Some("60026")),
            "user id {id} names nobody: {body}"
        );
    }
    let (status, body) = svc
        .backend
        .post_json(&secret_path(user + 1), json!({}))
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (404, Some("60026")),
        "an unknown user: {body}"
    );
    let long = "a".repeat(65);
    for (params, field) in [
        (json!({"qr_size": 10}), "qr_size"),
        (json!({"qr_size": 1001}), "qr_size"),
        (json!({"qr_size": 99_999_999_999u64}), "qr_size"),
        (json!({"qr_size": "big"}), "qr_size"),
        (json!({"qr_size": -300}), "qr_size"),
        (json!({"label": long}), "label"),
        (json!({"label": "Acme:ana"}), "label"),
        (json!({"label": "ana\u{202E}moc.evil"}), "label"),
        (json!({"label": "line\nbreak"}), "label"),
        (json!({"label": {"nested": "object"}}), "label"),
    ] {
        let (status, body) = svc
            .backend
            .post_json(&secret_path(user), params.clone())
            .await;
        assert_eq!(
            (status.as_u16(), body["error_code"].as_str()),
            (400, Some("60004")),
            "{params} is refused: {body}"
        );
        assert!(
            body["errors"].get(field).is_some(),
            "{params}: the error names `{field}`: {body}"
        );
    }
    let (status, body) = svc
        .backend
        .with_key("not-the-key")
        .post_json(&secret_path(user), json!({}))
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (401, Some("60001"))
    );
    let huge = json!({"label": "x".repeat(70 * 1024)});
    let (status, body) = svc.backend.post_json(&secret_path(user), huge).await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (413, Some("60108")),
        "an oversized body: {body}"
    );
    let (status, body) = svc
        .backend
        .post_raw(
            &secret_path(user),
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (400, Some("60002"))
    );
    assert_eq!(
        svc.rows("authenticator_app_seeds").await,
        0,
        "no refused call wrote a seed"
    );
}

/// A sealed seed copied onto another person's row (by someone who can write the database but has
/// no key) does not open: the service refuses to verify with it rather than accept its codes.
#[tokio::test]
async fn a_seed_moved_to_another_person_does_not_open() {
    let (svc, clock) = service().await;
    let mine = svc.backend.create_user("mine@example.com").await;
    let theirs = svc.backend.create_user("theirs@example.com").await;
    let (_, my_app) = generate(&svc, mine, json!({})).await;
    generate(&svc, theirs, json!({})).await;
    let secrets = svc.state.store.sealed_secrets().await.unwrap();
    let find = |user_id| {
        secrets
            .iter()
            .find(|s| s.purpose == SecretPurpose::AuthenticatorAppSeed { user_id })
            .unwrap()
            .clone()
    };
    let (my_seed, their_seed) = (find(mine), find(theirs));
    svc.state
        .store
        .reseal_secrets(vec![(their_seed, my_seed.value.clone())])
        .await
        .unwrap();
    let (status, body) = verify(&svc, &my_app.code_at(clock.now()), theirs).await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (500, Some("60199")),
        "a moved seed does not open for another person: {body}"
    );
    assert_eq!(svc.rows("used_authenticator_app_codes").await, 0);
}
