//! The tray as a desktop panel sees it: a StatusNotifierWatcher and host on the session bus
//! (`tray_host.py`, over D-Bus) reads the app's tray item: its icon carries a badge while something
//! waits (and loses it after), its label shows the pending count, and its menu the count, each
//! account's link and a line to copy each account's one-time code.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use assent_testkit::process::{
    AssentService, HeadlessDevice, KillOnDrop, LogsOnFailure, artifacts_dir, built_binary,
    require_session, test_python,
};
use serde_json::Value;

/// The RGBA pixels of a PNG.
fn pixels(png_bytes: &[u8]) -> Vec<u8> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a sane PNG")];
    let frame = reader.next_frame(&mut buffer).expect("a PNG frame");
    buffer.truncate(frame.buffer_size());
    buffer
}

/// The committed icon a reading's icon file shows (compared by pixels: the tray re-encodes it).
fn icon_shown(reading: &Value) -> Option<&'static str> {
    use base64::Engine as _;
    let file = base64::engine::general_purpose::STANDARD
        .decode(reading["icon_png"].as_str()?)
        .ok()?;
    let shown = pixels(&file);
    let icons = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../icons");
    ["tray.png", "tray-pending.png"]
        .into_iter()
        .find(|name| pixels(&std::fs::read(icons.join(name)).expect("the committed icon")) == shown)
}

/// Every reading of the tray so far; `until` looks at the readings from the last match on.
struct Panel {
    readings: mpsc::Receiver<Value>,
    seen: Vec<Value>,
    from: usize,
}

impl Panel {
    fn menu(reading: &Value) -> Vec<String> {
        reading["menu"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|l| l["label"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits for a reading, at or after the last match, that `check` accepts.
    fn until(&mut self, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(at) = (self.from..self.seen.len()).find(|i| check(&self.seen[*i])) {
                self.from = at;
                return self.seen[at].clone();
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.readings.recv_timeout(left) {
                Ok(reading) => self.seen.push(reading),
                Err(_) => panic!(
                    "the tray never showed {what}; readings:\n{}",
                    self.seen
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            }
        }
    }
}

#[test]
fn the_tray_shows_the_pending_count_and_each_accounts_link() {
    require_session();
    let _one_at_a_time = crate::one_notifying_app();
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("tray");
    let mut host = Command::new(test_python())
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("desktop/tray_host.py"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(shots.join("tray-host.log")).unwrap())
        .spawn()
        .expect("start the StatusNotifier host");
    let stdout = host.stdout.take().unwrap();
    let _host = KillOnDrop(host);
    let (tx, readings) = mpsc::channel();
    let (ready_tx, ready) = mpsc::channel();
    let log = shots.join("tray-readings.jsonl");
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(log).unwrap();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == "ready" {
                let _ = ready_tx.send(());
                continue;
            }
            use std::io::Write as _;
            let _ = writeln!(file, "{line}");
            if let Ok(value) = serde_json::from_str::<Value>(&line) {
                let _ = tx.send(value);
            }
        }
    });
    ready
        .recv_timeout(Duration::from_secs(20))
        .expect("the StatusNotifierWatcher owns its name");

    let mut service = AssentService::start(dir.path(), &[]);
    let user = service.user("tray@example.com");
    let device = HeadlessDevice::enroll(dir.path(), &service.enroll_link(user));
    let app_log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![app_log.clone(), service.log_path().to_path_buf()]);
    let _app = KillOnDrop(
        Command::new(built_binary("assent-desktop"))
            .arg("--hidden")
            .env("ASSENT_DATA_DIR", &device.data_dir)
            .env("ASSENT_KEYRING_SERVICE", &device.keyring_service)
            .env("ASSENT_HEARTBEAT_WINDOW_SECS", "6")
            .stdout(std::fs::File::create(&app_log).unwrap())
            .stderr(std::fs::File::create(shots.join("desktop.err.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut panel = Panel {
        readings,
        seen: Vec::new(),
        from: 0,
    };

    let idle = panel.until("the account connected and nothing waiting", |r| {
        let menu = Panel::menu(r);
        menu.iter().any(|l| l == "Acme Bank: connected") && menu.iter().any(|l| l == "Open Assent")
    });
    assert!(
        idle["label"].as_str().unwrap_or_default().is_empty(),
        "no count on the icon while nothing waits: {idle}"
    );
    assert_eq!(
        icon_shown(&idle),
        Some("tray.png"),
        "the plain icon while nothing waits: {idle}"
    );
    let menu = Panel::menu(&idle);
    let copy = menu.iter().position(|l| l == "Copy code for Acme Bank");
    let pause = menu.iter().position(|l| l == "Pause notifications");
    assert!(
        copy.is_some() && copy > pause,
        "each account has a copy line, after the pause toggle: {menu:?}"
    );
    assert!(
        !menu
            .iter()
            .any(|l| l.chars().filter(char::is_ascii_digit).count() >= 6),
        "no code is ever in the menu's text: {menu:?}"
    );

    let first = service.send(user, "Sign in to Acme Bank?");
    // Two at once: the relying party says so (by default one waits at a time).
    let second = service
        .assent(&[
            "request",
            "send",
            "--user",
            &user.to_string(),
            "--message",
            "Approve wire transfer?",
            "--allow-concurrent",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let two = panel.until("2 waiting", |r| {
        r["label"] == "2"
            && Panel::menu(r)
                .iter()
                .any(|l| l == "Open Assent (2 waiting)")
    });
    assert_eq!(two["status"], "Active", "the icon is shown: {two}");
    panel.until("the badged icon while requests wait", |r| {
        r["label"] == "2" && icon_shown(r) == Some("tray-pending.png")
    });

    // Decided on another device: the count goes down.
    device.run(&["approve", &first]).ok();
    let one = panel.until("1 waiting", |r| {
        r["label"] == "1"
            && Panel::menu(r)
                .iter()
                .any(|l| l == "Open Assent (1 waiting)")
    });
    assert_eq!(
        icon_shown(&one),
        Some("tray-pending.png"),
        "still badged while one waits: {one}"
    );
    // The last one decided: the plain icon again, and no count.
    device.run(&["deny", &second]).ok();
    let none = panel.until("nothing waiting, the plain icon back", |r| {
        icon_shown(r) == Some("tray.png") && Panel::menu(r).iter().any(|l| l == "Open Assent")
    });
    assert!(
        none["label"].as_str().unwrap_or_default().is_empty(),
        "no count once nothing waits: {none}"
    );

    // The service goes away: the account's line says so, with the next try.
    service.signal("-TERM");
    panel.until("the account reconnecting", |r| {
        Panel::menu(r)
            .iter()
            .any(|l| l.starts_with("Acme Bank: reconnecting"))
    });
    service.restart();
    panel.until("the account connected again", |r| {
        Panel::menu(r).iter().any(|l| l == "Acme Bank: connected")
    });
}
