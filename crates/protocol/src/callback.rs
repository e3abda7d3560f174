//! Authy-compatible callbacks: the payload the service sends a relying party when a request is
//! decided, and the `X-Authy-Signature` HMAC that lets the relying party trust it.
//!
//! The signature algorithm is Authy's (see `docs/protocol.md`):
//!
//! 1. flatten the payload into `name=value` pairs (nested keys `a%5Bb%5D`, array elements
//!    `a%5B0%5D`, empty objects and arrays dropped, `null` as an empty value), percent-encoding
//!    names and values (upper-case hex, `A-Z a-z 0-9 - . _ ~` left alone);
//! 2. join with `&`, turn `%20` into `+`, split, sort by bytes, join again;
//! 3. replace every `%5B<digits>%5D` with `%5B%5D`;
//! 4. `data = nonce|METHOD|url|params`;
//! 5. `X-Authy-Signature = base64(HMAC-SHA256(API key, data))`.
//!
//! The service does not keep API keys: it stores their SHA-256 (to authenticate calls) and a
//! [`CallbackKey`], the HMAC-SHA256 key schedule precomputed as two compression-function states
//! (RFC 2104 section 4). The states sign callbacks exactly as the key would, but do not reveal
//! the key, and so give no access to the API.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::compress256;
use sha2::digest::generic_array::GenericArray;

use crate::request::Logo;

/// `callback_action` of every approval-request callback.
pub const CALLBACK_ACTION: &str = "approval_request_status";
/// `callback_action` of the event sent when a person says "this wasn't me": the app's requests to
/// that person are frozen (see `docs/api.md`).
pub const FRAUD_REPORTED_ACTION: &str = "fraud_reported";
/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Authy-Signature";
/// Header carrying the nonce (Unix seconds as a string).
pub const NONCE_HEADER: &str = "X-Authy-Signature-Nonce";

/// Characters left as they are by Authy's percent-encoding: `A-Z a-z 0-9 - . _ ~`.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Why a payload could not be signed or a signature did not check out.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallbackError {
    /// The payload (or body) is not a JSON object.
    #[error("callback payload must be a JSON object")]
    NotAnObject,
    /// The body is not JSON.
    #[error("callback body is not JSON: {0}")]
    Json(String),
    /// A float: Authy's client verifiers disagree on how to render them, so none is signed.
    #[error("callback payload contains a non-integer number at `{0}`")]
    Float(String),
    /// The signature does not match.
    #[error("callback signature does not match")]
    BadSignature,
}

/// HTTP method a callback is delivered with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallbackMethod {
    /// JSON body (the default, as in Authy).
    #[default]
    Post,
    /// The same data as a bracket-flattened query string.
    Get,
}

impl CallbackMethod {
    /// `POST` or `GET`.
    pub fn as_http(self) -> &'static str {
        match self {
            CallbackMethod::Post => "POST",
            CallbackMethod::Get => "GET",
        }
    }

    /// Parses `post`/`get` in any case.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "post" => Some(CallbackMethod::Post),
            "get" => Some(CallbackMethod::Get),
            _ => None,
        }
    }
}

/// HMAC-SHA256 keyed by an API key, precomputed: the SHA-256 states after absorbing
/// `K ^ ipad` and `K ^ opad`. Equivalent to the key for signing callbacks; not the key itself.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

fn compress_block(state: &mut [u32; 8], block: &[u8]) {
    compress256(state, &[GenericArray::clone_from_slice(block)]);
}

