//! Idle devices for `assent bench --idle-devices N`: connections that only hold a push stream.
//!
//! Each idle device is a raw signed WebSocket client: its own Ed25519 key, one enrollment call and
//! one signed upgrade, then nothing but answering the service's pings. Not the SDK: a hundred
//! thousand SDK devices (each with its data directory, tasks and timers) would measure the bench,
//! not the service. The SDK devices of `--devices` are the sample whose push latency is measured.
//!
//! They run in worker processes (`assent bench --idle-worker`, hidden), each bound to its own
//! loopback source address (127.0.0.2, .3, … towards the service, 127.0.0.130, … towards the
//! baseline, see [`IdleFleet::start`]): one address has only about 28,000 ephemeral ports
//! towards one listening port, and a process's scheduler and allocator would otherwise be one
//! more shared bottleneck. The same workers hold idle connections to the bare-WebSocket baseline,
//! so both sides of the comparison carry the same number of sockets.
//!
//! Worker protocol (stdout lines, stdin lines): the worker prints `enrolled` once every device it
//! owns is enrolled, waits for `connect` on stdin, connects them all, prints `ready <connected>`,
//! and holds the connections until its stdin closes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use assent_protocol::auth::{DeviceAuthorization, new_nonce};
use assent_protocol::enroll::{EnrollmentRequest, EnrollmentResponse};
use clap::{Args, ValueEnum as _};
use ed25519_dalek::SigningKey;
use futures_util::StreamExt as _;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::backend::BackendClient;

/// Idle connections one worker process holds at most (below the ~28,000 ephemeral ports of its
/// one source address).
pub const PER_WORKER: usize = 25_000;
/// Environment variable carrying the bench app's API key to a worker (not its command line,
/// which every local user can read).
const API_KEY_ENV: &str = "ASSENT_BENCH_API_KEY";
/// Enrollments and connection attempts in flight per worker.
const IN_FLIGHT: usize = 64;

/// What an idle worker connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IdleTarget {
    /// `assent serve`: enroll, then hold a signed push stream.
    Service,
    /// The bare-WebSocket baseline server: hold `/ws?id=N`.
    Baseline,
}

/// The hidden options of `assent bench --idle-worker`.
#[derive(Debug, Clone, Args)]
pub struct IdleWorkerArgs {
    /// Internal: run as an idle-device worker.
    #[arg(long, hide = true)]
    pub idle_worker: bool,
    /// Internal: the service or baseline URL.
    #[arg(long, hide = true)]
    pub worker_url: Option<String>,
    /// Internal: what the worker connects to.
    #[arg(long, hide = true, value_enum, default_value_t = IdleTarget::Service)]
    pub worker_target: IdleTarget,
    /// Internal: the local address the worker's streams come from.
    #[arg(long, hide = true, default_value = "127.0.0.1")]
    pub worker_source: IpAddr,
    /// Internal: the first device index (names and baseline ids).
    #[arg(long, hide = true, default_value_t = 0)]
    pub worker_first: usize,
    /// Internal: devices this worker holds.
    #[arg(long, hide = true, default_value_t = 0)]
    pub worker_count: usize,
}

/// What the worker knows about one enrolled idle device.
struct Enrolled {
    device_id: uuid::Uuid,
    key: SigningKey,
}

/// One connection a worker opens.
enum IdleConnection {
    /// An enrolled device's signed push stream to the service.
    Device(Box<Enrolled>),
    /// The baseline's `/ws?id=N`.
    Baseline(usize),
}

/// Small socket buffers, as the baseline server's: an idle stream carries a heartbeat now and
/// then.
fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .max_message_size(Some(64 * 1024))
}

