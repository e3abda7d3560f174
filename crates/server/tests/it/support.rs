//! A real service on loopback, a backend client, a protocol-level test device (which can also
//! misbehave on purpose), and a callback receiver.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assent_protocol::auth::{DeviceAuthorization, new_nonce};
use assent_protocol::callback::CallbackMethod;
use assent_protocol::crypto::PublicKey;
use assent_protocol::decision::{Decision, DenyReason, Outcome};
use assent_protocol::enroll::{EnrollmentRequest, EnrollmentResponse};
use assent_protocol::request::{DeviceRequest, RequestDetails};
use assent_protocol::secret::SecretString;
use assent_protocol::signed::{Signed, Verified};
use assent_protocol::stream::StreamMessage;
use assent_protocol::{SigningKey, Uuid};
use assent_server::Service;
use assent_server::admin::AppSpec;
use assent_server::clock::unix_now;
use assent_server::config::ServiceConfig;
use assent_server::state::AppState;
use assent_server::store::App;
use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for something that should happen promptly.
pub const PROMPTLY: Duration = Duration::from_secs(10);

/// A running service.
pub struct TestService {
    pub base: String,
    pub backend: Backend,
    pub app: App,
    pub state: AppState,
    pub db_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Changes the configuration before the service starts.
pub type Configure = Box<dyn FnOnce(&mut ServiceConfig) + Send>;

/// Options for [`TestService::start_with`].
#[derive(Default)]
pub struct Options {
    pub callback_url: Option<String>,
    pub callback_get: bool,
    pub configure: Option<Configure>,
    /// Reuse the database in this directory (and this app) instead of a fresh one.
    pub reuse: Option<(PathBuf, App, String)>,
}

impl TestService {
    pub async fn start() -> TestService {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> TestService {
        let (tmp, db_dir) = match &options.reuse {
            Some((dir, ..)) => (None, dir.clone()),
            None => {
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path().to_path_buf();
                (Some(tmp), dir)
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = ServiceConfig::new(
            addr,
            format!("sqlite://{}", db_dir.join("assent.db").display()),
        );
        if let Some(configure) = options.configure {
            configure(&mut config);
        }
        let service = Service::open(config).await.expect("service opens");
        let state = service.state().clone();
        let (app, api_key) = match options.reuse {
            Some((_, app, key)) => (app, key),
            None => {
                let spec = AppSpec {
                    name: "Acme Bank".into(),
                    logo_url: Some("https://acme.example/logo.png".into()),
                    accent_color: Some("#0b5fff".into()),
                    callback_url: options.callback_url,
                    callback_method: if options.callback_get {
                        CallbackMethod::Get
                    } else {
                        CallbackMethod::Post
                    },
                    allow_local_logo: false,
                };
                let (app, key) = state.operator().create_app(spec, unix_now()).await.unwrap();
                (app, key.expose().to_owned())
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.serve(listener, async move {
            let _ = stopped.await;
        }));
        let base = format!("http://{addr}");
        TestService {
            backend: Backend::new(&base, &api_key),
            base,
            app,
            state,
            db_dir,
            _tmp: tmp,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the service gracefully; returns what is needed to start it again on the same data.
    pub async fn stop(mut self) -> (PathBuf, App, String, Option<tempfile::TempDir>) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        (
            self.db_dir.clone(),
            self.app.clone(),
            self.backend.api_key.clone(),
            self._tmp.take(),
        )
    }

    /// A user with one enrolled device.
    pub async fn enrolled_user(&self, email: &str) -> (u64, TestDevice) {
        let user = self.backend.create_user(email).await;
        let device = self.enroll(user).await;
        (user, device)
    }

    /// Rows in `table` now (for "nothing was written" checks), through the store interface.
    pub async fn rows(&self, table: &str) -> i64 {
        let counts = self.state.store.row_counts().await.expect("row counts");
        *counts
            .get(table)
            .unwrap_or_else(|| panic!("no table {table} in {counts:?}")) as i64
    }

    pub async fn enroll(&self, user: u64) -> TestDevice {
        let token = self.backend.registration(user).await;
        TestDevice::enroll(&self.base, &token, "test device").await
    }
}

/// The relying party's side.
#[derive(Clone)]
pub struct Backend {
    pub base: String,
    pub api_key: String,
    http: reqwest::Client,
}

impl Backend {
    pub fn new(base: &str, api_key: &str) -> Self {
        Backend {
            base: base.to_owned(),
            api_key: api_key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub fn with_key(&self, api_key: &str) -> Self {
        Backend::new(&self.base, api_key)
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = builder.send().await.expect("service reachable");
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        (status, body)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("X-Authy-API-Key", &self.api_key)
                .json(&body),
        )
        .await
    }

    pub async fn post_form(&self, path: &str, form: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("X-Authy-API-Key", &self.api_key)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form.to_owned()),
        )
        .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("X-Authy-API-Key", &self.api_key)
                .header("Content-Type", content_type)
                .body(body),
        )
        .await
    }

    /// A call with no API key header (the key, if any, is in `path`'s query or the body).
    pub async fn unauthenticated(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> (StatusCode, Value) {
        let mut builder = self.http.request(method, format!("{}{path}", self.base));
        if let Some((content_type, body)) = body {
            builder = builder.header("Content-Type", content_type).body(body);
        }
        self.send(builder).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .header("X-Authy-API-Key", &self.api_key),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .delete(format!("{}{path}", self.base))
                .header("X-Authy-API-Key", &self.api_key),
        )
        .await
    }

    pub async fn create_user(&self, email: &str) -> u64 {
        let (status, body) = self
            .post_json(
                "/protected/json/users/new",
                json!({"user": {"email": email}, "send_install_link_via_sms": false}),
            )
            .await;
        assert_eq!(status, 200, "creating a user should succeed: {body}");
        body["user"]["id"].as_u64().unwrap()
    }

    pub async fn registration(&self, user: u64) -> String {
        let (status, body) = self
            .post_json(
                "/protected/json/sdk/registrations",
                json!({"authy_id": user}),
            )
            .await;
        assert_eq!(status, 200, "a registration token should be issued: {body}");
        body["registration_token"].as_str().unwrap().to_owned()
    }

    pub async fn create_request(&self, user: u64, body: Value) -> (StatusCode, Value) {
        self.post_json(
            &format!("/onetouch/json/users/{user}/approval_requests"),
            body,
        )
        .await
    }

    /// Creates a request that must succeed; returns its uuid (and number, when asked for).
    pub async fn request(&self, user: u64, body: Value) -> (Uuid, Option<u32>) {
        let (status, reply) = self.create_request(user, body).await;
        assert_eq!(status, 200, "creating the request should succeed: {reply}");
        let uuid = Uuid::parse_str(reply["approval_request"]["uuid"].as_str().unwrap()).unwrap();
        (
            uuid,
            reply["approval_request"]["number"]
                .as_u64()
                .map(|n| n as u32),
        )
    }

    pub async fn status(&self, id: Uuid) -> Value {
        let (status, body) = self
            .get(&format!("/onetouch/json/approval_requests/{id}"))
            .await;
        assert_eq!(status, 200, "status should be readable: {body}");
        body["approval_request"].clone()
    }
}

/// A device speaking the protocol directly.
pub struct TestDevice {
    pub key: SigningKey,
    pub id: Uuid,
    pub user_id: u64,
    pub service_key: PublicKey,
    pub enrollment: EnrollmentResponse,
    pub base: String,
    http: reqwest::Client,
}

/// What a device call returned.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }
}

impl TestDevice {
    pub async fn enroll(base: &str, token: &str, name: &str) -> TestDevice {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let request =
            EnrollmentRequest::new(SecretString::new(token), &key, name.into(), "linux".into());
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/device/v1/enroll"))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "enrollment should succeed: {}",
            response.text().await.unwrap()
        );
        let enrollment: EnrollmentResponse = response.json().await.unwrap();
        TestDevice {
            key,
            id: enrollment.device_id,
            user_id: enrollment.user_id,
            service_key: enrollment.service_public_key,
            enrollment,
            base: base.to_owned(),
            http,
        }
    }

    /// The `Authorization` header for a call.
    pub fn auth(&self, method: &str, target: &str, body: &[u8], ts: i64) -> String {
        DeviceAuthorization::sign(&self.key, self.id, method, target, body, ts, new_nonce())
            .render()
    }

    /// Sends a call with a given header (possibly a wrong one, on purpose).
    pub async fn call_with(
        &self,
        method: &str,
        target: &str,
        body: Vec<u8>,
        header: &str,
    ) -> Reply {
        let response = self
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{target}", self.base),
            )
            .header("Authorization", header)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// Sends a correctly signed call.
    pub async fn call(&self, method: &str, target: &str, body: Vec<u8>) -> Reply {
        let header = self.auth(method, target, &body, unix_now());
        self.call_with(method, target, body, &header).await
    }

    pub async fn details(&self, id: Uuid) -> (Verified<RequestDetails>, Value) {
        let reply = self
            .call("GET", &format!("/device/v1/requests/{id}"), Vec::new())
            .await;
        assert_eq!(
            reply.status, 200,
            "details should be readable: {:?}",
            reply.body
        );
        let envelope: DeviceRequest = serde_json::from_value(reply.body.clone()).unwrap();
        let verified = envelope
            .request
            .verify(&self.service_key)
            .expect("details are signed by the pinned service key");
        (verified, reply.body)
    }

    /// A signed decision body over `details`.
    pub fn decision(
        &self,
        details: &Verified<RequestDetails>,
        outcome: Outcome,
        reason: Option<DenyReason>,
        number: Option<u32>,
    ) -> Vec<u8> {
        let decision = Decision {
            v: 1,
            request_id: details.message.id,
            request_digest: hex::encode(details.digest),
            device_id: self.id,
            outcome,
            reason,
            number,
            signed_at: unix_now(),
        };
        serde_json::to_vec(&Signed::sign(&decision, &self.key).unwrap()).unwrap()
    }

    pub async fn decide_body(&self, id: Uuid, body: Vec<u8>) -> Reply {
        self.call("POST", &format!("/device/v1/requests/{id}/decision"), body)
            .await
    }

    pub async fn decide(
        &self,
        id: Uuid,
        outcome: Outcome,
        reason: Option<DenyReason>,
        number: Option<u32>,
    ) -> Reply {
        let (details, _) = self.details(id).await;
        let body = self.decision(&details, outcome, reason, number);
        self.decide_body(id, body).await
    }

    pub async fn approve(&self, id: Uuid) -> Reply {
        self.decide(id, Outcome::Approve, None, None).await
    }

    /// Connects and consumes the `pending` catch-up every connection starts with.
    pub async fn connect_synced(&self) -> DeviceStream {
        let mut stream = self.connect().await;
        assert!(
            matches!(stream.next().await, Some(StreamMessage::Pending { .. })),
            "a stream starts with the pending catch-up"
        );
        stream
    }

    pub async fn connect(&self) -> DeviceStream {
        let target = "/device/v1/stream";
        let url = format!("{}{target}", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Authorization",
            self.auth("GET", target, b"", unix_now()).parse().unwrap(),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("stream connects");
        DeviceStream { socket }
    }
}

/// A device's open push stream.
pub struct DeviceStream {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl DeviceStream {
    /// The next non-heartbeat message, or `None` when the stream closed.
    pub async fn next(&mut self) -> Option<StreamMessage> {
        let deadline = tokio::time::Instant::now() + PROMPTLY;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("a stream message arrives promptly");
            match frame {
                None | Some(Err(_)) => return None,
                Some(Ok(Message::Text(text))) => {
                    match serde_json::from_str::<StreamMessage>(&text).unwrap() {
                        StreamMessage::Heartbeat { .. } => continue,
                        message => return Some(message),
                    }
                }
                Some(Ok(Message::Close(_))) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    pub async fn send_ping(&mut self) {
        let _ = self.socket.send(Message::Ping(Vec::new().into())).await;
    }
}

/// One callback as received.
#[derive(Debug, Clone)]
pub struct ReceivedCallback {
    pub method: String,
    pub query: Option<String>,
    pub signature: String,
    pub nonce: String,
    pub body: Vec<u8>,
}

/// An HTTP server that records callbacks and answers with a configurable status.
pub struct CallbackReceiver {
    pub url: String,
    pub received: mpsc::UnboundedReceiver<ReceivedCallback>,
    pub answer: Arc<Mutex<u16>>,
}

impl CallbackReceiver {
    pub async fn start() -> CallbackReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/authy/callback", listener.local_addr().unwrap());
        let (tx, received) = mpsc::unbounded_channel();
        let answer = Arc::new(Mutex::new(200u16));
        let status = Arc::clone(&answer);
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let tx = tx.clone();
            let status = *status.lock().unwrap();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default()
                };
                let _ = tx.send(ReceivedCallback {
                    method: parts.method.to_string(),
                    query: parts.uri.query().map(str::to_owned),
                    signature: header("x-authy-signature"),
                    nonce: header("x-authy-signature-nonce"),
                    body,
                });
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        CallbackReceiver {
            url,
            received,
            answer,
        }
    }

    pub async fn next(&mut self) -> ReceivedCallback {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .expect("a callback arrives")
            .expect("receiver alive")
    }
}

/// Polls `check` until it returns true.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The `host:port` of a base URL.
pub fn authority(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// The status and body of a raw HTTP answer (the last one, after any `100 Continue`).
pub fn parse_answer(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer).into_owned();
    let last = text
        .rfind("HTTP/1.1 ")
        .unwrap_or_else(|| panic!("no HTTP answer in {text:?}"));
    let text = &text[last..];
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}
