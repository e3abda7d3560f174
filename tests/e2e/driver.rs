//! A WebDriver session on the desktop app through `tauri-driver`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use assent_testkit::process::{KillGroupOnDrop, built_binary, free_ports};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// The app under WebDriver, with screenshots numbered in order.
pub struct AppSession {
    pub client: Client,
    shots: PathBuf,
    step: usize,
    _driver: KillGroupOnDrop,
}

fn tauri_driver() -> PathBuf {
    if let Ok(path) = std::env::var("TAURI_DRIVER") {
        return PathBuf::from(path);
    }
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let path = home.join("bin/tauri-driver");
    assert!(
        path.is_file(),
        "tauri-driver is missing: scripts/test installs it (cargo install tauri-driver --locked)"
    );
    path
}

impl AppSession {
    /// Starts tauri-driver and the built app with `env`.
    pub async fn start(env: &[(&str, &str)], shots: PathBuf, log: &std::path::Path) -> AppSession {
        Self::start_app(&built_binary("assent-desktop"), env, shots, log).await
    }

    /// Starts tauri-driver and `application` (an installed app, an AppImage) with `env`.
    pub async fn start_app(
        application: &std::path::Path,
        env: &[(&str, &str)],
        shots: PathBuf,
        log: &std::path::Path,
    ) -> AppSession {
        let [port, native] = free_ports();
        let log = std::fs::File::create(log).unwrap();
        let mut command = Command::new(tauri_driver());
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let driver = KillGroupOnDrop::spawn(&mut command).expect("start tauri-driver");
        let url = format!("http://127.0.0.1:{port}");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("tauri:options".into(), json!({"application": application}));
        capabilities.insert("browserName".into(), json!("wry"));
        let mut last_error = String::new();
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return AppSession {
                        client,
                        shots,
                        step: 0,
                        _driver: driver,
                    };
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("no WebDriver session: {last_error}");
    }

    /// Starts the app on a fresh data directory (`dir/desktop`) with a keychain namespace of its
    /// own, logging to `shots/desktop.log`; returns it with the data directory, the namespace and
    /// the log.
    pub async fn start_fresh(
        dir: &std::path::Path,
        shots: PathBuf,
    ) -> (AppSession, PathBuf, String, PathBuf) {
        let data_dir = dir.join("desktop");
        let keyring = format!("assent-test-{}", uuid::Uuid::new_v4());
        let log = shots.join("desktop.log");
        let app = Self::start(
            &[
                ("ASSENT_DATA_DIR", data_dir.to_str().unwrap()),
                ("ASSENT_KEYRING_SERVICE", &keyring),
                ("ASSENT_LOG", "info"),
            ],
            shots,
            &log,
        )
        .await;
        (app, data_dir, keyring, log)
    }

    /// Enrolls from an `assent://enroll` link on the onboarding screen, as a person pastes it.
    pub async fn enroll(&self, link: &str, app_name: &str) {
        self.el("enroll-input").await.send_keys(link).await.unwrap();
        self.click("enroll-button").await;
        self.click("preview-enroll").await;
        self.wait_text(
            "flash",
            &format!("This computer now approves for {app_name}."),
        )
        .await;
    }

    fn css(testid: &str) -> String {
        format!("[data-testid=\"{testid}\"]")
    }

    /// Waits for an element by `data-testid`.
    pub async fn el(&self, testid: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(&Self::css(testid)))
            .await
            .unwrap_or_else(|e| panic!("no element [data-testid={testid}] appeared: {e}"))
    }

    /// All elements with a `data-testid`. A list the app re-renders while WebKit collects it
    /// answers "stale element"; that is asked again (for up to 5 s), anything else fails.
    pub async fn all(&self, testid: &str) -> Vec<Element> {
        let mut tries = 0;
        loop {
            match self.client.find_all(Locator::Css(&Self::css(testid))).await {
                Ok(found) => return found,
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference
                        && tries < 50 =>
                {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("finding [data-testid={testid}]: {e}"),
            }
        }
    }

    /// Clicks an element by `data-testid`.
    pub async fn click(&self, testid: &str) {
        self.el(testid)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {testid}: {e}"));
    }

    /// The text of an element by `data-testid`.
    pub async fn text(&self, testid: &str) -> String {
        self.el(testid).await.text().await.unwrap()
    }

    /// Waits until the element's text contains `expected` (30 s at most).
    pub async fn wait_text(&self, testid: &str, expected: &str) {
        self.wait_text_within(testid, expected, Duration::from_secs(30))
            .await;
    }

    /// Waits until the element's text contains `expected`, `wait` at most.
    pub async fn wait_text_within(&self, testid: &str, expected: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = String::new();
        while tokio::time::Instant::now() < deadline {
            if let Ok(element) = self.client.find(Locator::Css(&Self::css(testid))).await {
                seen = element.text().await.unwrap_or_default();
                if seen.contains(expected) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("[data-testid={testid}] never contained {expected:?} (last seen {seen:?})");
    }

    /// The text of the header's connection badge (the worst of the accounts' links).
    pub async fn header_connection(&self) -> Result<String, fantoccini::error::CmdError> {
        self.client
            .find(Locator::Css("header [data-testid=\"connection\"]"))
            .await?
            .text()
            .await
    }

    /// Saves a screenshot of the app as the next numbered step.
    pub async fn shot(&mut self, name: &str) {
        self.step += 1;
        // WebKit hands WebDriver the last composited frame: wait two animation frames so the
        // shot shows what the checks just read, not the screen before it.
        let _ = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await;
        let png = self
            .client
            .screenshot()
            .await
            .expect("WebDriver screenshot");
        std::fs::write(self.shots.join(format!("{:02}-{name}.png", self.step)), png).unwrap();
    }
}
