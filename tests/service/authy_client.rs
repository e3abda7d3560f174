//! A backend written for Authy OneTouch, using PyPI `authy` 2.2.6 unchanged but for its base URL.

use std::process::Command;
use std::time::Duration;

use assent_testkit::AuthenticatorApp;
use assent_testkit::process::{
    AssentService, CallbackSink, HeadlessDevice, free_port, require_session,
};
use serde_json::{Value, json};

fn authy(service: &AssentService, args: &[&str], stdin: Option<&str>) -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("service/authy_client.py");
    let mut command = Command::new(assent_testkit::process::test_python());
    command
        .arg(script)
        .args(args)
        .env("ASSENT_URL", &service.url)
        .env("ASSENT_API_KEY", &service.api_key);
    let output = if let Some(input) = stdin {
        use std::io::Write as _;
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    } else {
        command.output().unwrap()
    };
    assert!(
        output.status.success(),
        "authy client step {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_authy_python_library_works_unchanged() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let callback_url = format!("http://127.0.0.1:{port}/authy/callback");
    let sink = CallbackSink::bind(port);
    let service = AssentService::start(dir.path(), &["--callback-url", &callback_url]);

    let setup = authy(&service, &["setup"], None);
    let user = setup["user"].as_u64().unwrap();
    assert_eq!(
        setup["same_user"], user,
        "the same phone gives the same user"
    );
    assert_eq!(setup["registered"], false);
    assert!(setup["registration_token"].as_str().unwrap().len() >= 32);

    let device = HeadlessDevice::enroll(dir.path(), setup["enroll_url"].as_str().unwrap());
    assert_eq!(
        authy(&service, &["registered", &user.to_string()], None)["registered"],
        true
    );

    let created = authy(&service, &["request", &user.to_string()], None);
    assert_eq!(created["status"], "pending");
    let uuid = created["uuid"].as_str().unwrap();
    let shown = device.run(&["show", uuid, "--json"]).ok().json();
    assert_eq!(shown["message"], "Login requested for Acme Bank");
    assert_eq!(
        shown["details"],
        json!([{"label": "Username", "value": "ana"}, {"label": "Location", "value": "Lisbon, Portugal"}])
    );
    device.run(&["approve", uuid]).ok();
    assert_eq!(
        authy(&service, &["status", uuid], None)["status"],
        "approved"
    );

    let callback = sink
        .next(Duration::from_secs(20))
        .expect("the callback arrives");
    assert_eq!(callback.method, "POST");
    let input = json!({
        "signature": callback.header("x-authy-signature"),
        "nonce": callback.header("x-authy-signature-nonce"),
        "method": "POST",
        "url": callback_url,
        "body": String::from_utf8(callback.body.clone()).unwrap(),
    });
    assert_eq!(
        authy(&service, &["verify-callback"], Some(&input.to_string()))["valid"],
        true,
        "the library's own validator accepts our callback signature"
    );
    let mut forged = input;
    forged["body"] = json!(
        String::from_utf8(callback.body)
            .unwrap()
            .replace("approved", "denied")
    );
    assert_eq!(
        authy(&service, &["verify-callback"], Some(&forged.to_string()))["valid"],
        false,
        "and refuses a tampered one"
    );

    let bad = authy(&service, &["bad-key"], None);
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["errors"]["message"], "Invalid API key");
}

/// One-time codes: a code printed by `assent device code` passes the library's
/// `tokens.verify`; a wrong one, the same one again, and one from two steps ago do not.
#[test]
fn the_authy_python_library_verifies_codes_printed_by_the_headless_device() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let service = AssentService::start(dir.path(), &[]);
    let setup = authy(&service, &["setup"], None);
    let user = setup["user"].as_u64().unwrap().to_string();
    let device = HeadlessDevice::enroll(dir.path(), setup["enroll_url"].as_str().unwrap());

    let app = authy(&service, &["app", &user], None);
    assert_eq!(app["ok"], true, "apps.fetch answers: {app}");
    assert_eq!(app["app"]["sms_enabled"], false);
    assert_eq!(app["sms_ok"], false, "request_sms is refused: {app}");
    assert_eq!(app["sms_error_code"], "60115");
    assert!(
        app["sms_errors"]["message"]
            .as_str()
            .unwrap()
            .contains("does not send SMS"),
        "and says so plainly: {app}"
    );

    let printed = device.run(&["code", "--json"]).ok().json();
    let code = printed["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 6, "six digits by default: {printed}");
    assert!((1..=30).contains(&printed["seconds_left"].as_i64().unwrap()));

    verify_accepts_only_the_right_code_once(&service, &user, &code, &expired_code(&device));
}

