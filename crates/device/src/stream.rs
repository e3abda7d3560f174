//! [`PushStream`]: one account's live connection to its service.
//!
//! The stream signs its WebSocket upgrade and keeps a client-side heartbeat deadline: it treats a
//! window without any frame (a pong, a heartbeat, a message) as a dead connection, even when TCP
//! still looks open (a frozen proxy, a suspended laptop's stale socket). It pings the service only
//! once the service has been silent for half the window (then every third of it): a live service
//! sends a heartbeat more often than that, so a healthy idle stream costs this device no timer
//! of its own, only the service's heartbeat and the automatic pong to the service's ping. After a
//! dead connection it reconnects by itself, with jittered exponential backoff (0.5 s doubling to
//! 30 s, reset after a healthy connection). Every connection starts with the service's `pending`
//! list; the stream keeps the set of requests it has already reported, so each pending request is
//! reported exactly once however often it reconnects, and a request that was resolved while it
//! was offline is reported as resolved.
//!
//! Nothing the service sends can make the stream grow without bound: a frame is at most
//! [`MAX_FRAME_BYTES`], at most [`MAX_PENDING_PER_ACCOUNT`] requests are reported at once (more
//! wait, as ids only, up to [`MAX_WAITING_PER_ACCOUNT`], and are reported as earlier ones
//! resolve), and contact with the service is reported at most once a second however many frames
//! arrive. A `revoked` frame stops the stream only when its notice verifies against the account's
//! pinned service key ([`RevocationProof`]); an unsigned or forged one is ignored.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use assent_protocol::error::{ErrorBody, ErrorCode};
use assent_protocol::request::RequestStatus;
use assent_protocol::stream::{HEARTBEAT_TIMEOUT_SECS, StreamMessage};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest as _};
use uuid::Uuid;

use crate::account::Account;
use crate::client::{DeviceClient, endpoint, target};
use crate::revocation::RevocationProof;

/// The largest stream frame (and message) a device accepts. A `pending` list of this many
/// bytes holds over a thousand ids; every other message is far smaller.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// The most requests of one account reported (and so shown) at once.
pub const MAX_PENDING_PER_ACCOUNT: usize = 50;
/// The most further request ids one account keeps waiting to be reported.
pub const MAX_WAITING_PER_ACCOUNT: usize = 1000;
/// Contact with the service is reported at most this often.
const CONTACT_EVERY: Duration = Duration::from_secs(1);

/// The state of one account's connection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConnectionState {
    /// Opening the connection.
    Connecting,
    /// Connected and in sync.
    Connected,
    /// Disconnected; retrying after `retry_in_ms`.
    Reconnecting {
        /// Consecutive failed attempts.
        attempt: u32,
        /// Milliseconds until the next attempt.
        retry_in_ms: u64,
    },
    /// Stopped for good (revoked, or the stream was stopped).
    Offline,
}

