//! Callbacks to relying parties: the Authy-compatible payload, and the worker that delivers the
//! outbox at least once.
//!
//! A callback is written to the outbox in the same transaction as the decision that made the
//! request final, so a crash can delay it but never lose it. The worker signs each attempt afresh
//! (the nonce is the attempt's time) with the app's current key, URL and method, and retries with
//! exponential backoff (1 s, 2 s, 4 s ... capped at one hour) until it is delivered or, after
//! `callback_give_up_secs`, abandoned.
//!
//! Fairness: each app has its own bound on deliveries in flight
//! (`callback_concurrency_per_app`), and each delivery runs as its own task, so an endpoint that
//! hangs or fails only slows its own app's callbacks; the worker never waits for a batch.
//!
//! Several instances share one outbox: a callback is claimed in the database with a lease (the
//! attempt's timeout plus a margin) before it is sent, so at most one instance attempts it at a
//! time; a claim held by an instance that died is taken over when its lease ends. Delivery is at
//! least once: an instance that sent a callback and died before recording it causes one more
//! attempt. Relying parties de-duplicate on the request `uuid` and `status`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use assent_protocol::callback::{
    self, CALLBACK_ACTION, CallbackApprovalRequest, CallbackDevice, CallbackKey, CallbackMethod,
    CallbackPayload, CallbackTransaction, FRAUD_REPORTED_ACTION, FraudReportedPayload,
    NONCE_HEADER, SIGNATURE_HEADER,
};
use assent_protocol::request::RequestStatus;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::sealed::KeyRing;
use crate::state::AppState;
use crate::store::{App, DecisionRecord, Device, OutboxItem, Store, StoredRequest};
/// Longest wait between attempts.
const MAX_BACKOFF_SECS: i64 = 3600;

fn nonempty(map: &Map<String, Value>) -> Option<Map<String, Value>> {
    (!map.is_empty()).then(|| map.clone())
}

/// `approval_request` of a callback: the request as it ended.
fn approval_request(
    app: &App,
    request: &StoredRequest,
    status: RequestStatus,
    reason: Option<&str>,
    signed_at: Option<i64>,
) -> CallbackApprovalRequest {
    let requester_details = request
        .requester
        .as_ref()
        .map(|r| match serde_json::to_value(r) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        });
    CallbackApprovalRequest {
        transaction: CallbackTransaction {
            details: nonempty(&request.details),
            device_details: Map::new(),
            device_geolocation: String::new(),
            device_signing_time: signed_at,
            encrypted: false,
            flagged: false,
            hidden_details: nonempty(&request.hidden_details),
            message: request.message.clone(),
            reason: reason.unwrap_or_default().to_owned(),
            requester_details,
            status: status.as_str().to_owned(),
            uuid: request.id.to_string(),
            created_at_time: request.created_at,
            customer_uuid: app.serial_id,
        },
        expiration_timestamp: request.expires_at,
        logos: (!request.logos.is_empty()).then(|| request.logos.clone()),
        app_id: app.id.clone(),
    }
}

/// The callback payload for a request that `decision` (by `device`) made final. The receipt (or
/// its URL) is added when the callback is delivered ([`CallbackWorker`]).
pub fn callback_payload(
    app: &App,
    request: &StoredRequest,
    device: &Device,
    decision: &DecisionRecord,
    status: RequestStatus,
    reason: Option<&str>,
) -> CallbackPayload {
    CallbackPayload {
        authy_id: request.user_id,
        device_uuid: Some(device.alias),
        callback_action: CALLBACK_ACTION.to_owned(),
        uuid: request.id.to_string(),
        status: status.as_str().to_owned(),
        approval_request: approval_request(app, request, status, reason, Some(decision.signed_at)),
        signature: Some(STANDARD.encode(decision.signature.to_bytes())),
        device: Some(CallbackDevice {
            city: None,
            country: None,
            ip: None,
            region: None,
            registration_city: None,
            registration_country: None,
            registration_ip: None,
            registration_method: "assent".to_owned(),
            registration_region: None,
            os_type: device.platform.clone(),
            last_account_recovery_at: None,
            id: device.alias,
            registration_date: device.created_at,
            last_sync_date: device.last_seen_at,
        }),
        receipt: None,
        receipt_url: None,
    }
}

