//! Service configuration.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::sealed::Kek;

/// Limits that keep bad or hostile input cheap to refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest message, in characters (Authy's limit).
    pub max_message_chars: usize,
    /// Most detail fields (shown or hidden) per request.
    pub max_detail_fields: usize,
    /// Longest detail label, in characters.
    pub max_detail_label_chars: usize,
    /// Longest detail value, in characters.
    pub max_detail_value_chars: usize,
    /// Most logos per request.
    pub max_logos: usize,
    /// Longest logo URL, in bytes.
    pub max_logo_url_len: usize,
    /// Most approvers per request.
    pub max_approvers: usize,
    /// Longest requester field (ip, location, user agent), in characters.
    pub max_requester_field_chars: usize,
    /// Longest `seconds_to_expire`.
    pub max_seconds_to_expire: u64,
    /// Requests that may wait for one person at once, whoever started them (push-bombing
    /// protection).
    pub max_pending_per_user: u32,
}

/// A sustained rate with a burst allowance (a token bucket).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Calls per second, sustained.
    pub per_second: f64,
    /// Calls allowed at once after a quiet period.
    pub burst: f64,
}

/// Limits on connections and call rates: what keeps a few hundred sockets or one noisy client
/// from denying service to everyone else.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionLimits {
    /// Open HTTP connections at once (push streams are counted by the hub, not here).
    pub max_connections: usize,
    /// Open HTTP connections from one source address (trusted proxies are exempt).
    pub max_connections_per_source: usize,
    /// A client must send a request's headers within this time, and an idle keep-alive
    /// connection is closed after it.
    pub header_timeout: Duration,
    /// A client must send a whole request body within this time.
    pub body_timeout: Duration,
    /// A write to a client (an answer, a push) must make progress within this time, or the
    /// connection is closed: a client that never reads cannot hold it.
    pub write_timeout: Duration,
    /// Push streams one device may hold; a new one closes its oldest.
    pub max_streams_per_device: usize,
    /// Push streams on this instance.
    pub max_streams: usize,
    /// New approval requests are refused (`60121`, `Retry-After`) while this instance works on
    /// more than this many authenticated calls (see `metrics::Working`: slow senders and
    /// long-polls waiting do not count); 0 turns it off. Past its capacity a service that
    /// accepts every new request makes all of them late: decisions time out and are retried,
    /// and approvals per second fall as the offered load grows (docs/benchmarks.md). Refusing
    /// new work keeps what was accepted moving; calls about existing requests (a device's fetch
    /// and decision, a status poll) are never refused for load.
    pub shed_new_requests_above: usize,
    /// Backend calls per API key.
    pub per_api_key: Option<Rate>,
    /// Backend and enrollment calls per source address (before the API key is checked).
    pub per_source: Option<Rate>,
    /// Proxies whose `X-Forwarded-For` names the real source (a load balancer in front).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 10_000,
            max_connections_per_source: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(20),
            max_streams_per_device: 2,
            max_streams: 200_000,
            shed_new_requests_above: 256,
            per_api_key: Some(Rate {
                per_second: 100.0,
                burst: 200.0,
            }),
            per_source: Some(Rate {
                per_second: 200.0,
                burst: 400.0,
            }),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Where the key-encryption key (see [`crate::sealed`]) comes from.
#[derive(Debug, Clone)]
pub enum KekSource {
    /// `<database file>.kek` beside a SQLite database, created (mode 0600) when missing. The
    /// embedded default; an operator who wants a stolen copy of the data directory to be useless
    /// keeps the key elsewhere.
    BesideDatabase,
    /// A key file (mode 0600 or 0400).
    File(PathBuf),
    /// A key given directly (from an environment variable or a systemd credential).
    Key(Kek),
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 64 * 1024,
            max_message_chars: 200,
            max_detail_fields: 20,
            max_detail_label_chars: 64,
            max_detail_value_chars: 500,
            max_logos: 4,
            max_logo_url_len: 2048,
            max_approvers: 10,
            max_requester_field_chars: 256,
            max_seconds_to_expire: 30 * 24 * 3600,
            max_pending_per_user: 10,
        }
    }
}

