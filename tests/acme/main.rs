//! The Acme Bank sample in headless Debian Chromium (through chromedriver), against a real
//! `assent serve`, with headless devices answering: two-factor login (approve, deny, expiry),
//! passwordless sign-in, the two-person wire, and a forged callback.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use assent_testkit::process::{
    AssentService, HeadlessDevice, KillGroupOnDrop, LogsOnFailure, artifacts_dir, built_binary,
    free_port, require_session,
};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

struct Browser {
    client: Client,
    base: String,
    _driver: KillGroupOnDrop,
}

impl Browser {
    async fn start(base: &str) -> Browser {
        let port = free_port();
        let driver = KillGroupOnDrop::spawn(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("chromedriver is installed (scripts/test installs chromium-driver)");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync",
                         "--window-size=900,900", format!("--user-data-dir={}", tempfile::tempdir().unwrap().keep().display())],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            if let Ok(client) = ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                return Browser {
                    client,
                    base: base.to_owned(),
                    _driver: driver,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }

    async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// Waits for an element: a page's form can appear after `goto` returns on a loaded machine.
    async fn element(&self, id: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("element #{id} appears within 30 s: {e}"))
    }

    async fn fill(&self, id: &str, text: &str) {
        let field = self.element(id).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click_id(&self, id: &str) {
        self.element(id).await.click().await.unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Waits until the page at `path` shows `css` containing `expected`.
    async fn wait_for(&self, css: &str, expected: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                last = element.text().await.unwrap_or_default();
                if last.contains(expected) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "{css} never showed {expected:?} (last: {last:?}, url: {:?})",
            self.client.current_url().await.map(|u| u.to_string())
        );
    }

    /// Clicks "Sign out" and waits until its redirect has landed on the home page: a `goto`
    /// issued while the sign-out POST is still in flight is overtaken by its redirect, and the
    /// next page's form never appears.
    async fn sign_out(&self) {
        self.client
            .find(Locator::Css("form[action='/logout'] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let home = self
                .client
                .current_url()
                .await
                .is_ok_and(|u| u.path() == "/");
            let signed_out = self
                .client
                .find(Locator::Css("form[action='/logout']"))
                .await
                .is_err();
            if home && signed_out {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "signing out never landed on the home page"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(artifacts_dir("acme-bank").join(format!("{name}.png")), png).unwrap();
    }
}

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
    let bank_port = free_port();
    let bank_url = format!("http://127.0.0.1:{bank_port}");
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
    let bank_log = dir.path().join("acme-bank.log");
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), bank_log.clone()]);
    let mut bank = KillGroupOnDrop::spawn(
        Command::new(built_binary("acme-bank"))
            .env("ACME_ASSENT_URL", &service.url)
            .env("ACME_API_KEY", &service.api_key)
            .env("ACME_LISTEN", format!("127.0.0.1:{bank_port}"))
            .env("ACME_SIGN_IN_SECONDS", "4")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&bank_log).unwrap()),
    )
    .unwrap();
    let mut line = String::new();
    BufReader::new(bank.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("Acme Bank on "), "the bank starts: {line}");
    // The bank registered its customers by e-mail; the same e-mail gives the same Assent user.
    let ana_id = service.user("ana@acme.example");
    let ana = HeadlessDevice::enroll(dir.path(), &service.enroll_link(ana_id));
    let bo = HeadlessDevice::enroll(
        dir.path(),
        &service.enroll_link(service.user("bo@acme.example")),
    );
    let browser = Browser::start(&bank_url).await;

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
