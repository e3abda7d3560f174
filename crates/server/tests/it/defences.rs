//! Push-fatigue defences on the real service: one pending request per person and app, the
//! back-off after denials (on a moved clock, never by sleeping), the freeze after "this wasn't
//! me" with its signed `fraud_reported` callback, the operator's unfreeze, and the facts the
//! service signs into each request.

use assent_protocol::callback::{self, CallbackKey};
use assent_protocol::decision::{DenyReason, Outcome};
use assent_server::defences::AppDefences;
use assent_testkit::{CallbackReceiver, Options, TestService, assert_refused};
use serde_json::{Value, json};

fn created(body: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(body["approval_request"]["uuid"].as_str().expect("a uuid")).unwrap()
}

#[tokio::test]
async fn one_pending_request_per_person_and_app_unless_the_relying_party_says_otherwise() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("one@example.com").await;
    let (first, _) = svc
        .backend
        .request(user, json!({"message": "Sign in"}))
        .await;
    let before = svc.rows("approval_requests").await;
    let (status, body, retry) = svc
        .backend
        .create_request_retry(user, json!({"message": "Sign in again"}))
        .await;
    assert_refused!(
        status,
        body,
        409,
        "60118",
        "a second request while one waits must be refused: {body}"
    );
    assert_eq!(
        retry, None,
        "a pending request ends with an answer, not a time"
    );
    assert_eq!(
        svc.rows("approval_requests").await,
        before,
        "a refused request writes nothing"
    );
    let (status, body) = svc
        .backend
        .create_request(
            user,
            json!({"message": "Also this", "allow_concurrent": true}),
        )
        .await;
    assert_eq!(status, 200, "allow_concurrent lifts the limit: {body}");
    let concurrent = created(&body);
    assert_eq!(device.approve(first).await.status, 200);
    assert_eq!(device.approve(concurrent).await.status, 200);
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "Next"}))
        .await;
    assert_eq!(
        status, 200,
        "once answered, the next request is admitted: {body}"
    );
}

#[tokio::test]
async fn one_pending_request_holds_under_20_concurrent_creates() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("race@example.com").await;
    let mut calls = Vec::new();
    for i in 0..20 {
        let backend = svc.backend.clone();
        calls.push(tokio::spawn(async move {
            backend
                .create_request(user, json!({"message": format!("push {i}")}))
                .await
        }));
    }
    let mut admitted = 0;
    for call in calls {
        let (status, body) = call.await.unwrap();
        match status.as_u16() {
            200 => admitted += 1,
            409 => assert_eq!(body["error_code"], "60118", "{body}"),
            other => panic!("a create is admitted or refused as pending, not {other}: {body}"),
        }
    }
    assert_eq!(
        admitted, 1,
        "exactly one of 20 simultaneous pushes is admitted"
    );
    assert_eq!(svc.rows("approval_requests").await, 1);
}

/// When the service recorded request `id`'s outcome (its clock, Unix seconds).
async fn decided_at(svc: &TestService, id: uuid::Uuid) -> i64 {
    svc.state
        .store
        .request(None, id)
        .await
        .unwrap()
        .expect("the request exists")
        .processed_at
        .expect("the request was decided")
}

