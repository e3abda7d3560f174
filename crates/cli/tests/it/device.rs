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
