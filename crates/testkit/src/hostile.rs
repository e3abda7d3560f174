//! A hostile service: something answering at a device's service address that speaks the device
//! API's shapes but means harm (an attacker on a plain-`http` path, a compromised or impersonated
//! service). It has a signing key of its own, which a device pins at enrollment, so it can sign
//! whatever it likes; and it can send what a real service never would: unsigned or forged
//! revocations, error codes meant to disarm a device, floods of requests, text made to mislead,
//! answers of a gigabyte, redirects to the device's own machine.
//!
//! A test scripts it through [`Script`] while it runs, and reads what it was asked ([`Script::hits`])
//! and how much it managed to send ([`Script::sent_bytes`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use assent_protocol::crypto::PublicKey;
use assent_protocol::decision::DecisionReceipt;
use assent_protocol::enroll::EnrollmentResponse;
use assent_protocol::request::{
    AppBranding, DeviceRequest, PendingRequests, RequestDetails, RequestStatus,
};
use assent_protocol::revocation::RevocationNotice;
use assent_protocol::signed::Signed;
use assent_protocol::{SigningKey, Uuid};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// What one endpoint answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// What a real service would answer.
    Normal,
    /// An error status with this JSON body.
    Error {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: Value,
    },
    /// `bytes` bytes of JSON-looking filler, produced as they are sent (never held in memory),
    /// with or without a `Content-Length` saying so.
    Huge {
        /// How many bytes.
        bytes: u64,
        /// Send `Content-Length`.
        declare_length: bool,
    },
    /// `307 Temporary Redirect` to this URL.
    Redirect(String),
    /// `200 OK` with this JSON body, whatever it says.
    Body(Value),
}

/// How the stream upgrade is answered.
#[derive(Debug, Clone)]
pub enum StreamAnswer {
    /// Upgrade, send `pending` with [`Script::pending`], then relay [`HostileService::send_frame`].
    Upgrade,
    /// Refuse the upgrade with this status and JSON body.
    Refuse {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: Value,
    },
}

/// The hostile service's behaviour, changeable while it runs.
#[derive(Debug)]
pub struct Script {
    /// `POST /device/v1/enroll`.
    pub enroll: Mutex<Answer>,
    /// `POST /device/v1/enroll/preview`.
    pub preview: Mutex<Answer>,
    /// `GET /device/v1/requests`.
    pub pending_answer: Mutex<Answer>,
    /// `GET /device/v1/requests/{id}`.
    pub details: Mutex<Answer>,
    /// `POST /device/v1/requests/{id}/decision`.
    pub decision: Mutex<Answer>,
    /// `GET /device/v1/stream`.
    pub stream: Mutex<StreamAnswer>,
    /// The ids in the stream's first `pending` frame and in `GET /device/v1/requests`.
    pub pending: Mutex<Vec<Uuid>>,
    /// What a request's details say (by id); an id not here gets [`HostileService::details`].
    pub requests: Mutex<HashMap<Uuid, RequestDetails>>,
    /// Request lines received (`GET /device/v1/requests/{id}`, `POST .../decision`, and any route
    /// it does not serve), in order.
    pub hits: Mutex<Vec<String>>,
    /// Body bytes sent by [`Answer::Huge`] answers so far.
    pub sent_bytes: AtomicU64,
}

/// A running hostile service on loopback.
#[derive(Debug)]
pub struct HostileService {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its signing key (devices pin the public half at enrollment).
    pub key: SigningKey,
    /// The branding it enrolls devices with.
    pub app: AppBranding,
    /// The person its devices approve for.
    pub user_id: u64,
    /// What it answers.
    pub script: Arc<Script>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    key: SigningKey,
    app: AppBranding,
    user_id: u64,
    script: Arc<Script>,
    frames: broadcast::Sender<String>,
    /// Device ids it enrolled, in order.
    devices: Mutex<Vec<Uuid>>,
    /// WebSocket pings its streams received.
    stream_pings: std::sync::atomic::AtomicUsize,
}