/// Finishes SHA-256 from `state`, which has absorbed `absorbed` bytes (a multiple of 64).
fn finish_sha256(mut state: [u32; 8], absorbed: u64, data: &[u8]) -> [u8; 32] {
    let total_bits = (absorbed + data.len() as u64) * 8;
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        compress_block(&mut state, block);
    }
    let rest = blocks.remainder();
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() + 9 <= 64 { 64 } else { 128 };
    tail[tail_len - 8..tail_len].copy_from_slice(&total_bits.to_be_bytes());
    for block in tail[..tail_len].chunks_exact(64) {
        compress_block(&mut state, block);
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

impl CallbackKey {
    /// Precomputes the HMAC key schedule of an API key.
    pub fn from_api_key(api_key: &str) -> Self {
        let key = api_key.as_bytes();
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&crate::crypto::sha256(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let mut inner = SHA256_IV;
        let mut outer = SHA256_IV;
        compress_block(&mut inner, &block.map(|b| b ^ 0x36));
        compress_block(&mut outer, &block.map(|b| b ^ 0x5c));
        zeroize::Zeroize::zeroize(&mut block);
        CallbackKey { inner, outer }
    }

    /// The 64-byte stored form (inner then outer state, big-endian words).
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (chunk, word) in out
            .chunks_exact_mut(4)
            .zip(self.inner.iter().chain(&self.outer))
        {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// Reads the stored form written by [`CallbackKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        let mut words = bytes
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        let mut inner = [0u32; 8];
        let mut outer = [0u32; 8];
        inner
            .iter_mut()
            .chain(outer.iter_mut())
            .for_each(|w| *w = words.next().expect("64 bytes"));
        CallbackKey { inner, outer }
    }

    /// HMAC-SHA256 of `data`.
    pub fn mac(&self, data: &[u8]) -> [u8; 32] {
        let inner = finish_sha256(self.inner, 64, data);
        finish_sha256(self.outer, 64, &inner)
    }
}

impl fmt::Debug for CallbackKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackKey(<redacted>)")
    }
}

fn pct(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

fn flatten(name: &str, value: &Value, out: &mut Vec<String>) -> Result<(), CallbackError> {
    match value {
        Value::Object(map) => {
            for (key, member) in map {
                flatten(&format!("{name}{}", pct(&format!("[{key}]"))), member, out)?;
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{name}{}", pct(&format!("[{i}]"))), item, out)?;
            }
        }
        Value::Null => out.push(format!("{name}=")),
        Value::Bool(b) => out.push(format!("{name}={b}")),
        Value::Number(n) if n.is_i64() || n.is_u64() => out.push(format!("{name}={n}")),
        Value::Number(_) => return Err(CallbackError::Float(name.to_owned())),
        Value::String(s) => out.push(format!("{name}={}", pct(s))),
    }
    Ok(())
}

/// The payload as `name=value` pairs in payload order, array indexes kept (`%5B0%5D`), spaces
/// as `+`. This is the query string of a GET callback.
///
/// # Errors
/// [`CallbackError::NotAnObject`] or [`CallbackError::Float`].
pub fn flatten_pairs(payload: &Value) -> Result<Vec<String>, CallbackError> {
    let map = payload.as_object().ok_or(CallbackError::NotAnObject)?;
    let mut pairs = Vec::new();
    for (key, value) in map {
        flatten(&pct(key), value, &mut pairs)?;
    }
    Ok(pairs.into_iter().map(|p| p.replace("%20", "+")).collect())
}

/// The query string of a GET callback for `payload`.
///
/// # Errors
/// As [`flatten_pairs`].
pub fn to_query_string(payload: &Value) -> Result<String, CallbackError> {
    Ok(flatten_pairs(payload)?.join("&"))
}

fn canonical_from_pairs(mut pairs: Vec<String>) -> String {
    pairs.sort_unstable();
    strip_array_indexes(&pairs.join("&"))
}

/// Replaces every `%5B<digits>%5D` with `%5B%5D`.
fn strip_array_indexes(params: &str) -> String {
    const OPEN: &str = "%5B";
    const CLOSE: &str = "%5D";
    let mut out = String::with_capacity(params.len());
    let mut rest = params;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at + OPEN.len()]);
        rest = &rest[at + OPEN.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(CLOSE) {
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// The canonical parameter string of a JSON payload (a POST callback body).
///
/// # Errors
/// As [`flatten_pairs`].
pub fn params_from_json(payload: &Value) -> Result<String, CallbackError> {
    Ok(canonical_from_pairs(flatten_pairs(payload)?))
}

fn form_decode(text: &str) -> String {
    percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// The canonical parameter string of a GET callback's query string (without the leading `?`).
/// Names and values are decoded and re-encoded, so any valid spelling of the same data gives the
/// same string.
pub fn params_from_query(query: &str) -> String {
    let pairs = query
        .split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = segment.split_once('=').unwrap_or((segment, ""));
            format!("{}={}", pct(&form_decode(name)), pct(&form_decode(value))).replace("%20", "+")
        })
        .collect();
    canonical_from_pairs(pairs)
}

/// `nonce|METHOD|url|params`, the bytes the HMAC covers. `url` is the callback URL as configured,
/// without its query string.
pub fn signing_data(nonce: &str, method: &str, url: &str, params: &str) -> String {
    format!("{nonce}|{}|{url}|{params}", method.to_ascii_uppercase())
}

/// The `X-Authy-Signature` value for canonical `params`.
pub fn sign(key: &CallbackKey, nonce: &str, method: &str, url: &str, params: &str) -> String {
    STANDARD.encode(key.mac(signing_data(nonce, method, url, params).as_bytes()))
}

/// Checks an `X-Authy-Signature` value against canonical `params`, in constant time.
///
/// # Errors
/// [`CallbackError::BadSignature`].
pub fn verify(
    key: &CallbackKey,
    nonce: &str,
    method: &str,
    url: &str,
    params: &str,
    signature: &str,
) -> Result<(), CallbackError> {
    let expected = sign(key, nonce, method, url, params);
    if crate::crypto::constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err(CallbackError::BadSignature)
    }
}

