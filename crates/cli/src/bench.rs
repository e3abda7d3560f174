//! `assent bench`: push latency, decision and callback latency, approval throughput and memory per
//! connected device, against a bare-WebSocket baseline and the storage ceiling, in one run; on
//! SQLite or PostgreSQL, with one instance or several behind nginx.
//!
//! The service runs as its own process (`assent serve`, this same binary), so its memory can be
//! read from `/proc`. Devices are the real SDK (`Authenticator` with the in-memory secret store,
//! each with its own key, data directory on tmpfs, and push stream) in this process; the idle
//! devices of `--idle-devices` are raw signed WebSocket clients in worker processes
//! ([`idle`]). `--sweep` then offers rising loads to the same devices until the service
//! saturates.

mod idle;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use assent_device::{Authenticator, InsecureServer, MemoryStore, PushEvent, StreamConfig};
use assent_protocol::backend::{NewApprovalRequest, NewUserFields};
use assent_protocol::enroll::EnrollLink;
use assent_protocol::stream::StreamMessage;
use axum::extract::ws::{Message, Utf8Bytes, WebSocketUpgrade};
use axum::extract::{Path as AxumPath, Query, State};
use clap::Args;
use futures_util::{SinkExt as _, StreamExt as _};
use serde::Serialize;
use tokio::io::AsyncBufReadExt as _;
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

use assent_server::admin::{AppSpec, Operator};
use assent_server::config::{KekSource, ServiceConfig};
use assent_server::sealed::Kek;

use crate::backend::BackendClient;

/// Options of `assent bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Simulated devices, each connected with its own stream.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Approval requests created per second.
    #[arg(long, default_value_t = 50)]
    rate: u32,
    /// Seconds of load.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Database URL (default: SQLite in a temporary directory). A PostgreSQL database should be
    /// empty: the bench creates its app and people in it.
    #[arg(long)]
    database: Option<String>,
    /// Instances of the service, behind nginx (more than one needs PostgreSQL).
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Run the service without receipts and the approval log, to measure what they cost on the
    /// approval path (compare with a run without this flag).
    #[arg(long)]
    without_receipts: bool,
    /// Devices that only hold a push stream, besides the `--devices` that approve (raw signed
    /// WebSocket clients in worker processes, from loopback addresses 127.0.0.2 and up). The
    /// baseline holds as many idle connections.
    #[arg(long, default_value_t = 0)]
    idle_devices: usize,
    /// After the run, offer rising loads (x1.5 each step from `--rate`, `--seconds` each) until
    /// approvals fall below 90 % of the offered rate twice: the offered-load curve.
    #[arg(long)]
    sweep: bool,
    /// Pin the service (and the baseline server, in its turn) to CPU 0 and everything else the
    /// bench runs (devices, load, idle workers) to the other CPUs (with `taskset`), so the two
    /// sides stop preempting each other: the main source of run-to-run spread in the p99.
    #[arg(long)]
    pin: bool,
    /// The highest rate `--sweep` offers (it stops before a step above it).
    #[arg(long, default_value_t = 100_000)]
    sweep_max: u32,
    /// Internal: run the bare WebSocket baseline server.
    #[arg(long, hide = true)]
    baseline_server: bool,
    #[command(flatten)]
    worker: idle::IdleWorkerArgs,
}

/// One step of `--sweep`.
#[derive(Debug, Serialize)]
pub struct SweepStep {
    offered_per_s: u32,
    requests_sent: usize,
    requests_refused: usize,
    approved: usize,
    approvals_per_s: f64,
    push_p50_ms: f64,
    push_p99_ms: f64,
    decision_p99_ms: f64,
    callback_p99_ms: f64,
}

