//! A real `assent serve` process and helpers to run `assent` commands against it.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// The `assent` binary under test.
pub fn assent_bin() -> &'static str {
    env!("CARGO_BIN_EXE_assent")
}

/// A service process on a free loopback port, with one app, over a temporary database.
pub struct Service {
    pub url: String,
    pub api_key: String,
    pub app_id: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Service {
    pub fn start() -> Service {
        Self::start_with(&[])
    }

    pub fn start_with(app_args: &[&str]) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("assent.db").display());
        let mut create = vec![
            "app",
            "create",
            "--name",
            "Acme Bank",
            "--logo-url",
            "https://acme.example/logo.png",
            "--json",
            "--database",
            &db,
        ];
        create.extend_from_slice(app_args);
        let out = Command::new(assent_bin()).args(&create).output().unwrap();
        assert!(
            out.status.success(),
            "app create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let app: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut service = Service {
            url: String::new(),
            api_key: app["api_key"].as_str().unwrap().to_owned(),
            app_id: app["id"].as_str().unwrap().to_owned(),
            child: Command::new(assent_bin())
                .args(["serve", "--listen", "127.0.0.1:0", "--database", &db])
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
                .spawn()
                .unwrap(),
            dir,
        };
        let mut line = String::new();
        BufReader::new(service.child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        service.url = line
            .trim()
            .strip_prefix("listening on ")
            .expect("serve prints its URL")
            .to_owned();
        service
    }

    /// Runs `assent` with this service and API key in the environment.
    pub fn assent(&self, args: &[&str]) -> Run {
        run(
            args,
            &[
                ("ASSENT_SERVER", &self.url),
                ("ASSENT_API_KEY", &self.api_key),
            ],
        )
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The result of one `assent` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "the command should succeed: {self:?}");
        self
    }
}

/// Runs `assent` with extra environment.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(assent_bin());
    command
        .args(args)
        .env_remove("ASSENT_API_KEY")
        .env_remove("ASSENT_SERVER")
        .env("ASSENT_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    to_run(&command.output().unwrap())
}

fn to_run(out: &Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A headless device: `assent device ...` with its own data directory and keychain namespace.
pub struct Device {
    pub data_dir: PathBuf,
    pub keyring_service: String,
}

impl Device {
    pub fn new(dir: &Path) -> Device {
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "device commands use the real OS keychain: run through scripts/session (scripts/test does)"
        );
        Device {
            data_dir: dir.join(format!("device-{}", uuid::Uuid::new_v4())),
            keyring_service: format!("assent-test-{}", uuid::Uuid::new_v4()),
        }
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let mut full = vec!["device"];
        full.extend_from_slice(args);
        run(
            &full,
            &[
                ("ASSENT_DATA_DIR", self.data_dir.to_str().unwrap()),
                ("ASSENT_KEYRING_SERVICE", &self.keyring_service),
            ],
        )
    }

    /// Starts `assent device watch --json` in the background.
    pub fn watch(&self) -> Child {
        self.watch_with(&[])
    }

    /// Starts `assent device watch --json` in the background with extra environment.
    pub fn watch_with(&self, env: &[(&str, &str)]) -> Child {
        let mut command = Command::new(assent_bin());
        command
            .args(["device", "watch", "--json"])
            .env("ASSENT_DATA_DIR", &self.data_dir)
            .env("ASSENT_KEYRING_SERVICE", &self.keyring_service)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            command.env(k, v);
        }
        command.spawn().unwrap()
    }
}

/// A new user and a fresh enrollment link for them (`assent enroll-link --json`).
pub fn user_with_link(service: &Service, email: &str) -> (u64, Value) {
    let user = service
        .assent(&["user", "add", "--email", email, "--json"])
        .ok()
        .json()["id"]
        .as_u64()
        .unwrap();
    let link = service
        .assent(&["enroll-link", "--user", &user.to_string(), "--json"])
        .ok()
        .json();
    (user, link)
}

/// A user with a device enrolled through `assent enroll-link` and `assent device enroll`.
pub fn enrolled(service: &Service, email: &str) -> (u64, Device) {
    let (user, link) = user_with_link(service, email);
    let device = Device::new(service.dir.path());
    device
        .run(&[
            "enroll",
            link["enroll_url"].as_str().unwrap(),
            "--name",
            "ci",
        ])
        .ok();
    (user, device)
}