/// Checks a POST callback: `body` is the raw JSON body.
///
/// # Errors
/// [`CallbackError::Json`] for a body that is not JSON, otherwise as [`verify`].
pub fn verify_post(
    key: &CallbackKey,
    nonce: &str,
    url: &str,
    body: &[u8],
    signature: &str,
) -> Result<(), CallbackError> {
    let payload: Value =
        serde_json::from_slice(body).map_err(|e| CallbackError::Json(e.to_string()))?;
    verify(
        key,
        nonce,
        "POST",
        url,
        &params_from_json(&payload)?,
        signature,
    )
}

/// Checks a GET callback: `query` is the query string without the leading `?`.
///
/// # Errors
/// As [`verify`].
pub fn verify_get(
    key: &CallbackKey,
    nonce: &str,
    url: &str,
    query: &str,
    signature: &str,
) -> Result<(), CallbackError> {
    verify(key, nonce, "GET", url, &params_from_query(query), signature)
}

/// `approval_request.transaction` of a callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackTransaction {
    /// The request's details (shown), `null` when none.
    pub details: Option<Map<String, Value>>,
    /// Always `{}` (Authy field, kept for compatibility).
    pub device_details: Map<String, Value>,
    /// Always `""`.
    pub device_geolocation: String,
    /// When the deciding device signed, Unix seconds; `null` for a request that expired or was
    /// cancelled (an opt-in callback: nobody decided).
    pub device_signing_time: Option<i64>,
    /// Always false.
    pub encrypted: bool,
    /// Always false.
    pub flagged: bool,
    /// The hidden details (never shown to the person), `null` when none.
    pub hidden_details: Option<Map<String, Value>>,
    /// The request message.
    pub message: String,
    /// Deny reason (`not_me`, `cancelled`, `wrong_number`) or `""`.
    pub reason: String,
    /// Requester context (`ip`, `location`, `user_agent`), `null` when none.
    pub requester_details: Option<Map<String, Value>>,
    /// `approved` or `denied` (with the app's opt-in, also `expired` or `cancelled`).
    pub status: String,
    /// The request UUID.
    pub uuid: String,
    /// Unix seconds.
    pub created_at_time: i64,
    /// The app's integer serial id.
    pub customer_uuid: u64,
}

/// `approval_request` of a callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackApprovalRequest {
    /// The request as decided.
    pub transaction: CallbackTransaction,
    /// Unix seconds, `null` for a request that never expires.
    pub expiration_timestamp: Option<i64>,
    /// Logos given at creation, `null` when none.
    pub logos: Option<Vec<Logo>>,
    /// The app id.
    pub app_id: String,
}

/// `device` of a callback: the device whose decision settled the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackDevice {
    /// Not tracked: `null`.
    pub city: Option<String>,
    /// Not tracked: `null`.
    pub country: Option<String>,
    /// Not tracked: `null`.
    pub ip: Option<String>,
    /// Not tracked: `null`.
    pub region: Option<String>,
    /// Not tracked: `null`.
    pub registration_city: Option<String>,
    /// Not tracked: `null`.
    pub registration_country: Option<String>,
    /// Not tracked: `null`.
    pub registration_ip: Option<String>,
    /// Always `assent`.
    pub registration_method: String,
    /// Not tracked: `null`.
    pub registration_region: Option<String>,
    /// The device platform (`linux`, `macos`, `windows`, `headless`).
    pub os_type: String,
    /// Not tracked: `null`.
    pub last_account_recovery_at: Option<i64>,
    /// The device's integer alias.
    pub id: u64,
    /// Unix seconds.
    pub registration_date: i64,
    /// Unix seconds the device was last seen.
    pub last_sync_date: i64,
}

