//! A real service on loopback, the real keychain under a test namespace, and a raw HTTP proxy
//! that can tamper with answers or drop a connection after the service has answered.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assent_device::view::{LinkState, SessionEvent};
use assent_device::{
    Authenticator, DeviceSession, Keychain, SessionConfig, SessionEvents, StreamConfig,
};
use assent_protocol::enroll::EnrollLink;
use assent_server::Service;
use assent_server::admin::AppSpec;
use assent_server::clock::{Clock, unix_now};
use assent_server::config::ServiceConfig;
use assent_server::state::AppState;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// Panics unless a Secret Service is reachable (the tests run inside `scripts/session`).
pub fn require_keychain() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "these tests use the real OS keychain: run them through scripts/session (scripts/test does)"
    );
}

/// A keychain namespace of its own, so tests never touch a person's keys or each other's.
pub fn test_keychain() -> Arc<Keychain> {
    require_keychain();
    Arc::new(Keychain::new(format!(
        "assent-test-{}",
        uuid::Uuid::new_v4()
    )))
}

/// Short reconnect delays, so resilience tests finish quickly.
pub fn fast_streams() -> StreamConfig {
    StreamConfig {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(800),
        ..StreamConfig::default()
    }
}

/// A running service.
pub struct TestService {
    pub base: String,
    pub addr: SocketAddr,
    pub api_key: String,
    pub state: AppState,
    pub db: String,
    http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestService {
    /// A fresh service with one app on a temporary database.
    pub async fn start(dir: &std::path::Path) -> TestService {
        Self::start_with_logo(dir, "https://acme.example/logo.png").await
    }

    /// A fresh service whose app's logo is at `logo_url`.
    pub async fn start_with_logo(dir: &std::path::Path, logo_url: &str) -> TestService {
        Self::start_with(dir, logo_url, Clock::system()).await
    }

    /// A fresh service reading the time from `clock` (an adjustable one moves it).
    pub async fn start_with_clock(dir: &std::path::Path, clock: Clock) -> TestService {
        Self::start_with(dir, "https://acme.example/logo.png", clock).await
    }

    async fn start_with(dir: &std::path::Path, logo_url: &str, clock: Clock) -> TestService {
        let db = format!("sqlite://{}", dir.join("assent.db").display());
        let mut svc = Self::start_on_clock("127.0.0.1:0".parse().unwrap(), &db, clock).await;
        let spec = AppSpec {
            name: "Acme Bank".into(),
            logo_url: Some(logo_url.into()),
            accent_color: Some("#0b5fff".into()),
            // Tests serve logos from loopback, beside a loopback service.
            allow_local_logo: true,
            // The device suite shows several requests waiting at once; the one-pending rule is
            // the service's, tested there.
            defences: assent_server::defences::AppDefences {
                max_pending_per_person: 0,
                ..Default::default()
            },
            ..AppSpec::default()
        };
        let (_, key) = svc
            .state
            .operator()
            .create_app(spec, unix_now())
            .await
            .unwrap();
        svc.api_key = key.expose().to_owned();
        svc
    }

    /// A service on `addr` over an existing database (`api_key` must be set by the caller).
    pub async fn start_on(addr: SocketAddr, db: &str) -> TestService {
        Self::start_on_clock(addr, db, Clock::system()).await
    }

    async fn start_on_clock(addr: SocketAddr, db: &str, clock: Clock) -> TestService {
        let listener = TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let mut config = ServiceConfig::new(addr, db);
        config.clock = clock;
        let service = Service::open(config).await.unwrap();
        let state = service.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.serve(listener, async move {
            let _ = stopped.await;
        }));
        TestService {
            base: format!("http://{addr}"),
            addr,
            api_key: String::new(),
            state,
            db: db.to_owned(),
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("X-Authy-API-Key", &self.api_key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path} failed: {}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("X-Authy-API-Key", &self.api_key)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    pub async fn user(&self, email: &str) -> u64 {
        self.post(
            "/protected/json/users/new",
            json!({"user": {"email": email}}),
        )
        .await["user"]["id"]
            .as_u64()
            .unwrap()
    }

    /// An enrollment link for `user`, pointing at `server` (the service itself or a proxy).
    pub async fn link(&self, user: u64, server: &str) -> EnrollLink {
        let body = self
            .post(
                "/protected/json/sdk/registrations",
                json!({"authy_id": user}),
            )
            .await;
        let link = EnrollLink::parse(body["enroll_url"].as_str().unwrap()).unwrap();
        EnrollLink {
            server: url::Url::parse(server).unwrap(),
            token: link.token,
        }
    }

    /// A new user, with `device` enrolled for them straight at the service.
    pub async fn enrolled(
        &self,
        device: &Authenticator,
        email: &str,
    ) -> (u64, assent_device::Account) {
        let user = self.user(email).await;
        let account = device
            .enroll(
                &self.link(user, &self.base).await,
                "laptop",
                "linux",
                assent_device::InsecureServer::Refuse,
            )
            .await
            .unwrap();
        (user, account)
    }

    pub async fn request(&self, user: u64, message: &str) -> uuid::Uuid {
        self.request_with(user, json!({"message": message})).await
    }

    /// A request sent while another may still wait for the same person (the relying party says
    /// so with `allow_concurrent`; by default the service allows one at a time).
    pub async fn another_request(&self, user: u64, message: &str) -> uuid::Uuid {
        self.request_with(user, json!({"message": message, "allow_concurrent": true}))
            .await
    }

    pub async fn request_with(&self, user: u64, body: Value) -> uuid::Uuid {
        let body = self
            .post(
                &format!("/onetouch/json/users/{user}/approval_requests"),
                body,
            )
            .await;
        body["approval_request"]["uuid"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Revokes a device as the relying party's backend would.
    pub async fn revoke(&self, device_id: uuid::Uuid) {
        let response = self
            .http
            .delete(format!(
                "{}/protected/json/sdk/devices/{device_id}",
                self.base
            ))
            .header("X-Authy-API-Key", &self.api_key)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "revoking {device_id} failed"
        );
    }

    pub async fn status(&self, id: uuid::Uuid) -> String {
        self.get(&format!("/onetouch/json/approval_requests/{id}"))
            .await["approval_request"]["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// Stream timing with a short heartbeat window, for tests that freeze the connection.
pub fn short_heartbeat(window: Duration) -> StreamConfig {
    StreamConfig {
        heartbeat_timeout: window,
        ..fast_streams()
    }
}

/// An authenticator over a fresh data directory and test keychain.
pub fn authenticator(dir: &std::path::Path, keychain: Arc<Keychain>) -> Authenticator {
    Authenticator::open_with(dir.join("device"), keychain, fast_streams()).unwrap()
}

/// Enrolls `session` as a Linux laptop through `link` (plain HTTP off this machine refused).
pub async fn enroll_laptop(
    session: &DeviceSession,
    link: &str,
) -> assent_device::view::AccountView {
    session
        .enroll(
            link,
            None,
            assent_device::InsecureServer::Refuse,
            "laptop",
            "linux",
        )
        .await
        .expect("enrollment through the session")
}

/// Enrolls `device` with the hostile service (which answers enrollment normally unless scripted
/// otherwise).
pub async fn enroll_with_hostile(
    device: &Authenticator,
    hostile: &assent_testkit::HostileService,
) -> assent_device::Account {
    let link = assent_device::parse_enrollment(&hostile.link(), None).unwrap();
    device
        .enroll(
            &link,
            "laptop",
            "linux",
            assent_device::InsecureServer::Refuse,
        )
        .await
        .unwrap()
}

/// What the proxy does with one answer.
pub enum Action {
    /// Pass the answer on (possibly edited).
    Forward,
    /// Close the client's connection without answering.
    Drop,
}

/// Decides per request (request line, answer bytes).
pub type Hook = Arc<dyn Fn(&str, &mut Vec<u8>) -> Action + Send + Sync>;

/// A minimal HTTP/1.1 proxy: one upstream connection per request, `Content-Length` bodies.
pub struct Proxy {
    pub url: String,
    pub requests: Arc<Mutex<Vec<String>>>,
}

async fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap_or(0))
        })
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(buf)
}

impl Proxy {
    pub async fn start(upstream: SocketAddr, hook: Hook) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let hook = Arc::clone(&hook);
                let seen = Arc::clone(&seen);
                tokio::spawn(async move {
                    while let Some(request) = read_message(&mut client).await {
                        let line = String::from_utf8_lossy(
                            &request[..request.iter().position(|b| *b == b'\r').unwrap_or(0)],
                        )
                        .into_owned();
                        seen.lock().unwrap().push(line.clone());
                        // Ask upstream to close after answering, so reading to EOF reads one answer.
                        let text = String::from_utf8_lossy(&request).replacen(
                            "\r\n",
                            "\r\nconnection: close\r\n",
                            1,
                        );
                        let Ok(mut server) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        if server.write_all(text.as_bytes()).await.is_err() {
                            return;
                        }
                        let mut answer = Vec::new();
                        if server.read_to_end(&mut answer).await.is_err() {
                            return;
                        }
                        match hook(&line, &mut answer) {
                            Action::Drop => return,
                            Action::Forward => {
                                if client.write_all(&answer).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Proxy { url, requests }
    }
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A session over a fresh data directory in `dir`.
pub fn open_session(
    dir: &std::path::Path,
    keychain: Arc<Keychain>,
    streams: assent_device::StreamConfig,
    config: SessionConfig,
) -> (DeviceSession, SessionEvents) {
    let auth = Authenticator::open_with(dir.join("device"), keychain, streams).unwrap();
    DeviceSession::open(auth, config).unwrap()
}

/// Reads events until one matches `want` (failing after `within`); returns it.
pub async fn until(
    events: &mut SessionEvents,
    what: &str,
    within: Duration,
    want: impl Fn(&SessionEvent) -> bool,
) -> SessionEvent {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(event)) if want(&event) => return event,
            Ok(Some(event)) => seen.push(event),
            Ok(None) => panic!("the session ended while waiting for {what}; saw {seen:#?}"),
            Err(_) => panic!("no event for {what} within {within:?}; saw {seen:#?}"),
        }
    }
}

/// Reads events until a notice with `code` (failing after `within`).
pub async fn until_notice(
    events: &mut SessionEvents,
    what: &str,
    within: Duration,
    code: assent_device::ErrorKind,
) {
    until(
        events,
        what,
        within,
        |e| matches!(e, SessionEvent::Notice { code: c, .. } if *c == code),
    )
    .await;
}

pub fn link_is(event: &SessionEvent, wanted: fn(&LinkState) -> bool) -> bool {
    matches!(event, SessionEvent::Connection { connection } if wanted(&connection.state))
}

/// A session over a fresh data directory in `dir`, enrolled with `svc` for a new user `email`
/// (its stream started): the session, its events, the user and the account.
pub async fn enrolled_session(
    dir: &std::path::Path,
    svc: &TestService,
    email: &str,
) -> (
    DeviceSession,
    SessionEvents,
    u64,
    assent_device::view::AccountView,
) {
    let (session, events) = open_session(
        dir,
        test_keychain(),
        fast_streams(),
        SessionConfig::default(),
    );
    let user = svc.user(email).await;
    let link = svc.link(user, &svc.base).await.render();
    let account = enroll_laptop(&session, &link).await;
    (session, events, user, account)
}

/// Enrolls a session with a hostile service and waits until its stream is connected.
pub async fn hostile_session(
    dir: &std::path::Path,
    hostile: &assent_testkit::HostileService,
    config: SessionConfig,
) -> (DeviceSession, SessionEvents, Arc<Keychain>) {
    let keychain = test_keychain();
    let (session, mut events) = open_session(dir, keychain.clone(), fast_streams(), config);
    enroll_laptop(&session, &hostile.link()).await;
    until(&mut events, "connected", Duration::from_secs(20), |e| {
        link_is(e, |s| *s == LinkState::Connected)
    })
    .await;
    (session, events, keychain)
}