#[tokio::test]
async fn denials_hold_new_requests_back_10_s_doubling_and_a_quiet_day_resets() {
    let (svc, clock) = TestService::with_adjustable_clock().await;
    let (user, device) = svc.enrolled_user("fatigue@example.com").await;
    let deny = |id| {
        let device = &device;
        async move {
            let reply = device
                .decide(id, Outcome::Deny, Some(DenyReason::Cancelled), None)
                .await;
            assert_eq!(
                reply.status, 200,
                "the denial is recorded: {:?}",
                reply.body
            );
        }
    };
    // Moves the service clock to `at` (it only moves forward).
    let move_to = |at: i64| clock.advance((at - clock.now()).max(0));
    for (round, wait) in [10i64, 20, 40, 80].into_iter().enumerate() {
        let (id, _) = svc
            .backend
            .request(user, json!({"message": format!("round {round}")}))
            .await;
        deny(id).await;
        let until = decided_at(&svc, id).await + wait;
        let before = clock.now();
        let (status, body, retry) = svc
            .backend
            .create_request_retry(user, json!({"message": "again"}))
            .await;
        let after = clock.now();
        assert_refused!(
            status,
            body,
            429,
            "60116",
            "denial {} holds the next request back: {body}",
            round + 1
        );
        let retry = retry.expect("a back-off says when to retry") as i64;
        assert!(
            (until - after..=until - before).contains(&retry),
            "after denial {} the wait is {wait} s from the denial: Retry-After {retry}",
            round + 1
        );
        move_to(until - 2);
        let (status, body, _) = svc
            .backend
            .create_request_retry(user, json!({"message": "almost"}))
            .await;
        assert_refused!(
            status,
            body,
            429,
            "60116",
            "just before the end it still waits"
        );
        move_to(until);
    }
    // A day without denials: the streak is forgotten and the next denial waits 10 s again.
    clock.advance(86_400);
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "a day later"}))
        .await;
    deny(id).await;
    let until = decided_at(&svc, id).await + 10;
    let (_, _, retry) = svc
        .backend
        .create_request_retry(user, json!({"message": "again"}))
        .await;
    let retry = retry.expect("held back") as i64;
    assert!(
        (until - clock.now()..=10).contains(&retry),
        "after a quiet day the back-off starts again at 10 s, not {retry}"
    );
}

#[tokio::test]
async fn not_me_freezes_the_person_sends_a_signed_fraud_report_and_counts() {
    let mut callbacks = CallbackReceiver::start().await;
    let (svc, clock) = {
        let clock = assent_server::clock::Clock::adjustable();
        let service_clock = clock.clone();
        let svc = TestService::start_with(Options {
            callback_url: Some(callbacks.url.clone()),
            configure: Some(Box::new(move |c| c.clock = service_clock)),
            ..Options::default()
        })
        .await;
        (svc, clock)
    };
    let (user, device) = svc.enrolled_user("notme@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "Sign in"}))
        .await;
    let reply = device
        .decide(id, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let now = decided_at(&svc, id).await;
    assert_eq!(
        reply.body["frozen_until"].as_i64(),
        Some(now + 1200),
        "the device is told how long the app is frozen for this person"
    );

    let (status, body, retry) = svc
        .backend
        .create_request_retry(user, json!({"message": "Sign in, really"}))
        .await;
    assert_refused!(
        status,
        body,
        429,
        "60117",
        "a frozen person gets no request: {body}"
    );
    let left = retry.expect("a freeze says when it ends") as i64;
    assert!(
        (now + 1200 - clock.now()..=1200).contains(&left),
        "the default freeze is 20 minutes from the report, not {left} s"
    );

    // The request's own callback, then the fraud report, both signed by Authy's rules.
    let key = CallbackKey::from_api_key(&svc.backend.api_key);
    let denied = callbacks.next().await;
    callback::verify_post(
        &key,
        &denied.nonce,
        &callbacks.url,
        &denied.body,
        &denied.signature,
    )
    .expect("the denial callback verifies");
    let report = callbacks.next_fraud_report().await;
    callback::verify_post(
        &key,
        &report.nonce,
        &callbacks.url,
        &report.body,
        &report.signature,
    )
    .expect("the fraud_reported callback verifies with the API key, as Authy's do");
    let event: Value = serde_json::from_slice(&report.body).unwrap();
    assert_eq!(event["callback_action"], "fraud_reported");
    assert_eq!(event["authy_id"], user);
    assert_eq!(event["uuid"], id.to_string());
    assert_eq!(event["frozen_until"].as_i64(), Some(now + 1200));
    let tampered = String::from_utf8(report.body.clone())
        .unwrap()
        .replace("fraud_reported", "fraud_cleared");
    assert!(
        callback::verify_post(
            &key,
            &report.nonce,
            &callbacks.url,
            tampered.as_bytes(),
            &report.signature,
        )
        .is_err(),
        "a tampered event must not verify"
    );

    let metrics = reqwest::get(format!("{}/metrics", svc.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("assent_fraud_reports_total{instance=")
            && metrics
                .lines()
                .any(|l| l.starts_with("assent_fraud_reports_total") && l.ends_with(" 1")),
        "the report is counted: {metrics}"
    );
    assert!(
        metrics.lines().any(|l| l.contains("code=\"60117\"")),
        "the refused create is counted under its code"
    );

    clock.advance(now + 1200 - clock.now());
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "after the freeze"}))
        .await;
    assert_eq!(status, 200, "the freeze ends on time: {body}");
}

