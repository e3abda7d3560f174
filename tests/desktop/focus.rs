//! A request arriving while the app waits in the tray (no window) creates its window without
//! taking the keyboard from the application the person is typing in; the window asks for
//! attention (the X11 urgency hint) instead.

use std::process::Command;
use std::time::Duration;

use assent_testkit::process::{
    AssentService, HeadlessDevice, LogsOnFailure, artifacts_dir, focus_window,
    focused_other_application, focused_window, require_session, wait_for, wait_for_window,
    wm_hints, wm_urgent,
};

#[test]
fn a_request_arriving_in_the_tray_opens_the_window_without_taking_the_focus() {
    require_session();
    let _one_at_a_time = crate::one_notifying_app();
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("focus");
    let service = AssentService::start(dir.path(), &[]);
    let user = service.user("focus@example.com");
    let device = HeadlessDevice::enroll(dir.path(), &service.enroll_link(user));
    let app_log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![app_log.clone(), service.log_path().to_path_buf()]);

    let (_other, editor) = focused_other_application();
    let app = crate::start_app(&device, &["--hidden"], &app_log);
    let pid = app.0.id();
    // Started in the tray: no window until something arrives.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        wait_for_window(pid, "Assent", Duration::ZERO).is_none(),
        "--hidden starts without a window"
    );

    service.send(user, "Sign in to Acme Bank while the app is in the tray?");
    let window = wait_for_window(pid, "Assent", Duration::from_secs(30))
        .expect("the request's arrival shows the window");
    // Until it asked for attention or took the focus, then a moment for a late grab.
    wait_for(
        "the window to ask for attention or take the focus",
        Duration::from_secs(10),
        || (wm_urgent(&window) || focused_window() != editor).then_some(()),
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        focused_window(),
        editor,
        "the keyboard focus stays with the application the person was typing in"
    );
    assert!(
        wm_urgent(&window),
        "the new window asks for attention: {}",
        wm_hints(&window)
    );
    Command::new("import")
        .args([
            "-window",
            "root",
            shots
                .join("window-shown-focus-elsewhere.png")
                .to_str()
                .unwrap(),
        ])
        .status()
        .unwrap();

    // Focused (the person clicks it): the request for attention is answered.
    focus_window(&window);
    wait_for("the urgency cleared", Duration::from_secs(10), || {
        (!wm_urgent(&window)).then_some(())
    });
}
