//! `assent device ...`: the headless device against a real service and the real keychain.

use std::io::{BufRead as _, BufReader};
use std::sync::Arc;

use assent_device::{Keychain, SecretStore as _};
use uuid::Uuid;

use crate::support::{Device, Service, enrolled, run, user_with_link};

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
            "--pick",
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
            "--allow-concurrent",
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
fn typed_codes_facts_and_the_freeze_at_the_command_line() {
    let svc = Service::start();
    let (user, device) = enrolled(&svc, "typed@example.com");
    let user = user.to_string();
    let sent = svc
        .assent(&[
            "request",
            "send",
            "--user",
            &user,
            "--message",
            "Sign in?",
            "--number-matching",
            "--requester-ip",
            "203.0.113.7",
            "--json",
        ])
        .ok()
        .json();
    let uuid = sent["uuid"].as_str().unwrap().to_owned();
    let code = sent["code"].as_str().unwrap().to_owned();
    let pending = device.run(&["pending", "--json"]).ok().json();
    assert_eq!(pending[0]["code_digits"], 4, "{pending}");
    assert_eq!(pending[0]["number_choices"], serde_json::Value::Null);
    assert_eq!(
        pending[0]["facts"],
        serde_json::json!({"requests_last_hour": 1, "network": "other"}),
        "the device connects from loopback, not the requester's address"
    );
    assert!(
        !assent_testkit::shows_code(&pending.to_string(), &code),
        "the device never learns the code: {pending}"
    );
    let human = device.run(&["show", &uuid]).ok();
    for said in [
        "type the 4-digit code you were shown",
        "The only request from Acme Bank in the last hour",
        "Another network than this computer (as far as the service can tell)",
    ] {
        assert!(human.stdout.contains(said), "{said:?} in {human:?}");
    }

    for (args, why) in [
        (vec!["approve", uuid.as_str()], "the code is needed"),
        (vec!["approve", uuid.as_str(), "--code", "12"], "too short"),
        (
            vec!["approve", uuid.as_str(), "--code", "12a4"],
            "not digits",
        ),
        (
            vec!["approve", uuid.as_str(), "--number", "12"],
            "a number where a code is asked",
        ),
    ] {
        let refused = device.run(&args);
        assert_eq!(refused.code, 3, "{why}: {refused:?}");
        assert!(
            refused.stderr.contains("code"),
            "{why}: the error says what to type: {refused:?}"
        );
    }
    let wrong = assent_testkit::another_code(&code);
    let wrong = device.run(&["approve", &uuid, "--code", &wrong]);
    assert_eq!(wrong.code, 3, "{wrong:?}");
    assert!(
        wrong.stderr.contains("2 tries left"),
        "the service's count is shown: {wrong:?}"
    );
    let approved = device
        .run(&["approve", &uuid, "--code", &code, "--json"])
        .ok()
        .json();
    assert_eq!(
        approved["status"], "approved",
        "the right code on the second try approves: the refusals above sent nothing"
    );

    let suspicious = svc
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
    let before = assent_server::clock::unix_now();
    let denied = device
        .run(&["deny", &suspicious, "--reason", "not-me", "--json"])
        .ok()
        .json();
    assert_eq!(denied["status"], "denied");
    let until = denied["frozen_until"]
        .as_i64()
        .expect("the freeze is reported");
    assert!(
        (before + 1190..=before + 1210).contains(&until),
        "frozen for 20 minutes: {until} vs {before}"
    );
    let frozen = svc.assent(&["request", "send", "--user", &user, "--message", "Again?"]);
    assert_eq!(frozen.code, 3);
    assert!(frozen.stderr.contains("60117"), "{frozen:?}");
}

#[test]
fn not_me_explains_the_freeze_in_words() {
    let svc = Service::start();
    let (user, device) = enrolled(&svc, "words@example.com");
    let id = svc
        .assent(&[
            "request",
            "send",
            "--user",
            &user.to_string(),
            "--message",
            "Hm?",
            "--json",
        ])
        .ok()
        .json()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let said = device.run(&["deny", &id, "--reason", "not-me"]).ok();
    for part in [
        "Denied and reported as not you: Acme Bank was told.",
        "New requests from Acme Bank are blocked until ",
        " UTC.",
        "someone may know your Acme Bank password: change it.",
    ] {
        assert!(said.stdout.contains(part), "{part:?} in {said:?}");
    }
}