/// What a [`PushStream`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// The connection state changed.
    Connection {
        /// The account.
        account: Uuid,
        /// Its new state.
        state: ConnectionState,
    },
    /// A request is waiting for this account's person (reported once per request).
    RequestArrived {
        /// The account.
        account: Uuid,
        /// The request id; fetch and verify it with [`crate::Authenticator::request`].
        id: Uuid,
    },
    /// A reported request is no longer waiting: decided (here or elsewhere), expired or
    /// cancelled. `status` is `None` when it was resolved while the stream was offline.
    RequestResolved {
        /// The account.
        account: Uuid,
        /// The request id.
        id: Uuid,
        /// Its final status, when known.
        status: Option<RequestStatus>,
    },
    /// An approver answered a request that still waits on others: fetch it again to show who
    /// answered what (any id; one this device does not show is for the caller to ignore).
    RequestAnswered {
        /// The account.
        account: Uuid,
        /// The request id.
        id: Uuid,
    },
    /// The service revoked this device, with a notice that verified against the account's
    /// pinned key. The stream has stopped.
    Revoked {
        /// The account.
        account: Uuid,
        /// The verified notice: what [`crate::Authenticator::mark_revoked`] takes.
        proof: RevocationProof,
    },
    /// The service refused the connection as revoked or unknown without a verifiable notice.
    /// Nothing is deleted; the stream keeps retrying. (A shell may ask the service over a signed
    /// call with [`crate::Authenticator::check_standing`].)
    RevocationUnproven {
        /// The account.
        account: Uuid,
    },
    /// More requests wait than are reported at once ([`MAX_PENDING_PER_ACCOUNT`]); they are
    /// reported as earlier ones resolve.
    Backlog {
        /// The account.
        account: Uuid,
        /// Request ids waiting beyond those reported (0 once the backlog is gone).
        waiting: usize,
    },
    /// Something arrived from the service (a message, a heartbeat or a pong): it is alive.
    Contact {
        /// The account.
        account: Uuid,
    },
    /// The service says its approval log's latest signed checkpoint covers `size` entries (sent
    /// with a heartbeat when it changed). A hint to check the log, not evidence of anything.
    LogSigned {
        /// The account.
        account: Uuid,
        /// Entries the checkpoint covers.
        size: u64,
    },
    /// The service told its time (the `Date` of a connection's answer, accepted or refused, or
    /// a heartbeat's `ts`): its clock minus this device's, in seconds. Unsigned: only for a
    /// warning (see [`crate::clock`]).
    ServiceClock {
        /// The account.
        account: Uuid,
        /// The service's clock minus this device's, in seconds.
        offset_secs: i64,
    },
}

/// Timing of a stream; the defaults are the protocol's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// First reconnect delay.
    pub initial_backoff: Duration,
    /// Longest reconnect delay.
    pub max_backoff: Duration,
    /// The heartbeat window: silence (no frame at all, pongs included) after which the
    /// connection is considered dead. The stream pings after half of it in silence (then every
    /// third of it), and gives a connection attempt at most this long (and never more than 20 s).
    pub heartbeat_timeout: Duration,
}

/// Environment variable overriding the heartbeat window, in seconds (3 to 600).
pub const HEARTBEAT_WINDOW_ENV: &str = "ASSENT_HEARTBEAT_WINDOW_SECS";

impl StreamConfig {
    /// The protocol's timing, with the heartbeat window from [`HEARTBEAT_WINDOW_ENV`] when set
    /// (a shorter window notices a dead connection sooner, at the cost of more pings).
    ///
    /// # Errors
    /// [`crate::Error::InvalidSetting`] when the variable is set to anything but a whole number
    /// of seconds from 3 to 600.
    pub fn from_env() -> crate::Result<Self> {
        let mut config = StreamConfig::default();
        if let Some(window) = crate::settings::seconds_from_env(HEARTBEAT_WINDOW_ENV, 3..=600)? {
            config.heartbeat_timeout = window;
        }
        Ok(config)
    }

    /// How long the service may be silent before the stream pings it: half the window, longer
    /// than the protocol's heartbeat interval, so a stream whose service keeps its heartbeat
    /// never pings.
    pub fn silence_before_ping(&self) -> Duration {
        (self.heartbeat_timeout / 2).max(Duration::from_millis(100))
    }

    /// How often the stream pings a service that stays silent.
    pub fn ping_interval(&self) -> Duration {
        (self.heartbeat_timeout / 3).max(Duration::from_millis(100))
    }

    /// The longest a connection attempt may take.
    pub fn connect_timeout(&self) -> Duration {
        self.heartbeat_timeout.min(Duration::from_secs(20))
    }
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(HEARTBEAT_TIMEOUT_SECS),
        }
    }
}