/// The whole callback payload (POST body, or GET query once flattened).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallbackPayload {
    /// The user the request was for.
    pub authy_id: u64,
    /// The deciding device's integer alias; `null` when nobody decided (expired, cancelled).
    pub device_uuid: Option<u64>,
    /// Always [`CALLBACK_ACTION`].
    pub callback_action: String,
    /// The request UUID.
    pub uuid: String,
    /// `approved` or `denied` (with the app's opt-in, also `expired` or `cancelled`).
    pub status: String,
    /// The request.
    pub approval_request: CallbackApprovalRequest,
    /// The deciding device's Ed25519 signature over its decision, standard base64; `null` when
    /// nobody decided.
    pub signature: Option<String>,
    /// The deciding device; `null` when nobody decided.
    pub device: Option<CallbackDevice>,
    /// Assent extension, POST callbacks: the request's receipt (every decision with its device
    /// signature and its device's enrollment record, countersigned, with its inclusion proof in
    /// the approval log; see `docs/protocol.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Value>,
    /// Assent extension, GET callbacks: where to fetch the receipt (with the API key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_url: Option<String>,
}

/// The `fraud_reported` event: a person denied a request with "this wasn't me". Signed like every
/// callback; sent in addition to the request's own `approval_request_status` callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudReportedPayload {
    /// Always [`FRAUD_REPORTED_ACTION`].
    pub callback_action: String,
    /// The app.
    pub app_id: String,
    /// The person who reported (the request's initiator, or one of its other approvers).
    pub authy_id: u64,
    /// The request they reported.
    pub uuid: String,
    /// The reporting device's integer alias.
    pub device_uuid: u64,
    /// Unix seconds when the device signed the report.
    pub reported_at: i64,
    /// Unix seconds until which new requests naming this person are refused; absent when the
    /// app turned the freeze off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen_until: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flatten_follows_authy_rules() {
        let payload = json!({"a": {"b": "x y/z", "e": {}, "f": []}, "n": null, "t": true, "i": -3, "l": [{"r": "1"}, {"r": "2"}]});
        assert_eq!(
            to_query_string(&payload).unwrap(),
            "a%5Bb%5D=x+y%2Fz&n=&t=true&i=-3&l%5B0%5D%5Br%5D=1&l%5B1%5D%5Br%5D=2"
        );
        assert_eq!(
            params_from_json(&payload).unwrap(),
            "a%5Bb%5D=x+y%2Fz&i=-3&l%5B%5D%5Br%5D=1&l%5B%5D%5Br%5D=2&n=&t=true"
        );
        assert_eq!(
            params_from_json(&json!({"x": 1.5})),
            Err(CallbackError::Float("x".into()))
        );
        assert_eq!(
            params_from_json(&json!([1])),
            Err(CallbackError::NotAnObject)
        );
    }

    #[test]
    fn index_stripping_only_touches_digit_runs() {
        assert_eq!(
            strip_array_indexes("a%5B12%5D%5Bb%5D=%5B3x%5D"),
            "a%5B%5D%5Bb%5D=%5B3x%5D"
        );
        assert_eq!(strip_array_indexes("%5B"), "%5B");
        assert_eq!(strip_array_indexes("%5B1"), "%5B1");
    }

    #[test]
    fn query_and_json_agree() {
        let payload =
            json!({"status": "approved", "d": {"k": "a b+c&d=é"}, "l": [{"u": "https://x/y?q=1"}]});
        let query = to_query_string(&payload).unwrap();
        assert_eq!(
            params_from_query(&query),
            params_from_json(&payload).unwrap()
        );
    }

    #[test]
    fn stored_key_round_trips_and_hides_itself() {
        let key = CallbackKey::from_api_key("foo");
        assert_eq!(CallbackKey::from_bytes(&key.to_bytes()), key);
        assert_eq!(format!("{key:?}"), "CallbackKey(<redacted>)");
    }
}