/// The `fraud_reported` event of a "this wasn't me" `decision` (by `device`) on `request`: sent
/// in addition to the request's own callback, so a relying party that only knows Authy's
/// callbacks still hears the denial. `frozen_until` is the freeze the report started.
pub fn fraud_reported_payload(
    app: &App,
    request: &StoredRequest,
    device: &Device,
    decision: &DecisionRecord,
    frozen_until: Option<i64>,
) -> FraudReportedPayload {
    FraudReportedPayload {
        callback_action: FRAUD_REPORTED_ACTION.to_owned(),
        app_id: app.id.clone(),
        authy_id: decision.user_id,
        uuid: request.id.to_string(),
        device_uuid: device.alias,
        reported_at: decision.signed_at,
        frozen_until,
    }
}

/// The callback payload of a request that expired or was cancelled (sent only to apps that opted
/// in): Authy's shape, with `null` where the deciding device would be.
pub fn unanswered_payload(
    app: &App,
    request: &StoredRequest,
    status: RequestStatus,
) -> CallbackPayload {
    CallbackPayload {
        authy_id: request.user_id,
        device_uuid: None,
        callback_action: CALLBACK_ACTION.to_owned(),
        uuid: request.id.to_string(),
        status: status.as_str().to_owned(),
        approval_request: approval_request(app, request, status, None, None),
        signature: None,
        device: None,
        receipt: None,
        receipt_url: None,
    }
}

/// Seconds to wait after the `attempts`-th failed attempt (1, 2, 4, ... capped at an hour).
pub fn backoff_secs(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    (1i64 << exp).min(MAX_BACKOFF_SECS)
}

/// A signed HTTP request ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCallback {
    /// `POST` or `GET`.
    pub method: CallbackMethod,
    /// Full URL (with the query for GET).
    pub url: String,
    /// JSON body for POST.
    pub body: Option<Vec<u8>>,
    /// `X-Authy-Signature`.
    pub signature: String,
    /// `X-Authy-Signature-Nonce`.
    pub nonce: String,
}

/// Signs a payload for delivery to `callback_url` at `now`.
///
/// # Errors
/// When the payload cannot be flattened (it never contains floats, so this indicates a bug).
pub fn sign_callback(
    app: &App,
    key: &CallbackKey,
    callback_url: &str,
    payload: &Value,
    now: i64,
) -> Result<SignedCallback, callback::CallbackError> {
    let nonce = now.to_string();
    let params = callback::params_from_json(payload)?;
    // Authy signs the URL as configured, without its query string.
    let signed_url = callback_url.split('?').next().unwrap_or(callback_url);
    let signature = callback::sign(
        key,
        &nonce,
        app.callback_method.as_http(),
        signed_url,
        &params,
    );
    Ok(match app.callback_method {
        CallbackMethod::Post => SignedCallback {
            method: CallbackMethod::Post,
            url: callback_url.to_owned(),
            body: Some(serde_json::to_vec(payload).expect("a JSON value serializes")),
            signature,
            nonce,
        },
        CallbackMethod::Get => {
            let separator = if callback_url.contains('?') { '&' } else { '?' };
            SignedCallback {
                method: CallbackMethod::Get,
                url: format!(
                    "{callback_url}{separator}{}",
                    callback::to_query_string(payload)?
                ),
                body: None,
                signature,
                nonce,
            }
        }
    })
}

/// Delivers the outbox. Runs until `shutdown`.
#[derive(Debug)]
pub struct CallbackWorker {
    store: Arc<dyn Store>,
    keys: KeyRing,
    metrics: Arc<Metrics>,
    client: reqwest::Client,
    wake: Arc<Notify>,
    timeout: Duration,
    give_up_after_secs: i64,
    per_app: u32,
    owner: String,
    clock: crate::clock::Clock,
    /// For receipts: the approval log, the notary and the public URL.
    state: AppState,
}

