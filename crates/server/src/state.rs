//! State shared by every handler and background task.

use std::ops::Deref;
use std::sync::Arc;

use assent_protocol::request::RequestStatus;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::approval_log::ApprovalLog;
use crate::config::ServiceConfig;
use crate::fanout::{Change, FanOut};
use crate::hub::PushHub;
use crate::keys::ServiceKey;
use crate::metrics::Metrics;
use crate::notary::Notary;
use crate::rate::RateLimits;
use crate::sealed::KeyRing;
use crate::store::{Device, Store, StoredRequest};

/// Shared service state (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// This instance's streams and long-poll waiters.
    pub hub: Arc<PushHub>,
    /// How changes reach every instance's hub.
    pub fanout: Arc<dyn FanOut>,
    /// Configuration.
    pub config: ServiceConfig,
    /// Signs requests for devices.
    pub service_key: ServiceKey,
    /// Signs enrollment records, receipts and checkpoints (with the service key).
    pub notary: Notary,
    /// This instance's view of the approval log.
    pub log: ApprovalLog,
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

    /// Unix seconds now, by the service's clock.
    pub fn now(&self) -> i64 {
        self.config.clock.now()
    }

    /// An operator handle on this service's store and keys.
    pub fn operator(&self) -> crate::admin::Operator {
        crate::admin::Operator::new(Arc::clone(&self.store), self.keys.clone())
    }

    /// Tells every instance's connected devices of the approvers about a new request;
    /// `started` is when its create call arrived (for the push-latency histogram).
    pub async fn announce_request(&self, request: &StoredRequest, started: std::time::Instant) {
        let since_ms = self.config.clock.now_ms() - started.elapsed().as_millis() as i64;
        let change = Change::Requested {
            id: request.id,
            approvers: request.approvers.clone(),
            since_ms,
        };
        self.fanout.publish(self, change).await;
    }

    /// Tells devices and long-poll waiters, on every instance, that a request is final.
    pub async fn announce_resolved(&self, id: Uuid, status: RequestStatus, approvers: &[u64]) {
        let change = Change::Resolved {
            id,
            status,
            approvers: approvers.to_vec(),
        };
        self.fanout.publish(self, change).await;
    }

    /// Tells every approver's devices, on every instance, that an approver answered a request
    /// that still waits on others.
    pub async fn announce_answered(&self, id: Uuid, approvers: &[u64]) {
        let change = Change::Answered {
            id,
            approvers: approvers.to_vec(),
        };
        self.fanout.publish(self, change).await;
    }

    /// Tells a revoked device, wherever its streams are, and closes them.
    pub async fn announce_revoked(&self, device: &Device) {
        let change = Change::Revoked {
            device: device.id,
            user: device.user_id,
        };
        self.fanout.publish(self, change).await;
    }
}