/// `users.generate_qr`: the QR code the library gets back scans (with an independent decoder) to
/// an `otpauth://` URI; a code computed from it passes the library's `tokens.verify` once, and a
/// wrong, a reused and an expired one do not; `stats.fetch` counts the accepted code. The person
/// has no Assent device at all.
#[test]
fn the_authy_python_library_gets_a_qr_code_for_another_authenticator_app() {
    let dir = tempfile::tempdir().unwrap();
    let service = AssentService::start(dir.path(), &[]);
    let setup = authy(&service, &["setup"], None);
    let user = setup["user"].as_u64().unwrap().to_string();

    let qr = authy(&service, &["qr", &user, "320", "Ana at Acme"], None);
    assert_eq!(qr["ok"], true, "generate_qr answers 200: {}", qr["errors"]);
    assert_eq!(qr["cache_control"], "no-store");
    assert_eq!(qr["content"]["label"], "Ana at Acme");
    assert_eq!(qr["content"]["issuer"], "Acme Bank");
    let app = AuthenticatorApp::scan(qr["content"]["qr_code"].as_str().unwrap());
    assert_eq!(
        (app.issuer.as_str(), app.label.as_str()),
        ("Acme Bank", "Ana at Acme")
    );
    assert!(app.image_width <= 320, "about the size asked");

    let bad = authy(&service, &["qr", &user, "5000", "Ana"], None);
    assert_eq!(bad["ok"], false, "a size out of range is refused");
    assert_eq!(bad["content"]["error_code"], "60004");

    let now = unix_now();
    let code = app.code_at(now);
    verify_accepts_only_the_right_code_once(&service, &user, &code, &app.code_at(now - 70));

    let stats = authy(&service, &["stats"], None);
    assert_eq!(stats["ok"], true, "stats.fetch answers: {stats}");
    assert_eq!(stats["content"]["message"], "Monthly statistics.");
    let month = stats["content"]["stats"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(month["codes_accepted_count"], 1, "{month}");
    assert_eq!(month["users_count"], 1, "{month}");
}

/// The library's `tokens.verify` for `user`: `code` is accepted once; a wrong code, `code`
/// again and `expired` (a code from over a minute ago) are refused as Authy refuses them.
fn verify_accepts_only_the_right_code_once(
    service: &AssentService,
    user: &str,
    code: &str,
    expired: &str,
) {
    let refused = authy(
        service,
        &["verify", user, &assent_testkit::another_code(code)],
        None,
    );
    assert_eq!(refused["ok"], false, "a wrong code is refused: {refused}");
    assert_eq!(refused["status"], 401);
    assert_eq!(refused["error_code"], "60020");

    let accepted = authy(service, &["verify", user, code], None);
    assert_eq!(
        accepted["ok"], true,
        "the right code is accepted: {accepted}"
    );

    let replayed = authy(service, &["verify", user, code], None);
    assert_eq!(
        replayed["ok"], false,
        "the same code is refused the second time"
    );
    assert_eq!(
        replayed["errors"]["message"],
        "Token is invalid. Token was used recently"
    );

    let refused = authy(service, &["verify", user, expired], None);
    assert_eq!(
        refused["ok"], false,
        "a code from over a minute ago has expired"
    );
    assert_eq!(refused["error_code"], "60020");
}

/// Unix seconds now.
pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The code `device` showed 70 seconds ago (`assent device code --at`): outside the window.
pub(crate) fn expired_code(device: &HeadlessDevice) -> String {
    let at = (unix_now() - 70).to_string();
    let printed = device.run(&["code", "--json", "--at", &at]).ok().json();
    printed["code"].as_str().expect("a code").to_owned()
}