/// Exponential backoff with jitter: each delay is drawn from `[base/2, base]`, and `base`
/// doubles from `initial` up to `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    base: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `initial`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            base: initial,
            attempt: 0,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self, rng: &mut impl rand::Rng) -> Duration {
        let base = self.base;
        self.base = (self.base * 2).min(self.max);
        self.attempt += 1;
        let half = base / 2;
        half + Duration::from_micros(rng.gen_range(0..=half.as_micros() as u64))
    }

    /// Attempts since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Back to `initial` after a healthy connection.
    pub fn reset(&mut self) {
        self.base = self.initial;
        self.attempt = 0;
    }
}

/// One account's push stream, running in a background task until dropped or stopped.
#[derive(Debug)]
pub struct PushStream {
    events: mpsc::Receiver<PushEvent>,
    task: JoinHandle<()>,
    retry: RetryHandle,
}

/// Cuts a stream's back-off short: a stream waiting to reconnect tries again at once (a person
/// pressed "Retry now"). A stream that is connected, or already connecting, is not disturbed,
/// and the wake is not saved for later: it never shortens a back-off that starts afterwards.
#[derive(Debug, Clone, Default)]
pub struct RetryHandle(Arc<Notify>);

impl RetryHandle {
    /// Wakes the stream if it is waiting out its back-off.
    pub fn retry_now(&self) {
        self.0.notify_waiters();
    }
}

enum Ended {
    /// The connection dropped; `synced` when it had delivered the pending list.
    Dropped {
        synced: bool,
    },
    Revoked(RevocationProof),
    Closed,
}

/// The requests one account's stream has reported, and those waiting to be: bounded whatever the
/// service sends.
#[derive(Debug, Default)]
struct Tracked {
    /// Reported and not yet resolved: at most [`MAX_PENDING_PER_ACCOUNT`].
    shown: HashSet<Uuid>,
    /// Known, not yet reported, oldest first: at most [`MAX_WAITING_PER_ACCOUNT`].
    waiting: VecDeque<Uuid>,
}

impl Tracked {
    /// A request is waiting (from a `request` frame): reported now if there is room.
    fn add(&mut self, account: Uuid, id: Uuid, events: &mut Vec<PushEvent>) {
        if self.shown.contains(&id) || self.waiting.contains(&id) {
            return;
        }
        if self.shown.len() < MAX_PENDING_PER_ACCOUNT {
            self.shown.insert(id);
            events.push(PushEvent::RequestArrived { account, id });
        } else if self.waiting.len() < MAX_WAITING_PER_ACCOUNT {
            self.waiting.push_back(id);
        }
    }

    /// A request resolved (from a `resolved` frame).
    fn resolve(
        &mut self,
        account: Uuid,
        id: Uuid,
        status: Option<RequestStatus>,
        events: &mut Vec<PushEvent>,
    ) {
        if self.shown.remove(&id) {
            events.push(PushEvent::RequestResolved {
                account,
                id,
                status,
            });
            self.promote(account, events);
        } else if let Some(at) = self.waiting.iter().position(|w| *w == id) {
            self.waiting.remove(at);
        } else if status.is_some() {
            // Not tracked: a request this person answered that left the service's list while
            // it waited on others (a reconnect's `pending`). The caller may still show it.
            events.push(PushEvent::RequestResolved {
                account,
                id,
                status,
            });
        }
    }

    /// Reports waiting requests while there is room.
    fn promote(&mut self, account: Uuid, events: &mut Vec<PushEvent>) {
        while self.shown.len() < MAX_PENDING_PER_ACCOUNT {
            let Some(id) = self.waiting.pop_front() else {
                break;
            };
            if self.shown.insert(id) {
                events.push(PushEvent::RequestArrived { account, id });
            }
        }
    }