#[tokio::test]
async fn an_operator_lifts_a_freeze_and_the_back_off() {
    let (svc, clock) = TestService::with_adjustable_clock().await;
    let (user, device) = svc.enrolled_user("lift@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "Sign in"}))
        .await;
    device
        .decide(id, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "blocked"}))
        .await;
    assert_refused!(status, body, 429, "60117", "frozen first: {body}");
    let operator = svc.state.operator();
    let stranger = svc.backend.create_user("stranger@example.com").await;
    let (other_app, _) = svc
        .other_app(assent_server::admin::AppSpec {
            name: "Other".into(),
            ..Default::default()
        })
        .await;
    assert!(
        operator.unfreeze(&other_app.id, user).await.is_err(),
        "an operator cannot lift a freeze through another app"
    );
    assert!(
        operator
            .unfreeze(&svc.app.id, stranger + 1000)
            .await
            .is_err(),
        "an unknown person is an error"
    );
    operator
        .unfreeze(&svc.app.id, user)
        .await
        .expect("the operator lifts the freeze");
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "welcome back"}))
        .await;
    assert_eq!(
        status, 200,
        "after the lift neither freeze nor back-off holds: {body}"
    );
    // Denials after the lift count again (a lift forgets decisions up to the second of the
    // latest one).
    clock.advance(1);
    device
        .decide(created(&body), Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "again"}))
        .await;
    assert_refused!(
        status,
        body,
        429,
        "60117",
        "a report after the lift freezes again: {body}"
    );
}

#[tokio::test]
async fn an_approver_who_says_not_me_is_frozen_themselves_whoever_initiates() {
    let mut callbacks = CallbackReceiver::start().await;
    let svc = TestService::start_with(Options {
        callback_url: Some(callbacks.url.clone()),
        ..Options::default()
    })
    .await;
    let (ana, _ana_device) = svc.enrolled_user("ana@example.com").await;
    let (ben, ben_device) = svc.enrolled_user("ben@example.com").await;
    let (carla, _carla_device) = svc.enrolled_user("carla@example.com").await;
    let (id, _) = svc
        .backend
        .request(
            ana,
            json!({"message": "Release $12,500?", "approvers": [ben], "quorum": 2}),
        )
        .await;
    let reply = ben_device
        .decide(id, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    assert!(
        reply.body["frozen_until"].is_i64(),
        "the reporter is told they are frozen: {:?}",
        reply.body
    );
    let report = callbacks.next_fraud_report().await;
    let event: Value = serde_json::from_slice(&report.body).unwrap();
    assert_eq!(
        event["authy_id"], ben,
        "the event names the person who reported"
    );
    // Ben is not pushed again, neither as initiator nor through someone else's request.
    let (status, body) = svc
        .backend
        .create_request(ben, json!({"message": "Sign in"}))
        .await;
    assert_refused!(status, body, 429, "60117", "the reporter is frozen: {body}");
    let (status, body) = svc
        .backend
        .create_request(carla, json!({"message": "Approve?", "approvers": [ben]}))
        .await;
    assert_refused!(
        status,
        body,
        429,
        "60117",
        "a frozen approver is not reached through another person's request: {body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(&format!("Approver {ben}")),
        "the refusal names the approver: {body}"
    );
    // Ana did not report anything: only the veto's back-off applies to nobody but Ben.
    let (status, body) = svc
        .backend
        .create_request(ana, json!({"message": "Ana signs in"}))
        .await;
    assert_eq!(
        status, 200,
        "the initiator is not frozen by someone else's report: {body}"
    );
}

#[tokio::test]
async fn an_ignored_prompt_stops_blocking_the_next_sign_in_after_five_minutes() {
    let (svc, clock) = TestService::with_adjustable_clock().await;
    let (user, _device) = svc.enrolled_user("ignored@example.com").await;
    svc.backend
        .request(user, json!({"message": "ignored"}))
        .await;
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "too soon"}))
        .await;
    assert_refused!(status, body, 409, "60118", "{body}");
    clock.advance(300);
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "later"}))
        .await;
    assert_eq!(
        status, 200,
        "a prompt ignored for 5 minutes no longer blocks the person's next sign-in: {body}"
    );
}

