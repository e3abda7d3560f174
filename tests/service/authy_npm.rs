//! A backend written for Authy with the npm `authy` 1.4.0 client, unchanged but for its base URL
//! (it sends the API key only in the query and bodies as forms). Installed by scripts/test
//! (`ensure_node_tools`, from tests/service/authy_npm/package-lock.json).

use std::path::PathBuf;
use std::process::Command;

use assent_testkit::AuthenticatorApp;
use assent_testkit::process::{AssentService, HeadlessDevice, require_session};
use serde_json::Value;

use crate::authy_client::{expired_code, unix_now};

fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("service/authy_npm")
}

/// Runs one step of `authy_client.js` against `service`.
fn authy_npm(service: &AssentService, args: &[&str]) -> Value {
    let dir = client_dir();
    assert!(
        dir.join("node_modules/authy/package.json").is_file(),
        "the npm authy client is not installed in {}: run scripts/test (ensure_node_tools installs it)",
        dir.display()
    );
    let output = Command::new("node")
        .arg(dir.join("authy_client.js"))
        .args(args)
        .current_dir(&dir)
        .env("ASSENT_URL", &service.url)
        .env("ASSENT_API_KEY", &service.api_key)
        .output()
        .expect("node runs (scripts/test installs Node.js)");
    assert!(
        output.status.success(),
        "npm authy client step {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "step {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// The installed client is the version the test is about.
#[test]
fn the_installed_npm_client_is_authy_1_4_0() {
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(client_dir().join("node_modules/authy/package.json"))
            .expect("scripts/test installs tests/service/authy_npm"),
    )
    .unwrap();
    assert_eq!(manifest["version"], "1.4.0");
}

/// One-time codes: a code printed by `assent device code` passes the npm client's `verify`; a
/// wrong one, the same one again, and one from over a minute ago do not; its `request_sms`, the
/// app details and the QR code for another authenticator app get the documented answers.
#[test]
fn the_authy_npm_library_verifies_codes_printed_by_the_headless_device() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let service = AssentService::start(dir.path(), &[]);
    let setup = authy_npm(&service, &["setup"]);
    let user = setup["user"].as_u64().expect("a user id").to_string();
    let device = HeadlessDevice::enroll(dir.path(), setup["enroll_url"].as_str().unwrap());

    let answers = authy_npm(&service, &["app", &user]);
    assert_eq!(answers["app"]["ok"], true, "app details answer: {answers}");
    assert_eq!(answers["app"]["body"]["app"]["name"], "Acme Bank");
    assert_eq!(answers["app"]["body"]["app"]["sms_enabled"], false);
    assert_eq!(
        answers["sms"]["ok"], false,
        "request_sms is refused: {answers}"
    );
    assert_eq!(answers["sms"]["error"]["error_code"], "60115");
    assert!(
        answers["sms"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not send SMS"),
        "and says so plainly: {answers}"
    );

    let printed = device.run(&["code", "--json"]).ok().json();
    let code = printed["code"].as_str().unwrap().to_owned();
    let refused = authy_npm(
        &service,
        &["verify", &user, &assent_testkit::another_code(&code)],
    );
    assert_eq!(refused["ok"], false, "a wrong code is refused: {refused}");
    assert_eq!(refused["error"]["error_code"], "60020");
    assert_eq!(refused["error"]["token"], "is invalid");

    let accepted = authy_npm(&service, &["verify", &user, &code]);
    assert_eq!(
        accepted["ok"], true,
        "the printed code is accepted: {accepted}"
    );
    assert_eq!(accepted["body"]["token"], "is valid");

    let replayed = authy_npm(&service, &["verify-force", &user, &code]);
    assert_eq!(
        replayed["ok"], false,
        "the same code is refused the second time (force=true changes nothing): {replayed}"
    );
    assert_eq!(
        replayed["error"]["message"],
        "Token is invalid. Token was used recently"
    );

    let refused = authy_npm(&service, &["verify", &user, &expired_code(&device)]);
    assert_eq!(
        refused["ok"], false,
        "a code from over a minute ago has expired: {refused}"
    );
    assert_eq!(refused["error"]["error_code"], "60020");

    // The client has no generate_qr; its own request call (a form body, the key in the query)
    // gets the QR code, and `verify` accepts the other app's code.
    let qr = authy_npm(&service, &["qr", &user, "300", "Ana at Acme"]);
    assert_eq!(
        qr["ok"], true,
        "the secret endpoint takes the npm client's form: {}",
        qr["error"]
    );
    let app = AuthenticatorApp::scan(qr["body"]["qr_code"].as_str().unwrap());
    assert_eq!(
        (app.issuer.as_str(), app.label.as_str()),
        ("Acme Bank", "Ana at Acme")
    );
    let accepted = authy_npm(&service, &["verify", &user, &app.code_at(unix_now())]);
    assert_eq!(
        accepted["ok"], true,
        "the other app's code is accepted: {}",
        accepted["error"]
    );

    let bad = authy_npm(&service, &["bad-key", &user]);
    assert_eq!(bad["ok"], false, "a wrong API key is refused: {bad}");
    assert_eq!(bad["error"]["error_code"], "60001");
}
