//! Telling every instance what changed, so the one holding a device's stream pushes to it.
//!
//! The database is the truth; a notification is only a doorbell. [`FanOut`] is the seam: with one
//! instance (SQLite) [`LocalFanOut`] rings this instance's hub directly; with several
//! (PostgreSQL) [`PgFanOut`] sends `NOTIFY assent_changes` carrying ids only, and every instance,
//! the sender included, hears it on its own `LISTEN` connection, reads the row it names and
//! pushes to the devices it holds. Requests and outcomes never travel in a notification.
//!
//! Notifications sent while a listener is disconnected are lost, so an instance whose listener
//! reconnects closes every stream it holds with "reconnect": each device reconnects (through the
//! balancer, with jittered backoff) and its stream starts with the full `pending` list again.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use assent_protocol::request::RequestStatus;
use assent_protocol::stream::StreamMessage;
use async_trait::async_trait;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use uuid::Uuid;

use crate::state::AppState;

/// The channel instances notify each other on.
pub const CHANNEL: &str = "assent_changes";

/// Connections an instance holds for sending notifications (they are serialised by PostgreSQL
/// anyway; two let one wait on the lock while the other is being set up again).
pub const DOORBELL_CONNECTIONS: u32 = 2;

/// A committed change devices must hear about, with what this instance already knows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A request was created for these approvers.
    Requested {
        /// The request.
        id: Uuid,
        /// Its approvers.
        approvers: Vec<u64>,
        /// When its create call arrived, Unix milliseconds (for the push-latency histogram).
        since_ms: i64,
    },
    /// A request became final.
    Resolved {
        /// The request.
        id: Uuid,
        /// Its final status.
        status: RequestStatus,
        /// Its approvers.
        approvers: Vec<u64>,
    },
    /// An approver answered a request that still waits on others.
    Answered {
        /// The request.
        id: Uuid,
        /// Its approvers.
        approvers: Vec<u64>,
    },
    /// A device was revoked.
    Revoked {
        /// The device.
        device: Uuid,
        /// Its person.
        user: u64,
    },
}

impl Change {
    /// The notification payload: the kind and the id (and, for a new request, when its create
    /// call arrived), nothing else.
    fn wire(&self) -> String {
        match self {
            Change::Requested { id, since_ms, .. } => format!("requested {id} {since_ms}"),
            Change::Resolved { id, .. } => format!("resolved {id} 0"),
            Change::Answered { id, .. } => format!("answered {id} 0"),
            Change::Revoked { device, .. } => format!("revoked {device} 0"),
        }
    }
}

/// Delivers a change to this instance's streams and long-poll waiters.
pub async fn deliver(state: &AppState, change: Change) {
    match change {
        Change::Requested {
            id,
            approvers,
            since_ms,
        } => {
            let reached = state
                .hub
                .notify_users(&approvers, StreamMessage::Request { id });
            if reached > 0 {
                let elapsed = (state.config.clock.now_ms() - since_ms).max(0) as u64;
                state
                    .metrics
                    .pushes
                    .fetch_add(reached as u64, Ordering::Relaxed);
                state
                    .metrics
                    .push_latency
                    .observe(Duration::from_millis(elapsed));
                if let Err(e) = state.store.mark_notified(id).await {
                    tracing::warn!(error = %e, "could not mark a request notified");
                }
            }
        }
        Change::Resolved {
            id,
            status,
            approvers,
        } => state.hub.resolved(id, status, &approvers),
        Change::Answered { id, approvers } => {
            state
                .hub
                .notify_users(&approvers, StreamMessage::Answered { id });
        }
        Change::Revoked { device, user } => state.hub.revoke(user, device),
    }
}

/// The seam between instances. See the module documentation.
#[async_trait]
pub trait FanOut: Send + Sync + fmt::Debug {
    /// Announces a committed change to every instance, this one included.
    async fn publish(&self, state: &AppState, change: Change);
    /// True while changes from other instances can arrive (for readiness).
    fn is_connected(&self) -> bool;
    /// Receives other instances' changes until the service shuts down (nothing to do for one
    /// instance).
    async fn run(self: Arc<Self>, state: AppState);
}

/// One instance: changes go straight to this instance's hub.
#[derive(Debug, Default)]
pub struct LocalFanOut;

#[async_trait]
impl FanOut for LocalFanOut {
    async fn publish(&self, state: &AppState, change: Change) {
        deliver(state, change).await;
    }

    fn is_connected(&self) -> bool {
        true
    }

    async fn run(self: Arc<Self>, _state: AppState) {}
}

