//! Processes: the built binaries, a real `assent serve` process, headless devices
//! (`assent device ...`), a callback sink, artifacts, and the virtual display. Used by the
//! cross-process suites (`tests/`) and by the crates' own suites that run the binaries.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("crates/testkit is inside the workspace")
}

/// The cargo target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A binary built by `cargo build --workspace --bins` (the test command builds them first).
pub fn built_binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace binaries first (scripts/test does)",
        path.display()
    );
    path
}

/// The folder test artifacts (screenshots, logs) are written to: `target/test-artifacts/<suite>`.
pub fn artifacts_dir(suite: &str) -> PathBuf {
    let dir = target_dir().join("test-artifacts").join(suite);
    std::fs::create_dir_all(&dir).expect("create artifacts dir");
    dir
}

/// Panics with a clear message unless the test runs inside `scripts/session` (virtual display,
/// private D-Bus, Secret Service, notification daemon).
pub fn require_session() {
    assert!(
        std::env::var_os("DISPLAY").is_some()
            && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "this test needs a display and a D-Bus session: run it through scripts/session (scripts/test does)"
    );
}

/// The Python with the test packages (scripts/test's virtualenv: the Authy client, dbus-next).
pub fn test_python() -> String {
    std::env::var("ASSENT_TEST_PYTHON").unwrap_or_else(|_| {
        let venv = target_dir().join("tools/venv/bin/python");
        assert!(
            venv.is_file(),
            "this test needs scripts/test's Python virtualenv ({}); run scripts/test",
            venv.display()
        );
        venv.display().to_string()
    })
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct free loopback ports: all are bound at once, then released (two calls to
/// [`free_port`] may answer the same port).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// Kills a child process when dropped.
#[derive(Debug)]
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Records every `Notify` call on the session bus (what the notification daemon is handed) into
/// `log` until dropped.
pub fn watch_notifications(log: &Path) -> KillOnDrop {
    KillOnDrop(
        Command::new("dbus-monitor")
            .arg("interface='org.freedesktop.Notifications',member='Notify'")
            .stdout(std::fs::File::create(log).expect("the notification log can be created"))
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor is installed"),
    )
}

/// One `Notify` call seen on the session bus, with the id the daemon answered.
#[derive(Debug, Clone)]
pub struct NotifyCall {
    /// The id the daemon gave it (`None` until its answer is seen).
    pub id: Option<u32>,
    /// `app_name`.
    pub app_name: String,
    /// `app_icon`: an icon name or a file path.
    pub icon: String,
    /// `summary`.
    pub summary: String,
    /// `body` (markup).
    pub body: String,
    /// `actions`: identifier, label, identifier, label, ...
    pub actions: Vec<String>,
    /// `hints`, their values as JSON.
    pub hints: serde_json::Map<String, Value>,
    /// `expire_timeout`, in milliseconds (-1: the daemon's default).
    pub timeout: i64,
}

impl NotifyCall {
    /// The action identifiers (every other entry of `actions`).
    pub fn action_ids(&self) -> Vec<&str> {
        self.actions.iter().step_by(2).map(String::as_str).collect()
    }
}

/// Starts one of the session-bus helper scripts of `tests/desktop` (they print JSON lines into
/// `log`, `{"ready": true}` first) and returns once it says it is ready.
fn start_bus_script(
    script: &str,
    args: &[&str],
    stdin: Stdio,
    log: &Path,
    ready: &str,
) -> KillOnDrop {
    let child = KillOnDrop(
        Command::new(test_python())
            .arg(workspace_root().join("tests/desktop").join(script))
            .args(args)
            .stdin(stdin)
            .stdout(std::fs::File::create(log).expect("the script's log can be created"))
            .stderr(
                std::fs::File::create(log.with_extension("err"))
                    .expect("the script's log can be created"),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("start {script}: {e}")),
    );
    wait_for(ready, Duration::from_secs(20), || {
        json_lines(log)
            .iter()
            .any(|l| l["ready"] == true)
            .then_some(())
    });
    child
}

/// The JSON lines a helper script wrote so far (a half-written last line is skipped).
fn json_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// A stand-in for the desktop's settings portal (`tests/desktop/settings_portal.py`): owns
/// `org.freedesktop.portal.Desktop` on the session bus and answers the color scheme, which
/// [`SettingsPortal::set`] changes as a person flipping dark mode would. Stops when dropped.
#[derive(Debug)]
pub struct SettingsPortal {
    log: PathBuf,
    portal: KillOnDrop,
}

impl SettingsPortal {
    /// Starts the portal answering `scheme` (0 no preference, 1 prefer dark, 2 prefer light),
    /// recording into `log`; returns once it owns its name.
    pub fn start(scheme: u32, log: &Path) -> SettingsPortal {
        SettingsPortal {
            log: log.to_path_buf(),
            portal: start_bus_script(
                "settings_portal.py",
                &[&scheme.to_string()],
                Stdio::piped(),
                log,
                "the settings portal to own its name",
            ),
        }
    }

    fn lines(&self) -> Vec<Value> {
        json_lines(&self.log)
    }

    /// How many times an application read the color scheme.
    pub fn reads(&self) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.get("read").is_some())
            .count()
    }

    /// Changes the color scheme and announces it (`SettingChanged`).
    pub fn set(&mut self, scheme: u32) {
        use std::io::Write as _;
        let announced = |portal: &SettingsPortal| {
            portal
                .lines()
                .iter()
                .filter(|l| l.get("set").is_some())
                .count()
        };
        let before = announced(self);
        let stdin = self.portal.0.stdin.as_mut().expect("the portal's stdin");
        writeln!(stdin, "set {scheme}").expect("the portal is running");
        stdin.flush().expect("the portal is running");
        wait_for(
            "the settings portal to announce the change",
            Duration::from_secs(10),
            || (announced(self) > before).then_some(()),
        );
    }
}

