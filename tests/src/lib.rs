//! Shared support for the cross-process tests: where the built binaries are, where artifacts go,
//! and how to look at the virtual display.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_path_buf()
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A binary built by `cargo build --workspace --bins` (the test command builds them first).
pub fn built_binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace binaries first (scripts/test does)",
        path.display()
    );
    path
}

/// The folder every test artifact (screenshots, logs) is written to: `target/test-artifacts/<suite>`.
pub fn artifacts_dir(suite: &str) -> PathBuf {
    let dir = target_dir().join("test-artifacts").join(suite);
    std::fs::create_dir_all(&dir).expect("create artifacts dir");
    dir
}

/// Panics with a clear message unless the test runs inside `scripts/session` (virtual display,
/// private D-Bus, Secret Service, notification daemon).
pub fn require_session() {
    assert!(
        std::env::var_os("DISPLAY").is_some()
            && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "this test needs a display and a D-Bus session: run it through scripts/session (scripts/test does)"
    );
}

/// Waits for a top-level X window whose title is exactly `title`; returns its id.
pub fn wait_for_window(title: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let out = Command::new("xdotool")
            .args(["search", "--onlyvisible", "--name", &format!("^{title}$")])
            .output()
            .expect("xdotool is installed (scripts/test installs it)");
        if let Some(id) = String::from_utf8_lossy(&out.stdout).lines().next() {
            return Some(id.trim().to_owned());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    None
}

/// Saves a PNG screenshot of one X window.
pub fn screenshot_window(window_id: &str, path: &Path) {
    let status = Command::new("import")
        .args(["-window", window_id, path.to_str().expect("utf-8 path")])
        .status()
        .expect("ImageMagick's import is installed");
    assert!(status.success(), "screenshot of window {window_id} failed");
}

/// Number of distinct colours in an image: a window that rendered nothing has one or two.
pub fn distinct_colours(path: &Path) -> u64 {
    let out = Command::new("identify")
        .args(["-format", "%k", path.to_str().unwrap()])
        .output()
        .expect("identify");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("identify prints a number")
}