/// The results (`--json` prints exactly this).
#[derive(Debug, Serialize)]
pub struct Report {
    devices: usize,
    rate: u32,
    seconds: u64,
    requests_sent: usize,
    approved: usize,
    push_p50_ms: f64,
    push_p99_ms: f64,
    push_max_ms: f64,
    baseline_push_p50_ms: f64,
    baseline_push_p99_ms: f64,
    baseline_push_max_ms: f64,
    push_p99_vs_baseline: f64,
    decision_p50_ms: f64,
    decision_p99_ms: f64,
    callback_p50_ms: f64,
    callback_p99_ms: f64,
    approvals_per_s: f64,
    sqlite_ceiling_per_s: f64,
    storage_ceiling_per_s: f64,
    storage_ceiling_without_receipts_per_s: f64,
    receipts_cost: f64,
    approvals_vs_ceiling: f64,
    engine: &'static str,
    instances: usize,
    /// Whether the service issued receipts (false with `--without-receipts`).
    receipts: bool,
    server_rss_idle_kib: u64,
    server_rss_connected_kib: u64,
    server_rss_per_conn_kib: f64,
    enroll_s: f64,
    connect_s: f64,
    cpus: usize,
    /// Whether the servers ran on CPU 0 and the bench on the others (`--pin`).
    pinned: bool,
    /// Connections that only held a stream (`--idle-devices`), besides `devices`.
    idle_devices: usize,
    /// Create calls the service refused during the load (counted, not fatal).
    requests_refused: usize,
    /// The baseline server's RSS per connection, measured like `server_rss_per_conn_kib`.
    baseline_rss_per_conn_kib: f64,
    /// `--sweep`: the offered-load curve (empty without it).
    sweep: Vec<SweepStep>,
}

/// Milliseconds at percentile `p` (0..=100) of `samples`.
fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("reading /proc (Linux only)")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS")
}

/// Starts a child process that prints "listening on URL" first; returns it and the URL.
///
/// `ASSENT_BENCH_SERVE_WRAPPER` (for example `perf record -o serve.perf --`) runs the service
/// under a profiler; its memory figures are then the wrapper's and meaningless. With `pin`, the
/// server runs on the CPUs `taskset` is given (taskset execs it: the pid is the server's).
async fn spawn_server(
    args: &[&str],
    log: &Path,
    pin: Option<&str>,
) -> anyhow::Result<(tokio::process::Child, String)> {
    let wrapper = std::env::var("ASSENT_BENCH_SERVE_WRAPPER")
        .ok()
        .filter(|w| !w.is_empty() && args[0] == "serve")
        .or_else(|| pin.map(|cpus| format!("taskset -c {cpus}")));
    let mut command = match &wrapper {
        Some(wrapper) => {
            let mut parts = wrapper.split_whitespace();
            let mut command = tokio::process::Command::new(parts.next().context("empty wrapper")?);
            command.args(parts).arg(std::env::current_exe()?);
            command
        }
        None => tokio::process::Command::new(std::env::current_exe()?),
    };
    let mut child = command
        .args(args)
        .env("ASSENT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().context("stdout")?).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .context("server start timed out")??;
    let url = line
        .as_deref()
        .and_then(|l| l.strip_prefix("listening on "))
        .context("server did not start")?
        .to_owned();
    Ok((child, url))
}

async fn stop(mut child: tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    let _ = child.kill().await;
}

/// When each request was created, pushed, decided, called back.
#[derive(Debug, Default)]
struct Timeline {
    created: HashMap<Uuid, Instant>,
    pushed: HashMap<Uuid, Instant>,
    decided: HashMap<Uuid, Instant>,
    called_back: HashMap<Uuid, Instant>,
}

type Shared = Arc<Mutex<Timeline>>;

async fn callback_receiver(timeline: Shared) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/callback", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::post(move |body: axum::body::Bytes| {
            let timeline = Arc::clone(&timeline);
            async move {
                let at = Instant::now();
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                    && let Some(id) = v["uuid"].as_str().and_then(|s| s.parse().ok())
                {
                    timeline.lock().unwrap().called_back.insert(id, at);
                }
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

struct Device {
    user: u64,
    auth: Authenticator,
}

/// A new person of the bench app (`{name}@bench.example`) and an enrollment link for them.
async fn bench_person(backend: &BackendClient, name: &str) -> anyhow::Result<(u64, EnrollLink)> {
    let user = backend
        .add_user(NewUserFields {
            email: Some(format!("{name}@bench.example")),
            ..Default::default()
        })
        .await?;
    let link = EnrollLink::parse(backend.enroll_link(user).await?.enroll_url.expose())?;
    Ok((user, link))
}

async fn enroll_devices(
    backend: &BackendClient,
    base: &Path,
    n: usize,
) -> anyhow::Result<Vec<Device>> {
    let permits = Arc::new(Semaphore::new(32));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let backend = backend.clone();
        let permits = Arc::clone(&permits);
        let dir = base.join(format!("d{i}"));
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await?;
            let (user, link) = bench_person(&backend, &format!("device{i}")).await?;
            let auth = Authenticator::open_with(
                dir,
                Arc::new(MemoryStore::default()),
                StreamConfig::default(),
            )?;
            auth.enroll(
                &link,
                &format!("bench {i}"),
                "bench",
                InsecureServer::Refuse,
            )
            .await?;
            anyhow::Ok(Device { user, auth })
        }));
    }
    let mut devices = Vec::with_capacity(n);
    for task in tasks {
        devices.push(task.await??);
    }
    Ok(devices)
}