/// The notification traffic on the session bus (`tests/desktop/notification_bus.py`, a D-Bus
/// monitor): `Notify` calls and the ids answered, `CloseNotification` calls and the daemon's
/// `NotificationClosed` signals. Stops when dropped.
#[derive(Debug)]
pub struct NotificationBus {
    log: PathBuf,
    _monitor: KillOnDrop,
}

impl NotificationBus {
    /// Starts the monitor, recording into `log`; returns once it is in place.
    pub fn watch(log: &Path) -> NotificationBus {
        NotificationBus {
            log: log.to_path_buf(),
            _monitor: start_bus_script(
                "notification_bus.py",
                &[],
                Stdio::null(),
                log,
                "the notification bus monitor to be in place",
            ),
        }
    }

    fn lines(&self) -> Vec<Value> {
        json_lines(&self.log)
    }

    /// Every `Notify` call so far, oldest first.
    pub fn notify_calls(&self) -> Vec<NotifyCall> {
        let lines = self.lines();
        lines
            .iter()
            .filter(|l| l["type"] == "call" && l["member"] == "Notify")
            .map(|call| {
                let body = &call["body"];
                let text = |i: usize| body[i].as_str().unwrap_or_default().to_owned();
                let answer = lines.iter().find(|l| {
                    l["type"] == "return"
                        && l["reply_to"][0] == call["sender"]
                        && l["reply_to"][1] == call["serial"]
                });
                NotifyCall {
                    id: answer
                        .and_then(|a| a["body"][0].as_u64())
                        .and_then(|id| u32::try_from(id).ok()),
                    app_name: text(0),
                    icon: text(2),
                    summary: text(3),
                    body: text(4),
                    actions: body[5]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                    hints: body[6].as_object().cloned().unwrap_or_default(),
                    timeout: body[7].as_i64().unwrap_or(-1),
                }
            })
            .collect()
    }

    /// The ids of every `CloseNotification` call so far (an application withdrawing them).
    pub fn close_calls(&self) -> Vec<u32> {
        self.ids_of("call", "CloseNotification")
    }

    /// The ids of every `NotificationClosed` signal so far (the daemon saying they are gone).
    pub fn closed_signals(&self) -> Vec<u32> {
        self.ids_of("signal", "NotificationClosed")
    }

