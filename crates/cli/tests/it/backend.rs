//! `assent user`, `enroll-link`, `request`, `app`, `completions` and their error paths.

use std::io::{BufRead as _, BufReader};
use std::time::Duration;

use crate::support::{Service, enrolled, run};

#[test]
fn users_can_be_added_inspected_and_removed() {
    let svc = Service::start();
    let id = svc
        .assent(&["user", "add", "--email", "ana@example.com", "--json"])
        .ok()
        .json()["id"]
        .as_u64()
        .unwrap();
    let again = svc
        .assent(&[
            "user",
            "add",
            "--phone",
            "555-123-1118",
            "--country-code",
            "1",
            "--json",
        ])
        .ok()
        .json();
    assert_ne!(again["id"].as_u64().unwrap(), id);
    let status = svc
        .assent(&["user", "status", &id.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(status["authy_id"], id);
    assert_eq!(status["registered"], false);
    let human = svc.assent(&["user", "status", &id.to_string()]).ok();
    assert!(human.stdout.contains("no device enrolled yet"), "{human:?}");
    let removed = svc
        .assent(&["user", "remove", &id.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(removed["removed"], true);
    let gone = svc.assent(&["user", "status", &id.to_string()]);
    assert_eq!(gone.code, 3, "an unknown user is an error: {gone:?}");
    assert!(
        gone.stderr.contains("User not found") && gone.stderr.contains("60026"),
        "{gone:?}"
    );
    let invalid = svc.assent(&["user", "add", "--email", "not-an-email"]);
    assert_eq!(invalid.code, 3);
    assert!(
        invalid.stderr.contains("email"),
        "the error names the field: {invalid:?}"
    );
}

#[test]
fn helpful_errors_for_unreachable_service_bad_key_and_no_key() {
    let svc = Service::start();
    let unreachable = run(
        &["user", "status", "1"],
        &[
            ("ASSENT_SERVER", "http://127.0.0.1:9"),
            ("ASSENT_API_KEY", "k"),
        ],
    );
    assert_eq!(unreachable.code, 3);
    assert!(
        unreachable
            .stderr
            .contains("cannot reach the Assent service at http://127.0.0.1:9"),
        "{unreachable:?}"
    );
    let bad_key = run(
        &["user", "status", "1"],
        &[("ASSENT_SERVER", &svc.url), ("ASSENT_API_KEY", "wrong")],
    );
    assert_eq!(bad_key.code, 3);
    assert!(
        bad_key.stderr.contains("refused the API key (60001)"),
        "{bad_key:?}"
    );
    let no_key = run(&["user", "status", "1"], &[("ASSENT_SERVER", &svc.url)]);
    assert_eq!(no_key.code, 3);
    assert!(no_key.stderr.contains("--api-key"), "{no_key:?}");
    let usage = run(&["request", "send"], &[]);
    assert_eq!(
        usage.code, 64,
        "bad usage has its own exit code, distinct from the --wait codes"
    );
}

#[test]
fn enroll_link_prints_a_link_and_a_qr_code() {
    let svc = Service::start();
    let user = svc
        .assent(&["user", "add", "--email", "qr@example.com", "--json"])
        .ok()
        .json()["id"]
        .as_u64()
        .unwrap();
    let human = svc
        .assent(&["enroll-link", "--user", &user.to_string()])
        .ok();
    let first = human.stdout.lines().next().unwrap();
    assert!(first.starts_with("assent://enroll?server="), "{human:?}");
    assert!(
        human.stdout.contains('█') || human.stdout.contains('▀'),
        "a QR code is drawn: {}",
        human.stdout
    );
    let json = svc
        .assent(&["enroll-link", "--user", &user.to_string(), "--json"])
        .ok()
        .json();
    assert!(
        json["enroll_url"]
            .as_str()
            .unwrap()
            .contains(json["registration_token"].as_str().unwrap())
    );
    assert!(json["expires_at"].as_i64().unwrap() > 0);
    let unknown = svc.assent(&["enroll-link", "--user", "999"]);
    assert_eq!(unknown.code, 3);
}

#[test]
fn request_send_status_and_cancel() {
    let svc = Service::start();
    let (user, _device) = enrolled(&svc, "send@example.com");
    let sent = svc
        .assent(&[
            "request",
            "send",
            "--user",
            &user.to_string(),
            "--message",
            "Wire $12,500?",
            "--detail",
            "Amount=$12,500",
            "--detail",
            "To=ACME Corp",
            "--hidden",
            "ref=42",
            "--number-matching",
            "--requester-ip",
            "203.0.113.7",
            "--json",
        ])
        .ok()
        .json();
    let uuid = sent["uuid"].as_str().unwrap().to_owned();
    let code = sent["code"]
        .as_str()
        .expect("typed number matching prints the code");
    assert!(
        code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()),
        "a 4-digit code by default: {sent}"
    );
    assert!(sent["number"].is_null(), "no pick number in typed mode");
    let status = svc
        .assent(&["request", "status", &uuid, "--json"])
        .ok()
        .json();
    assert_eq!(status["status"], "pending");
    let cancelled = svc
        .assent(&["request", "cancel", &uuid, "--json"])
        .ok()
        .json();
    assert_eq!(cancelled["status"], "cancelled");
    let picked = svc
        .assent(&[
            "request",
            "send",
            "--user",
            &user.to_string(),
            "--message",
            "Pick?",
            "--number-matching",
            "--pick",
            "--json",
        ])
        .ok()
        .json();
    assert!(
        picked["number"].as_u64().is_some() && picked["code"].is_null(),
        "--pick keeps the pick-one-of-three mode: {picked}"
    );
    let again = svc.assent(&["request", "cancel", &uuid]);
    assert_eq!(again.code, 3);
    assert!(again.stderr.contains("60079"), "{again:?}");
    let missing = svc.assent(&["request", "send", "--user", "424242", "--message", "m"]);
    assert_eq!(missing.code, 3);
    assert!(missing.stderr.contains("60026"), "{missing:?}");
    let bad_detail = svc.assent(&[
        "request",
        "send",
        "--user",
        &user.to_string(),
        "--message",
        "m",
        "--detail",
        "novalue",
    ]);
    assert_eq!(bad_detail.code, 3);
    assert!(bad_detail.stderr.contains("KEY=VALUE"));
}

/// Starts `request send ... --wait --json` in the background.
fn send_and_wait(svc: &Service, args: &[&str]) -> std::process::Child {
    std::process::Command::new(crate::support::assent_bin())
        .args(["request", "send"])
        .args(args)
        .args(["--wait", "--json"])
        .env("ASSENT_SERVER", &svc.url)
        .env("ASSENT_API_KEY", &svc.api_key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn wait_exit_codes_are_0_approved_1_denied_2_expired_4_cancelled() {
    let svc = Service::start();
    let (user, device) = enrolled(&svc, "wait@example.com");
    let user = user.to_string();

    let cases: [(&str, i32, &str); 3] = [
        ("approve", 0, "approved"),
        ("deny", 1, "denied"),
        ("cancel", 4, "cancelled"),
    ];
    for (action, code, status) in cases {
        let child = send_and_wait(&svc, &["--user", &user, "--message", action]);
        let id = loop {
            let pending = device.run(&["pending", "--json"]).ok().json();
            if let Some(first) = pending.as_array().unwrap().first() {
                break first["id"].as_str().unwrap().to_owned();
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        match action {
            "approve" => drop(device.run(&["approve", &id]).ok()),
            "deny" => drop(device.run(&["deny", &id, "--reason", "not-me"]).ok()),
            _ => drop(svc.assent(&["request", "cancel", &id]).ok()),
        }
        if action == "deny" {
            // "Not me" froze the person for this app: a new request is refused until an
            // operator lifts the freeze.
            let frozen = svc.assent(&["request", "send", "--user", &user, "--message", "x"]);
            assert!(
                frozen.code != 0 && frozen.stderr.contains("not theirs"),
                "a frozen person gets no request: {frozen:?}"
            );
            let db = format!("sqlite://{}", svc.dir.path().join("assent.db").display());
            let lifted = run(
                &[
                    "app",
                    "unfreeze",
                    &svc.app_id,
                    "--user",
                    &user,
                    "--database",
                    &db,
                ],
                &[],
            )
            .ok();
            assert!(lifted.stdout.contains("Lifted"), "{lifted:?}");
        }
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{action}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["status"], status);
        assert_eq!(json["uuid"], id);
        if action == "deny" {
            // "This wasn't me" froze new requests to this person: the operator lifts it.
            let db = format!("sqlite://{}", svc.dir.path().join("assent.db").display());
            run(
                &[
                    "app",
                    "unfreeze",
                    &svc.app_id,
                    "--user",
                    &user,
                    "--database",
                    &db,
                ],
                &[],
            )
            .ok();
        }
    }
    let expired = svc.assent(&[
        "request",
        "send",
        "--user",
        &user,
        "--message",
        "too late",
        "--expires",
        "1",
        "--wait",
    ]);
    assert_eq!(expired.code, 2, "expired: {expired:?}");
    assert!(expired.stdout.trim().ends_with("expired"));
    let uuid = svc
        .assent(&["request", "send", "--user", &user, "--message", "later"])
        .ok()
        .stdout
        .trim()
        .to_owned();
    device.run(&["approve", &uuid]).ok();
    let status = svc.assent(&["request", "status", &uuid, "--wait"]);
    assert_eq!(
        status.code, 0,
        "status --wait uses the same exit codes: {status:?}"
    );
}

#[test]
fn app_commands_and_completions() {
    let svc = Service::start_with(&[
        "--callback-url",
        "https://acme.example/hook",
        "--callback-method",
        "get",
        "--accent-color",
        "#0B5FFF",
    ]);
    let db = format!("sqlite://{}", svc.dir.path().join("assent.db").display());
    let list = run(&["app", "list", "--json", "--database", &db], &[])
        .ok()
        .json();
    assert_eq!(list[0]["name"], "Acme Bank");
    assert_eq!(list[0]["callback_method"], "get");
    assert_eq!(list[0]["accent_color"], "#0b5fff");
    assert_eq!(
        list[0]["defences"],
        serde_json::json!({"max_pending_per_person": 1, "backoff": true, "freeze_secs": 1200, "require_user_verification": false}),
        "push-fatigue defences are on by default"
    );
    let changed = run(
        &[
            "app",
            "defences",
            &svc.app_id,
            "--freeze-minutes",
            "5",
            "--backoff",
            "off",
            "--json",
            "--database",
            &db,
        ],
        &[],
    )
    .ok()
    .json();
    assert_eq!(changed["freeze_secs"], 300);
    assert_eq!(changed["backoff"], false);
    assert_eq!(
        changed["max_pending_per_person"], 1,
        "flags left out keep their value"
    );
    let shown = run(&["app", "defences", &svc.app_id, "--database", &db], &[]).ok();
    assert!(shown.stdout.contains("5 min"), "{shown:?}");
    let bad = run(
        &[
            "app",
            "defences",
            &svc.app_id,
            "--backoff",
            "maybe",
            "--database",
            &db,
        ],
        &[],
    );
    assert_ne!(bad.code, 0, "--backoff takes on or off: {bad:?}");
    let unknown = run(
        &[
            "app",
            "unfreeze",
            &svc.app_id,
            "--user",
            "99",
            "--database",
            &db,
        ],
        &[],
    );
    assert_eq!(unknown.code, 3, "an unknown person: {unknown:?}");
    let rotated = run(
        &[
            "app",
            "rotate-key",
            &svc.app_id,
            "--json",
            "--database",
            &db,
        ],
        &[],
    )
    .ok()
    .json();
    assert_ne!(rotated["api_key"], svc.api_key.as_str());
    let old = svc.assent(&["user", "add", "--email", "x@example.com"]);
    assert_eq!(old.code, 3, "the old key stops working");
    let unknown = run(&["app", "rotate-key", "nope", "--database", &db], &[]);
    assert_eq!(unknown.code, 3);
    let bad = run(
        &[
            "app",
            "create",
            "--name",
            "X",
            "--accent-color",
            "blue",
            "--database",
            &db,
        ],
        &[],
    );
    assert_eq!(bad.code, 3);
    assert!(bad.stderr.contains("--accent-color"), "{bad:?}");
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], &[]).ok();
        assert!(
            out.stdout.contains("enroll-link"),
            "{shell} completions cover the commands"
        );
    }
}

#[test]
fn serve_shuts_down_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("a.db").display());
    let mut child = std::process::Command::new(crate::support::assent_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let health = reqwest::blocking::get(format!("{url}/healthz"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(health, "ok\n");
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(
        child.wait().unwrap().success(),
        "SIGTERM is a graceful shutdown"
    );
}