/// Connects every device's stream; each approves what it receives. Returns when all are connected.
async fn connect_devices(
    devices: &[Device],
    timeline: &Shared,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let (ready_tx, mut ready) = mpsc::channel::<()>(devices.len().max(1));
    let permits = Arc::new(Semaphore::new(128));
    let mut tasks = Vec::with_capacity(devices.len());
    for device in devices {
        let auth = device.auth.clone();
        let timeline = Arc::clone(timeline);
        let ready_tx = ready_tx.clone();
        let permits = Arc::clone(&permits);
        tasks.push(tokio::spawn(async move {
            let permit = permits.acquire_owned().await;
            let Ok(account) = auth.accounts().map(|a| a[0].clone()) else {
                return;
            };
            let Ok(mut stream) = auth.stream(&account).await else {
                return;
            };
            let mut permit = Some(permit);
            while let Some(event) = stream.next().await {
                match event {
                    PushEvent::Connection {
                        state: assent_device::ConnectionState::Connected,
                        ..
                    } => {
                        permit.take();
                        let _ = ready_tx.send(()).await;
                    }
                    PushEvent::RequestArrived { id, .. } => {
                        timeline.lock().unwrap().pushed.insert(id, Instant::now());
                        let (auth, account, timeline) =
                            (auth.clone(), account.clone(), Arc::clone(&timeline));
                        tokio::spawn(async move {
                            let Ok(shown) = auth.request(&account, id).await else {
                                return;
                            };
                            if let Ok(decided) = auth
                                .approve(&shown, None, assent_server::clock::unix_now())
                                .await
                                && decided.receipt.status
                                    == assent_protocol::request::RequestStatus::Approved
                            {
                                timeline.lock().unwrap().decided.insert(id, Instant::now());
                            }
                        });
                    }
                    _ => {}
                }
            }
        }));
    }
    drop(ready_tx);
    for _ in 0..devices.len() {
        tokio::time::timeout(Duration::from_secs(120), ready.recv())
            .await
            .context("devices did not all connect")?;
    }
    Ok(tasks)
}

/// Requests one load phase sent, and how many of them the service refused.
#[derive(Debug, Clone, Copy)]
struct Sent {
    total: usize,
    refused: usize,
}

/// Sends `rate` requests per second for `seconds` to random devices. A refused create (the
/// service's per-person limits, a saturated service timing out) is counted, not fatal: past
/// saturation that is part of the figure.
async fn load(
    backend: &BackendClient,
    users: &[u64],
    rate: u32,
    seconds: u64,
    timeline: &Shared,
) -> anyhow::Result<Sent> {
    let total = rate as usize * seconds as usize;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(total);
    for i in 0..total {
        tick.tick().await;
        let user = users[(i * 7919) % users.len()];
        let backend = backend.clone();
        let timeline = Arc::clone(timeline);
        sends.push(tokio::spawn(async move {
            // Concurrent requests per person are allowed: past saturation one person's next
            // request arrives before their last is approved, which the one-pending default
            // would refuse.
            let request = NewApprovalRequest {
                message: format!("Bench request {i}"),
                seconds_to_expire: Some(300),
                allow_concurrent: true,
                ..Default::default()
            };
            let started = Instant::now();
            let created = backend.send_request(user, &request).await?;
            let id: Uuid = created.approval_request.uuid.parse()?;
            timeline.lock().unwrap().created.insert(id, started);
            anyhow::Ok(())
        }));
    }
    let mut refused = 0;
    let mut first_refusal = None;
    for send in sends {
        if let Err(e) = send.await? {
            refused += 1;
            first_refusal.get_or_insert(e);
        }
    }
    if let Some(e) = first_refusal {
        tracing::warn!("{refused} of {total} creates failed; the first: {e:#}");
    }
    Ok(Sent { total, refused })
}

