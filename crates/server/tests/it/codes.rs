//! One-time codes through Authy's token verification endpoint (`src/backend/codes.rs`): the
//! window, replay (also concurrent, also across instances), the per-person lock-out on the
//! service's clock, revocation, several devices, and hostile input. On both engines.

use assent_protocol::totp::STEP_SECONDS;
use assent_server::clock::Clock;
use assent_testkit::TestService;
use reqwest::StatusCode;
use serde_json::Value;

/// A service on an adjustable clock.
async fn service() -> (TestService, Clock) {
    TestService::with_adjustable_clock().await
}

/// Moves the clock to the middle of a step, so a test has ~15 s before the step changes.
pub(crate) fn mid_step(clock: &Clock) -> i64 {
    let into = clock.now().rem_euclid(STEP_SECONDS);
    clock.advance((STEP_SECONDS / 2 - into).rem_euclid(STEP_SECONDS));
    clock.now()
}

pub(crate) async fn verify(svc: &TestService, token: &str, user: u64) -> (StatusCode, Value) {
    svc.backend
        .get(&format!("/protected/json/verify/{token}/{user}"))
        .await
}

pub(crate) fn assert_invalid(reply: &(StatusCode, Value), why: &str) {
    assert_eq!(reply.0, 401, "{why}: {}", reply.1);
    assert_eq!(reply.1["error_code"], "60020", "{why}: {}", reply.1);
    assert_eq!(reply.1["token"], "is invalid", "{why}: Authy's shape");
    assert_eq!(reply.1["success"], false, "{why}");
}

#[tokio::test]
async fn a_code_is_accepted_once_within_one_step_either_side() {
    let (svc, clock) = service().await;
    let (user, device) = svc.enrolled_user("window@example.com").await;
    let now = mid_step(&clock);
    for offset in [-1, 0, 1] {
        let code = device.code_at(now + offset * STEP_SECONDS);
        let reply = verify(&svc, &code, user).await;
        assert_eq!(
            reply.0, 200,
            "a code {offset} steps from now should be accepted: {}",
            reply.1
        );
        assert_eq!(reply.1["token"], "is valid");
        assert_eq!(
            reply.1["success"], "true",
            "Authy sends success as a string here"
        );
        assert_eq!(reply.1["device"]["id"], device.enrollment.device_alias);
    }
    assert_eq!(
        svc.rows("used_codes").await,
        3,
        "each accepted use is recorded"
    );
    for offset in [-2, 2] {
        let code = device.code_at(now + offset * STEP_SECONDS);
        assert_invalid(
            &verify(&svc, &code, user).await,
            &format!("a code {offset} steps from now is outside the window"),
        );
    }
    let replay = verify(&svc, &device.code_at(now), user).await;
    assert_invalid(&replay, "a code used once is refused the second time");
    assert_eq!(
        replay.1["message"], "Token is invalid. Token was used recently",
        "the replay says why"
    );
    assert_eq!(svc.rows("used_codes").await, 3, "refusals wrote no use");
}

#[tokio::test]
async fn the_success_body_carries_the_exact_text_authy_clients_look_for() {
    let (svc, clock) = service().await;
    let (user, device) = svc.enrolled_user("shape@example.com").await;
    let now = mid_step(&clock);
    let text = reqwest::Client::new()
        .get(format!(
            "{}/protected/json/verify/{}/{user}?force=true",
            svc.base,
            device.code_at(now)
        ))
        .header("X-Authy-API-Key", &svc.backend.api_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#""token":"is valid""#),
        "the Python client checks for this exact text: {text}"
    );
}

#[tokio::test]
async fn repeated_wrong_codes_lock_the_person_out_until_the_clock_passes_the_lock() {
    let (svc, clock) = service().await;
    let (user, device) = svc.enrolled_user("locked@example.com").await;
    let (other, other_device) = svc.enrolled_user("other@example.com").await;
    let now = mid_step(&clock);
    let wrong = if device.code_at(now) == "000000" {
        "111111"
    } else {
        "000000"
    };
    for attempt in 1..5 {
        assert_invalid(
            &verify(&svc, wrong, user).await,
            &format!("wrong code {attempt}"),
        );
    }
    let response = reqwest::Client::new()
        .get(format!("{}/protected/json/verify/{wrong}/{user}", svc.base))
        .header("X-Authy-API-Key", &svc.backend.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "the fifth wrong code locks");
    assert_eq!(response.headers()["retry-after"], "300");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "60114");

    // While locked even the right code is refused, and says how long is left.
    clock.advance(100);
    let right = device.code_at(clock.now());
    let response = reqwest::Client::new()
        .get(format!("{}/protected/json/verify/{right}/{user}", svc.base))
        .header("X-Authy-API-Key", &svc.backend.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        429,
        "a locked person's right code is refused too"
    );
    let retry: i64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (199..=200).contains(&retry),
        "100 s into a 300 s lock, about 200 s are left, not {retry}"
    );
    assert_eq!(
        svc.rows("used_codes").await,
        0,
        "a refused code is not used up"
    );

    // Someone else is not affected.
    let reply = verify(&svc, &other_device.code_at(clock.now()), other).await;
    assert_eq!(reply.0, 200, "another person's verification is not locked");

    // When the lock ends, the right code works and the count starts again.
    clock.advance(201);
    let reply = verify(&svc, &device.code_at(clock.now()), user).await;
    assert_eq!(
        reply.0, 200,
        "after the lock-out the right code is accepted: {}",
        reply.1
    );
}