    /// The service's full list (a `pending` frame): what left is resolved, what is new reported
    /// or queued, in the service's order.
    fn sync(&mut self, account: Uuid, ids: &[Uuid], events: &mut Vec<PushEvent>) {
        let current: HashSet<Uuid> = ids.iter().copied().collect();
        let mut gone: Vec<Uuid> = self
            .shown
            .iter()
            .filter(|id| !current.contains(id))
            .copied()
            .collect();
        gone.sort();
        for id in gone {
            self.shown.remove(&id);
            events.push(PushEvent::RequestResolved {
                account,
                id,
                status: None,
            });
        }
        self.waiting.clear();
        let mut seen = HashSet::new();
        for id in ids {
            if self.shown.contains(id) || !seen.insert(*id) {
                continue;
            }
            if self.shown.len() < MAX_PENDING_PER_ACCOUNT {
                self.shown.insert(*id);
                events.push(PushEvent::RequestArrived { account, id: *id });
            } else if self.waiting.len() < MAX_WAITING_PER_ACCOUNT {
                self.waiting.push_back(*id);
            } else {
                break;
            }
        }
    }
}

impl PushStream {
    /// Starts streaming for `account`. Must be called inside a Tokio runtime.
    pub fn start(account: &Account, client: DeviceClient, config: StreamConfig) -> Self {
        let (tx, events) = mpsc::channel(256);
        let retry = RetryHandle::default();
        let task = tokio::spawn(run(account.clone(), client, config, tx, retry.clone()));
        PushStream {
            events,
            task,
            retry,
        }
    }

    /// A handle that cuts this stream's back-off short ([`RetryHandle::retry_now`]).
    pub fn retry_handle(&self) -> RetryHandle {
        self.retry.clone()
    }

    /// The next event; `None` once the stream has stopped (after `Revoked`).
    pub async fn next(&mut self) -> Option<PushEvent> {
        self.events.recv().await
    }

    /// The next event if one is already waiting (lets a consumer handle a burst as one change).
    pub fn try_next(&mut self) -> Option<PushEvent> {
        self.events.try_recv().ok()
    }