/// What one load phase measured.
struct Phase {
    sent: Sent,
    approved: usize,
    /// From the first create to the last approval (the load window when nothing was approved).
    window: Duration,
    push: Vec<f64>,
    decision: Vec<f64>,
    callback: Vec<f64>,
}

/// Offers `rate` requests/s for `seconds`, then waits for the backlog to drain: until every
/// created request is decided and called back, or nothing more was decided for 5 s (at most
/// 120 s), so the next phase starts on an idle service and a saturated one's throughput is its
/// approvals over the time it took.
async fn load_phase(
    backend: &BackendClient,
    users: &[u64],
    rate: u32,
    seconds: u64,
    timeline: &Shared,
) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let sent = load(backend, users, rate, seconds, timeline).await?;
    let created = sent.total - sent.refused;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut progress = (0, Instant::now());
    while Instant::now() < deadline {
        let (decided, called_back) = {
            let t = timeline.lock().unwrap();
            (t.ours(&t.decided).count(), t.ours(&t.called_back).count())
        };
        if decided >= created && called_back >= created {
            break;
        }
        if decided + called_back != progress.0 {
            progress = (decided + called_back, Instant::now());
        } else if progress.1.elapsed() > Duration::from_secs(5) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = timeline.lock().unwrap();
    let window = t
        .ours(&t.decided)
        .map(|(_, at)| *at)
        .max()
        .map_or(started.elapsed(), |at| {
            at.saturating_duration_since(started)
        });
    Ok(Phase {
        sent,
        approved: t.ours(&t.decided).count(),
        window,
        push: latencies(&t.created, &t.pushed),
        decision: latencies(&t.created, &t.decided),
        callback: latencies(&t.created, &t.called_back),
    })
}

impl Timeline {
    /// The events of `events` that belong to requests this phase created (a previous phase's
    /// late decisions and callbacks still arrive after [`Timeline::clear`]).
    fn ours<'a>(
        &'a self,
        events: &'a HashMap<Uuid, Instant>,
    ) -> impl Iterator<Item = (&'a Uuid, &'a Instant)> + 'a {
        events
            .iter()
            .filter(|(id, _)| self.created.contains_key(*id))
    }

    fn clear(&mut self) {
        self.created.clear();
        self.pushed.clear();
        self.decided.clear();
        self.called_back.clear();
    }
}

fn latencies(from: &HashMap<Uuid, Instant>, to: &HashMap<Uuid, Instant>) -> Vec<f64> {
    from.iter()
        .filter_map(|(id, start)| {
            to.get(id)
                .map(|end| ms(end.saturating_duration_since(*start)))
        })
        .collect()
}

// ---- Baseline: a bare WebSocket server (tokio + tungstenite; no auth, no database) ----

type Clients = Arc<Mutex<HashMap<usize, mpsc::Sender<String>>>>;

#[derive(serde::Deserialize)]
struct ClientId {
    id: usize,
}

async fn baseline_ws(
    ws: WebSocketUpgrade,
    Query(q): Query<ClientId>,
    State(clients): State<Clients>,
) -> axum::response::Response {
    ws.read_buffer_size(4096).write_buffer_size(4096).on_upgrade(move |socket| async move {
        let (tx, mut rx) = mpsc::channel::<String>(16);
        clients.lock().unwrap().insert(q.id, tx);
        let (mut sink, mut source) = socket.split();
        loop {
            tokio::select! {
                message = rx.recv() => match message {
                    Some(text) => if sink.send(Message::Text(Utf8Bytes::from(text))).await.is_err() { break },
                    None => break,
                },
                incoming = source.next() => if !matches!(incoming, Some(Ok(_))) { break },
            }
        }
        clients.lock().unwrap().remove(&q.id);
    })
}

async fn baseline_push(
    AxumPath(client): AxumPath<usize>,
    State(clients): State<Clients>,
    body: String,
) -> axum::http::StatusCode {
    let sender = clients.lock().unwrap().get(&client).cloned();
    match sender {
        Some(tx) if tx.try_send(body).is_ok() => axum::http::StatusCode::OK,
        _ => axum::http::StatusCode::NOT_FOUND,
    }
}

