//! A new request produces one native notification through the real notification daemon (dunst,
//! in the private session), naming the app and the message; its Open action brings the window back.

use std::process::{Command, Stdio};
use std::time::Duration;

use assent_testkit::process::{
    AssentService, HeadlessDevice, KillOnDrop, artifacts_dir, built_binary, require_session,
    wait_for, wait_for_window,
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

fn window_visible(pid: u32) -> bool {
    wait_for_window(pid, "Assent", Duration::ZERO).is_some()
}

#[test]
fn a_new_request_is_notified_and_the_notification_opens_the_app() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let service = AssentService::start(dir.path(), &[]);
    let user = service.user("notify@example.com");
    // Enrolled ahead of time through the same SDK, data directory and keychain the app uses.
    let device = HeadlessDevice::enroll(dir.path(), &service.enroll_link(user));

    let monitor_log = artifacts_dir("notification").join("dbus-monitor.log");
    let _monitor = KillOnDrop(
        Command::new("dbus-monitor")
            .arg("interface='org.freedesktop.Notifications',member='Notify'")
            .stdout(std::fs::File::create(&monitor_log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor is installed"),
    );
    let app_log = std::fs::File::create(artifacts_dir("notification").join("desktop.log")).unwrap();
    let app = KillOnDrop(
        Command::new(built_binary("assent-desktop"))
            .env("ASSENT_DATA_DIR", &device.data_dir)
            .env("ASSENT_KEYRING_SERVICE", &device.keyring_service)
            .stdout(app_log.try_clone().unwrap())
            .stderr(app_log)
            .spawn()
            .unwrap(),
    );
    let pid = app.0.id();
    let window =
        wait_for_window(pid, "Assent", Duration::from_secs(30)).expect("the app's window appears");
    let before = displayed();

    service.send(user, "Sign in to Acme Bank?");
    let log = wait_for(
        "the Notify call on the session bus",
        Duration::from_secs(20),
        || {
            let log = std::fs::read_to_string(&monitor_log).unwrap_or_default();
            (log.contains("\"Acme Bank\"") && log.contains("\"Sign in to Acme Bank?\""))
                .then_some(log)
        },
    );
    assert_eq!(
        log.matches("member=Notify").count(),
        1,
        "exactly one notification for one request:\n{log}"
    );
    assert!(
        log.contains("\"default\"") && log.contains("\"Open\""),
        "the notification offers Open:\n{log}"
    );
    wait_for("dunst to display it", Duration::from_secs(10), || {
        (displayed() > before).then_some(())
    });
    Command::new("import")
        .args([
            "-window",
            "root",
            artifacts_dir("notification")
                .join("notification.png")
                .to_str()
                .unwrap(),
        ])
        .status()
        .unwrap();

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