/// Several instances on PostgreSQL: `NOTIFY` on publish, `LISTEN` on its own connection.
///
/// Notifications go out on connections of their own with `synchronous_commit = off`. PostgreSQL
/// serialises every notifying transaction of the cluster on one lock held until its commit, so
/// with durable commits each `NOTIFY` waited for its own WAL flush behind every other one (at 200
/// requests/s, push latency grew to hundreds of milliseconds). A doorbell needs no durability:
/// the change it announces was committed durably before, and a lost one is recovered like any
/// other (see the module docs).
pub struct PgFanOut {
    pool: PgPool,
    doorbell: PgPool,
    connected: AtomicBool,
}

impl fmt::Debug for PgFanOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgFanOut")
            .field("connected", &self.connected.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl PgFanOut {
    /// A fan-out over the store's pool (which it listens on and reads from), notifying on at
    /// most [`DOORBELL_CONNECTIONS`] connections of its own to the same database.
    pub fn new(pool: PgPool) -> Self {
        let options = (*pool.connect_options())
            .clone()
            .options([("synchronous_commit", "off")]);
        let doorbell = PgPoolOptions::new()
            .max_connections(DOORBELL_CONNECTIONS)
            .connect_lazy_with(options);
        PgFanOut {
            pool,
            doorbell,
            connected: AtomicBool::new(false),
        }
    }

    async fn listen(&self) -> Result<PgListener, sqlx::Error> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    /// Reads the row a notification names and turns it into a [`Change`] to deliver; `None`
    /// when it names nothing this instance can act on (a malformed payload is logged, never
    /// trusted).
    async fn resolve(state: &AppState, payload: &str) -> Option<Change> {
        let mut parts = payload.split(' ');
        let (Some(kind), Some(id), Some(sent)) = (parts.next(), parts.next(), parts.next()) else {
            tracing::warn!(payload, "ignoring a malformed change notification");
            return None;
        };
        let (Ok(id), Ok(since_ms)) = (Uuid::try_parse(id), sent.parse::<i64>()) else {
            tracing::warn!(payload, "ignoring a malformed change notification");
            return None;
        };
        let read = match kind {
            "requested" | "resolved" | "answered" => {
                state.store.request(None, id).await.map(|request| {
                    request.map(|r| match kind {
                        "requested" => Change::Requested {
                            id,
                            approvers: r.approvers,
                            since_ms,
                        },
                        "answered" => Change::Answered {
                            id,
                            approvers: r.approvers,
                        },
                        _ => Change::Resolved {
                            id,
                            status: r.status,
                            approvers: r.approvers,
                        },
                    })
                })
            }
            "revoked" => state.store.device(id).await.map(|device| {
                device.map(|d| Change::Revoked {
                    device: d.id,
                    user: d.user_id,
                })
            }),
            _ => Ok(None),
        };
        match read {
            Ok(Some(change)) => Some(change),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "reading the row a change names failed");
                None
            }
        }
    }
}

#[async_trait]
impl FanOut for PgFanOut {
    async fn publish(&self, _state: &AppState, change: Change) {
        let payload = change.wire();
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&payload)
            .execute(&self.doorbell)
            .await
        {
            // The change is committed; devices that miss the push see it on their next
            // connection (every stream starts with the full pending list).
            tracing::error!(error = %e, "announcing a change to the other instances failed");
        }
    }

    fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    async fn run(self: Arc<Self>, state: AppState) {
        let mut backoff = Duration::from_millis(200);
        let mut first = true;
        loop {
            let mut listener = tokio::select! {
                listening = self.listen() => match listening {
                    Ok(listener) => listener,
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for changes failed; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = state.shutdown.cancelled() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        continue;
                    }
                },
                () = state.shutdown.cancelled() => return,
            };
            backoff = Duration::from_millis(200);
            self.connected.store(true, Ordering::Relaxed);
            if !first {
                // Changes sent while we were away are lost: have every device re-sync.
                let streams = state.hub.reconnect_all();
                tracing::info!(
                    streams,
                    "change listener reconnected; streams asked to re-sync"
                );
            }
            first = false;
            loop {
                tokio::select! {
                    received = listener.try_recv() => match received {
                        Ok(Some(notification)) => {
                            if let Some(change) =
                                Self::resolve(&state, notification.payload()).await
                            {
                                deliver(&state, change).await;
                            }
                        }
                        Ok(None) | Err(_) => {
                            tracing::warn!("change listener lost its connection");
                            break;
                        }
                    },
                    () = state.shutdown.cancelled() => return,
                }
            }
            self.connected.store(false, Ordering::Relaxed);
        }
    }
}