impl Drop for HostileService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileService {
    /// Starts on a free loopback port, enrolling devices with `app`'s branding.
    pub async fn start(app: AppBranding) -> HostileService {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let script = Arc::new(Script {
            enroll: Mutex::new(Answer::Normal),
            preview: Mutex::new(Answer::Normal),
            pending_answer: Mutex::new(Answer::Normal),
            details: Mutex::new(Answer::Normal),
            decision: Mutex::new(Answer::Normal),
            stream: Mutex::new(StreamAnswer::Upgrade),
            pending: Mutex::new(Vec::new()),
            requests: Mutex::new(HashMap::new()),
            hits: Mutex::new(Vec::new()),
            sent_bytes: AtomicU64::new(0),
        });
        let (frames, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared {
            key: key.clone(),
            app: app.clone(),
            user_id: 1635,
            script: Arc::clone(&script),
            frames,
            devices: Mutex::new(Vec::new()),
            stream_pings: std::sync::atomic::AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/device/v1/enroll", post(enroll))
            .route("/device/v1/enroll/preview", post(preview))
            .route("/device/v1/stream", get(stream))
            .route("/device/v1/requests", get(pending))
            .route("/device/v1/requests/{id}", get(details))
            .route("/device/v1/requests/{id}/decision", post(decision))
            .route("/device/v1/device", delete(remove))
            .fallback(unserved)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        HostileService {
            url: format!("http://{addr}"),
            key,
            app,
            user_id: 1635,
            script,
            shared,
            task,
        }
    }

    /// Branding as a relying party would set it (`Acme Bank`, an accent colour, `logo` if given).
    pub fn branding(logo: Option<&str>) -> AppBranding {
        AppBranding {
            id: "a1".repeat(12),
            name: "Acme Bank".into(),
            accent_color: Some("#c8102e".into()),
            logos: logo
                .map(|url| {
                    vec![assent_protocol::request::Logo {
                        res: assent_protocol::request::LogoResolution::Default,
                        url: url.into(),
                    }]
                })
                .unwrap_or_default(),
        }
    }

    /// An enrollment link to this service (any well-formed token is accepted).
    pub fn link(&self) -> String {
        format!(
            "assent://enroll?server={}&token=hostile-token-0123456789",
            percent_encode(&self.url)
        )
    }

    /// Its public key (what an enrolled device pinned).
    pub fn public_key(&self) -> PublicKey {
        PublicKey::from_signing_key(&self.key)
    }

    /// The device ids it enrolled, in order.
    pub fn devices(&self) -> Vec<Uuid> {
        self.shared.devices.lock().unwrap().clone()
    }

    /// A pending request `id` for this service's person, as a real service would describe it.
    pub fn details(&self, id: Uuid) -> RequestDetails {
        default_details(&self.shared, id)
    }

    /// Sends a text frame to every open stream.
    pub fn send_frame(&self, frame: &Value) {
        let _ = self.shared.frames.send(frame.to_string());
    }

    /// The request lines it has received so far ([`Script::hits`]), in order.
    pub fn hits(&self) -> Vec<String> {
        self.script.hits.lock().unwrap().clone()
    }

    /// How many WebSocket pings its streams have received from devices so far.
    pub fn stream_pings(&self) -> usize {
        self.shared
            .stream_pings
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A revocation notice for `device`, signed by this service's key (a real revocation).
    pub fn notice(&self, device: Uuid) -> Signed<RevocationNotice> {
        Signed::sign(&RevocationNotice::new(device, 1_764_000_000), &self.key).unwrap()
    }

    /// Open streams right now.
    pub fn streams(&self) -> usize {
        self.shared.frames.receiver_count()
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn default_details(shared: &Shared, id: Uuid) -> RequestDetails {
    if let Some(details) = shared.script.requests.lock().unwrap().get(&id) {
        return details.clone();
    }
    RequestDetails {
        v: 1,
        id,
        app: shared.app.clone(),
        user_id: shared.user_id,
        message: format!("Request {id}"),
        details: vec![],
        requester: None,
        created_at: 1_764_000_000,
        expires_at: None,
        number_matching: None,
        approvers: vec![shared.user_id],
        quorum: 1,
        user_verification: None,
        facts: None,
        kind: None,
        action_label: None,
        people: vec![],
    }
}

/// Answers `answer`, or `normal` for [`Answer::Normal`].
fn answer(shared: &Shared, answer: Answer, normal: impl FnOnce() -> Response) -> Response {
    match answer {
        Answer::Normal => normal(),
        Answer::Error { status, body } => {
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
        }
        Answer::Body(body) => axum::Json(body).into_response(),
        Answer::Redirect(to) => Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header(header::LOCATION, to)
            .body(Body::empty())
            .unwrap(),
        Answer::Huge {
            bytes,
            declare_length,
        } => {
            let script = Arc::clone(&shared.script);
            const CHUNK: usize = 64 * 1024;
            let chunk = Bytes::from(vec![b' '; CHUNK]);
            let chunks = bytes.div_ceil(CHUNK as u64);
            let body = futures_util::stream::iter(0..chunks).map(move |i| {
                let len = if i + 1 == chunks {
                    (bytes - i * CHUNK as u64) as usize
                } else {
                    CHUNK
                };
                script.sent_bytes.fetch_add(len as u64, Ordering::SeqCst);
                Ok::<_, std::io::Error>(chunk.slice(..len))
            });
            let mut response = Response::new(Body::from_stream(body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if declare_length {
                response
                    .headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes));
            }
            response
        }
    }
}

async fn enroll(State(shared): State<Arc<Shared>>) -> Response {
    let planned = shared.script.enroll.lock().unwrap().clone();
    let normal = || {
        let device = Uuid::new_v4();
        shared.devices.lock().unwrap().push(device);
        axum::Json(EnrollmentResponse {
            device_id: device,
            device_alias: 1001,
            user_id: shared.user_id,
            app: shared.app.clone(),
            service_public_key: PublicKey::from_signing_key(&shared.key),
            enrolled_at: 1_764_000_000,
            code_seed: assent_protocol::totp::CodeSeed::generate(),
            account_name: None,
        })
        .into_response()
    };
    answer(&shared, planned, normal)
}

async fn preview(State(shared): State<Arc<Shared>>) -> Response {
    let planned = shared.script.preview.lock().unwrap().clone();
    answer(&shared, planned, || {
        axum::Json(assent_protocol::enroll::EnrollPreviewResponse {
            app: shared.app.clone(),
            account_name: Some("ana@example.com".into()),
        })
        .into_response()
    })
}

async fn pending(State(shared): State<Arc<Shared>>) -> Response {
    let planned = shared.script.pending_answer.lock().unwrap().clone();
    let ids = shared.script.pending.lock().unwrap().clone();
    answer(&shared, planned, || {
        axum::Json(PendingRequests { ids }).into_response()
    })
}

async fn details(State(shared): State<Arc<Shared>>, Path(id): Path<Uuid>) -> Response {
    shared
        .script
        .hits
        .lock()
        .unwrap()
        .push(format!("GET /device/v1/requests/{id}"));
    let planned = shared.script.details.lock().unwrap().clone();
    answer(&shared, planned, || {
        let details = default_details(&shared, id);
        axum::Json(DeviceRequest {
            request: Signed::sign(&details, &shared.key).unwrap(),
            status: RequestStatus::Pending,
            answers: vec![],
        })
        .into_response()
    })
}

async fn decision(State(shared): State<Arc<Shared>>, Path(id): Path<Uuid>) -> Response {
    shared
        .script
        .hits
        .lock()
        .unwrap()
        .push(format!("POST /device/v1/requests/{id}/decision"));
    let planned = shared.script.decision.lock().unwrap().clone();
    answer(&shared, planned, || {
        axum::Json(DecisionReceipt {
            success: true,
            status: RequestStatus::Approved,
            duplicate: false,
            frozen_until: None,
        })
        .into_response()
    })
}

/// Everything it does not serve (the approval log among others): recorded in [`Script::hits`],
/// then answered 404 with no body, as an unknown route.
async fn unserved(State(shared): State<Arc<Shared>>, request: axum::extract::Request) -> Response {
    shared
        .script
        .hits
        .lock()
        .unwrap()
        .push(format!("{} {}", request.method(), request.uri()));
    StatusCode::NOT_FOUND.into_response()
}

async fn remove() -> Response {
    axum::Json(json!({"message": "Device removed.", "success": true})).into_response()
}

async fn stream(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let planned = shared.script.stream.lock().unwrap().clone();
    match planned {
        StreamAnswer::Refuse { status, body } => {
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
        }
        StreamAnswer::Upgrade => ws
            .max_message_size(1024 * 1024)
            .on_upgrade(move |socket| relay(shared, socket)),
    }
}

async fn relay(shared: Arc<Shared>, socket: WebSocket) {
    let mut frames = shared.frames.subscribe();
    let (mut sink, mut source) = socket.split();
    let ids = shared.script.pending.lock().unwrap().clone();
    let first = json!({"type": "pending", "ids": ids}).to_string();
    if sink.send(Message::Text(first.into())).await.is_err() {
        return;
    }
    loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Ok(text) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = source.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(Message::Ping(_))) => {
                    shared
                        .stream_pings
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// A valid PNG claiming `side` × `side` pixels, written row by row (one bit per pixel, all
/// zero, so it compresses to almost nothing: 20000 × 20000 is under 100 KB). Decoding it would
/// take `side`² pixels of memory; a device must refuse it from its header.
pub fn dimension_bomb(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::One);
        encoder.set_compression(png::Compression::High);
        let mut writer = encoder.write_header().unwrap();
        let mut rows = writer.stream_writer().unwrap();
        let row = vec![0u8; side.div_ceil(8) as usize];
        for _ in 0..side {
            std::io::Write::write_all(&mut rows, &row).unwrap();
        }
        rows.finish().unwrap();
    }
    out
}

/// One canned answer of a [`LogoServer`].
#[derive(Debug, Clone)]
pub enum LogoAnswer {
    /// `200` with this content type and body.
    Image(&'static str, Vec<u8>),
    /// A redirect (`302`) to this location, as given (absolute or relative).
    Redirect(String),
}

/// What a [`LogoServer`] was asked: the request line and the headers (lower-case names).
#[derive(Debug, Clone)]
pub struct LogoHit {
    /// `GET /path HTTP/1.1`.
    pub line: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
}

/// A hostile relying party's logo server on loopback: canned answers by path, every request
/// recorded (and a `Set-Cookie` on every answer, to see whether a device sends it back).
#[derive(Debug)]
pub struct LogoServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The port.
    pub port: u16,
    hits: Arc<Mutex<Vec<LogoHit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LogoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LogoServer {
    /// Serves `answers` (path → answer); any other path is `404`.
    pub async fn start(answers: Vec<(&str, LogoAnswer)>) -> LogoServer {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let answers: Arc<HashMap<String, LogoAnswer>> = Arc::new(
            answers
                .into_iter()
                .map(|(path, answer)| (path.to_owned(), answer))
                .collect(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (answers, recorded) = (Arc::clone(&answers), Arc::clone(&recorded));
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                        if socket.read_exact(&mut byte).await.is_err() {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let mut lines = text.split("\r\n");
                    let line = lines.next().unwrap_or_default().to_owned();
                    let headers = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                        .collect();
                    let path = line.split(' ').nth(1).unwrap_or("/").to_owned();
                    recorded.lock().unwrap().push(LogoHit { line, headers });
                    let (status, extra, body): (&str, String, Vec<u8>) = match answers.get(&path) {
                        Some(LogoAnswer::Image(content_type, bytes)) => (
                            "200 OK",
                            format!("content-type: {content_type}\r\n"),
                            bytes.clone(),
                        ),
                        Some(LogoAnswer::Redirect(to)) => {
                            ("302 Found", format!("location: {to}\r\n"), Vec::new())
                        }
                        None => ("404 Not Found", String::new(), b"no".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\n{extra}set-cookie: session=tracked; Path=/\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(&body).await;
                });
            }
        });
        LogoServer {
            base: format!("http://127.0.0.1:{port}"),
            port,
            hits,
            task,
        }
    }

    /// Everything it was asked so far.
    pub fn hits(&self) -> Vec<LogoHit> {
        self.hits.lock().unwrap().clone()
    }
}
