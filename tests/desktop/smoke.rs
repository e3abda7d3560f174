use std::process::{Command, Stdio};
use std::time::Duration;

use assent_e2e::{
    KillOnDrop, artifacts_dir, built_binary, distinct_colours, require_session, screenshot_window,
    wait_for_window,
};

#[test]
fn desktop_app_opens_a_window_showing_the_ui() {
    require_session();
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
    // Give WebKit a moment to paint the bundle after the window maps.
    std::thread::sleep(Duration::from_secs(3));
    let shot = artifacts_dir("smoke").join("desktop-window.png");
    screenshot_window(&window, &shot);
    assert!(
        app.0.try_wait().unwrap().is_none(),
        "the app must still be running after start-up"
    );
    let colours = distinct_colours(&shot);
    assert!(
        colours > 8,
        "the window should show the rendered UI, but its screenshot has only {colours} colours"
    );
}
