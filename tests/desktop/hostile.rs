//! The dimension bomb against the real desktop app, started as a person starts it (no WebDriver:
//! its automation session alone adds tens of megabytes to WebKit's processes): a relying party's
//! 48 KB-class PNG claiming 20000 × 20000 pixels, as the logo of a request shown in the window,
//! leaves the whole app (its own process and every WebKit process it started) under 300 MB. The
//! web view never decodes it: Rust refuses it from its header and the placeholder is shown. The
//! window, rendered as shipped (without GPU compositing), then takes a person's click.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use assent_protocol::Uuid;
use assent_testkit::process::{
    HeadlessDevice, KillOnDrop, LogsOnFailure, artifacts_dir, built_binary, require_session,
    screenshot_window, wait_for, wait_for_window,
};
use assent_testkit::{HostileService, LogoAnswer, LogoServer, dimension_bomb};

/// 300 MB, in KiB.
const MEMORY_LIMIT_KIB: u64 = 300 * 1000 * 1000 / 1024;

/// Process ids and their parents, from `/proc`.
fn parents() -> HashMap<u32, u32> {
    let mut parents = HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: the name may contain spaces and parentheses.
        if let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
        {
            parents.insert(pid, ppid);
        }
    }
    parents
}

/// The memory of `root` and all its descendants (WebKit's web and network processes), KiB, as
/// proportional set size: pages shared between them (GTK and WebKit libraries) are counted once
/// across all of them, not once per process (as docs/benchmarks.md measures the app).
fn tree_pss_kib(root: u32) -> (u64, usize) {
    let parents = parents();
    let in_tree = |mut pid: u32| {
        while pid > 1 {
            if pid == root {
                return true;
            }
            pid = parents.get(&pid).copied().unwrap_or(0);
        }
        false
    };
    let sizes: Vec<u64> = parents
        .keys()
        .filter(|pid| in_tree(**pid))
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|rollup| {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .collect();
    (sizes.iter().sum(), sizes.len())
}

#[test]
fn a_dimension_bomb_for_a_logo_leaves_the_whole_app_under_300_mb() {
    require_session();
    let _one_at_a_time = crate::one_notifying_app();
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("desktop-hostile");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bomb = dimension_bomb(20_000);
    let logos = runtime.block_on(LogoServer::start(vec![(
        "/bomb.png",
        LogoAnswer::Image("image/png", bomb),
    )]));
    let hostile = runtime.block_on(HostileService::start(HostileService::branding(Some(
        &format!("{}/bomb.png", logos.base),
    ))));
    // Enrolled through the same SDK, data directory and keychain the app uses.
    let device = HeadlessDevice::enroll(dir.path(), &hostile.link());
    let log_path = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![log_path.clone()]);
    let log = std::fs::File::create(&log_path).unwrap();
    let app = KillOnDrop(
        Command::new(built_binary("assent-desktop"))
            .env("ASSENT_DATA_DIR", &device.data_dir)
            .env("ASSENT_KEYRING_SERVICE", &device.keyring_service)
            .env("ASSENT_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let pid = app.0.id();
    let window =
        wait_for_window(pid, "Assent", Duration::from_secs(30)).expect("the app's window appears");
    wait_for("the app's stream", Duration::from_secs(30), || {
        (hostile.streams() > 0).then_some(())
    });

    let id = Uuid::new_v4();
    hostile.send_frame(&serde_json::json!({"type": "request", "id": id}));
    wait_for("the bomb to be fetched", Duration::from_secs(20), || {
        logos
            .hits()
            .iter()
            .any(|h| h.line.contains("/bomb.png"))
            .then_some(())
    });
    wait_for("the request to be shown", Duration::from_secs(20), || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("20000×20000")
            .then_some(())
    });
    let mut peak = (0, 0);
    for _ in 0..20 {
        let now = tree_pss_kib(pid);
        if now.0 > peak.0 {
            peak = now;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    screenshot_window(&window, &shots.join("request-with-bomb-logo.png"));
    println!(
        "the whole app ({} processes) peaked at {} KiB with the bomb as its logo",
        peak.1, peak.0
    );
    assert!(
        peak.1 >= 3,
        "the app and WebKit's web and network processes are all counted ({} processes)",
        peak.1
    );
    assert!(
        peak.0 < MEMORY_LIMIT_KIB,
        "the whole app uses {} KiB with a 20000x20000 logo: it must stay under 300 MB",
        peak.0
    );
    assert!(
        app_still_runs(pid),
        "the app is still running with the bomb as its logo"
    );

    // The web view, rendered as shipped, answers a person's click: Approve, with the mouse, where
    // the screen shows it.
    let (x, y) = primary_button_centre(&shots.join("request-with-bomb-logo.png"))
        .expect("the Approve button is on screen");
    wait_for(
        "the decision to reach the service",
        Duration::from_secs(20),
        || {
            Command::new("xdotool")
                .args([
                    "mousemove",
                    "--window",
                    &window,
                    &x.to_string(),
                    &y.to_string(),
                    "click",
                    "1",
                ])
                .status()
                .unwrap();
            std::thread::sleep(Duration::from_millis(500));
            hostile
                .hits()
                .iter()
                .any(|h| h == &format!("POST /device/v1/requests/{id}/decision"))
                .then_some(())
        },
    );
    screenshot_window(&window, &shots.join("approved-by-a-click.png"));
}

/// The centre of the one solid block of the UI's primary colour (the Approve button: the accent
/// here is the relying party's red, and thin strokes of the primary colour, the link and the
/// icon's tick, are eroded away), in window coordinates, read from a screenshot with ImageMagick.
fn primary_button_centre(screenshot: &std::path::Path) -> Option<(u32, u32)> {
    let out = Command::new("convert")
        .arg(screenshot)
        .args(["-fuzz", "3%", "-fill", "black", "+opaque", "#1f4fd1"])
        .args(["-morphology", "Erode", "Square:6", "-format", "%@", "info:"])
        .output()
        .expect("ImageMagick's convert is installed");
    // `WxH+X+Y`: the bounding box of what is left.
    let geometry = String::from_utf8_lossy(&out.stdout).into_owned();
    let (size, offset) = geometry.trim().split_once('+')?;
    let (w, h) = size.split_once('x')?;
    let (x, y) = offset.split_once('+')?;
    let [w, h, x, y] = [w, h, x, y].map(|n| n.parse::<u32>().ok());
    let (w, h, x, y) = (w?, h?, x?, y?);
    // Shrunk by the erosion (6 pixels each side), a button is still a sizeable block.
    (w > 60 && h > 20 && w < 300 && h < 120).then_some((x + w / 2, y + h / 2))
}

fn app_still_runs(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}
