//! The app's honest status: an account whose stream stops answering heartbeats (a proxy that
//! freezes: the TCP connection stays open, no byte passes) shows "Reconnecting", with the next
//! try and the last contact, within the heartbeat window; and "Connected" again once it answers.

use std::time::{Duration, Instant};

use assent_testkit::process::{
    AssentService, FreezingProxy, LogsOnFailure, artifacts_dir, require_session,
};

use crate::driver::AppSession;

/// Waits until the header's connection badge says `expected`, for at most `within`.
async fn badge_within(app: &AppSession, expected: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    let mut seen = String::new();
    while Instant::now() < deadline {
        if let Ok(text) = app.header_connection().await {
            if text.contains(expected) {
                return text;
            }
            seen = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the badge never said {expected:?} within {within:?} (last: {seen:?})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stops_answering_shows_reconnecting_within_the_heartbeat_window() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("e2e-heartbeat");
    let service = AssentService::start(dir.path(), &[]);
    let upstream = service.url.trim_start_matches("http://").parse().unwrap();
    let proxy = FreezingProxy::start(upstream);
    let user = service.user("frozen@example.com");
    let link = service
        .assent(&["enroll-link", "--user", &user.to_string(), "--json"])
        .ok()
        .json();
    let token = link["registration_token"].as_str().unwrap().to_owned();
    let app_log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), app_log.clone()]);
    let data_dir = dir.path().join("desktop");
    let keyring = format!("assent-test-{}", uuid::Uuid::new_v4());
    let window = Duration::from_secs(4);
    let mut app = AppSession::start(
        &[
            ("ASSENT_DATA_DIR", data_dir.to_str().unwrap()),
            ("ASSENT_KEYRING_SERVICE", &keyring),
            ("ASSENT_HEARTBEAT_WINDOW_SECS", "4"),
            ("ASSENT_LOG", "info"),
        ],
        shots.clone(),
        &app_log,
    )
    .await;

    // Enrolled through the proxy (a token and the service address, as a person may paste them).
    app.el("enroll-input")
        .await
        .send_keys(&token)
        .await
        .unwrap();
    app.el("server-input")
        .await
        .send_keys(&proxy.url)
        .await
        .unwrap();
    app.click("enroll-button").await;
    app.click("preview-enroll").await;
    app.wait_text("flash", "This computer now approves for Acme Bank.")
        .await;
    badge_within(&app, "Connected", Duration::from_secs(20)).await;
    // Answered pings keep it connected across several windows.
    tokio::time::sleep(window * 2).await;
    badge_within(&app, "Connected", Duration::from_secs(1)).await;
    app.shot("connected").await;

    proxy.freeze();
    let text = badge_within(&app, "Reconnecting", window + Duration::from_secs(3)).await;
    assert!(
        text.contains("Last contact"),
        "the last contact is shown with the reconnecting state: {text:?}"
    );
    app.shot("reconnecting").await;
    app.click("tab-accounts").await;
    app.wait_text("connection", "Last contact").await;
    app.shot("reconnecting-account").await;

    proxy.thaw();
    badge_within(&app, "Connected", Duration::from_secs(30)).await;
    app.shot("connected-again").await;
    let _ = app.client.close().await;
}