/// `assent bench --baseline-server`: the baseline, as its own process like the service.
async fn baseline_server() -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("listening on http://{}", listener.local_addr()?);
    let clients: Clients = Arc::default();
    let app = axum::Router::new()
        .route("/ws", axum::routing::get(baseline_ws))
        .route("/push/{client}", axum::routing::post(baseline_push))
        .with_state(clients);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal handler");
            term.recv().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// What the baseline measured: push latencies, and its RSS per held connection (KiB).
struct Baseline {
    push: Vec<f64>,
    rss_per_conn_kib: f64,
}

/// The bare-WebSocket baseline with `n` clients receiving pushes in this process and `idle`
/// more held by idle workers.
async fn baseline(
    n: usize,
    idle: usize,
    rate: u32,
    seconds: u64,
    dir: &Path,
    pin: Option<&str>,
) -> anyhow::Result<Baseline> {
    let (server, url) = spawn_server(
        &["bench", "--baseline-server"],
        &dir.join("baseline.log"),
        pin,
    )
    .await?;
    let pid = server.id().context("baseline pid")?;
    let addr: SocketAddr = url.trim_start_matches("http://").parse()?;
    let mut fleet = if idle > 0 {
        Some(idle::IdleFleet::start(&url, None, idle::IdleTarget::Baseline, n, idle).await?)
    } else {
        None
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kib(pid)?;
    let arrived: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let (ready_tx, mut ready) = mpsc::channel::<()>(n.max(1));
    let permits = Arc::new(Semaphore::new(128));
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let (arrived, ready_tx, permits) =
            (Arc::clone(&arrived), ready_tx.clone(), Arc::clone(&permits));
        clients.push(tokio::spawn(async move {
            let permit = permits.acquire().await;
            let Ok((socket, _)) =
                tokio_tungstenite::connect_async(format!("ws://{addr}/ws?id={i}")).await
            else {
                return;
            };
            drop(permit);
            let _ = ready_tx.send(()).await;
            let (_sink, mut source) = socket.split();
            while let Some(Ok(frame)) = source.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(text) = frame
                    && let Ok(StreamMessage::Request { id }) = serde_json::from_str(&text)
                {
                    arrived.lock().unwrap().insert(id, Instant::now());
                }
            }
        }));
    }
    drop(ready_tx);
    for _ in 0..n {
        tokio::time::timeout(Duration::from_secs(120), ready.recv())
            .await
            .context("baseline clients did not connect")?;
    }
    if let Some(fleet) = &mut fleet {
        let connected = fleet.connect().await?;
        if connected < idle {
            bail!("only {connected} of {idle} idle baseline connections connected");
        }
    }
    // Wait for the server to register the last connections.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_per_conn_kib = rss_kib(pid)?.saturating_sub(rss_before) as f64 / (n + idle) as f64;
    let http = reqwest::Client::new();
    let total = rate as usize * seconds as usize;
    let sent: Arc<Mutex<HashMap<Uuid, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sends = Vec::with_capacity(total);
    for i in 0..total {
        tick.tick().await;
        let (http, sent) = (http.clone(), Arc::clone(&sent));
        let id = Uuid::new_v4();
        let body = serde_json::to_string(&StreamMessage::Request { id })?;
        let target = format!("{url}/push/{}", (i * 7919) % n);
        sends.push(tokio::spawn(async move {
            sent.lock().unwrap().insert(id, Instant::now());
            let _ = http.post(target).body(body).send().await;
        }));
    }
    for send in sends {
        let _ = send.await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let samples = latencies(&sent.lock().unwrap(), &arrived.lock().unwrap());
    for client in clients {
        client.abort();
    }
    if let Some(fleet) = fleet {
        fleet.stop().await;
    }
    stop(server).await;
    Ok(Baseline {
        push: samples,
        rss_per_conn_kib,
    })
}

/// The storage ceiling of the store behind `config`: approvals per second through the store
/// interface alone (see `assent_server::ceiling`), issuing receipts (and their log leaves) or not.
async fn storage_ceiling(config: &ServiceConfig, issue_receipts: bool) -> anyhow::Result<f64> {
    let operator = Operator::open(config).await?;
    let rate = assent_server::ceiling::approvals_per_second(
        &operator,
        Duration::from_secs(3),
        issue_receipts,
    )
    .await;
    operator.store().close().await;
    Ok(rate?)
}

