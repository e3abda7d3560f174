//! A decision recorded, the callback receiver down, the service killed with SIGKILL: after a
//! restart the callback is delivered and no decision is lost.

use std::time::Duration;

use assent_testkit::process::{
    AssentService, CallbackSink, HeadlessDevice, free_port, require_session,
};

#[test]
fn a_killed_service_delivers_the_callback_after_restart() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    // The receiver's port is reserved but nothing listens there yet: deliveries are refused.
    let port = free_port();
    let callback_url = format!("http://127.0.0.1:{port}/hook");
    let mut service = AssentService::start(dir.path(), &["--callback-url", &callback_url]);
    let user = service.user("kill@example.com");
    let device = HeadlessDevice::enroll(dir.path(), &service.enroll_link(user));
    let uuid = service.send(user, "Survive this");
    device.run(&["approve", &uuid]).ok();
    assert_eq!(
        service.status(&uuid)["status"],
        "approved",
        "the decision is recorded"
    );
    // Let at least one delivery attempt fail, so the callback is in the outbox with a backoff.
    assent_testkit::process::wait_for("a failed delivery attempt", Duration::from_secs(20), || {
        service
            .log_text()
            .contains("callback delivery failed")
            .then_some(())
    });

    service.signal("-KILL");
    let sink = CallbackSink::bind(port);
    service.restart();

    let callback = sink
        .next(Duration::from_secs(30))
        .expect("the callback is delivered after the restart");
    let payload: serde_json::Value = serde_json::from_slice(&callback.body).unwrap();
    assert_eq!(payload["uuid"], uuid.as_str());
    assert_eq!(payload["status"], "approved");
    let status = service.status(&uuid);
    assert_eq!(status["status"], "approved", "no decision was lost");
    let approvals = status["approvers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["decision"] == "approve")
        .count();
    assert_eq!(approvals, 1);
    let body_file = dir.path().join("callback.json");
    std::fs::write(&body_file, &callback.body).unwrap();
    let verify = assent_testkit::process::assent(
        &[
            "callback",
            "verify",
            "--api-key",
            &service.api_key,
            "--url",
            &callback_url,
            "--method",
            "POST",
            "--nonce",
            callback.header("x-authy-signature-nonce"),
            "--signature",
            callback.header("x-authy-signature"),
            "--body-file",
            body_file.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(
        verify.code, 0,
        "the delivered callback is signed correctly: {verify:?}"
    );
    assert!(
        sink.next(Duration::from_secs(3)).is_none(),
        "delivered once the receiver answers"
    );
}