    fn ids_of(&self, kind: &str, member: &str) -> Vec<u32> {
        self.lines()
            .iter()
            .filter(|l| l["type"] == kind && l["member"] == member)
            .filter_map(|l| l["body"][0].as_u64())
            .filter_map(|id| u32::try_from(id).ok())
            .collect()
    }

    /// Whether the daemon signalled `ActionInvoked` for notification `id` with `action`.
    pub fn action_invoked(&self, id: u32, action: &str) -> bool {
        self.lines().iter().any(|l| {
            l["type"] == "signal"
                && l["member"] == "ActionInvoked"
                && l["body"][0] == id
                && l["body"][1] == action
        })
    }

    /// The raw record, for failure messages.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Chooses `action` (its identifier) in the notification the daemon numbered `id`, as a person
/// does in dunst's context menu: `dunstctl context`, answered in the test session by
/// `tests/desktop/dunst-pick` (see scripts/lib/in-session.sh). dunst's menu lines read
/// "#Deny (Acme Bank) [4,deny]".
pub fn choose_notification_action(id: u32, action: &str) {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").expect("the test session's runtime dir");
    let pick = Path::new(&runtime).join("assent-dunst-pick");
    std::fs::write(&pick, format!("[{id},{action}]")).expect("the choice can be written");
    let status = Command::new("dunstctl")
        .arg("context")
        .status()
        .expect("dunstctl is installed");
    // The choice stays: dunst runs the menu after `dunstctl context` has returned. Only tests
    // open the menu, each writing its own choice first.
    assert!(status.success(), "dunstctl context ran");
}

/// Spawns `command` in a process group of its own and kills the whole group when dropped, so
/// the grandchildren it starts (WebKitWebDriver, the app, WebKit's helpers) end with it.
#[derive(Debug)]
pub struct KillGroupOnDrop(pub Child);

impl KillGroupOnDrop {
    /// Spawns `command` as the leader of a new process group.
    pub fn spawn(command: &mut Command) -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0).spawn().map(KillGroupOnDrop)
    }
}

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.0.id())])
            .status();
        for _ in 0..50 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// The result of one `assent` run.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(out: &Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics unless the command succeeded.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "the command should succeed: {self:?}");
        self
    }

    /// Standard output as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }
}

/// Runs `assent` with `env`.
pub fn assent(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(built_binary("assent"));
    command.args(args).env("ASSENT_LOG", "warn");
    for (k, v) in env {
        command.env(k, v);
    }
    Run::from(&command.output().expect("run assent"))
}

/// The release build of a binary: `scripts/test` builds the release artefacts once (they are
/// packaged too), so hardening tests can attack exactly what ships.
pub fn release_binary(name: &str) -> PathBuf {
    let path = target_dir().join("release").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the release binaries first (cargo build --release --bins; scripts/test does)",
        path.display()
    );
    path
}

/// How to run `assent serve` beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The binary (default: the debug build).
    pub binary: Option<PathBuf>,
    /// More `assent serve` arguments.
    pub args: Vec<String>,
    /// More environment variables.
    pub env: Vec<(String, String)>,
}

/// A real `assent serve` process over a database in a directory the test owns.
#[derive(Debug)]
pub struct AssentService {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port (kept across restarts).
    pub port: u16,
    /// The database URL.
    pub database: String,
    /// The app's API key.
    pub api_key: String,
    /// The app's id.
    pub app_id: String,
    log: PathBuf,
    child: Option<Child>,
    options: ServeOptions,
}

impl AssentService {
    /// Creates an "Acme Bank" app (with `app_args`, e.g. a logo or callback URL) and starts the
    /// service on a free port.
    pub fn start(dir: &Path, app_args: &[&str]) -> AssentService {
        Self::start_with(dir, app_args, ServeOptions::default())
    }

