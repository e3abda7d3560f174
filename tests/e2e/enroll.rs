//! Acceptance 3 of issue 15: the enrollment preview and phrase the app shows match what Acme
//! Bank's page shows. A person signs in to the Acme Bank sample in headless Chromium, opens "Add
//! a desktop", pastes the link into the desktop app (under WebDriver) and finds the same phrase,
//! the service's host and their account; they enroll, and the desktop then approves their next
//! sign-in.

use std::time::Duration;

use assent_protocol::enroll::EnrollLink;
use assent_testkit::browser::Browser;
use assent_testkit::process::{
    AcmeBank, AssentService, HeadlessDevice, LogsOnFailure, artifacts_dir, require_session,
    wait_for,
};

use crate::driver::AppSession;

/// The id of the one request waiting for `device`.
fn pending_id(device: &HeadlessDevice) -> String {
    wait_for("a request on the device", Duration::from_secs(20), || {
        let pending = device.run(&["pending", "--json"]).ok().json();
        pending
            .as_array()
            .and_then(|p| p.first())
            .map(|r| r["id"].as_str().unwrap().to_owned())
    })
}

/// Signs in to the bank as `username`, approving on `device`.
async fn sign_in(browser: &Browser, username: &str, device: &HeadlessDevice) {
    browser.goto("/login").await;
    browser.fill("username", username).await;
    browser.fill("password", "demo").await;
    browser.click_id("sign-in").await;
    browser.wait_for("[data-testid=waiting]", "Waiting").await;
    device.run(&["approve", &pending_id(device)]).ok();
    browser
        .wait_for("[data-testid=welcome]", "Welcome, Ana Ferreira")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_shows_the_phrase_host_and_account_of_acme_banks_enroll_page() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("e2e-enroll");
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    let bank_url = AcmeBank::reserve();
    let service = AssentService::start(
        dir.path(),
        &[
            "--allow-local-logo",
            "--logo-url",
            &format!("{bank_url}/static/logo.png"),
        ],
    );
    let bank = AcmeBank::start(dir.path(), &bank_url, &service, 120);
    let (mut app, _data_dir, _keyring, app_log) =
        AppSession::start_fresh(dir.path(), shots.clone()).await;
    let _logs = LogsOnFailure(vec![
        service.log_path().to_path_buf(),
        bank.log.clone(),
        app_log,
    ]);
    // Ana already approves on a headless device: that is how she signs in to add her desktop.
    let ana = service.user("ana@acme.example");
    let phone = HeadlessDevice::enroll(dir.path(), &service.enroll_link(ana));

    let browser = Browser::start(&bank.url, shots.clone()).await;
    sign_in(&browser, "ana", &phone).await;
    browser.goto("/enroll").await;
    let link = browser.text("[data-testid=enroll-link]").await;
    let page_phrase = browser.text("[data-testid=enroll-phrase]").await;
    browser.shot("bank-enroll-page").await;
    let parsed = EnrollLink::parse(&link).expect("the page shows a well-formed link");
    assert_eq!(
        page_phrase.split(' ').count(),
        5,
        "the page shows five words: {page_phrase:?}"
    );

    app.el("enroll-input").await.send_keys(&link).await.unwrap();
    app.click("enroll-button").await;
    app.wait_text("preview-phrase", &page_phrase).await;
    assert_eq!(
        app.text("preview-phrase").await,
        page_phrase,
        "the app's phrase is the one Acme Bank's page shows"
    );
    assert_eq!(
        app.text("preview-host").await,
        parsed.host(),
        "the app shows the host of the service in the page's link"
    );
    assert_eq!(
        app.text("preview-host").await,
        service.url.trim_start_matches("http://"),
        "which is the service Acme Bank uses"
    );
    assert_eq!(
        app.text("preview-account").await,
        "ana@acme.example",
        "the account is the one Acme Bank registered for the signed-in customer"
    );
    assert_eq!(app.text("preview-app").await, "Acme Bank");
    assert!(
        app.all("preview-warning").await.is_empty(),
        "loopback http is the demo: no warning"
    );
    app.shot("enroll-preview-matches-bank").await;

    // Previewing used nothing up: the link enrolls, and the desktop approves Ana's next sign-in.
    app.click("preview-enroll").await;
    app.wait_text("flash", "This computer now approves for Acme Bank.")
        .await;
    app.wait_text("connection", "Connected").await;
    browser.sign_out().await;
    browser.goto("/login").await;
    browser.fill("username", "ana").await;
    browser.fill("password", "demo").await;
    browser.click_id("sign-in").await;
    browser.wait_for("[data-testid=waiting]", "Waiting").await;
    app.wait_text("message", "Sign in to Acme Bank?").await;
    app.shot("sign-in-on-the-new-desktop").await;
    app.click("approve").await;
    browser
        .wait_for("[data-testid=welcome]", "Welcome, Ana Ferreira")
        .await;
    browser.shot("bank-signed-in-by-the-desktop").await;
    let _ = browser.client.close().await;
}