/// A private nginx in front of `upstreams` (the configuration `assent nginx-config` prints);
/// returns it and its URL.
async fn start_balancer(
    upstreams: &[SocketAddr],
    dir: &Path,
) -> anyhow::Result<(tokio::process::Child, String)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let listen = listener.local_addr()?;
    drop(listener);
    let nginx_dir = dir.join("nginx");
    std::fs::create_dir_all(&nginx_dir)?;
    let conf = nginx_dir.join("nginx.conf");
    std::fs::write(
        &conf,
        crate::balancer::private_config(listen, upstreams, &nginx_dir),
    )?;
    let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .context("--instances needs nginx (Debian package nginx)")?;
    let child = tokio::process::Command::new(nginx)
        .arg("-c")
        .arg(&conf)
        .arg("-p")
        .arg(&nginx_dir)
        .kill_on_drop(true)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(listen).await.is_err() {
        if Instant::now() > deadline {
            bail!(
                "nginx did not start: {}",
                std::fs::read_to_string(nginx_dir.join("error.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((child, format!("http://{listen}")))
}

/// The HTTP connection cap the bench gives the service (`--max-connections`).
const BENCH_MAX_CONNECTIONS: u64 = 4096;

/// Every stream is a socket in the service (which inherits this process's limit) and one on the
/// client side (this process for `--devices`, a worker for idle devices). Raises the soft limit
/// to the hard one, and the hard one too when this process may (root, or `CAP_SYS_RESOURCE`),
/// to leave the service room for its HTTP connection cap besides the streams (it lowers that cap
/// to fit, and says so in its log, when there is less).
fn raise_open_files(streams: usize) -> anyhow::Result<()> {
    // One service process holds every stream: it needs them, its connection cap and its own
    // files (the bench's and the workers' processes need fewer).
    let needed = streams as u64 + BENCH_MAX_CONNECTIONS + crate::serve::RESERVED_FILES;
    let roomy = streams as u64 + 24_000;
    let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    if hard < roomy {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(roomy);
        let _ = rlimit::setrlimit(
            rlimit::Resource::NOFILE,
            roomy.min(nr_open),
            roomy.min(nr_open),
        );
    }
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(soft);
    if limit < needed {
        bail!(
            "the open-file limit ({limit}) is too low for {streams} streams in one service process (needs {needed}): raise the hard limit (ulimit -Hn as root, or LimitNOFILE=)"
        );
    }
    Ok(())
}

/// Moves every thread of this process to CPUs 1.. (the processes it starts inherit that), and
/// returns the CPU list servers are pinned to: `0`.
async fn pin_self() -> anyhow::Result<String> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    if cpus < 2 {
        bail!("--pin needs at least two CPUs");
    }
    let status = tokio::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &format!("1-{}", cpus - 1)])
        .arg(std::process::id().to_string())
        .stdout(Stdio::null())
        .status()
        .await
        .context("--pin needs taskset (util-linux)")?;
    if !status.success() {
        bail!("taskset could not pin the bench: {status}");
    }
    Ok("0".to_owned())
}

fn work_dir() -> anyhow::Result<tempfile::TempDir> {
    // Device data directories on tmpfs: the simulated devices' small file writes should not be
    // what is measured.
    let shm = PathBuf::from("/dev/shm");
    let builder = tempfile::Builder::new()
        .prefix("assent-bench-")
        .tempdir_in(if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        });
    builder.context("creating the bench directory")
}