    /// As [`AssentService::start`], serving with `options`.
    pub fn start_with(dir: &Path, app_args: &[&str], options: ServeOptions) -> AssentService {
        let database = format!("sqlite://{}", dir.join("assent.db").display());
        let mut args = vec![
            "app",
            "create",
            "--name",
            "Acme Bank",
            "--accent-color",
            "#c8102e",
            "--json",
            "--database",
            &database,
        ];
        args.extend_from_slice(app_args);
        let app = assent(&args, &[]).ok().json();
        let mut service = AssentService {
            url: String::new(),
            port: free_port(),
            database,
            api_key: app["api_key"].as_str().unwrap().to_owned(),
            app_id: app["id"].as_str().unwrap().to_owned(),
            log: dir.join("serve.log"),
            child: None,
            options,
        };
        service.restart();
        service
    }

    /// The service's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// (Re)starts the process on the same port and database.
    pub fn restart(&mut self) {
        assert!(
            self.child.is_none(),
            "stop the service before restarting it"
        );
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let binary = self
            .options
            .binary
            .clone()
            .unwrap_or_else(|| built_binary("assent"));
        let mut child = Command::new(binary)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", self.port),
                "--database",
                &self.database,
            ])
            .args(&self.options.args)
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start assent serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        self.url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("serve failed to start: {}", self.log_text()))
            .to_owned();
        self.child = Some(child);
    }

    /// (Re)starts the process on the same port and database with `args` as its further `assent
    /// serve` arguments from now on (replacing those it was started with).
    pub fn restart_with(&mut self, args: &[&str]) {
        self.options.args = args.iter().map(|a| (*a).to_owned()).collect();
        self.restart();
    }

    /// Sends a signal (`-KILL`, `-TERM`) and waits for the process to end.
    pub fn signal(&mut self, signal: &str) {
        let mut child = self.child.take().expect("running");
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let _ = child.wait();
    }

    /// Where the service logs.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The service's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `assent` with this service and key in the environment.
    pub fn assent(&self, args: &[&str]) -> Run {
        assent(
            args,
            &[
                ("ASSENT_SERVER", &self.url),
                ("ASSENT_API_KEY", &self.api_key),
            ],
        )
    }

    /// A new user; returns its id.
    pub fn user(&self, email: &str) -> u64 {
        self.assent(&["user", "add", "--email", email, "--json"])
            .ok()
            .json()["id"]
            .as_u64()
            .unwrap()
    }

    /// A fresh enrollment link for `user`.
    pub fn enroll_link(&self, user: u64) -> String {
        self.assent(&["enroll-link", "--user", &user.to_string(), "--json"])
            .ok()
            .json()["enroll_url"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sends `message` to `user` as a backend would; returns the request's uuid.
    pub fn send(&self, user: u64, message: &str) -> String {
        self.assent(&[
            "request",
            "send",
            "--user",
            &user.to_string(),
            "--message",
            message,
        ])
        .ok()
        .stdout
        .trim()
        .to_owned()
    }

    /// A request's status.
    pub fn status(&self, uuid: &str) -> Value {
        self.assent(&["request", "status", uuid, "--json"])
            .ok()
            .json()
    }
}

impl Drop for AssentService {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.signal("-TERM");
        }
    }
}

/// A headless device: `assent device ...` with its own data directory and keychain namespace.
#[derive(Debug)]
pub struct HeadlessDevice {
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its keychain namespace.
    pub keyring_service: String,
}

impl HeadlessDevice {
    /// A device enrolled through `link`.
    pub fn enroll(dir: &Path, link: &str) -> HeadlessDevice {
        let device = HeadlessDevice {
            data_dir: dir.join(format!("device-{}", uuid::Uuid::new_v4())),
            keyring_service: format!("assent-test-{}", uuid::Uuid::new_v4()),
        };
        device.run(&["enroll", link, "--name", "headless"]).ok();
        device
    }

    /// Runs `assent device ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut full = vec!["device"];
        full.extend_from_slice(args);
        assent(
            &full,
            &[
                ("ASSENT_DATA_DIR", self.data_dir.to_str().unwrap()),
                ("ASSENT_KEYRING_SERVICE", &self.keyring_service),
            ],
        )
    }
}

/// One received callback.
#[derive(Debug, Clone)]
pub struct Callback {
    /// `POST` or `GET`.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// Lower-case header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Callback {
    /// A header's value.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A minimal HTTP server that records callbacks and answers 200.
#[derive(Debug)]
pub struct CallbackSink {
    /// Where it listens.
    pub addr: SocketAddr,
    received: mpsc::Receiver<Callback>,
}

fn read_http(stream: &mut TcpStream) -> Option<Callback> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Callback {
        method,
        target,
        headers,
        body: buf[end..].to_vec(),
    })
}

