//! Issue 15, acceptance 2 (the desktop's part): the notification is withdrawn once the request is
//! approved elsewhere (seen on the session bus), and a request arriving while another
//! application has the keyboard leaves it there, the app's window asking for attention instead.

use std::process::Command;
use std::time::Duration;

use assent_testkit::process::{
    AssentService, HeadlessDevice, LogsOnFailure, NotificationBus, SettingsPortal, artifacts_dir,
    focus_window, focused_other_application, focused_window, require_session, wait_for, wm_hints,
    wm_urgent,
};

use crate::driver::AppSession;

/// A new shots directory for `suite`.
fn fresh_shots(suite: &str) -> std::path::PathBuf {
    let shots = artifacts_dir(suite);
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    shots
}

/// The app's mapped top-level windows (titled "Assent").
fn app_windows() -> Vec<String> {
    let out = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "^Assent$"])
        .output()
        .expect("xdotool is installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notification_is_withdrawn_after_the_request_is_approved_elsewhere() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = fresh_shots("e2e-notification-withdrawn");
    let service = AssentService::start(dir.path(), &[]);
    let ana = service.user("ana@example.com");
    let bus_log = shots.join("notification-bus.jsonl");
    let bus = NotificationBus::watch(&bus_log);
    let (mut app, _data, _keyring, app_log) = AppSession::start_fresh(dir.path(), shots).await;
    let _logs = LogsOnFailure(vec![
        service.log_path().to_path_buf(),
        app_log,
        bus_log.clone(),
    ]);
    app.enroll(&service.enroll_link(ana), "Acme Bank").await;
    // Ana's phone, enrolled for the same person.
    let phone = HeadlessDevice::enroll(dir.path(), &service.enroll_link(ana));

    let message = "Sign in to Acme Bank (approved on the phone)?";
    let id = service.send(ana, message);
    let call = wait_for(
        "the notification, answered",
        Duration::from_secs(20),
        || {
            bus.notify_calls()
                .into_iter()
                .find(|c| c.body.starts_with(message) && c.id.is_some())
        },
    );
    app.el("approve").await;
    app.shot("request-notified").await;

    phone.run(&["approve", &id]).ok();
    let notification = call.id.unwrap();
    wait_for(
        "CloseNotification for the request's notification, and the daemon closing it",
        Duration::from_secs(20),
        || {
            (bus.close_calls().contains(&notification)
                && bus.closed_signals().contains(&notification))
            .then_some(())
        },
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !app.all("approve").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request leaves the window once approved elsewhere"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        bus.close_calls()
            .iter()
            .filter(|c| **c == notification)
            .count(),
        1,
        "withdrawn once:\n{}",
        bus.log_text()
    );
    app.shot("withdrawn").await;
    let _ = app.client.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_request_while_another_application_has_focus_leaves_focus_there() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = fresh_shots("e2e-no-focus-stealing");
    let service = AssentService::start(dir.path(), &[]);
    let ana = service.user("ana@example.com");
    let bus_log = shots.join("notification-bus.jsonl");
    let bus = NotificationBus::watch(&bus_log);
    let (mut app, _data, _keyring, app_log) =
        AppSession::start_fresh(dir.path(), shots.clone()).await;
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), app_log, bus_log]);
    app.enroll(&service.enroll_link(ana), "Acme Bank").await;
    let windows = app_windows();
    assert_eq!(windows.len(), 1, "one app window: {windows:?}");
    let app_window = windows[0].clone();

    // Another application, where the person is typing.
    let (_other, editor) = focused_other_application();
    assert!(!wm_urgent(&app_window), "no request yet, no urgency");

    let message = "Sign in to Acme Bank while you type elsewhere?";
    service.send(ana, message);
    // The arrival was handled: its notification went out and the window lists it.
    wait_for("the notification", Duration::from_secs(20), || {
        bus.notify_calls()
            .into_iter()
            .find(|c| c.body.starts_with(message))
    });
    app.el("approve").await;
    // The window's show and attention request run on the app's main thread after the event:
    // wait until it asked for attention or took the focus, then a moment for a late grab.
    for _ in 0..50 {
        if wm_urgent(&app_window) || focused_window() != editor {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        focused_window(),
        editor,
        "the keyboard focus stays with the application the person was typing in"
    );
    assert!(
        wm_urgent(&app_window),
        "the window asks for attention (WM_HINTS urgency) instead: {}",
        wm_hints(&app_window)
    );
    Command::new("import")
        .args([
            "-window",
            "root",
            shots.join("focus-stays-elsewhere.png").to_str().unwrap(),
        ])
        .status()
        .unwrap();

    // Opening the app (a click on the tray, the notification) takes the focus and answers the
    // request for attention.
    focus_window(&app_window);
    wait_for(
        "the urgency cleared once focused",
        Duration::from_secs(10),
        || (!wm_urgent(&app_window)).then_some(()),
    );
    app.shot("focused-after").await;
    let _ = app.client.close().await;
}

/// Whether the app's web view currently sees a dark system preference, and the theme the UI
/// applied (`data-theme` on `<html>`).
async fn color_scheme(app: &AppSession) -> (bool, String) {
    let seen = app
        .client
        .execute(
            "return [matchMedia('(prefers-color-scheme: dark)').matches, \
             document.documentElement.getAttribute('data-theme')]",
            vec![],
        )
        .await
        .expect("the script runs in the app's window");
    (
        seen[0].as_bool().unwrap_or_default(),
        seen[1].as_str().unwrap_or_default().to_owned(),
    )
}

async fn wait_for_scheme(app: &AppSession, dark: bool, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let seen = color_scheme(app).await;
        let expected = (dark, if dark { "dark" } else { "light" }.to_owned());
        if seen == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: the window should show the {} theme, it shows {seen:?}",
            expected.1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Issue 21: the app follows the desktop's light/dark preference from the settings portal (read
/// when the app starts, changed live by the portal's signal) without tao's 5-second poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_follows_the_desktops_color_scheme_as_it_changes() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = fresh_shots("e2e-color-scheme");
    let portal_log = shots.join("portal.jsonl");
    let mut portal = SettingsPortal::start(1, &portal_log);
    let (mut app, _data, _keyring, app_log) = AppSession::start_fresh(dir.path(), shots).await;
    let _logs = LogsOnFailure(vec![app_log, portal_log]);
    app.el("enroll-input").await;

    wait_for_scheme(&app, true, "the portal prefers dark when the app starts").await;
    assert_eq!(
        portal.reads(),
        1,
        "the app reads the preference once, and then only listens"
    );
    app.shot("dark-from-the-portal").await;

    portal.set(2);
    wait_for_scheme(&app, false, "the person switched to light").await;
    app.shot("light-after-the-change").await;

    portal.set(1);
    wait_for_scheme(&app, true, "the person switched back to dark").await;
    assert_eq!(
        portal.reads(),
        1,
        "changes arrive as signals, not by polling"
    );
}
