//! A headless Debian Chromium driven through chromedriver (WebDriver), for the tests that use a
//! relying party's pages as a person would (the Acme Bank sample).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::process::{KillGroupOnDrop, free_port};

/// Chromium under chromedriver; the driver's process group ends with it.
#[derive(Debug)]
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    base: String,
    shots: PathBuf,
    _driver: KillGroupOnDrop,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose relative paths go to `base`; screenshots
    /// go to `shots`.
    pub async fn start(base: &str, shots: PathBuf) -> Browser {
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
                    shots,
                    _driver: driver,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }

    /// Opens `path` under the base URL.
    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// Waits for an element: a page's form can appear after `goto` returns on a loaded machine.
    pub async fn element(&self, id: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("element #{id} appears within 30 s: {e}"))
    }

    /// Types `text` into the field with this id (emptied first).
    pub async fn fill(&self, id: &str, text: &str) {
        let field = self.element(id).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// Clicks the element with this id.
    pub async fn click_id(&self, id: &str) {
        self.element(id).await.click().await.unwrap();
    }

    /// The text of the first element matching `css` (waiting for it).
    pub async fn text(&self, css: &str) -> String {
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
    pub async fn wait_for(&self, css: &str, expected: &str) {
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
    pub async fn sign_out(&self) {
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

    /// Saves a screenshot as `<shots>/<name>.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }
}