impl CallbackSink {
    /// Listens on `port` of loopback.
    pub fn bind(port: u16) -> CallbackSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the callback sink");
        let addr = listener.local_addr().unwrap();
        let (tx, received) = mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if let Some(callback) = read_http(&mut stream) {
                    let _ = stream.write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    );
                    if tx.send(callback).is_err() {
                        return;
                    }
                }
            }
        });
        CallbackSink { addr, received }
    }

    /// The next callback, within `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Callback> {
        self.received.recv_timeout(timeout).ok()
    }
}

/// Polls `check` every 200 ms until it returns `Some`, or panics after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits for a visible top-level X window of process `pid` whose title is exactly `title`;
/// returns its id. (Matching the process keeps parallel tests from finding each other's windows.)
pub fn wait_for_window(pid: u32, title: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let out = Command::new("xdotool")
            .args([
                "search",
                "--all",
                "--onlyvisible",
                "--pid",
                &pid.to_string(),
                "--name",
                &format!("^{title}$"),
            ])
            .output()
            .expect("xdotool is installed (scripts/test installs it)");
        if let Some(id) = String::from_utf8_lossy(&out.stdout).lines().next() {
            return Some(id.trim().to_owned());
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn xdotool(args: &[&str]) -> String {
    let out = Command::new("xdotool")
        .args(args)
        .output()
        .expect("xdotool is installed (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The X window that has the input focus.
pub fn focused_window() -> String {
    xdotool(&["getwindowfocus"])
}

/// Another application where the person is typing: an `xmessage` window (x11-utils) given the
/// X input focus. Answers it (killed when dropped) and its window id.
pub fn focused_other_application() -> (KillOnDrop, String) {
    const NAME: &str = "assent-test-editor";
    let other = KillOnDrop(
        Command::new("xmessage")
            .args(["-name", NAME, "-geometry", "+600+400", "I am typing here"])
            .spawn()
            .expect("xmessage is installed (x11-utils)"),
    );
    // xmessage sets no _NET_WM_PID: found by the resource name it was given.
    let window = wait_for(
        "the other application's window",
        Duration::from_secs(10),
        || {
            xdotool(&[
                "search",
                "--onlyvisible",
                "--classname",
                &format!("^{NAME}$"),
            ])
            .lines()
            .next()
            .map(str::to_owned)
        },
    );
    xdotool(&["windowfocus", "--sync", &window]);
    assert_eq!(
        focused_window(),
        window,
        "the other application has the focus"
    );
    (other, window)
}

/// Gives `window` the X input focus.
pub fn focus_window(window: &str) {
    xdotool(&["windowfocus", "--sync", window]);
}

/// `xprop`'s reading of a window's WM_HINTS, name and class (for failure messages too).
pub fn wm_hints(window: &str) -> String {
    let out = Command::new("xprop")
        .args(["-id", window, "WM_HINTS", "WM_NAME", "WM_CLASS"])
        .output()
        .expect("xprop is installed (x11-utils)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether a window's WM_HINTS carry the urgency flag (ICCCM's XUrgencyHint: a taskbar asks the
/// person to look), as `xprop` reads it out.
pub fn wm_urgent(window: &str) -> bool {
    wm_hints(window).contains("The urgency hint bit is set")
}

/// Saves a PNG screenshot of one X window.
pub fn screenshot_window(window_id: &str, path: &Path) {
    let status = Command::new("import")
        .args(["-window", window_id, path.to_str().expect("utf-8 path")])
        .status()
        .expect("ImageMagick's import is installed");
    assert!(status.success(), "screenshot of window {window_id} failed");
}

/// Number of distinct colours in an image: a window that rendered nothing has one or two.
pub fn distinct_colours(path: &Path) -> u64 {
    let out = Command::new("identify")
        .args(["-format", "%k", path.to_str().unwrap()])
        .output()
        .expect("identify");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("identify prints a number")
}

/// Serves one file at every path of a loopback port (a relying party's logo, for instance).
#[derive(Debug)]
pub struct StaticFile {
    /// `http://127.0.0.1:PORT/<name>`.
    pub url: String,
}

impl StaticFile {
    /// Serves `bytes` as `content_type`.
    pub fn serve(name: &str, bytes: &'static [u8], content_type: &'static str) -> StaticFile {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/{name}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if read_http(&mut stream).is_some() {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        bytes.len()
                    );
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(bytes);
                }
            }
        });
        StaticFile { url }
    }
}

/// The Acme Bank logo shipped with the sample relying party.
pub const ACME_LOGO: &[u8] = include_bytes!("../../../examples/acme-bank/static/logo.png");

/// Prints these files (service and app logs) when the test fails, so a failure explains itself.
#[derive(Debug)]
pub struct LogsOnFailure(pub Vec<PathBuf>);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for path in &self.0 {
                eprintln!(
                    "===== {} =====\n{}",
                    path.display(),
                    std::fs::read_to_string(path).unwrap_or_default()
                );
            }
        }
    }
}