/// Everything `assent serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://path` (or a plain path), or `postgres://...`.
    pub database_url: String,
    /// Most connections to PostgreSQL (SQLite uses one writer and a few readers).
    pub database_pool_size: u32,
    /// The URL devices reach the service at; goes into enrollment links.
    pub public_url: Url,
    /// Input limits.
    pub limits: Limits,
    /// Largest accepted device clock skew, seconds.
    pub max_clock_skew_secs: u64,
    /// Registration token lifetime, seconds.
    pub registration_ttl_secs: i64,
    /// Default `seconds_to_expire` when a request gives none (Authy's default).
    pub default_seconds_to_expire: u64,
    /// Longest `?wait=` long-poll, seconds.
    pub max_wait_secs: u64,
    /// Interval between stream heartbeats.
    pub heartbeat_interval: Duration,
    /// Timeout of one callback delivery attempt.
    pub callback_timeout: Duration,
    /// Give up on a callback this long after the decision, seconds.
    pub callback_give_up_secs: i64,
    /// Callbacks to one app delivered at once (a slow endpoint only slows its own app).
    pub callback_concurrency_per_app: u32,
    /// Connection and rate limits.
    pub connections: ConnectionLimits,
    /// The key-encryption key sealing secrets at rest.
    pub kek: KekSource,
    /// Older key-encryption keys that still open what they sealed (during a rotation).
    pub previous_keks: Vec<KekSource>,
    /// This instance's name in logs, metrics and callback claims (default: host name and pid).
    pub instance: String,
    /// Points where tests hold calls (see [`PausePoints`]).
    pub pause_points: PausePoints,
    /// Where the service reads the time (tests move it forward).
    pub clock: crate::clock::Clock,
    /// How often the approval log's checkpoint is signed when the log grew (checkpoints are also
    /// signed on demand).
    pub checkpoint_interval: Duration,
    /// Issue a receipt (and its log entry) for every approved or denied request. Off only to
    /// measure what receipts cost (`assent bench`): devices watching the log see nothing of the
    /// decisions made meanwhile.
    pub issue_receipts: bool,
}

impl ServiceConfig {
    /// Defaults for everything but where to listen and what database to use. The public URL
    /// defaults to `http://<listen>`.
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> Self {
        let public_url =
            Url::parse(&format!("http://{listen}")).expect("a socket address makes a URL");
        ServiceConfig {
            listen,
            database_url: database_url.into(),
            database_pool_size: 10,
            public_url,
            limits: Limits::default(),
            max_clock_skew_secs: assent_protocol::auth::DEFAULT_MAX_SKEW_SECS,
            registration_ttl_secs: 600,
            default_seconds_to_expire: 86_400,
            max_wait_secs: 60,
            heartbeat_interval: Duration::from_secs(
                assent_protocol::stream::HEARTBEAT_INTERVAL_SECS,
            ),
            callback_timeout: Duration::from_secs(10),
            callback_give_up_secs: 24 * 3600,
            callback_concurrency_per_app: 4,
            connections: ConnectionLimits::default(),
            kek: KekSource::BesideDatabase,
            previous_keks: Vec::new(),
            instance: default_instance_name(),
            pause_points: PausePoints::default(),
            clock: crate::clock::Clock::system(),
            checkpoint_interval: Duration::from_secs(10),
            issue_receipts: true,
        }
    }
}

fn default_instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "assent".to_owned());
    format!("{host}:{}", std::process::id())
}

/// Named points where a test holds a call to force a race deterministically (a revocation landing
/// between a call's checks and its write, say). Empty, and free, in production: a point is only
/// ever held when a test armed it.
#[derive(Debug, Clone, Default)]
pub struct PausePoints(
    std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<&'static str, std::sync::Arc<Pause>>>,
    >,
);

/// One armed point: the call announces its arrival and waits for the release.
#[derive(Debug, Default)]
pub struct Pause {
    arrived: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl Pause {
    /// Waits until a call reached the point.
    pub async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// Lets the held call go on.
    pub fn release(&self) {
        self.release.notify_one();
    }
}

impl PausePoints {
    /// Arms `point`: the next call that reaches it waits for [`Pause::release`].
    pub fn arm(&self, point: &'static str) -> std::sync::Arc<Pause> {
        let pause = std::sync::Arc::new(Pause::default());
        self.0
            .lock()
            .expect("pause points lock")
            .insert(point, std::sync::Arc::clone(&pause));
        pause
    }

    /// Called at `point`: holds the call when a test armed it (once), else returns at once.
    pub async fn at(&self, point: &'static str) {
        let armed = self.0.lock().expect("pause points lock").remove(point);
        if let Some(pause) = armed {
            pause.arrived.notify_one();
            pause.release.notified().await;
        }
    }
}