    /// Stops the stream.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for PushStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    account: Account,
    client: DeviceClient,
    config: StreamConfig,
    tx: mpsc::Sender<PushEvent>,
    retry: RetryHandle,
) {
    let id = account.id;
    let mut backoff = Backoff::new(config.initial_backoff, config.max_backoff);
    let mut tracked = Tracked::default();
    let emit_state = |state: ConnectionState| PushEvent::Connection { account: id, state };
    loop {
        if tx
            .send(emit_state(ConnectionState::Connecting))
            .await
            .is_err()
        {
            return;
        }
        let mut clock = None;
        let connected = connect(&account, &client, config.connect_timeout(), &mut clock).await;
        if let Some(offset_secs) = clock {
            let event = PushEvent::ServiceClock {
                account: id,
                offset_secs,
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
        let ended = match connected {
            Ok(socket) => run_connection(&account, socket, &mut tracked, &config, &tx).await,
            Err(ConnectError::Revoked(proof)) => Ended::Revoked(proof),
            Err(ConnectError::Unproven) => {
                if tx
                    .send(PushEvent::RevocationUnproven { account: id })
                    .await
                    .is_err()
                {
                    return;
                }
                Ended::Dropped { synced: false }
            }
            Err(ConnectError::Other(detail)) => {
                tracing::debug!(account = %id, %detail, "stream connection failed");
                Ended::Dropped { synced: false }
            }
        };
        match ended {
            Ended::Revoked(proof) => {
                let _ = tx.send(PushEvent::Revoked { account: id, proof }).await;
                let _ = tx.send(emit_state(ConnectionState::Offline)).await;
                return;
            }
            Ended::Closed => return,
            Ended::Dropped { synced } => {
                if synced {
                    backoff.reset();
                }
            }
        }
        let delay = backoff.next_delay(&mut rand::thread_rng());
        let state = ConnectionState::Reconnecting {
            attempt: backoff.attempt(),
            retry_in_ms: delay.as_millis() as u64,
        };
        // Listening before the state goes out: a person who sees "reconnecting" and presses
        // "Retry now" at once is heard even if the wait has not begun.
        let woken = retry.0.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if tx.send(emit_state(state)).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = woken => tracing::debug!(account = %id, "reconnecting now, as asked"),
        }
    }
}

enum ConnectError {
    /// Refused with a revocation notice that verified.
    Revoked(RevocationProof),
    /// Refused as revoked or unknown, without a notice that verified.
    Unproven,
    Other(String),
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// Unix milliseconds now, for clock measurements (read at the edge).
fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The offset a connection answer's `Date` header tells, if it has a readable one.
fn date_offset(headers: &tungstenite::http::HeaderMap, sent_ms: i64) -> Option<i64> {
    let date = headers.get("date")?.to_str().ok()?;
    crate::clock::offset_from_date_header(date, sent_ms, unix_ms())
}

/// Opens the stream. `clock` receives the service's clock offset when its answer (an accepted
/// upgrade or a refusal, `60101` for a clock too far off included) carried a `Date`.
async fn connect(
    account: &Account,
    client: &DeviceClient,
    timeout: Duration,
    clock: &mut Option<i64>,
) -> Result<Socket, ConnectError> {
    let mut url = endpoint(client.server(), "/device/v1/stream");
    let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
    url.set_scheme(scheme)
        .map_err(|()| ConnectError::Other("cannot make a WebSocket URL".into()))?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ConnectError::Other(e.to_string()))?;
    let header = client.authorization("GET", &target(&url), b"");
    request.headers_mut().insert(
        "Authorization",
        header
            .parse()
            .map_err(|_| ConnectError::Other("bad header".into()))?,
    );
    let connecting =
        tokio_tungstenite::connect_async_with_config(request, Some(socket_config()), false);
    let sent_ms = unix_ms();
    match tokio::time::timeout(timeout, connecting).await {
        Err(_) => Err(ConnectError::Other("timed out".into())),
        Ok(Ok((socket, response))) => {
            *clock = date_offset(response.headers(), sent_ms);
            Ok(socket)
        }
        Ok(Err(tungstenite::Error::Http(response))) => {
            *clock = date_offset(response.headers(), sent_ms);
            // The body is what arrived with the headers (tungstenite reads no further).
            let body: Option<ErrorBody> = response
                .body()
                .as_ref()
                .and_then(|b| serde_json::from_slice(b).ok());
            if let Some(notice) = body.as_ref().and_then(|b| b.revocation.as_ref()) {
                match RevocationProof::verify(account, notice) {
                    Ok(proof) => return Err(ConnectError::Revoked(proof)),
                    Err(why) => {
                        tracing::warn!(account = %account.id, error = %why, "ignoring a revocation notice that does not verify; the key is kept");
                    }
                }
            }
            match body.as_ref().and_then(ErrorBody::code) {
                Some(ErrorCode::DeviceRevoked | ErrorCode::DeviceNotFound) => {
                    Err(ConnectError::Unproven)
                }
                _ => Err(ConnectError::Other(format!("HTTP {}", response.status()))),
            }
        }
        Ok(Err(e)) => Err(ConnectError::Other(e.to_string())),
    }
}

async fn run_connection(
    account: &Account,
    socket: Socket,
    tracked: &mut Tracked,
    config: &StreamConfig,
    tx: &mpsc::Sender<PushEvent>,
) -> Ended {
    let id = account.id;
    let (mut sink, mut source) = socket.split();
    let mut synced = false;
    let mut ping_at = tokio::time::Instant::now() + config.silence_before_ping();
    let mut deadline = tokio::time::Instant::now() + config.heartbeat_timeout;
    let mut contact_reported: Option<tokio::time::Instant> = None;
    let mut backlog = tracked.waiting.len();
    loop {
        let frame = tokio::select! {
            frame = source.next() => frame,
            () = tokio::time::sleep_until(ping_at) => {
                // A failed send means the connection is gone; the deadline would say so later.
                if sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                    return Ended::Dropped { synced };
                }
                ping_at = tokio::time::Instant::now() + config.ping_interval();
                continue;
            }
            () = tokio::time::sleep_until(deadline) => {
                tracing::info!(account = %id, window = ?config.heartbeat_timeout, "the service stopped answering; reconnecting");
                return Ended::Dropped { synced };
            }
        };
        let frame = match frame {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => {
                return Ended::Dropped { synced };
            }
            Some(Ok(frame)) => frame,
        };
        let now = tokio::time::Instant::now();
        deadline = now + config.heartbeat_timeout;
        ping_at = now + config.silence_before_ping();
        if contact_reported.is_none_or(|at| now.duration_since(at) >= CONTACT_EVERY) {
            contact_reported = Some(now);
            if tx.send(PushEvent::Contact { account: id }).await.is_err() {
                return Ended::Closed;
            }
        }
        let Message::Text(frame) = frame else {
            continue;
        };
        let message = match serde_json::from_str::<StreamMessage>(&frame) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(account = %id, error = %e, "ignoring an unreadable stream message");
                continue;
            }
        };
        let mut events = Vec::new();
        match message {
            StreamMessage::Pending { ids } => {
                tracked.sync(id, &ids, &mut events);
                if !synced {
                    synced = true;
                    events.insert(
                        0,
                        PushEvent::Connection {
                            account: id,
                            state: ConnectionState::Connected,
                        },
                    );
                }
            }
            StreamMessage::Request { id: request } => tracked.add(id, request, &mut events),
            StreamMessage::Resolved {
                id: request,
                status,
            } => {
                tracked.resolve(id, request, Some(status), &mut events);
            }
            StreamMessage::Answered { id: request } => {
                events.push(PushEvent::RequestAnswered {
                    account: id,
                    id: request,
                });
            }
            StreamMessage::Revoked { notice } => match RevocationProof::verify(account, &notice) {
                Ok(proof) => return Ended::Revoked(proof),
                Err(why) => {
                    tracing::warn!(account = %id, error = %why, "ignoring a revoked frame whose notice does not verify; the key is kept");
                }
            },
            StreamMessage::Log { size } => events.push(PushEvent::LogSigned { account: id, size }),
            StreamMessage::Heartbeat { ts } => events.push(PushEvent::ServiceClock {
                account: id,
                offset_secs: crate::clock::offset_secs(ts, unix_ms()),
            }),
        }
        if tracked.waiting.len() != backlog {
            backlog = tracked.waiting.len();
            events.push(PushEvent::Backlog {
                account: id,
                waiting: backlog,
            });
        }
        for event in events {
            if tx.send(event).await.is_err() {
                return Ended::Closed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_and_connection_attempts_follow_the_heartbeat_window() {
        // Reading the variable is tested through the `assent` binary (setting it here would need
        // `unsafe` in edition 2024, which this workspace forbids).
        let config = StreamConfig::default();
        assert_eq!(
            config.heartbeat_timeout,
            Duration::from_secs(HEARTBEAT_TIMEOUT_SECS)
        );
        assert_eq!(
            config.ping_interval(),
            Duration::from_secs(HEARTBEAT_TIMEOUT_SECS / 3)
        );
        assert!(
            config.silence_before_ping()
                > Duration::from_secs(assent_protocol::stream::HEARTBEAT_INTERVAL_SECS),
            "a service keeping the protocol's heartbeat is never pinged"
        );
        assert!(
            config.silence_before_ping() + config.ping_interval() < config.heartbeat_timeout,
            "a silent service is pinged at least once before the stream gives up on it"
        );
        assert_eq!(config.connect_timeout(), Duration::from_secs(20));
        let short = StreamConfig {
            heartbeat_timeout: Duration::from_secs(3),
            ..config
        };
        assert_eq!(short.ping_interval(), Duration::from_secs(1));
        assert_eq!(short.connect_timeout(), Duration::from_secs(3));
    }

    fn arrived(events: &[PushEvent]) -> Vec<Uuid> {
        events
            .iter()
            .filter_map(|e| match e {
                PushEvent::RequestArrived { id, .. } => Some(*id),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn what_a_stream_tracks_is_bounded_whatever_the_service_sends() {
        let account = Uuid::nil();
        let ids: Vec<Uuid> = (0..5000u128).map(Uuid::from_u128).collect();
        let mut tracked = Tracked::default();
        let mut events = Vec::new();
        tracked.sync(account, &ids, &mut events);
        assert_eq!(
            arrived(&events),
            ids[..MAX_PENDING_PER_ACCOUNT].to_vec(),
            "the oldest are reported, at most the bound"
        );
        assert_eq!(tracked.shown.len(), MAX_PENDING_PER_ACCOUNT);
        assert_eq!(tracked.waiting.len(), MAX_WAITING_PER_ACCOUNT);
        for id in (10_000..20_000u128).map(Uuid::from_u128) {
            tracked.add(account, id, &mut events);
        }
        assert_eq!(tracked.shown.len(), MAX_PENDING_PER_ACCOUNT);
        assert_eq!(
            tracked.waiting.len(),
            MAX_WAITING_PER_ACCOUNT,
            "`request` frames beyond the bound are dropped"
        );
        let mut events = Vec::new();
        tracked.resolve(account, ids[0], Some(RequestStatus::Approved), &mut events);
        assert_eq!(
            arrived(&events),
            vec![ids[MAX_PENDING_PER_ACCOUNT]],
            "a resolution reports the next waiting request"
        );
        let mut events = Vec::new();
        tracked.sync(account, &ids[1..3], &mut events);
        assert_eq!(tracked.shown.len(), 2, "a new full list replaces the old");
        assert!(tracked.waiting.is_empty());
        let resolved = events
            .iter()
            .filter(|e| matches!(e, PushEvent::RequestResolved { status: None, .. }))
            .count();
        assert_eq!(resolved, MAX_PENDING_PER_ACCOUNT - 2);
        let mut events = Vec::new();
        tracked.sync(account, &[ids[1], ids[1], ids[2], ids[1]], &mut events);
        assert!(events.is_empty(), "duplicates change nothing");
    }

    #[test]
    fn a_resolution_of_a_request_no_longer_tracked_still_reaches_the_caller() {
        // A request this person answered leaves the service's list while it waits on others; a
        // reconnect's `pending` stops tracking it, and its later `resolved` must still be told.
        let account = Uuid::nil();
        let (answered, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let mut tracked = Tracked::default();
        let mut events = Vec::new();
        tracked.sync(account, &[answered, other], &mut events);
        let mut events = Vec::new();
        tracked.sync(account, &[other], &mut events);
        assert_eq!(
            events,
            vec![PushEvent::RequestResolved {
                account,
                id: answered,
                status: None
            }]
        );
        let mut events = Vec::new();
        tracked.resolve(
            account,
            answered,
            Some(RequestStatus::Approved),
            &mut events,
        );
        assert_eq!(
            events,
            vec![PushEvent::RequestResolved {
                account,
                id: answered,
                status: Some(RequestStatus::Approved)
            }],
            "the final status is passed on for the caller to apply or ignore"
        );
        assert_eq!(tracked.shown.len(), 1, "nothing is tracked again");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let mut rng = rand::thread_rng();
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut base = Duration::from_millis(500);
        for _ in 0..12 {
            let delay = backoff.next_delay(&mut rng);
            assert!(
                delay >= base / 2 && delay <= base,
                "{delay:?} should be within [{:?}, {base:?}]",
                base / 2
            );
            base = (base * 2).min(Duration::from_secs(30));
        }
        assert!(
            backoff.next_delay(&mut rng) <= Duration::from_secs(30),
            "never beyond the cap"
        );
        backoff.reset();
        assert!(
            backoff.next_delay(&mut rng) <= Duration::from_millis(500),
            "reset starts over"
        );
    }
}
