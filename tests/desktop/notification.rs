//! A new request produces one native notification through the real notification daemon (dunst,
//! in the private session), naming the app, the message, the place and the expiry, with Assent's
//! icon, its category and Deny and Open (never Approve); it is withdrawn when the request is
//! approved on another device; its Open action brings the window back.

use std::process::Command;
use std::time::Duration;

use assent_testkit::process::{
    AssentService, HeadlessDevice, LogsOnFailure, NotificationBus, NotifyCall, artifacts_dir,
    choose_notification_action, require_session, wait_for, wait_for_window,
};

fn displayed() -> u32 {
    let out = Command::new("dunstctl")
        .args(["count", "displayed"])
        .output()
        .expect("dunstctl is installed");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// `at` (Unix seconds) as the local time of day, as `date` shows it in this session's zone.
pub fn local_hh_mm(at: i64) -> String {
    let out = Command::new("date")
        .args(["-d", &format!("@{at}"), "+%H:%M"])
        .output()
        .expect("date runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Sends a request with a place and a five-minute lifetime; answers its id and the expiry times
/// the notification may show (the minute the service computes it may tick over meanwhile).
pub fn send_with_place(service: &AssentService, user: u64, message: &str) -> (String, [String; 2]) {
    let before = unix_now();
    let id = service
        .assent(&[
            "request",
            "send",
            "--user",
            &user.to_string(),
            "--message",
            message,
            "--requester-location",
            "Lisbon, Portugal",
            "--requester-ip",
            "203.0.113.9",
            "--expires",
            "300",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let after = unix_now();
    (id, [local_hh_mm(before + 300), local_hh_mm(after + 300)])
}

/// Checks what a request's notification carries: the action, place and expiry, Assent's icon,
/// the category, Deny and Open and no Approve.
pub fn assert_notification_for(call: &NotifyCall, message: &str, expiry: &[String; 2]) {
    assert_eq!(call.app_name, "Assent", "{call:?}");
    assert_eq!(
        call.summary, "Acme Bank",
        "the summary names the service: {call:?}"
    );
    let lines: Vec<&str> = call.body.lines().collect();
    assert_eq!(lines.first(), Some(&message), "the action first: {call:?}");
    assert_eq!(
        lines.get(1),
        Some(&"Near Lisbon, Portugal (approx.)"),
        "the place, said to be approximate: {call:?}"
    );
    // "tomorrow" when the test runs in the five minutes before local midnight.
    assert!(
        expiry.iter().any(|at| {
            [
                format!("Expires at {at}"),
                format!("Expires tomorrow at {at}"),
            ]
            .iter()
            .any(|text| lines.get(2) == Some(&text.as_str()))
        }),
        "the expiry as a time of day ({expiry:?}): {call:?}"
    );
    assert!(
        !call.body.contains("203.0.113.9"),
        "the address stays in the window: {call:?}"
    );
    assert_eq!(
        call.action_ids(),
        ["default", "deny", "open"],
        "Deny and Open (and a click opens); never Approve: {call:?}"
    );
    assert!(
        !call
            .actions
            .iter()
            .any(|a| a.to_lowercase().contains("approve")),
        "no Approve in a notification: {call:?}"
    );
    assert_eq!(
        call.hints.get("category").and_then(|c| c.as_str()),
        Some("x-assent.auth-request"),
        "the authentication category: {call:?}"
    );
    assert_eq!(
        call.hints.get("desktop-entry").and_then(|c| c.as_str()),
        Some("assent-desktop"),
        "the desktop entry, for daemons that look the app up: {call:?}"
    );
    let icon = std::fs::read(&call.icon)
        .unwrap_or_else(|e| panic!("the icon is a file the daemon can read ({e}): {call:?}"));
    assert_eq!(
        icon,
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../icons/128x128.png")
        )
        .unwrap(),
        "the icon is Assent's: {call:?}"
    );
    assert!(
        call.timeout > 0 && call.timeout <= 300_000,
        "shown until the request expires at the latest: {call:?}"
    );
}

/// The notification bus watched into `shots`, and the app's log there; both (and the service's)
/// printed if the test fails.
fn watched(
    shots: &std::path::Path,
    service: &AssentService,
) -> (NotificationBus, std::path::PathBuf, LogsOnFailure) {
    let bus_log = shots.join("notification-bus.jsonl");
    let app_log = shots.join("desktop.log");
    let logs = LogsOnFailure(vec![
        app_log.clone(),
        bus_log.clone(),
        service.log_path().to_path_buf(),
    ]);
    (NotificationBus::watch(&bus_log), app_log, logs)
}

fn window_visible(pid: u32) -> bool {
    wait_for_window(pid, "Assent", Duration::ZERO).is_some()
}

#[test]
fn a_new_request_is_notified_withdrawn_when_approved_elsewhere_and_opens_the_app() {
    require_session();
    let _one_at_a_time = crate::one_notifying_app();
    let dir = tempfile::tempdir().unwrap();
    let service = AssentService::start(dir.path(), &[]);
    let user = service.user("notify@example.com");
    // Enrolled ahead of time through the same SDK, data directory and keychain the app uses.
    let device = HeadlessDevice::enroll(dir.path(), &service.enroll_link(user));
    // The same person's other device (their phone, say).
    let phone = HeadlessDevice::enroll(dir.path(), &service.enroll_link(user));

    let shots = artifacts_dir("notification");
    let (bus, app_log, _logs) = watched(&shots, &service);
    let app = crate::start_app(&device, &[], &app_log);
    let pid = app.0.id();
    let window =
        wait_for_window(pid, "Assent", Duration::from_secs(30)).expect("the app's window appears");
    // Notifications of earlier tests would expire while this one is shown and hide it in the
    // count: close them first (no other test notifies meanwhile, see `NOTIFYING`).
    Command::new("dunstctl").arg("close-all").status().unwrap();
    let before = displayed();

    // A message no other test sends: dunst stacks a notification identical to one still shown
    // (the tray test's, say) instead of displaying it again.
    let message = "Sign in to Acme Bank from this notification?";
    let (first, expiry) = send_with_place(&service, user, message);
    let call = wait_for(
        "the Notify call on the session bus, answered",
        Duration::from_secs(20),
        || {
            bus.notify_calls()
                .into_iter()
                .find(|c| c.body.starts_with(message) && c.id.is_some())
        },
    );
    assert_eq!(
        bus.notify_calls().len(),
        1,
        "exactly one notification for one request:\n{}",
        bus.log_text()
    );
    assert_notification_for(&call, message, &expiry);
    wait_for("dunst to display it", Duration::from_secs(10), || {
        (displayed() > before).then_some(())
    });
    Command::new("import")
        .args([
            "-window",
            "root",
            shots.join("notification.png").to_str().unwrap(),
        ])
        .status()
        .unwrap();

    // The same person approves on their other device: the notification is withdrawn.
    let id = call.id.unwrap();
    phone.run(&["approve", &first]).ok();
    wait_for(
        "the app to withdraw the notification (CloseNotification) and the daemon to close it",
        Duration::from_secs(20),
        || (bus.close_calls().contains(&id) && bus.closed_signals().contains(&id)).then_some(()),
    );
    wait_for("dunst to take it down", Duration::from_secs(10), || {
        (displayed() == before).then_some(())
    });

    // Another request: its notification's default action brings the window forward.
    let message = "Sign in to Acme Bank again from this notification?";
    send_with_place(&service, user, message);
    wait_for("the second notification", Duration::from_secs(20), || {
        bus.notify_calls()
            .into_iter()
            .find(|c| c.body.starts_with(message) && c.id.is_some())
    });
    wait_for("dunst to display it", Duration::from_secs(10), || {
        (displayed() > before).then_some(())
    });

    // Hide the window, then use the notification's default action: the app comes forward.
    // The app shows its window on arrival from its main thread; that may land after our unmap,
    // so unmap until the window stays hidden.
    wait_for("the window to hide", Duration::from_secs(10), || {
        Command::new("xdotool")
            .args(["windowunmap", &window])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        (!window_visible(pid)).then_some(())
    });
    Command::new("dunstctl")
        .args(["action", "0"])
        .status()
        .unwrap();
    wait_for("the window to come back", Duration::from_secs(15), || {
        window_visible(pid).then_some(())
    });
}

#[test]
fn deny_in_the_notification_denies_the_request() {
    require_session();
    let _one_at_a_time = crate::one_notifying_app();
    let dir = tempfile::tempdir().unwrap();
    let service = AssentService::start(dir.path(), &[]);
    let user = service.user("deny@example.com");
    let device = HeadlessDevice::enroll(dir.path(), &service.enroll_link(user));
    let shots = artifacts_dir("notification-deny");
    let (bus, app_log, _logs) = watched(&shots, &service);
    let _app = crate::start_app(&device, &["--hidden"], &app_log);
    Command::new("dunstctl").arg("close-all").status().unwrap();

    let message = "Sign in to Acme Bank (deny me from the notification)?";
    let (id, _) = send_with_place(&service, user, message);
    let call = wait_for(
        "the notification, answered",
        Duration::from_secs(20),
        || {
            bus.notify_calls()
                .into_iter()
                .find(|c| c.body.starts_with(message) && c.id.is_some())
        },
    );
    wait_for("dunst to display it", Duration::from_secs(10), || {
        (displayed() > 0).then_some(())
    });
    choose_notification_action(call.id.unwrap(), "deny");
    let status = wait_for(
        "the request denied at the service",
        Duration::from_secs(20),
        || {
            let status = service.status(&id);
            (status["status"] != "pending").then_some(status)
        },
    );
    assert_eq!(
        status["status"], "denied",
        "Deny in the notification denies: {status}"
    );
    assert!(
        bus.action_invoked(call.id.unwrap(), "deny"),
        "the daemon reported the Deny action:\n{}",
        bus.log_text()
    );
}
