//! `assent device ...`: the headless device against a real service and the real keychain.

use std::io::{BufRead as _, BufReader};
use std::sync::Arc;

use assent_device::{Keychain, SecretStore as _};
use uuid::Uuid;

use crate::support::{Device, Service, enrolled, run};

#[test]
fn enroll_list_pending_show_approve_deny_and_remove() {
    let svc = Service::start();
    let (user, device) = enrolled(&svc, "dev@example.com");
    let accounts = device.run(&["list", "--json"]).ok().json();
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    assert_eq!(accounts[0]["app"], "Acme Bank");
    assert_eq!(accounts[0]["user_id"], user);
    let account = Uuid::parse_str(accounts[0]["id"].as_str().unwrap()).unwrap();
    let keychain = Arc::new(Keychain::new(device.keyring_service.clone()));
    assert!(
        keychain.load(account).unwrap().is_some(),
        "the key is in the Secret Service"
    );

    let user = user.to_string();
    let sent = svc
        .assent(&[
            "request",
            "send",
            "--user",
            &user,
            "--message",
            "Sign in?",
            "--detail",
            "Browser=Firefox",
            "--number-matching",
            "--json",
        ])
        .ok()
        .json();
    let (uuid, number) = (
        sent["uuid"].as_str().unwrap().to_owned(),
        sent["number"].as_u64().unwrap(),
    );
    let denied = svc
        .assent(&[
            "request",
            "send",
            "--user",
            &user,
            "--message",
            "Not me",
            "--json",
        ])
        .ok()
        .json()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();

    let pending = device.run(&["pending", "--json"]).ok().json();
    let ids: Vec<&str> = pending
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![uuid.as_str(), denied.as_str()]);
    assert_eq!(pending[0]["details"][0]["label"], "Browser");
    assert!(
        pending[0]["number_choices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_u64() == Some(number))
    );
    let human = device.run(&["pending"]).ok();
    assert!(
        human.stdout.contains("Sign in?") && human.stdout.contains("pick the number"),
        "{human:?}"
    );
    let shown = device.run(&["show", &uuid, "--json"]).ok().json();
    assert_eq!(shown["message"], "Sign in?");

    let without_number = device.run(&["approve", &uuid]);
    assert_eq!(
        without_number.code, 3,
        "number matching needs --number: {without_number:?}"
    );
    assert!(without_number.stderr.contains("pick the number"));
    let approved = device
        .run(&["approve", &uuid, "--number", &number.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(approved["status"], "approved");
    let denied_out = device
        .run(&["deny", &denied, "--reason", "not-me", "--json"])
        .ok()
        .json();
    assert_eq!(denied_out["status"], "denied");
    assert_eq!(
        svc.assent(&["request", "status", &denied, "--json"])
            .ok()
            .json()["reason"],
        "not_me"
    );
    let unknown = device.run(&["approve", &Uuid::new_v4().to_string()]);
    assert_eq!(unknown.code, 3);

    let refused = device.run(&["remove"]);
    assert_eq!(
        refused.code, 3,
        "removal needs --yes when not interactive: {refused:?}"
    );
    device.run(&["remove", "--yes"]).ok();
    assert!(
        keychain.load(account).unwrap().is_none(),
        "after remove the keychain item is gone"
    );
    assert_eq!(
        device.run(&["list", "--json"]).ok().json(),
        serde_json::json!([])
    );
    let status = svc.assent(&["user", "status", &user, "--json"]).ok().json();
    assert_eq!(
        status["registered"], false,
        "the service revoked the device"
    );
}

#[test]
fn enroll_with_server_and_token() {
    let svc = Service::start();
    let user = svc
        .assent(&["user", "add", "--email", "tok@example.com", "--json"])
        .ok()
        .json()["id"]
        .as_u64()
        .unwrap();
    let link = svc
        .assent(&["enroll-link", "--user", &user.to_string(), "--json"])
        .ok()
        .json();
    let device = Device::new(svc.dir.path());
    let out = device
        .run(&[
            "enroll",
            "--server",
            &svc.url,
            link["registration_token"].as_str().unwrap(),
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["user_id"], user);
    let reused = device.run(&["enroll", link["enroll_url"].as_str().unwrap()]);
    assert_eq!(reused.code, 3);
    assert!(
        reused.stderr.contains("already used") || reused.stderr.contains("60100"),
        "{reused:?}"
    );
    let garbage = device.run(&["enroll", "https://example.com"]);
    assert_eq!(garbage.code, 3);
    assert!(garbage.stderr.contains("assent://enroll"), "{garbage:?}");
}

#[test]
fn without_a_secret_service_commands_fail_clearly_and_write_nothing() {
    let svc = Service::start();
    let user = svc
        .assent(&["user", "add", "--email", "nokeys@example.com", "--json"])
        .ok()
        .json()["id"]
        .as_u64()
        .unwrap();
    let link = svc
        .assent(&["enroll-link", "--user", &user.to_string(), "--json"])
        .ok()
        .json();
    let link = link["enroll_url"].as_str().unwrap();
    let data_dir = svc.dir.path().join("no-keychain");
    let env = [
        ("ASSENT_DATA_DIR", data_dir.to_str().unwrap()),
        ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
        ("ASSENT_KEYRING_SERVICE", "assent-test-none"),
    ];
    let out = run(&["device", "enroll", link], &env);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(
        out.stderr.contains("no OS keychain is available") && out.stderr.contains("Secret Service"),
        "the message names what is missing: {out:?}"
    );
    assert!(
        !data_dir.exists(),
        "nothing is written to the data directory"
    );
    let status = svc
        .assent(&["user", "status", &user.to_string(), "--json"])
        .ok()
        .json();
    assert_eq!(
        status["registered"], false,
        "nothing is registered at the service"
    );
    let device = Device::new(svc.dir.path());
    device.run(&["enroll", link]).ok();
    let _ = device;
}

#[test]
fn watch_prints_requests_as_they_arrive() {
    let svc = Service::start();
    let (user, device) = enrolled(&svc, "watch@example.com");
    let mut watch = device.watch();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut next_event = || -> serde_json::Value {
        loop {
            let line = lines.next().expect("watch keeps printing").unwrap();
            let value: serde_json::Value = serde_json::from_str(&line).unwrap();
            if value["event"] != "connection" {
                return value;
            }
            if value["state"]["state"] == "connected" {
                return value;
            }
        }
    };
    assert_eq!(next_event()["state"]["state"], "connected");
    let uuid = svc
        .assent(&[
            "request",
            "send",
            "--user",
            &user.to_string(),
            "--message",
            "Watch me",
            "--detail",
            "Where=Lisbon",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let event = next_event();
    assert_eq!(event["event"], "request");
    assert_eq!(event["request"]["id"], uuid.as_str());
    assert_eq!(event["request"]["message"], "Watch me");
    svc.assent(&["request", "cancel", &uuid]).ok();
    let event = next_event();
    assert_eq!(
        (event["event"].as_str(), event["status"].as_str()),
        (Some("resolved"), Some("cancelled"))
    );
    let _ = watch.kill();
    let _ = watch.wait();
}

/// JSON lines of a running `watch`, read on a thread.
fn watch_lines(watch: &mut std::process::Child) -> std::sync::mpsc::Receiver<serde_json::Value> {
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let value: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if tx.send(value).is_err() {
                return;
            }
        }
    });
    rx
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn watch_shows_reconnecting_within_the_heartbeat_window_when_the_stream_stops_answering() {
    let svc = Service::start();
    let upstream: std::net::SocketAddr = svc.url.trim_start_matches("http://").parse().unwrap();
    let proxy = assent_e2e::FreezingProxy::start(upstream);
    let user = svc
        .assent(&["user", "add", "--email", "frozen@example.com", "--json"])
        .ok()
        .json()["id"]
        .as_u64()
        .unwrap();
    let link = svc
        .assent(&["enroll-link", "--user", &user.to_string(), "--json"])
        .ok()
        .json();
    let device = Device::new(svc.dir.path());
    // The device reaches its service through the proxy, as through a middlebox that may hang.
    device
        .run(&[
            "enroll",
            "--server",
            &proxy.url,
            link["registration_token"].as_str().unwrap(),
        ])
        .ok();
    let window = std::time::Duration::from_secs(3);
    let mut watch = device.watch_with(&[("ASSENT_HEARTBEAT_WINDOW_SECS", "3")]);
    let lines = watch_lines(&mut watch);
    let next = |within: std::time::Duration, what: &str| -> serde_json::Value {
        loop {
            let line = lines
                .recv_timeout(within)
                .unwrap_or_else(|_| panic!("watch printed no {what} within {within:?}"));
            if line["event"] == "connection" {
                return line;
            }
        }
    };
    let first = next(std::time::Duration::from_secs(20), "connection");
    assert_eq!(first["state"]["state"], "connecting", "{first}");
    let connected = next(std::time::Duration::from_secs(20), "connection");
    assert_eq!(connected["state"]["state"], "connected", "{connected}");
    // Answered pings keep it connected: nothing new is printed for a while.
    assert!(
        lines.recv_timeout(window * 2).is_err(),
        "a live stream prints nothing new"
    );

    proxy.freeze();
    let frozen_at = unix_ms();
    // Nothing closes the connection; the client's heartbeat deadline must notice within the
    // window (plus scheduling slack), long before the protocol's 60 s default.
    let lost = next(window + std::time::Duration::from_secs(2), "reconnecting line");
    assert_eq!(lost["state"]["state"], "reconnecting", "{lost}");
    assert!(
        lost["state"]["next_try_at_ms"].as_i64().is_some(),
        "the next try is given: {lost}"
    );
    let last_contact = lost["last_contact_at_ms"].as_i64().expect("the last contact is given");
    assert!(
        last_contact <= frozen_at + 200,
        "the last contact ({last_contact}) is from before the freeze ({frozen_at}): {lost}"
    );

    proxy.thaw();
    loop {
        let line = next(std::time::Duration::from_secs(30), "connected line after the thaw");
        if line["state"]["state"] == "connected" {
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn a_bad_heartbeat_window_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["0", "2", "601", "ten", "-5", ""] {
        let out = run(
            &["device", "list"],
            &[
                ("ASSENT_DATA_DIR", dir.path().join("d").to_str().unwrap()),
                ("ASSENT_HEARTBEAT_WINDOW_SECS", bad),
            ],
        );
        assert_eq!(out.code, 3, "{bad:?} is refused: {out:?}");
        assert!(
            out.stderr.contains("ASSENT_HEARTBEAT_WINDOW_SECS") && out.stderr.contains("3 to 600"),
            "the message names the setting and what it accepts: {out:?}"
        );
        assert!(!dir.path().join("d").exists(), "nothing is written");
    }
}