/// Runs the benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<ExitCode> {
    if args.baseline_server {
        return baseline_server().await;
    }
    if args.worker.idle_worker {
        return idle::run_worker(args.worker).await;
    }
    if args.devices == 0 || args.rate == 0 || args.seconds == 0 {
        bail!("--devices, --rate and --seconds must be positive");
    }
    raise_open_files(args.devices + args.idle_devices)?;
    let pin = if args.pin {
        Some(pin_self().await?)
    } else {
        None
    };
    let dir = work_dir()?;
    let say = |text: &str| {
        if !args.json {
            eprintln!("{text}");
        }
    };
    let timeline: Shared = Arc::default();
    let callback_url = callback_receiver(Arc::clone(&timeline)).await?;
    let database = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("assent.db").display()));
    let postgres = assent_server::is_postgres_url(&database);
    if args.instances == 0 || (args.instances > 1 && !postgres) {
        bail!("--instances above 1 needs --database postgres://... (instances share one database)");
    }
    let kek_file = dir.path().join("bench.kek");
    Kek::create_file(&kek_file)?;
    let config = {
        let mut config =
            ServiceConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), database.clone());
        config.kek = KekSource::File(kek_file.clone());
        config
    };
    let api_key = {
        let operator = Operator::open(&config).await?;
        let spec = AppSpec {
            name: "Bench".into(),
            callback_url: Some(callback_url),
            ..Default::default()
        };
        let created = operator
            .create_app(spec, assent_server::clock::unix_now())
            .await;
        operator.store().close().await;
        created?.1.expose().to_owned()
    };
    let kek_arg = kek_file.to_string_lossy().into_owned();
    let max_connections = BENCH_MAX_CONNECTIONS.to_string();
    let mut services = Vec::with_capacity(args.instances);
    let mut upstreams = Vec::with_capacity(args.instances);
    for i in 0..args.instances {
        let instance = format!("bench-{i}");
        // The bench offers more than one relying party's budget on purpose: rate limits off.
        let mut serve_args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database,
            "--kek-file",
            &kek_arg,
            "--instance",
            &instance,
            "--rate-per-api-key",
            "0",
            "--rate-per-source",
            "0",
            "--trusted-proxy",
            "127.0.0.1",
            // The bench's HTTP traffic needs far fewer than the default 10,000 connections;
            // what the open-files limit leaves goes to push streams (see `assent serve`).
            "--max-connections",
            &max_connections,
        ];
        if args.without_receipts {
            serve_args.push("--without-receipts");
        }
        let (service, url) = spawn_server(
            &serve_args,
            &dir.path().join(format!("serve-{i}.log")),
            pin.as_deref(),
        )
        .await?;
        upstreams.push(url.trim_start_matches("http://").parse::<SocketAddr>()?);
        services.push(service);
    }
    let pids: Vec<u32> = services
        .iter()
        .map(|s| s.id().context("service pid"))
        .collect::<anyhow::Result<_>>()?;
    let rss = || -> anyhow::Result<u64> { pids.iter().map(|pid| rss_kib(*pid)).sum() };
    let (balancer, url) = if args.instances > 1 {
        let (child, url) = start_balancer(&upstreams, dir.path()).await?;
        (Some(child), url)
    } else {
        (None, format!("http://{}", upstreams[0]))
    };
    let backend = BackendClient::with_key(&url, &api_key);

    say(&format!("enrolling {} devices…", args.devices));
    let started = Instant::now();
    let devices = enroll_devices(&backend, dir.path(), args.devices).await?;
    let enroll_s = started.elapsed().as_secs_f64();
    let mut fleet = if args.idle_devices > 0 {
        say(&format!("enrolling {} idle devices…", args.idle_devices));
        Some(
            idle::IdleFleet::start(
                &url,
                Some(&api_key),
                idle::IdleTarget::Service,
                args.devices,
                args.idle_devices,
            )
            .await?,
        )
    } else {
        None
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_idle = rss()?;

    say("connecting their streams…");
    let started = Instant::now();
    let streams = connect_devices(&devices, &timeline).await?;
    if let Some(fleet) = &mut fleet {
        let connected = fleet.connect().await?;
        if connected < args.idle_devices {
            bail!(
                "only {connected} of {} idle devices connected their streams",
                args.idle_devices
            );
        }
    }
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = rss()?;

    say(&format!(
        "sending {} requests/s for {} s…",
        args.rate, args.seconds
    ));
    let users: Vec<u64> = devices.iter().map(|d| d.user).collect();
    let phase = load_phase(&backend, &users, args.rate, args.seconds, &timeline).await?;
    let (sent, approved, window) = (phase.sent, phase.approved, phase.window);
    let (mut push, mut decision, mut callback) = (phase.push, phase.decision, phase.callback);
    let mut sweep = Vec::new();
    if args.sweep {
        let mut rate = f64::from(args.rate);
        let mut saturated_steps = 0;
        while saturated_steps < 2 && sweep.len() < 12 {
            rate *= 1.5;
            let offered = rate.round() as u32;
            if offered > args.sweep_max {
                break;
            }
            say(&format!(
                "sweep: offering {offered} requests/s for {} s…",
                args.seconds
            ));
            timeline.lock().unwrap().clear();
            let mut step = load_phase(&backend, &users, offered, args.seconds, &timeline).await?;
            let approvals_per_s = step.approved as f64 / step.window.as_secs_f64();
            if approvals_per_s < 0.9 * f64::from(offered) {
                saturated_steps += 1;
            }
            sweep.push(SweepStep {
                offered_per_s: offered,
                requests_sent: step.sent.total,
                requests_refused: step.sent.refused,
                approved: step.approved,
                approvals_per_s,
                push_p50_ms: percentile(&mut step.push, 50.0),
                push_p99_ms: percentile(&mut step.push, 99.0),
                decision_p99_ms: percentile(&mut step.decision, 99.0),
                callback_p99_ms: percentile(&mut step.callback, 99.0),
            });
        }
    }
    for stream in streams {
        stream.abort();
    }
    drop(devices);
    if let Some(fleet) = fleet {
        fleet.stop().await;
    }
    if let Some(balancer) = balancer {
        // TERM to the master, which stops its workers too (a KILL would orphan them).
        stop(balancer).await;
    }
    for service in services {
        stop(service).await;
    }

    say("measuring the bare WebSocket baseline…");
    let base = baseline(
        args.devices,
        args.idle_devices,
        args.rate,
        args.seconds,
        dir.path(),
        pin.as_deref(),
    )
    .await?;
    let baseline_rss_per_conn_kib = base.rss_per_conn_kib;
    let mut base = base.push;
    say("measuring the storage ceiling…");
    let sqlite_config = ServiceConfig::new(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        format!("sqlite://{}", dir.path().join("ceiling.db").display()),
    );
    let sqlite_ceiling = storage_ceiling(&sqlite_config, true).await?;
    let ceiling = if postgres {
        storage_ceiling(&config, true).await?
    } else {
        sqlite_ceiling
    };
    say("measuring the storage ceiling without receipts…");
    let ceiling_without_receipts =
        storage_ceiling(if postgres { &config } else { &sqlite_config }, false).await?;
    let approvals_per_s = approved as f64 / window.as_secs_f64();
    let connections = args.devices + args.idle_devices;

    let report = Report {
        devices: args.devices,
        rate: args.rate,
        seconds: args.seconds,
        requests_sent: sent.total,
        approved,
        push_p50_ms: percentile(&mut push, 50.0),
        push_p99_ms: percentile(&mut push, 99.0),
        push_max_ms: percentile(&mut push, 100.0),
        baseline_push_p50_ms: percentile(&mut base, 50.0),
        baseline_push_p99_ms: percentile(&mut base, 99.0),
        baseline_push_max_ms: percentile(&mut base, 100.0),
        push_p99_vs_baseline: percentile(&mut push, 99.0) / percentile(&mut base, 99.0),
        decision_p50_ms: percentile(&mut decision, 50.0),
        decision_p99_ms: percentile(&mut decision, 99.0),
        callback_p50_ms: percentile(&mut callback, 50.0),
        callback_p99_ms: percentile(&mut callback, 99.0),
        approvals_per_s,
        sqlite_ceiling_per_s: sqlite_ceiling,
        storage_ceiling_per_s: ceiling,
        storage_ceiling_without_receipts_per_s: ceiling_without_receipts,
        // The fraction of the storage throughput that receipts and the log take.
        receipts_cost: 1.0 - ceiling / ceiling_without_receipts,
        approvals_vs_ceiling: approvals_per_s / ceiling,
        engine: if postgres { "postgres" } else { "sqlite" },
        instances: args.instances,
        receipts: !args.without_receipts,
        server_rss_idle_kib: rss_idle,
        server_rss_connected_kib: rss_connected,
        server_rss_per_conn_kib: rss_connected.saturating_sub(rss_idle) as f64 / connections as f64,
        enroll_s,
        connect_s,
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        pinned: args.pin,
        idle_devices: args.idle_devices,
        requests_refused: sent.refused,
        baseline_rss_per_conn_kib,
        sweep,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(ExitCode::SUCCESS)
}
