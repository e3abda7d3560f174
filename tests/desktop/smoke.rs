use std::process::{Command, Stdio};
use std::time::Duration;

use assent_testkit::process::{
    KillOnDrop, artifacts_dir, built_binary, distinct_colours, require_session, screenshot_window,
    wait_for_window,
};

#[test]
fn desktop_app_opens_a_window_showing_the_ui() {
    require_session();
    let _one_at_a_time = crate::one_notifying_app();
    let data_dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(artifacts_dir("smoke").join("desktop.log")).unwrap();
    let app = Command::new(built_binary("assent-desktop"))
        .env("ASSENT_DATA_DIR", data_dir.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .expect("start assent-desktop");
    let mut app = KillOnDrop(app);

    let window =
        wait_for_window(app.0.id(), "Assent", Duration::from_secs(30)).unwrap_or_else(|| {
            panic!(
                "no window titled Assent appeared within 30 s (exit: {:?})",
                app.0.try_wait()
            )
        });
    // WebKit paints the bundle some time after the window maps (longer when other tests start
    // apps at the same time): wait for the rendered UI rather than for a fixed time.
    let shot = artifacts_dir("smoke").join("desktop-window.png");
    let colours = rendered(&window, &shot);
    assert!(
        app.0.try_wait().unwrap().is_none(),
        "the app must still be running after start-up"
    );
    assert!(
        colours > 8,
        "the window should show the rendered UI, but its screenshot has only {colours} colours"
    );
}

#[test]
fn a_second_launch_hands_its_link_to_the_running_instance() {
    require_session();
    let _one_at_a_time = crate::one_notifying_app();
    let data_dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(artifacts_dir("smoke").join("second-launch.log")).unwrap();
    let first = Command::new(built_binary("assent-desktop"))
        .arg("--hidden")
        .env("ASSENT_DATA_DIR", data_dir.path())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let first = KillOnDrop(first);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        wait_for_window(first.0.id(), "Assent", Duration::ZERO).is_none(),
        "--hidden starts in the tray, without a window"
    );
    let link =
        "assent://enroll?server=https%3A%2F%2Fauth.example.com&token=abcdefghijklmnopqrstuvwxyz";
    let second = Command::new(built_binary("assent-desktop"))
        .arg(link)
        .env("ASSENT_DATA_DIR", data_dir.path())
        .status()
        .expect("the second launch runs");
    assert!(
        second.success(),
        "the second launch exits after handing over: {second}"
    );
    let window = wait_for_window(first.0.id(), "Assent", Duration::from_secs(30))
        .expect("the running instance shows its window");
    let shot = artifacts_dir("smoke").join("deep-link-offered.png");
    assert!(
        rendered(&window, &shot) > 8,
        "the window rendered the enrollment offer"
    );
}

/// Screenshots `window` into `path` until it shows more than a blank fill (or 30 s pass);
/// returns the number of colours in the last screenshot.
fn rendered(window: &str, path: &std::path::Path) -> u64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        screenshot_window(window, path);
        let colours = distinct_colours(path);
        if colours > 8 || std::time::Instant::now() > deadline {
            return colours;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
