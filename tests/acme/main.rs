//! The Acme Bank sample in headless Debian Chromium (through chromedriver), against a real
//! `assent serve`, with headless devices answering: two-factor login (approve, deny, expiry),
//! passwordless sign-in, the two-person wire, and a forged callback.

use std::time::Duration;

use assent_testkit::browser::Browser;
use assent_testkit::process::{
    AcmeBank, AssentService, HeadlessDevice, LogsOnFailure, artifacts_dir, require_session,
};
use serde_json::{Value, json};

/// The id of the one request waiting for `device`.
fn pending_id(device: &HeadlessDevice) -> String {
    assent_testkit::process::wait_for("a request on the device", Duration::from_secs(20), || {
        let pending = device.run(&["pending", "--json"]).ok().json();
        pending
            .as_array()
            .and_then(|p| p.first())
            .map(|r| r["id"].as_str().unwrap().to_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acme_bank_flows_in_a_real_browser() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let bank_url = AcmeBank::reserve();
    let service = AssentService::start(
        dir.path(),
        &[
            "--allow-local-logo",
            "--logo-url",
            &format!("{bank_url}/static/logo.png"),
            "--callback-url",
            &format!("{bank_url}/assent/callback"),
        ],
    );
    let bank = AcmeBank::start(dir.path(), &bank_url, &service, 4);
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), bank.log.clone()]);
    // The bank registered its customers by e-mail; the same e-mail gives the same Assent user.
    let ana_id = service.user("ana@acme.example");
    let ana = HeadlessDevice::enroll(dir.path(), &service.enroll_link(ana_id));
    let bo = HeadlessDevice::enroll(
        dir.path(),
        &service.enroll_link(service.user("bo@acme.example")),
    );
    let browser = Browser::start(&bank_url, artifacts_dir("acme-bank")).await;

    // Two-factor login: approved.
    browser.goto("/").await;
    browser.shot("01-home").await;
    browser.goto("/login").await;
    browser.fill("username", "ana").await;
    browser.fill("password", "demo").await;
    browser.shot("02-login").await;
    browser.click_id("sign-in").await;
    browser.wait_for("[data-testid=waiting]", "Waiting").await;
    browser.shot("03-login-waiting").await;
    let id = pending_id(&ana);
    let shown = ana.run(&["show", &id, "--json"]).ok().json();
    assert_eq!(shown["message"], "Sign in to Acme Bank?");
    assert_eq!(shown["kind"], "sign_in", "the bank says it is a sign-in");
    assert_eq!(
        shown["account_name"], "Ana Ferreira",
        "named as the bank registered her"
    );
    assert_eq!(
        shown["details"][0],
        json!({"label": "Username", "value": "ana"})
    );
    assert!(
        shown["requester"]["ip"].as_str().is_some(),
        "the browser's IP is shown to the approver: {shown}"
    );
    ana.run(&["approve", &id]).ok();
    browser
        .wait_for("[data-testid=welcome]", "Welcome, Ana Ferreira")
        .await;
    browser.shot("04-account").await;

    // "Add a desktop": the link and its phrase, the phrase being the link's own.
    browser.goto("/enroll").await;
    let link = browser.text("[data-testid=enroll-link]").await;
    let phrase = browser.text("[data-testid=enroll-phrase]").await;
    assert_eq!(
        phrase,
        assent_protocol::enroll::EnrollLink::parse(&link)
            .expect("the page shows a well-formed link")
            .phrase(),
        "the page shows the phrase of the link it shows"
    );
    browser.shot("04-add-a-desktop").await;

    // Two-factor login: denied ("this wasn't me").
    browser.sign_out().await;
    browser.goto("/login").await;
    browser.fill("username", "ana").await;
    browser.fill("password", "demo").await;
    browser.click_id("sign-in").await;
    browser.wait_for("[data-testid=waiting]", "Waiting").await;
    ana.run(&["deny", &pending_id(&ana), "--reason", "not-me"])
        .ok();
    browser
        .wait_for("[data-testid=outcome]", "you said it wasn't you")
        .await;
    browser.shot("05-login-denied").await;

    // "This wasn't me" froze new requests from the bank to Ana: the bank says so in her terms,
    // and nothing reaches her device until the operator lifts the freeze.
    browser.goto("/login").await;
    browser.fill("username", "ana").await;
    browser.fill("password", "demo").await;
    browser.click_id("sign-in").await;
    browser
        .wait_for("[data-testid=outcome]", "a recent request was not you")
        .await;
    browser.shot("05-login-paused").await;
    assert_eq!(ana.run(&["pending", "--json"]).ok().json(), json!([]));
    service
        .assent(&[
            "app",
            "unfreeze",
            &service.app_id,
            "--user",
            &ana_id.to_string(),
            "--database",
            &service.database,
        ])
        .ok();

    // A wrong password never reaches the device.
    browser.goto("/login").await;
    browser.fill("username", "ana").await;
    browser.fill("password", "nope").await;
    browser.click_id("sign-in").await;
    assert!(
        browser
            .text("[data-testid=error]")
            .await
            .contains("Wrong username or password")
    );
    assert_eq!(ana.run(&["pending", "--json"]).ok().json(), json!([]));

    // Two-factor login: expired.
    browser.fill("username", "ana").await;
    browser.fill("password", "demo").await;
    browser.click_id("sign-in").await;
    browser.wait_for("[data-testid=outcome]", "expired").await;
    browser.shot("06-login-expired").await;

    // Passwordless: the desktop approval (with number matching) is the whole login.
    browser.goto("/passwordless").await;
    browser.fill("username", "ana").await;
    browser.click_id("sign-in").await;
    let code = browser.text("[data-testid=code]").await;
    browser.shot("07-passwordless-waiting").await;
    ana.run(&["approve", &pending_id(&ana), "--code", &code])
        .ok();
    browser
        .wait_for("[data-testid=welcome]", "Welcome, Ana Ferreira")
        .await;

    // The wire: waits for the second approver, completes only after both.
    browser.click_id("wire").await;
    let code = browser.text("[data-testid=code]").await;
    let wire_url = browser.client.current_url().await.unwrap().to_string();
    let flow = wire_url.rsplit('/').next().unwrap().to_owned();
    browser.shot("08-wire-waiting").await;
    let wire = pending_id(&ana);
    let shown = ana.run(&["show", &wire, "--json"]).ok().json();
    assert_eq!(
        (shown["kind"].as_str(), shown["action_label"].as_str()),
        (Some("action"), Some("Release $12,500")),
        "the wire is an action with the Approve button's words: {shown}"
    );
    ana.run(&["approve", &wire, "--code", &code]).ok();
    let seen_by_bo = bo.run(&["show", &wire, "--json"]).ok().json();
    assert_eq!(
        seen_by_bo["approver_states"],
        json!([
            {"name": "Ana Ferreira", "state": "approved", "is_me": false, "is_initiator": true},
            {"name": "Bo Lindqvist", "state": "waiting", "is_me": true, "is_initiator": false},
        ]),
        "the second approver sees who asked and that she approved"
    );
    browser
        .wait_for("[data-approver='Ana Ferreira']", "approved")
        .await;
    browser
        .wait_for("[data-approver='Bo Lindqvist']", "waiting")
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        browser.client.current_url().await.unwrap().to_string(),
        wire_url,
        "still waiting for the second approver"
    );
    assert_eq!(service.status(&wire)["status"], "pending");
    browser.shot("09-wire-one-of-two").await;

    // A forged callback claiming approval is refused and changes nothing.
    let forged = json!({"uuid": wire, "status": "approved", "approval_request": {"transaction": {"reason": ""}}});
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{bank_url}/assent/callback"))
        .header(
            "X-Authy-Signature",
            "dGhpcyBpcyBub3QgYSBzaWduYXR1cmUgYXQgYWxsIQ==",
        )
        .header("X-Authy-Signature-Nonce", assent_e2e_now().to_string())
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a forged callback is rejected");
    let verified: Value = http
        .get(format!("{bank_url}/callbacks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !verified.to_string().contains(&wire),
        "the forged callback is not recorded: {verified}"
    );
    browser.goto(&format!("/flows/{flow}/finish")).await;
    browser.wait_for("[data-testid=waiting]", "Waiting").await;
    assert_eq!(
        service.status(&wire)["status"],
        "pending",
        "nothing changed"
    );

    bo.run(&["approve", &pending_id(&bo)]).ok();
    browser
        .wait_for("[data-testid=outcome]", "Both approvers approved")
        .await;
    browser.shot("10-wire-sent").await;

    // Real callbacks arrived and verified.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let verified: Value = http
            .get(format!("{bank_url}/callbacks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if verified
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["uuid"] == wire.as_str() && c["status"] == "approved")
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the wire's callback arrives and verifies: {verified}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = browser.client.close().await;
}

fn assent_e2e_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