#[tokio::test]
async fn failures_spread_beyond_the_window_do_not_lock() {
    let (svc, clock) = service().await;
    let (user, device) = svc.enrolled_user("slow@example.com").await;
    mid_step(&clock);
    for _ in 0..8 {
        let wrong = if device.code_at(clock.now()) == "000000" {
            "111111"
        } else {
            "000000"
        };
        assert_invalid(&verify(&svc, wrong, user).await, "one wrong code a while");
        clock.advance(100);
    }
    let reply = verify(&svc, &device.code_at(clock.now()), user).await;
    assert_eq!(
        reply.0, 200,
        "three failures per five minutes never lock: {}",
        reply.1
    );
}

#[tokio::test]
async fn a_revoked_devices_codes_stop_at_once() {
    let (svc, clock) = service().await;
    let (user, device) = svc.enrolled_user("revoked@example.com").await;
    let now = mid_step(&clock);
    let (status, _) = svc
        .backend
        .delete(&format!("/protected/json/sdk/devices/{}", device.id))
        .await;
    assert_eq!(status, 200);
    assert_invalid(
        &verify(&svc, &device.code_at(now), user).await,
        "a revoked device's current code",
    );
    assert_eq!(svc.rows("used_codes").await, 0);
}

#[tokio::test]
async fn each_of_several_devices_has_its_own_codes_and_only_for_its_person() {
    let (svc, clock) = service().await;
    let (user, first) = svc.enrolled_user("several@example.com").await;
    let second = svc.enroll(user).await;
    let (stranger, strangers_device) = svc.enrolled_user("stranger@example.com").await;
    let now = mid_step(&clock);
    assert_ne!(
        first.enrollment.code_seed, second.enrollment.code_seed,
        "every device gets its own seed"
    );
    for device in [&first, &second] {
        let reply = verify(&svc, &device.code_at(now), user).await;
        assert_eq!(reply.0, 200, "each device's code works: {}", reply.1);
        assert_eq!(reply.1["device"]["id"], device.enrollment.device_alias);
    }
    assert_invalid(
        &verify(&svc, &strangers_device.code_at(now), user).await,
        "another person's code is not this person's",
    );
    let _ = stranger;
}

#[tokio::test]
async fn concurrent_verifications_of_one_code_accept_it_once_across_instances() {
    let (svc, clock) = service().await;
    let clock2 = clock.clone();
    let other = svc
        .another_instance(Some(Box::new(move |c| c.clock = clock2)))
        .await;
    let (user, device) = svc.enrolled_user("race@example.com").await;
    let code = device.code_at(mid_step(&clock));
    let mut calls = Vec::new();
    // Four calls: the three replays stay under the lock-out (replays count as wrong codes).
    for i in 0..4 {
        let backend = if i % 2 == 0 {
            svc.backend.clone()
        } else {
            other.backend.clone()
        };
        let path = format!("/protected/json/verify/{code}/{user}");
        calls.push(tokio::spawn(async move { backend.get(&path).await }));
    }
    let mut accepted = 0;
    for call in calls {
        let (status, body) = call.await.unwrap();
        match status.as_u16() {
            200 => accepted += 1,
            401 => assert_eq!(body["error_code"], "60020"),
            other => panic!("a racing verification answers 200 or 60020, not {other}: {body}"),
        }
    }
    assert_eq!(
        accepted, 1,
        "exactly one of the racing verifications is accepted"
    );
    assert_eq!(svc.rows("used_codes").await, 1);
}

#[tokio::test]
async fn malformed_tokens_and_unknown_people_are_refused_and_write_nothing() {
    let (svc, _clock) = service().await;
    let (user, _device) = svc.enrolled_user("hostile@example.com").await;
    let long = "9".repeat(5000);
    for token in [
        "12345",
        "123456789",
        "12a456",
        "%20123456",
        "-123456",
        long.as_str(),
    ] {
        assert_invalid(
            &verify(&svc, token, user).await,
            &format!("token {token:.20}"),
        );
    }
    for id in ["0", "abc", "99999999999999999999", "-1"] {
        let (status, body) = verify(&svc, "123456", 0).await;
        assent_testkit::assert_refused!(status, body, 404, "60026", "user {id}");
        let (status, body) = svc
            .backend
            .get(&format!("/protected/json/verify/123456/{id}"))
            .await;
        assent_testkit::assert_refused!(status, body, 404, "60026", "user id {id} names nobody");
    }
    let (status, body) = svc
        .backend
        .with_key("wrong")
        .get(&format!("/protected/json/verify/123456/{user}"))
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (401, Some("60001"))
    );
    assert_eq!(svc.rows("used_codes").await, 0, "nothing was used");
}

/// The `Date` an answer carries, as Unix seconds.
async fn date_of(url: &str) -> i64 {
    let answer = reqwest::get(url).await.unwrap();
    let date = answer
        .headers()
        .get("date")
        .expect("every answer has a Date")
        .to_str()
        .unwrap()
        .to_owned();
    httpdate::parse_http_date(&date)
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn every_answer_tells_the_time_of_the_clock_that_checks_codes() {
    let (svc, clock) = service().await;
    let healthy = format!("{}/healthz", svc.base);
    let refused = format!("{}/no/such/route", svc.base);
    let before = date_of(&healthy).await;
    assert!(
        (before - clock.now()).abs() <= 1,
        "Date is the service's clock: {before} vs {}",
        clock.now()
    );
    clock.advance(300);
    for url in [&healthy, &refused] {
        let date = date_of(url).await;
        assert!(
            (date - clock.now()).abs() <= 1,
            "a service whose clock is 5 minutes ahead says so in its Date ({url}): {date} vs {}",
            clock.now()
        );
    }
}
