//! Callbacks to relying parties: the Authy-compatible payload, and the worker that delivers the
//! outbox at least once.
//!
//! A callback is written to the outbox in the same transaction as the decision that made the
//! request final, so a crash can delay it but never lose it. The worker signs each attempt afresh
//! (the nonce is the attempt's time) with the app's current key, URL and method, and retries with
//! exponential backoff (1 s, 2 s, 4 s ... capped at one hour) until it is delivered or, after
//! `callback_give_up_secs`, abandoned.

use std::sync::Arc;
use std::time::Duration;

use assent_protocol::callback::{
    self, CALLBACK_ACTION, CallbackApprovalRequest, CallbackDevice, CallbackMethod,
    CallbackPayload, CallbackTransaction, NONCE_HEADER, SIGNATURE_HEADER,
};
use assent_protocol::request::RequestStatus;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt as _;
use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::unix_now;
use crate::store::{App, DecisionRecord, Device, OutboxItem, Store, StoredRequest};

/// Deliveries attempted at once.
const CONCURRENT_DELIVERIES: usize = 16;
/// Longest wait between attempts.
const MAX_BACKOFF_SECS: i64 = 3600;

fn nonempty(map: &Map<String, Value>) -> Option<Map<String, Value>> {
    (!map.is_empty()).then(|| map.clone())
}

/// The callback payload for a request that `decision` (by `device`) made final.
pub fn callback_payload(
    app: &App,
    request: &StoredRequest,
    device: &Device,
    decision: &DecisionRecord,
    status: RequestStatus,
    reason: Option<&str>,
) -> CallbackPayload {
    let requester_details = request
        .requester
        .as_ref()
        .map(|r| match serde_json::to_value(r) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        });
    CallbackPayload {
        authy_id: request.user_id,
        device_uuid: device.alias,
        callback_action: CALLBACK_ACTION.to_owned(),
        uuid: request.id.to_string(),
        status: status.as_str().to_owned(),
        approval_request: CallbackApprovalRequest {
            transaction: CallbackTransaction {
                details: nonempty(&request.details),
                device_details: Map::new(),
                device_geolocation: String::new(),
                device_signing_time: decision.signed_at,
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
        },
        signature: STANDARD.encode(decision.signature.to_bytes()),
        device: CallbackDevice {
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
        },
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
    callback_url: &str,
    payload: &Value,
    now: i64,
) -> Result<SignedCallback, callback::CallbackError> {
    let nonce = now.to_string();
    let params = callback::params_from_json(payload)?;
    // Authy signs the URL as configured, without its query string.
    let signed_url = callback_url.split('?').next().unwrap_or(callback_url);
    let signature = callback::sign(
        &app.callback_key,
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
    client: reqwest::Client,
    wake: Arc<Notify>,
    give_up_after_secs: i64,
}

impl CallbackWorker {
    /// A worker; `wake` is notified whenever a callback is written.
    pub fn new(
        store: Arc<dyn Store>,
        wake: Arc<Notify>,
        timeout: Duration,
        give_up_after_secs: i64,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("assent/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client builds");
        CallbackWorker {
            store,
            client,
            wake,
            give_up_after_secs,
        }
    }

    /// Delivers until cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let now = unix_now();
            let due = match self.store.due_callbacks(now, 64).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(error = %e, "reading the callback outbox failed");
                    Vec::new()
                }
            };
            if due.is_empty() {
                let next = self.store.next_callback_due().await.ok().flatten();
                let wait = next.map_or(300, |at| (at - now).clamp(0, 300));
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(wait as u64).max(Duration::from_millis(50))) => {}
                    () = self.wake.notified() => {}
                    () = shutdown.cancelled() => return,
                }
                continue;
            }
            let deliveries = futures_util::stream::iter(due)
                .map(|item| self.deliver(item))
                .buffer_unordered(CONCURRENT_DELIVERIES);
            tokio::select! {
                () = deliveries.for_each(|()| async {}) => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn deliver(&self, item: OutboxItem) {
        let now = unix_now();
        let result = self.attempt(&item, now).await;
        let outcome = match result {
            Ok(()) => self.store.callback_delivered(item.id, unix_now()).await,
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
        let signed = sign_callback(&app, &url, &item.payload, now).map_err(|e| e.to_string())?;
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
            .map_err(|e| format!("could not reach {}: {}", redact_url(&url), e.without_url()))?;
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

/// The URL without its query (which may carry secrets of the relying party's own).
fn redact_url(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(
            (1..=5).map(backoff_secs).collect::<Vec<_>>(),
            vec![1, 2, 4, 8, 16]
        );
        assert_eq!(backoff_secs(30), MAX_BACKOFF_SECS);
    }
}