/// A TCP proxy on loopback that can freeze: while frozen it keeps every connection open but
/// passes no byte either way, as a hung middlebox or a suspended peer would. Heartbeat
/// deadlines are what notice it; nothing closes.
#[derive(Debug)]
pub struct FreezingProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FreezingProxy {
    /// Forwards every connection to `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: SocketAddr) -> FreezingProxy {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let frozen = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (frozen_in, stop_in) = (Arc::clone(&frozen), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop_in.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    }
                    Err(_) => return,
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let (frozen, stop) = (Arc::clone(&frozen_in), Arc::clone(&stop_in));
                    std::thread::spawn(move || pump(from, to, &frozen, &stop));
                }
            }
        });
        FreezingProxy { url, frozen, stop }
    }

    /// Stops passing bytes (connections stay open).
    pub fn freeze(&self) {
        self.frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Passes bytes again (what was held is delivered).
    pub fn thaw(&self) {
        self.frozen
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Copies `from` to `to` chunk by chunk, holding each chunk while `frozen`.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    frozen: &std::sync::atomic::AtomicBool,
    stop: &std::sync::atomic::AtomicBool,
) {
    use std::sync::atomic::Ordering;
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::SeqCst) {
        if frozen.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => break,
        };
        while frozen.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

/// The Acme Bank sample (`examples/acme-bank`) as a process on a loopback port, talking to an
/// [`AssentService`] with its app's API key. Its process group ends with it.
#[derive(Debug)]
pub struct AcmeBank {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its log (stderr).
    pub log: PathBuf,
    _process: KillGroupOnDrop,
}

impl AcmeBank {
    /// A free loopback address for a bank about to start (the service's logo and callback URLs
    /// point at it before it runs).
    pub fn reserve() -> String {
        format!("http://127.0.0.1:{}", free_port())
    }

    /// Starts the bank at `url` (from [`AcmeBank::reserve`]) against `service`, logging into
    /// `dir`; sign-in requests live `sign_in_seconds`. Returns once it listens, its demo
    /// customers registered (with their names).
    ///
    /// # Panics
    /// When the built `acme-bank` binary does not start.
    pub fn start(dir: &Path, url: &str, service: &AssentService, sign_in_seconds: u32) -> AcmeBank {
        let log = dir.join("acme-bank.log");
        let listen = url.trim_start_matches("http://");
        let mut process = KillGroupOnDrop::spawn(
            Command::new(built_binary("acme-bank"))
                .env("ACME_ASSENT_URL", &service.url)
                .env("ACME_API_KEY", &service.api_key)
                .env("ACME_LISTEN", listen)
                .env("ACME_SIGN_IN_SECONDS", sign_in_seconds.to_string())
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&log).unwrap()),
        )
        .expect("the acme-bank binary starts");
        let mut line = String::new();
        BufReader::new(process.0.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(line.starts_with("Acme Bank on "), "the bank starts: {line}");
        AcmeBank {
            url: url.to_owned(),
            log,
            _process: process,
        }
    }
}
