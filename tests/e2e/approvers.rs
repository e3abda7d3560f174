//! Issue 15, acceptance 2: a two-person request seen from each side. As the second approver the
//! app names who asked and what each approver did, and offers "Report as suspicious" instead of
//! "This wasn't me"; as the initiator, a request it approved waits under "Waiting on others"
//! (its notification withdrawn, since nothing more is asked of the person) until the other
//! approver answers.

use std::time::Duration;

use assent_testkit::process::{
    AssentService, HeadlessDevice, LogsOnFailure, NotificationBus, artifacts_dir, require_session,
    wait_for,
};
use serde_json::Value;

use crate::driver::AppSession;

/// A named person; returns their id.
fn person(service: &AssentService, email: &str, name: &str) -> u64 {
    service
        .assent(&["user", "add", "--email", email, "--name", name, "--json"])
        .ok()
        .json()["id"]
        .as_u64()
        .expect("the new user's id")
}

/// A two-of-two transfer started by `initiator` with `other` as the second approver.
fn joint_request(service: &AssentService, initiator: u64, other: u64, message: &str) -> String {
    let sent: Value = service
        .assent(&[
            "request",
            "send",
            "--json",
            "--user",
            &initiator.to_string(),
            "--message",
            message,
            "--approvers",
            &other.to_string(),
            "--quorum",
            "2",
            "--kind",
            "action",
            "--action-label",
            "Release $12,500",
        ])
        .ok()
        .json();
    sent["uuid"]
        .as_str()
        .expect("the request's uuid")
        .to_owned()
}

/// The texts of every element with `testid`.
async fn texts(app: &AppSession, testid: &str) -> Vec<String> {
    let mut out = Vec::new();
    for element in app.all(testid).await {
        out.push(element.text().await.unwrap_or_default());
    }
    out
}

/// Waits until the elements with `testid` read exactly `expected`.
async fn wait_texts(app: &AppSession, testid: &str, expected: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = texts(app, testid).await;
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{testid} should read {expected:?}, reads {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_person_request_seen_from_the_second_approver_and_from_the_initiator() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("e2e-approvers");
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    let service = AssentService::start(dir.path(), &[]);
    let ana = person(&service, "ana@acme.example", "Ana Ferreira");
    let bo = person(&service, "bo@acme.example", "Bo Lindqvist");
    let bo_device = HeadlessDevice::enroll(dir.path(), &service.enroll_link(bo));
    let bus_log = shots.join("notification-bus.jsonl");
    let bus = NotificationBus::watch(&bus_log);
    let (mut app, _data, _keyring, app_log) =
        AppSession::start_fresh(dir.path(), shots.clone()).await;
    let _logs = LogsOnFailure(vec![
        service.log_path().to_path_buf(),
        app_log,
        bus_log.clone(),
    ]);
    app.enroll(&service.enroll_link(ana), "Acme Bank").await;

    // 1. Bo asks, approves on his device; Ana's app is the second approver.
    let from_bo = joint_request(&service, bo, ana, "Wire $12,500 to ACME Corp?");
    bo_device.run(&["approve", &from_bo]).ok();
    app.wait_text("message", "Wire $12,500 to ACME Corp?").await;
    wait_texts(
        &app,
        "approver-state",
        &["Bo Lindqvist approved", "You: waiting"],
    )
    .await;
    assert_eq!(app.text("account-name").await, "Ana Ferreira");
    assert_eq!(app.text("approve").await, "Release $12,500");
    assert!(
        app.all("not-me").await.is_empty(),
        "the second approver is not offered \"This wasn't me\": someone else asked"
    );
    assert_eq!(app.text("report-suspicious").await, "Report as suspicious");
    app.shot("second-approver").await;
    app.click("approve").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while service.status(&from_bo)["status"] != "approved" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second approval completes the request: {}",
            service.status(&from_bo)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.shot("second-approver-approved").await;

    // 2. Ana asks; the app approves first: the request waits under "Waiting on others" and its
    //    notification is withdrawn, until Bo's device answers.
    let message = "Release payroll for November?";
    let from_ana = joint_request(&service, ana, bo, message);
    let call = wait_for(
        "the notification of Ana's own request, answered by the daemon",
        Duration::from_secs(20),
        || {
            bus.notify_calls()
                .into_iter()
                .find(|c| c.body.starts_with(message) && c.id.is_some())
        },
    );
    app.wait_text("message", message).await;
    wait_texts(
        &app,
        "approver-state",
        &["You: waiting", "Bo Lindqvist: waiting"],
    )
    .await;
    assert!(
        app.all("report-suspicious").await.is_empty(),
        "the initiator's own decline is \"This wasn't me\""
    );
    app.el("not-me").await;
    app.click("approve").await;
    app.wait_text("flash", "Waiting for the other approvers.")
        .await;
    let notification = call.id.unwrap();
    wait_for(
        "the notification withdrawn once Ana answered",
        Duration::from_secs(20),
        || bus.close_calls().contains(&notification).then_some(()),
    );
    app.click("back").await;
    let waiting = app.text("waiting-on-others").await;
    assert!(
        waiting.contains(message),
        "the approved request is listed under \"Waiting on others\": {waiting:?}"
    );
    app.shot("waiting-on-others").await;
    assert_eq!(service.status(&from_ana)["status"], "pending");
    bo_device.run(&["approve", &from_ana]).ok();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !app.all("waiting-on-others").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request leaves \"Waiting on others\" once it resolves"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(service.status(&from_ana)["status"], "approved");
    app.shot("resolved").await;
    let _ = app.client.close().await;
}