#[test]
fn enroll_with_server_and_token() {
    let svc = Service::start();
    let (user, link) = user_with_link(&svc, "tok@example.com");
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
            match value["event"].as_str() {
                // Clock measurements and the approval log's findings come and go with their
                // own timing; this test is about connections and requests.
                Some("clock" | "finding") => continue,
                Some("connection") if value["state"]["state"] != "connected" => continue,
                _ => return value,
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
    let proxy = assent_testkit::process::FreezingProxy::start(upstream);
    let (_, link) = user_with_link(&svc, "frozen@example.com");
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
    let lost = next(
        window + std::time::Duration::from_secs(2),
        "reconnecting line",
    );
    assert_eq!(lost["state"]["state"], "reconnecting", "{lost}");
    assert!(
        lost["state"]["next_try_at_ms"].as_i64().is_some(),
        "the next try is given: {lost}"
    );
    let last_contact = lost["last_contact_at_ms"]
        .as_i64()
        .expect("the last contact is given");
    assert!(
        last_contact <= frozen_at + 200,
        "the last contact ({last_contact}) is from before the freeze ({frozen_at}): {lost}"
    );

    proxy.thaw();
    loop {
        let line = next(
            std::time::Duration::from_secs(30),
            "connected line after the thaw",
        );
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

/// The shell block after `<!-- recipe: NAME -->` in docs/cli.md, as a person would copy it.
fn recipe(name: &str) -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md"),
    )
    .unwrap();
    let after = doc
        .split(&format!("<!-- recipe: {name} -->"))
        .nth(1)
        .unwrap_or_else(|| panic!("docs/cli.md has a recipe step {name:?}"));
    let block = after
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap_or_else(|| panic!("recipe step {name:?} has a sh block"));
    block.lines().map(str::trim).collect::<Vec<_>>().join("\n")
}

/// A login shell of the recipe's user: a home of its own, no display, no session bus; the built
/// `assent` on PATH. Runs `script` with `stdin`.
fn as_server_user(
    home: &std::path::Path,
    marker: &str,
    script: &str,
    stdin: &str,
) -> crate::support::Run {
    use std::io::Write as _;
    let bin = std::path::Path::new(crate::support::assent_bin())
        .parent()
        .unwrap()
        .to_owned();
    let mut child = std::process::Command::new("env")
        .arg("-i")
        .arg(format!(
            "PATH={}:{}",
            bin.display(),
            std::env::var("PATH").unwrap()
        ))
        .arg(format!("HOME={}", home.display()))
        .arg(format!("ASSENT_RECIPE_TEST_MARKER={marker}"))
        .arg("ASSENT_LOG=warn")
        .args(["bash", "-euo", "pipefail", "-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Processes started by the recipe in this test (found by the marker in their environment).
fn recipe_processes(marker: &str) -> Vec<u32> {
    let needle = format!("ASSENT_RECIPE_TEST_MARKER={marker}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let environ = std::fs::read(e.path().join("environ")).ok()?;
            environ
                .split(|b| *b == 0)
                .any(|v| v == needle.as_bytes())
                .then_some(pid)
        })
        .collect()
}

/// Kills what the recipe left running if the test fails half-way.
struct RecipeCleanup(String);

impl Drop for RecipeCleanup {
    fn drop(&mut self) {
        for pid in recipe_processes(&self.0) {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
    }
}

#[test]
fn recipe_a_headless_device_keeps_its_keys_between_commands_and_restarts() {
    // The recipe is about keys across restarts; it sends a request seconds after a denial, which
    // the push-fatigue back-off (tested in the service) would hold back.
    let svc = Service::start_with(&["--backoff", "off"]);
    let home = tempfile::tempdir().unwrap();
    let marker = uuid::Uuid::new_v4().to_string();
    let _cleanup = RecipeCleanup(marker.clone());
    let (start, use_, stop) = (recipe("start"), recipe("use"), recipe("stop"));
    let shell = |script: &str, stdin: &str| as_server_user(home.path(), &marker, script, stdin);
    let device = |args: &str| shell(&format!("{use_}\nassent device {args}"), "");
    let user = svc
        .assent(&["user", "add", "--email", "ops@example.com", "--json"])
        .ok()
        .json()["id"]
        .as_u64()
        .unwrap()
        .to_string();
    let request = |message: &str| {
        svc.assent(&["request", "send", "--user", &user, "--message", message])
            .ok()
            .stdout
            .trim()
            .to_owned()
    };

    // Boot: start the bus and the keyring (created with this passphrase).
    shell(&start, "correct horse battery staple\n").ok();
    let link = svc
        .assent(&["enroll-link", "--user", &user, "--json"])
        .ok()
        .json()["enroll_url"]
        .as_str()
        .unwrap()
        .to_owned();
    // Each command is a separate shell, as separate SSH sessions or cron jobs would be.
    device(&format!("enroll '{link}' --name server")).ok();
    let first = request("Deploy to production?");
    let pending = device("pending --json").ok().json();
    assert_eq!(
        pending[0]["id"],
        first.as_str(),
        "the device sees the request: {pending}"
    );
    assert_eq!(
        device(&format!("approve {first} --json")).ok().json()["status"],
        "approved"
    );
    assert!(
        home.path()
            .join(".local/share/keyrings/login.keyring")
            .is_file(),
        "the keys are in the keyring file in the home directory"
    );

    // Reboot: stop everything, start again with the same passphrase; the key is still there.
    shell(&stop, "").ok();
    wait_until_gone(&marker);
    shell(&start, "correct horse battery staple\n").ok();
    let second = request("Rotate the database password?");
    let pending = device("pending --json").ok().json();
    assert_eq!(
        pending[0]["id"],
        second.as_str(),
        "after a restart: {pending}"
    );
    assert_eq!(
        device(&format!("deny {second} --json")).ok().json()["status"],
        "denied"
    );
    // "This wasn't me" (the default reason) froze new requests to this person: the operator
    // lifts it, as after a real mistake.
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

    // A wrong passphrase leaves the keyring locked: commands fail clearly and change nothing.
    shell(&stop, "").ok();
    wait_until_gone(&marker);
    shell(&start, "wrong passphrase\n").ok();
    let third = request("Sign in?");
    let locked = device("pending --json");
    assert_eq!(locked.code, 3, "a locked keyring is an error: {locked:?}");
    assert!(
        locked.stderr.contains("keychain")
            && locked.stderr.contains("unlock")
            && !locked.stderr.contains("enroll again"),
        "the error says the keychain would not unlock, and does not tell the person to re-enroll: {locked:?}"
    );
    assert_eq!(
        device("list --json").ok().json().as_array().map(Vec::len),
        Some(1),
        "the account is kept"
    );
    shell(&stop, "").ok();
    wait_until_gone(&marker);
    shell(&start, "correct horse battery staple\n").ok();
    let pending = device("pending --json").ok().json();
    assert_eq!(
        pending[0]["id"],
        third.as_str(),
        "the right passphrase opens it again: {pending}"
    );

    shell(&stop, "").ok();
    wait_until_gone(&marker);
}

fn wait_until_gone(marker: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !recipe_processes(marker).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the recipe's stop step ends the bus and the keyring: {:?} remain",
            recipe_processes(marker)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// A hostile service on loopback, served by a runtime of its own while the test runs `assent`.
fn hostile(
    branding: assent_protocol::request::AppBranding,
) -> (tokio::runtime::Runtime, assent_testkit::HostileService) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let service = runtime.block_on(assent_testkit::HostileService::start(branding));
    (runtime, service)
}

/// `text` (what a command printed) has no unsafe character but its own line breaks.
fn no_unsafe_text(what: &str, text: &str) {
    let unsafe_chars: Vec<char> = text
        .chars()
        .filter(|c| *c != '\n' && assent_protocol::text::is_unsafe_char(*c))
        .collect();
    assert!(
        unsafe_chars.is_empty(),
        "{what} prints no control or bidirectional character from the service ({unsafe_chars:?}): {text:?}"
    );
}

#[test]
fn the_terminal_never_shows_control_or_bidirectional_characters_from_a_service() {
    let dir = tempfile::tempdir().unwrap();
    let branding = assent_protocol::request::AppBranding {
        name: "Acme\u{202e}knaB\u{1b}]0;pwned\u{7}".into(),
        ..assent_testkit::HostileService::branding(None)
    };
    let (_runtime, svc) = hostile(branding);
    let id = Uuid::new_v4();
    let mut details = svc.details(id);
    details.message = "Sign in\u{1b}[2J\u{1b}[1;1H?\u{2028}Approve \u{202e}lla".into();
    details.details = vec![assent_protocol::request::DetailField {
        label: "To\u{9b}31m".into(),
        value: "Evil\u{85}Corp".into(),
    }];
    svc.script.requests.lock().unwrap().insert(id, details);
    *svc.script.pending.lock().unwrap() = vec![id];
    let device = Device::new(dir.path());
    let enrolled = device.run(&["enroll", &svc.link()]).ok();
    no_unsafe_text("enroll", &enrolled.stdout);
    let human = device.run(&["pending"]).ok();
    assert!(
        human.stdout.contains("Sign in[2J[1;1H?Approve lla"),
        "{:?}",
        human.stdout
    );
    no_unsafe_text("pending", &human.stdout);
    no_unsafe_text("show", &device.run(&["show", &id.to_string()]).ok().stdout);
    no_unsafe_text("list", &device.run(&["list"]).ok().stdout);
    let json = device.run(&["pending", "--json"]).ok();
    no_unsafe_text("pending --json", &json.stdout);
    assert_eq!(json.json()[0]["details"][0]["value"], "EvilCorp");
}

#[test]
fn links_that_read_two_ways_and_insecure_services_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_runtime, svc) = hostile(assent_testkit::HostileService::branding(None));
    let device = Device::new(dir.path());
    let token = "abcdefghijklmnopqrstuvwxyz012345";
    for (link, says) in [
        (
            format!(
                "assent://enroll?server=https%3A%2F%2Flong.lookalike.name%40127.0.0.1&token={token}"
            ),
            "user name",
        ),
        (
            format!(
                "assent://enroll?server=https%3A%2F%2Fa.example&token={token}&server=https%3A%2F%2Fb.example"
            ),
            "more than once",
        ),
    ] {
        let refused = device.run(&["enroll", &link, "--allow-insecure"]);
        assert_eq!(refused.code, 3, "{link}: {refused:?}");
        assert!(refused.stderr.contains(says), "{refused:?}");
    }
    let port = svc.url.rsplit(':').next().unwrap().to_owned();
    let insecure = format!(
        "assent://enroll?server=http%3A%2F%2F0.0.0.0%3A{port}&token=hostile-token-0123456789"
    );
    let refused = device.run(&["enroll", &insecure]);
    assert_eq!(refused.code, 3, "{refused:?}");
    assert!(
        refused.stderr.contains("--allow-insecure") && refused.stderr.contains("0.0.0.0"),
        "names the host and the way out: {refused:?}"
    );
    assert!(svc.devices().is_empty(), "nothing reached the service");
    device.run(&["enroll", &insecure, "--allow-insecure"]).ok();
    assert_eq!(svc.devices().len(), 1, "enrolled once the person accepted");
}

#[test]
fn a_service_saying_revoked_without_proof_leaves_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let (_runtime, svc) = hostile(assent_testkit::HostileService::branding(None));
    let device = Device::new(dir.path());
    device.run(&["enroll", &svc.link()]).ok();
    let account = Uuid::parse_str(
        device.run(&["list", "--json"]).ok().json()[0]["id"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    for code in ["60092", "60103"] {
        *svc.script.pending_answer.lock().unwrap() = assent_testkit::Answer::Error {
            status: 401,
            body: serde_json::json!({
                "message": "gone", "success": false, "errors": {"message": "gone"}, "error_code": code,
            }),
        };
        let refused = device.run(&["pending"]);
        assert_eq!(refused.code, 3, "{refused:?}");
        assert!(
            refused.stderr.contains("did not prove it"),
            "{code}: says the revocation is unproven: {refused:?}"
        );
        let keychain = Keychain::new(device.keyring_service.clone());
        assert!(
            keychain.load(account).unwrap().is_some(),
            "{code} alone leaves the key in the keychain"
        );
        assert_eq!(
            device.run(&["list", "--json"]).ok().json()[0]["revoked"],
            false
        );
    }
}

#[test]
fn watch_prints_a_device_enrolled_by_hand_for_the_same_person_once() {
    let svc = Service::start();
    let (user, device) = enrolled(&svc, "watched@example.com");
    // An operator enrolls a second device for the same person.
    let link = svc
        .assent(&["enroll-link", "--user", &user.to_string(), "--json"])
        .ok()
        .json();
    let second = Device::new(svc.dir.path());
    second
        .run(&[
            "enroll",
            link["enroll_url"].as_str().unwrap(),
            "--name",
            "other",
        ])
        .ok();
    let second_id = second.run(&["list", "--json"]).ok().json()[0]["device_id"].clone();
    let mut watch = device.watch_with(&[("ASSENT_LOG_POLL_SECS", "5")]);
    let lines = watch_lines(&mut watch);
    let mut findings = Vec::new();
    // The service signs a checkpoint within 10 s; watch checks at start, every 5 s until the
    // service announces its log on the stream (with its first heartbeat), then when it grew.
    // After the first finding, more checks and announcements go by: it must not be printed again.
    let mut until = std::time::Instant::now() + std::time::Duration::from_secs(40);
    while std::time::Instant::now() < until {
        match lines.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok(line) if line["event"] == "finding" => {
                if findings.is_empty() {
                    until = std::time::Instant::now() + std::time::Duration::from_secs(12);
                }
                findings.push(line);
            }
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("watch stopped: {e}"),
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(
        findings.len(),
        1,
        "the second device is printed once, across several checks: {findings:#?}"
    );
    let finding = &findings[0]["finding"];
    assert_eq!(finding["app_name"], "Acme Bank");
    assert_eq!(finding["finding"]["kind"], "unknown_device");
    assert_eq!(finding["finding"]["device_id"], second_id);
    assert_eq!(
        finding["finding"]["fingerprint"].as_str().map(str::len),
        Some(19),
        "four groups of four hex digits: {finding}"
    );
}

/// `assent device approve` as `nobody` (polkit says yes to root without asking), in a session
/// of its own (bus, gnome-keyring), with polkit on a private system bus: each approval is a new
/// process, which says its pid and waits for "go" so the test agent is registered for it first.
struct UnprivilegedDevice {
    child: std::process::Child,
    /// Closing it ends the script's loop, so the script and its session bus end by themselves.
    input: Option<std::process::ChildStdin>,
    output: std::io::Lines<BufReader<std::process::ChildStdout>>,
    _home: assent_testkit::polkit::UnprivilegedHome,
}

impl UnprivilegedDevice {
    fn enroll(svc: &Service, link: &str, bus: &assent_testkit::polkit::PolkitBus) -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let home = assent_testkit::polkit::UnprivilegedHome::create(&svc.dir.path().join("nobody"));
        let script = home.root().join("device.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nset -e\n{unlock}'{assent}' device enroll \"$1\" --name ci >&2\necho ENROLLED\n\
                 while read -r id; do\n\
                 \x20 set +e\n\
                 \x20 sh -c 'echo \"PID $$\"; read go; exec \"$0\" device approve \"$1\" --json 2>&1' '{assent}' \"$id\"\n\
                 \x20 echo \"EXIT $?\"\n\
                 \x20 set -e\n\
                 done\n",
                unlock = assent_testkit::polkit::UnprivilegedHome::unlock_keyring(),
                assent = crate::support::assent_bin(),
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = assent_testkit::polkit::unprivileged("dbus-run-session")
            .args(["--", script.to_str().unwrap(), link])
            .envs(home.env())
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
            .env("ASSENT_KEYRING_SERVICE", "assent-test")
            .env("ASSENT_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("setpriv and dbus-run-session are installed");
        let input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = output.next().and_then(Result::ok);
        assert_eq!(
            first.as_deref(),
            Some("ENROLLED"),
            "nobody's device enrolls"
        );
        UnprivilegedDevice {
            child,
            input: Some(input),
            output,
            _home: home,
        }
    }

    /// Runs `assent device approve id` with a test agent answering `answer`; returns the exit
    /// code, what it printed, and what the agent was asked.
    fn approve(
        &mut self,
        id: &str,
        bus: &assent_testkit::polkit::PolkitBus,
        answer: assent_testkit::polkit::AgentAnswer,
    ) -> (i32, String, Vec<assent_testkit::polkit::AgentPrompt>) {
        use std::io::Write as _;
        let input = self.input.as_mut().expect("the script's input is open");
        writeln!(input, "{id}").unwrap();
        let pid: u32 = self
            .next_line()
            .strip_prefix("PID ")
            .and_then(|p| p.parse().ok())
            .expect("the approval process says its pid");
        let agent = assent_testkit::polkit::PolkitAgent::register(bus, pid, answer);
        let input = self.input.as_mut().expect("the script's input is open");
        writeln!(input, "go").unwrap();
        let mut printed = String::new();
        loop {
            let line = self.next_line();
            if let Some(code) = line.strip_prefix("EXIT ") {
                return (code.parse().unwrap(), printed, agent.asked());
            }
            printed.push_str(&line);
            printed.push('\n');
        }
    }

    fn next_line(&mut self) -> String {
        self.output
            .next()
            .and_then(Result::ok)
            .expect("the device script is still running")
    }
}

impl Drop for UnprivilegedDevice {
    fn drop(&mut self) {
        // End of input ends the script; dbus-run-session then stops its bus. Killing it instead
        // would leave that bus behind.
        drop(self.input.take());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn approve_asks_the_system_first_for_a_request_that_requires_it() {
    let svc = Service::start();
    let bus = assent_testkit::polkit::PolkitBus::start();
    let (user, link) = user_with_link(&svc, "uv@example.com");
    let mut device = UnprivilegedDevice::enroll(&svc, link["enroll_url"].as_str().unwrap(), &bus);
    let id = svc
        .assent(&[
            "request",
            "send",
            "--user",
            &user.to_string(),
            "--message",
            "Wire $12,500?",
            "--require-verification",
            "--json",
        ])
        .ok()
        .json()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let status = || {
        svc.assent(&["request", "status", &id, "--json"])
            .ok()
            .json()["status"]
            .clone()
    };

    let (code, printed, asked) =
        device.approve(&id, &bus, assent_testkit::polkit::AgentAnswer::Refuse);
    assert_eq!(
        code, 3,
        "a refused verification is an error exit, nothing approved: {printed}"
    );
    assert!(
        printed.contains("did not confirm it is you"),
        "the error says why: {printed}"
    );
    assert_eq!(
        asked.len(),
        1,
        "polkit asked the agent for the approving process"
    );
    assert_eq!(status(), "pending", "nothing was signed or sent");

    let (code, printed, asked) =
        device.approve(&id, &bus, assent_testkit::polkit::AgentAnswer::Approve);
    assert_eq!(code, 0, "approved after the password: {printed}");
    assert_eq!(asked.len(), 1);
    let answer = printed
        .lines()
        .find(|l| l.starts_with('{'))
        .expect("the JSON answer");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(answer).unwrap()["status"],
        "approved"
    );
    assert_eq!(status(), "approved");
}

#[test]
fn preview_shows_the_service_the_account_and_the_phrase_and_leaves_the_token_usable() {
    let svc = Service::start();
    let (user, link) = user_with_link(&svc, "look@example.com");
    let url = link["enroll_url"].as_str().unwrap();
    let phrase = link["enroll_phrase"].as_str().unwrap();
    assert_eq!(
        phrase,
        assent_protocol::enroll::EnrollLink::parse(url)
            .unwrap()
            .phrase(),
        "enroll-link prints the phrase of its link"
    );
    let device = Device::new(svc.dir.path());
    let shown = device.run(&["preview", url, "--json"]).ok().json();
    assert_eq!(shown["phrase"], phrase, "{shown}");
    assert_eq!(shown["account_name"], "look@example.com", "{shown}");
    assert_eq!(
        shown["host"],
        svc.url.trim_start_matches("http://"),
        "{shown}"
    );
    assert_eq!(shown["insecure"], false, "loopback http is the demo");
    assert_eq!(shown["bare_ip"], false, "loopback is no bare address");
    let text = device.run(&["preview", url]).ok();
    for part in [
        "Account: look@example.com",
        &format!("Phrase:  {phrase}"),
        "Check that the relying party's page shows the same phrase",
    ] {
        assert!(text.stdout.contains(part), "{part:?} in {text:?}");
    }
    let out = device.run(&["enroll", url, "--json"]).ok().json();
    assert_eq!(out["user_id"], user, "the previewed token still enrolls");
    let used = device.run(&["preview", url]);
    assert_eq!(used.code, 3, "{used:?}");
    assert!(
        used.stderr.contains("60100") || used.stderr.contains("already used"),
        "{used:?}"
    );
    let long = device.run(&["preview", &format!("{url}{}", "x".repeat(3000))]);
    assert_eq!(long.code, 3, "{long:?}");
    assert!(
        long.stderr.contains("longer than"),
        "an over-long link is refused: {long:?}"
    );
    let insecure = device.run(&[
        "preview",
        "assent://enroll?server=http%3A%2F%2F192.0.2.1%3A9&token=abcdefghijklmnopqrstu",
    ]);
    assert_eq!(insecure.code, 3, "{insecure:?}");
    assert!(
        insecure.stderr.contains("http"),
        "plain http off this machine is refused before the token is sent: {insecure:?}"
    );
}

#[test]
fn pending_shows_the_kind_the_label_and_each_approvers_state() {
    let svc = Service::start();
    let (ana, ana_device) = enrolled(&svc, "ana@acme.example");
    let bo = svc
        .assent(&[
            "user",
            "add",
            "--email",
            "bo@acme.example",
            "--name",
            "Bo Lindqvist",
            "--json",
        ])
        .ok()
        .json()["id"]
        .as_u64()
        .unwrap();
    let link = svc
        .assent(&["enroll-link", "--user", &bo.to_string(), "--json"])
        .ok()
        .json();
    let bo_device = Device::new(svc.dir.path());
    bo_device
        .run(&[
            "enroll",
            link["enroll_url"].as_str().unwrap(),
            "--name",
            "ci",
        ])
        .ok();
    let accounts = bo_device.run(&["list", "--json"]).ok().json();
    assert_eq!(accounts[0]["account_name"], "Bo Lindqvist");

    let bad = svc.assent(&[
        "request",
        "send",
        "--user",
        &ana.to_string(),
        "--message",
        "m",
        "--kind",
        "login",
    ]);
    assert_ne!(bad.code, 0, "an unknown kind is refused: {bad:?}");
    assert!(bad.stderr.contains("sign_in or action"), "{bad:?}");
    let long = svc.assent(&[
        "request",
        "send",
        "--user",
        &ana.to_string(),
        "--message",
        "m",
        "--action-label",
        &"x".repeat(33),
    ]);
    assert_eq!(
        long.code, 3,
        "the service refuses a 33-character label: {long:?}"
    );
    assert!(long.stderr.contains("60004"), "{long:?}");

    let uuid = svc
        .assent(&[
            "request",
            "send",
            "--user",
            &bo.to_string(),
            "--message",
            "Wire $12,500 to ACME Corp?",
            "--approvers",
            &ana.to_string(),
            "--quorum",
            "2",
            "--kind",
            "action",
            "--action-label",
            "Release $12,500",
            "--json",
        ])
        .ok()
        .json()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    bo_device.run(&["approve", &uuid]).ok();

    let pending = ana_device.run(&["pending", "--json"]).ok().json();
    let request = &pending[0];
    assert_eq!(request["id"], uuid.as_str());
    assert_eq!(request["kind"], "action");
    assert_eq!(request["action_label"], "Release $12,500");
    assert_eq!(request["account_name"], "ana@acme.example");
    assert_eq!(request["is_initiator"], false);
    assert_eq!(request["my_answer"], serde_json::Value::Null);
    assert_eq!(
        request["approver_states"],
        serde_json::json!([
            {"name": "Bo Lindqvist", "state": "approved", "is_me": false, "is_initiator": true},
            {"name": "ana@acme.example", "state": "waiting", "is_me": true, "is_initiator": false},
        ]),
        "Bo asked and approved; Ana (this device) waits"
    );
    let text = ana_device.run(&["pending"]).ok().stdout;
    assert!(text.contains("action: Release $12,500"), "{text}");
    assert!(
        text.contains("approvers: Bo Lindqvist (asked): approved, you: waiting"),
        "{text}"
    );
    assert!(text.contains("for ana@acme.example"), "{text}");
}
