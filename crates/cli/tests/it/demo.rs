//! `assent demo --headless` end to end: requests sent, decided by the headless device, outcomes
//! printed, and a clean stop on Ctrl-C.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{assent_bin, run};

#[test]
fn the_headless_demo_runs_and_stops_cleanly() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "the demo uses the keychain: run through scripts/session"
    );
    let keyring = format!("assent-test-{}", uuid::Uuid::new_v4());
    let mut demo = Command::new(assent_bin())
        .args(["demo", "--headless"])
        .env("ASSENT_KEYRING_SERVICE", &keyring)
        .env("ASSENT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = demo.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |prefix: &str| -> String {
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no {prefix:?} line; got {seen:#?}"));
            seen.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
    };
    let data = |line: &str| {
        line.split("ASSENT_DATA_DIR=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_owned()
    };
    let bank = wait_for("acme bank: ");
    assert!(bank.contains("http://127.0.0.1:"), "{bank}");
    let ana_dir = data(&wait_for("answer as ana: "));
    let login = wait_for("request ");
    let wire = wait_for("request ");
    let login_id = login.split(' ').nth(1).unwrap().to_owned();
    let wire_id = wire.split(' ').nth(1).unwrap().to_owned();
    let number = wire
        .rsplit("pick ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_owned();
    assert!(login.ends_with("Sign in to Acme Bank?"));
    assert!(wire.contains("$12,500"));

    let env = [
        ("ASSENT_DATA_DIR", ana_dir.as_str()),
        ("ASSENT_KEYRING_SERVICE", keyring.as_str()),
    ];
    let pending = run(&["device", "pending", "--json"], &env).ok().json();
    assert_eq!(
        pending.as_array().unwrap().len(),
        2,
        "both requests reach the headless device"
    );
    run(&["device", "approve", &login_id], &env).ok();
    run(&["device", "approve", &wire_id, "--number", &number], &env).ok();
    let outcomes = [wait_for("outcome "), wait_for("outcome ")];
    for (id, outcome) in [(&login_id, "approved"), (&wire_id, "approved")] {
        assert!(
            outcomes
                .iter()
                .any(|o| o == &format!("outcome {id}: {outcome}")),
            "{id} {outcome} in {outcomes:?}"
        );
    }
    wait_for("Both requests are decided.");
    assert_eq!(
        keys_in(&keyring),
        2,
        "the demo's keys (Ana's and Bo's) live in the keychain while it runs"
    );

    Command::new("kill")
        .args(["-INT", &demo.id().to_string()])
        .status()
        .unwrap();
    let status = demo.wait().unwrap();
    assert!(status.success(), "Ctrl-C stops the demo cleanly: {status}");
    wait_for("stopped:");
    assert!(
        !std::path::Path::new(&ana_dir).exists(),
        "the demo's temporary data is removed"
    );
    assert_eq!(keys_in(&keyring), 0, "stopping the demo deletes its keys");
}

/// Keychain items stored under a keyring service name (what `secret-tool` finds).
fn keys_in(service: &str) -> usize {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", service])
        .output()
        .expect("secret-tool is installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| l.starts_with("[/"))
        .count()
}