/// `assent bench --idle-worker`: enrolls (for the service), waits for `connect`, connects,
/// reports, holds.
pub async fn run_worker(args: IdleWorkerArgs) -> anyhow::Result<ExitCode> {
    let url = args.worker_url.context("--worker-url is required")?;
    let base: url::Url = url.parse().context("--worker-url")?;
    let server: SocketAddr = base
        .socket_addrs(|| None)
        .context("--worker-url has no address")?
        .into_iter()
        .next()
        .context("--worker-url has no address")?;
    let enrolled = match args.worker_target {
        IdleTarget::Service => {
            let api_key = std::env::var(API_KEY_ENV).context("no API key for the idle worker")?;
            enroll_all(&url, &api_key, args.worker_first, args.worker_count).await?
        }
        IdleTarget::Baseline => Vec::new(),
    };
    say("enrolled")?;
    // The parent's lines, read on a thread of their own (tokio's stdin is not built in).
    let (line_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    match lines.recv().await {
        Some(line) if line.trim() == "connect" => {}
        _ => return Ok(ExitCode::SUCCESS),
    }
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let targets: Vec<IdleConnection> = match args.worker_target {
        IdleTarget::Service => enrolled
            .into_iter()
            .map(|device| IdleConnection::Device(Box::new(device)))
            .collect(),
        IdleTarget::Baseline => (0..args.worker_count)
            .map(|i| IdleConnection::Baseline(args.worker_first + i))
            .collect(),
    };
    let mut connecting = Vec::with_capacity(targets.len());
    for target in targets {
        let permits = Arc::clone(&permits);
        let source = args.worker_source;
        connecting.push(tokio::spawn(async move {
            let _permit = permits.acquire().await?;
            // Signed when it connects, not when queued: the service allows 120 s of skew, and
            // 25,000 connections take longer than that to open.
            let (request, greeted) = match target {
                IdleConnection::Device(device) => (signed_stream_request(server, &device)?, true),
                IdleConnection::Baseline(id) => (
                    format!("ws://{server}/ws?id={id}").into_client_request()?,
                    false,
                ),
            };
            hold(source, server, request, greeted).await
        }));
    }
    let mut held = Vec::with_capacity(connecting.len());
    let mut failed = 0usize;
    let mut first_error = None;
    for task in connecting {
        match task.await? {
            Ok(holder) => held.push(holder),
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("{failed} idle connections failed; the first: {e:#}");
    }
    say(&format!("ready {}", held.len()))?;
    // Hold until the bench closes stdin (or the process is killed).
    while lines.recv().await.is_some() {}
    for holder in held {
        holder.abort();
    }
    Ok(ExitCode::SUCCESS)
}

/// The signed upgrade request of `device`'s push stream, signed now.
fn signed_stream_request(
    server: SocketAddr,
    device: &Enrolled,
) -> anyhow::Result<tokio_tungstenite::tungstenite::handshake::client::Request> {
    let mut request = format!("ws://{server}/device/v1/stream").into_client_request()?;
    let header = DeviceAuthorization::sign(
        &device.key,
        device.device_id,
        "GET",
        "/device/v1/stream",
        b"",
        assent_server::clock::unix_now(),
        new_nonce(),
    )
    .render();
    request
        .headers_mut()
        .insert("Authorization", header.parse()?);
    Ok(request)
}

/// One line to the parent.
fn say(line: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}")?;
    stdout.flush()?;
    Ok(())
}

/// Connects one idle client from `source` and returns the task that keeps it open (reading,
/// which also answers the service's pings). With `greeted`, the connection counts only once its
/// first frame arrived: the service sends its `pending` list after registering the stream with
/// its hub, so an upgrade it then closes (hub full, device gone) is not counted as held.
async fn hold(
    source: IpAddr,
    server: SocketAddr,
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
    greeted: bool,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = tokio::time::timeout(Duration::from_secs(30), socket.connect(server))
        .await
        .context("connect timed out")??;
    stream.set_nodelay(true)?;
    let (mut socket, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::client_async_with_config(request, stream, Some(socket_config())),
    )
    .await
    .context("upgrade timed out")??;
    if greeted {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await {
            Ok(Some(Ok(frame))) if frame.is_text() => {}
            other => bail!("the service did not keep the stream: {other:?}"),
        }
    }
    Ok(tokio::spawn(async move {
        while let Some(Ok(_)) = socket.next().await {}
    }))
}

/// Creates a person, an enrollment link and an enrolled device for each index.
async fn enroll_all(
    url: &str,
    api_key: &str,
    first: usize,
    count: usize,
) -> anyhow::Result<Vec<Enrolled>> {
    let backend = BackendClient::with_key(url, api_key);
    let http = reqwest::Client::new();
    let enroll_url = format!("{}/device/v1/enroll", url.trim_end_matches('/'));
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::with_capacity(count);
    for i in first..first + count {
        let (backend, http, enroll_url, permits) = (
            backend.clone(),
            http.clone(),
            enroll_url.clone(),
            Arc::clone(&permits),
        );
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await?;
            let (_, link) = super::bench_person(&backend, &format!("idle{i}")).await?;
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let request = EnrollmentRequest::new(
                link.token.clone(),
                &key,
                format!("idle {i}"),
                "bench".into(),
            );
            let response = http.post(&enroll_url).json(&request).send().await?;
            if !response.status().is_success() {
                bail!(
                    "enrolling idle device {i}: HTTP {}: {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                );
            }
            let enrolled: EnrollmentResponse = response.json().await?;
            anyhow::Ok(Enrolled {
                device_id: enrolled.device_id,
                key,
            })
        }));
    }
    let mut devices = Vec::with_capacity(count);
    for task in tasks {
        devices.push(task.await??);
    }
    Ok(devices)
}

