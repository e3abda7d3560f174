//! Issue 17, acceptance 3: a device enrolled by hand for an existing person is reported by that
//! person's desktop app as "a device you may not know", with what to do; "I know this device"
//! dismisses it for good.

use std::time::Duration;

use assent_testkit::process::{
    AssentService, HeadlessDevice, LogsOnFailure, artifacts_dir, require_session,
};

use crate::driver::AppSession;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_enrolled_by_hand_for_ana_is_shown_as_a_device_she_may_not_know() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("e2e-monitor");
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    let service = AssentService::start(dir.path(), &[]);
    let ana = service.user("ana@example.com");
    let app_log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), app_log.clone()]);
    let data_dir = dir.path().join("desktop");
    let keyring = format!("assent-test-{}", uuid::Uuid::new_v4());
    let mut app = AppSession::start(
        &[
            ("ASSENT_DATA_DIR", data_dir.to_str().unwrap()),
            ("ASSENT_KEYRING_SERVICE", &keyring),
            ("ASSENT_LOG", "info"),
            // Check the log every 5 s instead of every minute until the service announces it.
            ("ASSENT_LOG_POLL_SECS", "5"),
        ],
        shots.clone(),
        &app_log,
    )
    .await;

    app.el("enroll-input")
        .await
        .send_keys(&service.enroll_link(ana))
        .await
        .unwrap();
    app.click("enroll-button").await;
    app.click("preview-enroll").await;
    app.wait_text("flash", "This computer now approves for Acme Bank.")
        .await;
    // Two checks of the log go by: the app's own enrollment is not news.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(
        app.all("finding").await.is_empty(),
        "the app's own enrollment is never reported"
    );
    app.shot("enrolled-no-finding").await;

    // An operator enrolls a second device for Ana by hand (a new enrollment for the same user).
    let operator = dir.path().join("operator");
    std::fs::create_dir_all(&operator).unwrap();
    let _second = HeadlessDevice::enroll(&operator, &service.enroll_link(ana));

    // The service signs a checkpoint within 10 s and says so with its next heartbeat (every
    // 25 s); the app checks when told (until the first announcement, every 5 s).
    app.wait_text_within(
        "finding-title",
        "A device you may not know was added to your Acme Bank account",
        Duration::from_secs(60),
    )
    .await;
    let card = app.text("finding").await;
    assert!(
        card.contains("contact your administrator") && card.contains("key fingerprint"),
        "the card says which device and what to do: {card:?}"
    );
    app.shot("device-you-may-not-know").await;

    app.click("finding-known").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !app.all("finding").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "'I know this device' removes the card"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Later checks do not bring it back.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert!(
        app.all("finding").await.is_empty(),
        "a dismissed device is not shown again"
    );
    app.shot("dismissed").await;
    let _ = app.client.close().await;
}