/// How long a claim outlives its attempt's timeout before another instance may take it over.
const LEASE_MARGIN_SECS: i64 = 30;

impl CallbackWorker {
    /// The worker for a service's store, keys and configuration.
    pub fn new(state: &AppState) -> Self {
        let config = &state.config;
        let client = reqwest::Client::builder()
            .timeout(config.callback_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("assent/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client builds");
        CallbackWorker {
            store: Arc::clone(&state.store),
            keys: state.keys.clone(),
            metrics: Arc::clone(&state.metrics),
            client,
            wake: Arc::clone(&state.outbox_wake),
            timeout: config.callback_timeout,
            give_up_after_secs: config.callback_give_up_secs,
            per_app: config.callback_concurrency_per_app.max(1),
            owner: config.instance.clone(),
            clock: config.clock.clone(),
            state: state.clone(),
        }
    }

    /// Delivers until cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut in_flight: JoinSet<String> = JoinSet::new();
        let mut per_app: HashMap<String, u32> = HashMap::new();
        loop {
            let now = this.clock.now();
            let mut claimed_any = false;
            match this.store.apps_with_due_callbacks(now).await {
                Ok(apps) => {
                    for app in apps {
                        let busy = per_app.get(&app).copied().unwrap_or(0);
                        let free = this.per_app.saturating_sub(busy);
                        if free == 0 {
                            continue;
                        }
                        let lease = now + this.timeout.as_secs() as i64 + LEASE_MARGIN_SECS;
                        let items = match this
                            .store
                            .claim_callbacks(&app, &this.owner, now, lease, free)
                            .await
                        {
                            Ok(items) => items,
                            Err(e) => {
                                tracing::error!(error = %e, "claiming callbacks failed");
                                continue;
                            }
                        };
                        for item in items {
                            claimed_any = true;
                            *per_app.entry(app.clone()).or_insert(0) += 1;
                            let worker = Arc::clone(&this);
                            let app = app.clone();
                            in_flight.spawn(async move {
                                worker.deliver(item).await;
                                app
                            });
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading the callback outbox failed"),
            }
            if claimed_any {
                continue;
            }
            let next = this.store.next_callback_due().await.ok().flatten();
            let wait = next.map_or(300, |at| (at - now).clamp(0, 300));
            let sleep = Duration::from_secs(wait as u64).max(Duration::from_millis(50));
            tokio::select! {
                () = tokio::time::sleep(sleep) => {}
                () = this.wake.notified() => {}
                Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Ok(app) = done {
                        Self::release(&mut per_app, &app);
                    }
                }
                () = shutdown.cancelled() => {
                    // Attempts cut short here are released for whoever comes next (if this
                    // instance dies instead, their leases end and another takes them over).
                    in_flight.abort_all();
                    while in_flight.join_next().await.is_some() {}
                    if let Err(e) = this.store.release_callback_claims(&this.owner).await {
                        tracing::warn!(error = %e, "releasing callback claims failed");
                    }
                    return;
                }
            }
            while let Some(done) = in_flight.try_join_next() {
                if let Ok(app) = done {
                    Self::release(&mut per_app, &app);
                }
            }
        }
    }

    fn release(per_app: &mut HashMap<String, u32>, app: &str) {
        if let Some(n) = per_app.get_mut(app) {
            *n -= 1;
            if *n == 0 {
                per_app.remove(app);
            }
        }
    }

    async fn deliver(&self, item: OutboxItem) {
        let now = self.clock.now();
        let started = std::time::Instant::now();
        let result = self.attempt(&item, now).await;
        self.metrics.callback_latency.observe(started.elapsed());
        let outcome = match result {
            Ok(()) => {
                self.store
                    .callback_delivered(item.id, self.clock.now())
                    .await
            }
            Err(error) => {
                let attempts = item.attempts + 1;
                let next = now + backoff_secs(attempts);
                let give_up = next - item.created_at > self.give_up_after_secs;
                tracing::warn!(request = %item.request_id, attempts, %error, give_up, "callback delivery failed");
                self.store
                    .callback_failed(item.id, &error, (!give_up).then_some(next), now)
                    .await
            }
        };
        if let Err(e) = outcome {
            tracing::error!(error = %e, "recording a callback attempt failed");
        }
        self.wake.notify_one();
    }

    async fn attempt(&self, item: &OutboxItem, now: i64) -> Result<(), String> {
        let app = self
            .store
            .app(&item.app_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the app no longer exists")?;
        let url = app
            .callback_url
            .clone()
            .ok_or("the app no longer has a callback URL")?;
        let key = crate::admin::callback_key(&self.keys, &app).map_err(|e| e.to_string())?;
        let payload = self.with_receipt(&app, item).await?;
        let signed = sign_callback(&app, &key, &url, &payload, now).map_err(|e| e.to_string())?;
        let request = match signed.method {
            CallbackMethod::Post => self
                .client
                .post(&signed.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(signed.body.unwrap_or_default()),
            CallbackMethod::Get => self.client.get(&signed.url),
        };
        let response = request
            .header(SIGNATURE_HEADER, &signed.signature)
            .header(NONCE_HEADER, &signed.nonce)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "could not reach {}: {}",
                    redact_url(&url),
                    error_chain(&e.without_url())
                )
            })?;
        if response.status().is_success() {
            tracing::info!(request = %item.request_id, status = %response.status(), "callback delivered");
            Ok(())
        } else {
            Err(format!(
                "{} answered {}",
                redact_url(&url),
                response.status()
            ))
        }
    }
}

impl CallbackWorker {
    /// The payload with the request's receipt (POST callbacks: the receipt itself, with its
    /// inclusion proof against a checkpoint signed now if needed; GET callbacks: its URL), when the
    /// request has one. A receipt the log cannot prove (its history was rewritten) is left out and
    /// the error logged: the relying party still hears the outcome, and can fetch the receipt once
    /// an operator has restored the log.
    async fn with_receipt(&self, app: &App, item: &OutboxItem) -> Result<Value, String> {
        let mut payload = item.payload.clone();
        let stored = self
            .store
            .receipt(item.request_id)
            .await
            .map_err(|e| e.to_string())?;
        let (Some(stored), Value::Object(map)) = (stored, &mut payload) else {
            return Ok(payload);
        };
        match app.callback_method {
            CallbackMethod::Post => {
                match crate::receipts::with_inclusion(&self.state, &stored).await {
                    Ok(receipt) => {
                        let value = serde_json::to_value(&receipt).map_err(|e| e.to_string())?;
                        map.insert("receipt".into(), value);
                    }
                    Err(crate::approval_log::LogError::Store(e)) => return Err(e.to_string()),
                    Err(e) => {
                        tracing::error!(request = %item.request_id, error = %e, "a callback goes without its receipt");
                    }
                }
            }
            CallbackMethod::Get => {
                map.insert(
                    "receipt_url".into(),
                    Value::String(crate::receipts::receipt_url(
                        &self.state.config.public_url,
                        item.request_id,
                    )),
                );
            }
        }
        Ok(payload)
    }
}

/// An error and its causes, one line (reqwest's top-level message alone says only "error sending
/// request"). The URL has been removed from it by the caller.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The URL as it may be logged or stored: its origin (scheme, host, port) only. A user name,
/// password, path, query or fragment may each carry the relying party's secrets (webhook URLs
/// often put a token in the path).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => format!("{}/…", parsed.origin().ascii_serialization()),
        Err(_) => "(an unparsable URL)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_urls_carry_no_credentials_or_query() {
        assert_eq!(
            redact_url("https://user:s3cret@hooks.example:8443/hook/t0ken?token=t0p#frag"),
            "https://hooks.example:8443/…"
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(
            (1..=5).map(backoff_secs).collect::<Vec<_>>(),
            vec![1, 2, 4, 8, 16]
        );
        assert_eq!(backoff_secs(30), MAX_BACKOFF_SECS);
    }
}