/// The worker processes of one side (service or baseline), started and enrolled.
pub struct IdleFleet {
    workers: Vec<Worker>,
}

struct Worker {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl Worker {
    async fn expect(&mut self, what: &str, within: Duration) -> anyhow::Result<String> {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .with_context(|| format!("an idle worker did not report {what:?} in time"))??
            .with_context(|| format!("an idle worker exited before {what:?}"))?;
        if !line.starts_with(what) {
            bail!("an idle worker said {line:?}, expected {what:?}");
        }
        Ok(line)
    }
}

impl IdleFleet {
    /// Starts enough workers for `count` idle devices numbered from `first`, and waits until
    /// every one has enrolled its devices (nothing is connected yet: see [`IdleFleet::connect`]).
    /// `api_key` is needed for [`IdleTarget::Service`].
    ///
    /// # Errors
    /// A worker that cannot start, or fails to enroll its devices.
    pub async fn start(
        url: &str,
        api_key: Option<&str>,
        target: IdleTarget,
        first: usize,
        count: usize,
    ) -> anyhow::Result<Self> {
        let mut workers = Vec::new();
        let mut start = first;
        let mut remaining = count;
        while remaining > 0 {
            let n = remaining.min(PER_WORKER);
            // 127.0.0.2, .3, … for the service's, 127.0.0.130 and up for the baseline's: the bench
            // and the SDK devices use 127.0.0.1, and the service's fleet leaves up to 25,000
            // ports per address in TIME_WAIT for a minute after it closes, just before the
            // baseline's connects.
            let first_octet = match target {
                IdleTarget::Service => 2,
                IdleTarget::Baseline => 130,
            };
            let octet =
                u8::try_from(first_octet + workers.len()).context("too many idle workers")?;
            let source = Ipv4Addr::new(127, 0, 0, octet);
            let target_name = target
                .to_possible_value()
                .context("every idle target has a name")?;
            let mut command = tokio::process::Command::new(std::env::current_exe()?);
            command
                .args(["bench", "--idle-worker", "--worker-url", url])
                .args(["--worker-target", target_name.get_name()])
                .args(["--worker-source", &source.to_string()])
                .args(["--worker-first", &start.to_string()])
                .args(["--worker-count", &n.to_string()])
                .env("ASSENT_LOG", "warn")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true);
            if let Some(key) = api_key {
                command.env(API_KEY_ENV, key);
            }
            let mut child = command.spawn().context("starting an idle worker")?;
            let stdin = child.stdin.take().context("worker stdin")?;
            let stdout = child.stdout.take().context("worker stdout")?;
            workers.push(Worker {
                child,
                stdin,
                lines: tokio::io::BufReader::new(stdout).lines(),
            });
            start += n;
            remaining -= n;
        }
        for worker in &mut workers {
            worker.expect("enrolled", Duration::from_secs(1800)).await?;
        }
        Ok(IdleFleet { workers })
    }

    /// Connects every idle device; returns how many connected.
    ///
    /// # Errors
    /// A worker that exits or does not report within ten minutes.
    pub async fn connect(&mut self) -> anyhow::Result<usize> {
        for worker in &mut self.workers {
            worker.stdin.write_all(b"connect\n").await?;
            worker.stdin.flush().await?;
        }
        let mut connected = 0;
        for worker in &mut self.workers {
            let line = worker.expect("ready", Duration::from_secs(600)).await?;
            connected += line
                .trim_start_matches("ready")
                .trim()
                .parse::<usize>()
                .context("a worker's ready line")?;
        }
        Ok(connected)
    }

    /// Closes every idle connection and ends the workers.
    pub async fn stop(self) {
        for mut worker in self.workers {
            drop(worker.stdin);
            if tokio::time::timeout(Duration::from_secs(20), worker.child.wait())
                .await
                .is_err()
            {
                let _ = worker.child.kill().await;
            }
        }
    }
}
