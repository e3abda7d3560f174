//! State shared by every handler and background task.

use std::ops::Deref;
use std::sync::Arc;

use assent_protocol::request::RequestStatus;
use assent_protocol::stream::StreamMessage;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::ServiceConfig;
use crate::hub::PushHub;
use crate::keys::ServiceKey;
use crate::metrics::Metrics;
use crate::rate::RateLimits;
use crate::sealed::KeyRing;
use crate::store::{Store, StoredRequest};

/// Shared service state (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Push fan-out.
    pub hub: Arc<PushHub>,
    /// Configuration.
    pub config: ServiceConfig,
    /// Signs requests for devices.
    pub service_key: ServiceKey,
    /// Opens the sealed secrets in the store (callback keys).
    pub keys: KeyRing,
    /// Per-API-key and per-source call budgets.
    pub rates: RateLimits,
    /// Counters and histograms for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Wakes the callback worker when the outbox gets a row.
    pub outbox_wake: Arc<Notify>,
    /// Wakes the expiry sweeper when a request is created.
    pub expiry_wake: Arc<Notify>,
    /// Cancelled when the service shuts down.
    pub shutdown: CancellationToken,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Wraps the shared parts.
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    /// An operator handle on this service's store and keys.
    pub fn operator(&self) -> crate::admin::Operator {
        crate::admin::Operator::new(Arc::clone(&self.store), self.keys.clone())
    }

    /// Tells the approvers' connected devices about a new request; `started` is when its create
    /// call arrived (for the push-latency histogram).
    pub async fn announce_request(&self, request: &StoredRequest, started: std::time::Instant) {
        let reached = self.hub.notify_users(
            &request.approvers,
            &StreamMessage::Request { id: request.id },
        );
        if reached > 0 {
            self.metrics
                .pushes
                .fetch_add(reached as u64, std::sync::atomic::Ordering::Relaxed);
            self.metrics.push_latency.observe(started.elapsed());
        }
        if reached > 0
            && let Err(e) = self.store.mark_notified(request.id).await
        {
            tracing::warn!(error = %e, "could not mark a request notified");
        }
    }

    /// Tells devices and long-poll waiters that a request is final.
    pub fn announce_resolved(&self, id: Uuid, status: RequestStatus, approvers: &[u64]) {
        self.hub.resolved(id, status, approvers);
    }
}
