//! A backend written for Authy OneTouch, using PyPI `authy` 2.2.6 unchanged but for its base URL.

use std::process::Command;
use std::time::Duration;

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
