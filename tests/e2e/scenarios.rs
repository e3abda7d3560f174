//! The nine scenarios, in order, on one running app (as a person would live through them).

use std::time::Duration;

use assent_device::{Keychain, SecretStore as _};
use assent_testkit::Backend;
use assent_testkit::process::{
    ACME_LOGO, AssentService, CallbackSink, HeadlessDevice, LogsOnFailure, StaticFile,
    artifacts_dir, free_port, require_session, wait_for,
};
use serde_json::Value;

use crate::driver::AppSession;

/// Waits until `dbus-monitor` saw a notification whose summary or body starts with `text` (a body
/// goes on with the place and the expiry).
fn notified(log: &std::path::Path, text: &str) {
    wait_for(
        &format!("a notification saying {text:?}"),
        Duration::from_secs(20),
        || {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .contains(&format!("\"{text}"))
                .then_some(())
        },
    );
}

/// Checks a received callback's signature with `assent callback verify`; returns its payload.
fn verified_callback(
    sink: &CallbackSink,
    service: &AssentService,
    url: &str,
    dir: &std::path::Path,
) -> Value {
    let callback = sink
        .next(Duration::from_secs(20))
        .expect("the callback arrives");
    let file = dir.join(format!("callback-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, &callback.body).unwrap();
    let check = assent_testkit::process::assent(
        &[
            "callback",
            "verify",
            "--api-key",
            &service.api_key,
            "--url",
            url,
            "--method",
            "POST",
            "--nonce",
            callback.header("x-authy-signature-nonce"),
            "--signature",
            callback.header("x-authy-signature"),
            "--body-file",
            file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(check.code, 0, "the callback signature verifies: {check:?}");
    serde_json::from_slice(&callback.body).unwrap()
}

fn send(service: &AssentService, args: &[&str]) -> Value {
    let mut full = vec!["request", "send", "--json"];
    full.extend_from_slice(args);
    service.assent(&full).ok().json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_app_approves_real_requests() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("e2e");
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    let logo = StaticFile::serve("acme-bank.png", ACME_LOGO, "image/png");
    let callback_port = free_port();
    let callback_url = format!("http://127.0.0.1:{callback_port}/assent/callback");
    let sink = CallbackSink::bind(callback_port);
    let mut service = AssentService::start(
        dir.path(),
        &[
            "--allow-local-logo",
            "--logo-url",
            &logo.url,
            "--callback-url",
            &callback_url,
        ],
    );
    let user = service.user("ana@example.com").to_string();
    let second = service.user("bo@example.com");
    let second_device = HeadlessDevice::enroll(dir.path(), &service.enroll_link(second));

    let monitor_log = shots.join("notifications.log");
    let _monitor = assent_testkit::process::watch_notifications(&monitor_log);
    let data_dir = dir.path().join("desktop");
    let keyring = format!("assent-test-{}", uuid::Uuid::new_v4());
    let app_log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), app_log.clone()]);
    let mut app = AppSession::start(
        &[
            ("ASSENT_DATA_DIR", data_dir.to_str().unwrap()),
            ("ASSENT_KEYRING_SERVICE", &keyring),
            ("ASSENT_LOG", "info"),
        ],
        shots.clone(),
        &app_log,
    )
    .await;

    // 1. Onboarding with an enrollment link; the account appears with its branding.
    app.el("enroll-input")
        .await
        .send_keys(&service.enroll_link(user.parse().unwrap()))
        .await
        .unwrap();
    app.shot("onboarding-link-pasted").await;
    app.click("enroll-button").await;
    app.click("preview-enroll").await;
    app.wait_text("flash", "This computer now approves for Acme Bank.")
        .await;
    app.click("tab-accounts").await;
    assert_eq!(app.text("account-name").await, "Acme Bank");
    let logo_src = app
        .el("logo")
        .await
        .attr("src")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(
        logo_src.starts_with("data:image/png;base64,"),
        "the logo is fetched by Rust and handed over as data: {logo_src:.40}"
    );
    app.wait_text("connection", "Connected").await;
    app.shot("account-with-branding").await;
    app.click("tab-requests").await;

    // 2. A login request appears (notification, message, details, logo); Approve.
    let login = send(
        &service,
        &[
            "--user",
            &user,
            "--message",
            "Sign in to Acme Bank?",
            "--detail",
            "Browser=Firefox 133 on Linux",
            "--detail",
            "Location=Lisbon, Portugal",
            "--requester-ip",
            "203.0.113.7",
        ],
    );
    let login = login["uuid"].as_str().unwrap().to_owned();
    notified(&monitor_log, "Sign in to Acme Bank?");
    app.wait_text("message", "Sign in to Acme Bank?").await;
    assert_eq!(app.text("app-name").await, "Acme Bank");
    let details = app.text("details").await;
    assert!(
        details.contains("Browser")
            && details.contains("Firefox 133 on Linux")
            && details.contains("Lisbon, Portugal"),
        "{details}"
    );
    assert!(app.text("requester").await.contains("203.0.113.7"));
    app.wait_text(
        "fact-requests",
        "The only request from Acme Bank in the last hour",
    )
    .await;
    app.wait_text("fact-network", "Another network than this computer")
        .await;
    assert!(
        app.el("logo")
            .await
            .attr("src")
            .await
            .unwrap()
            .unwrap_or_default()
            .starts_with("data:image/png")
    );
    app.shot("login-request").await;
    app.click("approve").await;
    app.wait_text("flash", "Approved.").await;
    app.shot("login-approved").await;
    assert_eq!(service.status(&login)["status"], "approved");
    let payload = verified_callback(&sink, &service, &callback_url, dir.path());
    assert_eq!(
        (payload["uuid"].as_str(), payload["status"].as_str()),
        (Some(login.as_str()), Some("approved"))
    );

    // 3. Typed number matching: the relying party got a code from the create call; the person
    //    types a wrong one first (the service counts it, the field empties), then the right one.
    let typed = send(
        &service,
        &[
            "--user",
            &user,
            "--message",
            "Sign in from a new browser?",
            "--number-matching",
            "--requester-ip",
            "127.0.0.1",
        ],
    );
    let (typed_id, code) = (
        typed["uuid"].as_str().unwrap().to_owned(),
        typed["code"]
            .as_str()
            .expect("the create call gives the relying party a code")
            .to_owned(),
    );
    assert_eq!(code.len(), 4, "four digits by default: {code:?}");
    app.wait_text("message", "Sign in from a new browser?")
        .await;
    app.wait_text(
        "fact-requests",
        "2nd request from Acme Bank in the last hour",
    )
    .await;
    app.wait_text("fact-network", "Same network as this computer")
        .await;
    let field = app.el("code-input").await;
    assert_eq!(
        field.attr("inputmode").await.unwrap().as_deref(),
        Some("numeric")
    );
    assert_eq!(
        field.prop("value").await.unwrap().as_deref(),
        Some(""),
        "the field starts empty: the app never has the code"
    );
    let wrong = assent_testkit::another_code(&code);
    field.send_keys(&wrong).await.unwrap();
    app.click("approve").await;
    app.wait_text("error", "2 tries left").await;
    assert_eq!(
        app.el("code-input")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(""),
        "the field is cleared after a wrong code"
    );
    assert_eq!(
        service.status(&typed_id)["status"],
        "pending",
        "a wrong code with tries left keeps the request"
    );
    app.shot("typed-code-wrong").await;
    app.el("code-input").await.send_keys(&code).await.unwrap();
    app.shot("typed-code-entered").await;
    app.click("approve").await;
    app.wait_text("flash", "Approved.").await;
    assert_eq!(service.status(&typed_id)["status"], "approved");
    verified_callback(&sink, &service, &callback_url, dir.path());

    // 4. Number matching in pick mode: the right number is picked and accepted.
    let wire = send(
        &service,
        &[
            "--user",
            &user,
            "--message",
            "Approve wire transfer of $12,500 to ACME Corp?",
            "--detail",
            "Amount=$12,500.00",
            "--detail",
            "To=ACME Corp",
            "--number-matching",
            "--pick",
        ],
    );
    let (wire_id, number) = (
        wire["uuid"].as_str().unwrap().to_owned(),
        wire["number"].as_u64().unwrap().to_string(),
    );
    app.wait_text("message", "Approve wire transfer").await;
    app.el("number-choices").await;
    app.shot("number-matching").await;
    let mut picked = false;
    for choice in app.all("number-choice").await {
        if choice.text().await.unwrap() == number {
            choice.click().await.unwrap();
            picked = true;
        }
    }
    assert!(picked, "the number {number} is among the choices");
    app.click("approve").await;
    app.wait_text("flash", "Approved.").await;
    assert_eq!(service.status(&wire_id)["status"], "approved");
    verified_callback(&sink, &service, &callback_url, dir.path());

    // 5. Two of two: the app's approval alone leaves it pending; the headless device's completes it.
    let joint = send(
        &service,
        &[
            "--user",
            &user,
            "--message",
            "Release payroll for November?",
            "--approvers",
            &second.to_string(),
            "--quorum",
            "2",
        ],
    );
    let joint = joint["uuid"].as_str().unwrap().to_owned();
    app.wait_text("message", "Release payroll for November?")
        .await;
    assert_eq!(app.text("quorum").await, "Needs 2 of 2 approvers.");
    app.shot("two-person-request").await;
    app.click("approve").await;
    app.wait_text("flash", "Waiting for the other approvers.")
        .await;
    assert_eq!(
        service.status(&joint)["status"],
        "pending",
        "one approval of two"
    );
    second_device.run(&["approve", &joint]).ok();
    assert_eq!(service.status(&joint)["status"], "approved");
    verified_callback(&sink, &service, &callback_url, dir.path());

    // 6. A request that expires while shown disappears with an explanation.
    send(
        &service,
        &[
            "--user",
            &user,
            "--message",
            "Sign in to the admin console?",
            "--expires",
            "8",
        ],
    );
    app.wait_text("message", "Sign in to the admin console?")
        .await;
    app.shot("expiring-request").await;
    app.wait_text("resolved-note", "This request expired.")
        .await;
    assert!(
        app.all("approve").await.is_empty(),
        "an expired request cannot be approved"
    );
    app.shot("request-expired").await;
    app.click("back").await;

    // 7. "This wasn't me": denied with reason not_me; the app says what happened, until when new
    //    requests are blocked and what to do; the service refuses the next request (60117)
    //    until the operator lifts the freeze.
    let next = send(
        &service,
        &[
            "--user",
            &user,
            "--message",
            "Sign in from Minsk?",
            "--requester-location",
            "Minsk, Belarus",
        ],
    );
    let next = next["uuid"].as_str().unwrap().to_owned();
    app.wait_text("message", "Sign in from Minsk?").await;
    app.shot("suspicious-request").await;
    app.click("not-me").await;
    app.wait_text("not-me-report", "Denied and reported as not you")
        .await;
    app.wait_text(
        "report-frozen",
        "New requests from Acme Bank are blocked until",
    )
    .await;
    app.wait_text("report-next", "change it").await;
    app.shot("not-me-report").await;
    assert_eq!(service.status(&next)["status"], "denied");
    // The decision's callback and the fraud_reported event, in either order.
    let first = verified_callback(&sink, &service, &callback_url, dir.path());
    let second = verified_callback(&sink, &service, &callback_url, dir.path());
    let (payload, fraud) = if first["callback_action"] == "fraud_reported" {
        (second, first)
    } else {
        (first, second)
    };
    assert_eq!(payload["status"], "denied");
    assert_eq!(
        payload["approval_request"]["transaction"]["reason"],
        "not_me"
    );
    assert_eq!(fraud["callback_action"], "fraud_reported", "{fraud}");
    assert_eq!(fraud["uuid"], next.as_str());
    assert!(fraud["frozen_until"].as_i64().is_some(), "{fraud}");
    let backend = Backend::new(&service.url, &service.api_key);
    let (refused, body) = backend
        .create_request(
            user.parse().unwrap(),
            serde_json::json!({"message": "Sign in again?"}),
        )
        .await;
    assert_eq!(refused, 429, "a frozen person gets no request: {body}");
    assert_eq!(body["error_code"], "60117", "{body}");
    app.click("report-dismiss").await;
    service
        .assent(&[
            "app",
            "unfreeze",
            &service.app_id,
            "--user",
            &user,
            "--database",
            &service.database,
        ])
        .ok();

    // 8. The service restarts while the app runs; a request created afterwards still appears.
    service.signal("-TERM");
    app.wait_text("connection", "Reconnecting").await;
    // No false reassurance: the list says requests cannot arrive instead of "Nothing is waiting".
    app.wait_text("offline-banner", "Can't reach Acme Bank")
        .await;
    assert!(
        app.all("no-requests").await.is_empty(),
        "an empty list while the service is unreachable must not say nothing is waiting"
    );
    app.shot("service-down").await;
    service.restart();
    app.wait_text("connection", "Connected").await;
    app.wait_text("no-requests", "Nothing is waiting for you.")
        .await;
    let after = send(
        &service,
        &["--user", &user, "--message", "Sign in after the restart?"],
    );
    let after = after["uuid"].as_str().unwrap().to_owned();
    app.wait_text("message", "Sign in after the restart?").await;
    app.shot("request-after-restart").await;
    app.click("deny").await;
    app.wait_text("flash", "Denied.").await;
    assert_eq!(service.status(&after)["status"], "denied");
    verified_callback(&sink, &service, &callback_url, dir.path());

    // 9. The backend revokes the device: the app shows the account revoked; its key is gone.
    let status = service
        .assent(&["user", "status", &user, "--json"])
        .ok()
        .json();
    let device_id = status["detailed_devices"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let accounts: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("accounts.json")).unwrap()).unwrap();
    let account_id: uuid::Uuid = accounts["accounts"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let keychain = Keychain::new(keyring.clone());
    assert!(
        keychain.load(account_id).unwrap().is_some(),
        "the key is in the keychain before revocation"
    );
    let (revoked, body) = Backend::new(&service.url, &service.api_key)
        .delete(&format!("/protected/json/sdk/devices/{device_id}"))
        .await;
    assert_eq!(revoked, 200, "the backend revokes the device: {body}");
    app.click("tab-accounts").await;
    app.wait_text("account-revoked", "Revoked").await;
    app.shot("account-revoked").await;
    wait_for(
        "the key to leave the keychain",
        Duration::from_secs(10),
        || keychain.load(account_id).unwrap().is_none().then_some(()),
    );

    let _ = app.client.close().await;
}
