//! Integration point 4: the signed callback.
//!
//! Assent calls the bank when a request is approved or denied. Nothing in the callback is
//! trusted until its `X-Authy-Signature` checks out against the bank's API key, the callback URL
//! as configured at Assent, and the nonce; stale nonces are refused too (a replay). A forged or
//! replayed callback is answered 401 and changes nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use assent_protocol::callback::{self, CallbackKey, NONCE_HEADER, SIGNATURE_HEADER};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::HOST;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::{Shared, VerifiedCallback};

/// Callbacks older than this (by their nonce, which is the signing time) are refused.
const MAX_AGE_SECS: i64 = 300;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// `POST /assent/callback`.
pub async fn receive(State(bank): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let nonce = header(&headers, NONCE_HEADER);
    let signature = header(&headers, SIGNATURE_HEADER);
    // The URL Assent signs is the callback URL configured for the app; behind a proxy, configure
    // it explicitly instead of deriving it from Host.
    let url = format!("http://{}/assent/callback", header(&headers, HOST.as_str()));
    let key = CallbackKey::from_api_key(&bank.api_key);
    if callback::verify_post(&key, nonce, &url, &body, signature).is_err() {
        tracing::warn!("refused a callback with a bad signature");
        return (StatusCode::UNAUTHORIZED, "invalid signature").into_response();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    if nonce
        .parse::<i64>()
        .map_or(true, |signed| (now - signed).abs() > MAX_AGE_SECS)
    {
        return (StatusCode::UNAUTHORIZED, "stale callback").into_response();
    }
    let Ok(payload) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let verified = VerifiedCallback {
        action: payload["callback_action"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        uuid: payload["uuid"].as_str().unwrap_or_default().to_owned(),
        status: payload["status"].as_str().unwrap_or_default().to_owned(),
        reason: payload["approval_request"]["transaction"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    tracing::info!(request = %verified.uuid, status = %verified.status, "verified callback");
    let mut list = bank.callbacks.lock().unwrap();
    // One of each kind per request: a repeat delivery is the same news.
    if !list
        .iter()
        .any(|c| c.uuid == verified.uuid && c.action == verified.action)
    {
        list.push(verified);
    }
    StatusCode::OK.into_response()
}

/// `GET /callbacks`: the callbacks that verified (for the demo and its tests).
pub async fn list(State(bank): State<Shared>) -> Json<Vec<VerifiedCallback>> {
    Json(bank.callbacks.lock().unwrap().clone())
}