#[tokio::test]
async fn each_app_sets_its_own_freeze_back_off_and_pending_limit() {
    let svc = TestService::start_with(Options {
        defences: AppDefences {
            max_pending_per_person: 2,
            backoff: false,
            freeze_secs: 60,
            require_user_verification: false,
        },
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("custom@example.com").await;
    let (a, _) = svc.backend.request(user, json!({"message": "a"})).await;
    svc.backend.request(user, json!({"message": "b"})).await;
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "c"}))
        .await;
    assert_refused!(status, body, 409, "60118", "the app allows two: {body}");
    device
        .decide(a, Outcome::Deny, Some(DenyReason::Cancelled), None)
        .await;
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "no back-off"}))
        .await;
    assert_eq!(status, 200, "this app turned the back-off off: {body}");
    let id = created(&body);
    device
        .decide(id, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    let (status, _, retry) = svc
        .backend
        .create_request_retry(user, json!({"message": "frozen"}))
        .await;
    assert_eq!(status, 429);
    assert!(
        matches!(retry, Some(59 | 60)),
        "this app freezes for a minute: {retry:?}"
    );
}

#[tokio::test]
async fn the_service_signs_same_network_and_recent_request_facts_into_each_request() {
    let svc = TestService::start_with(Options::several_pending()).await;
    let (user, device) = svc.enrolled_user("facts@example.com").await;
    let (other_user, other_device) = svc.enrolled_user("facts2@example.com").await;
    // Any authenticated call records where the device connects from (loopback here).
    let _ = device.connect_synced().await;
    let (plain, _) = svc.backend.request(user, json!({"message": "one"})).await;
    let (here, _) = svc
        .backend
        .request(
            user,
            json!({"message": "two", "requester": {"ip": "127.0.0.1"}}),
        )
        .await;
    let (elsewhere, _) = svc
        .backend
        .request(
            user,
            json!({"message": "three", "requester": {"ip": "203.0.113.9"}}),
        )
        .await;
    let facts = |id| {
        let device = &device;
        async move {
            let (details, _) = device.details(id).await;
            details
                .message
                .facts
                .expect("every new request carries the service's facts")
        }
    };
    let first = facts(plain).await;
    assert_eq!(first.requests_last_hour, 1);
    assert_eq!(
        first.same_network, None,
        "without a requester address nothing is said about the network"
    );
    let second = facts(here).await;
    assert_eq!(second.requests_last_hour, 2, "a burst shows as a count");
    assert_eq!(
        second.same_network,
        Some(vec![device.id]),
        "the device that connects from the requester's address is on the same network"
    );

    // An approver whose device has made no authenticated call is not on any network.
    let (with_approver, _) = svc
        .backend
        .request(
            user,
            json!({"message": "four", "approvers": [other_user], "requester": {"ip": "127.0.0.1"}}),
        )
        .await;
    let fourth = facts(with_approver).await;
    assert_eq!(fourth.same_network, Some(vec![device.id]));
    let _ = other_device.connect_synced().await;
    let (both, _) = svc
        .backend
        .request(
            user,
            json!({"message": "five", "approvers": [other_user], "requester": {"ip": "::ffff:127.0.0.1"}}),
        )
        .await;
    let mut listed = facts(both).await.same_network.unwrap();
    listed.sort();
    let mut expected = vec![device.id, other_device.id];
    expected.sort();
    assert_eq!(
        listed, expected,
        "addresses compare canonically (an IPv4-mapped address is the IPv4 one)"
    );
    let (garbage, _) = svc
        .backend
        .request(
            user,
            json!({"message": "six", "requester": {"ip": "somewhere"}}),
        )
        .await;
    assert_eq!(
        facts(garbage).await.same_network,
        None,
        "an address that does not parse says nothing"
    );
    let third = facts(elsewhere).await;
    assert_eq!(third.requests_last_hour, 3);
    assert_eq!(
        third.same_network,
        Some(vec![]),
        "another address: no device is on the same network"
    );
}
