//! The device API: enrollment, signed calls, request details, decisions and the push stream.
//!
//! Every route but enrollment takes a [`DeviceCall`], which only exists once the call's
//! `Authorization: Assent-Device ...` header has passed every check in `docs/protocol.md`.

mod enroll;
mod requests;
mod stream;

use assent_protocol::auth::{AuthError, DeviceAuthorization};
use assent_protocol::error::ErrorCode;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::AUTHORIZATION;
use axum::routing::{delete, get, post};

use crate::body::read_call_body;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::Device;

/// The request target as the client sent it, before path normalisation; signatures cover it.
#[derive(Debug, Clone)]
pub struct OriginalTarget(pub String);

/// An authenticated device call.
///
/// The device was active when the call's headers were checked; anything that writes on its behalf
/// must check again inside its transaction (the body may arrive after a revocation).
#[derive(Debug)]
pub struct DeviceCall {
    /// The calling device (active when the headers were checked).
    pub device: Device,
    /// The raw body the signature covered.
    pub body: Bytes,
    /// The service clock when the call was checked.
    pub now: i64,
    /// Counts this call as work in progress until it is answered (load shedding).
    #[expect(
        dead_code,
        reason = "held for its Drop: the call counts as work until its handler returns"
    )]
    pub working: crate::metrics::Working,
}

/// Devices whose last-seen time is older than this are updated on their next call.
const TOUCH_AFTER_SECS: i64 = 60;

impl FromRequest<AppState> for DeviceCall {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let now = state.now();
        let (parts, body) = req.into_parts();
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::new(
                ErrorCode::MalformedAuthorization,
                "Device calls must carry an `Authorization: Assent-Device ...` header.",
            )
        })?;
        let header = header.to_str().map_err(|_| {
            ApiError::new(
                ErrorCode::MalformedAuthorization,
                "The Authorization header is not text.",
            )
        })?;
        let auth = DeviceAuthorization::parse(header).map_err(|e| {
            ApiError::new(
                ErrorCode::MalformedAuthorization,
                format!("Malformed Authorization header: {e}."),
            )
        })?;
        auth.check_clock(now, state.config.max_clock_skew_secs)
            .map_err(|e| match e {
                AuthError::ClockSkew { .. } => ApiError::new(
                    ErrorCode::ClockSkew,
                    format!(
                        "{e}. Check this computer's clock (for example, enable automatic time)."
                    ),
                ),
                AuthError::BadSignature => ApiError::new(
                    ErrorCode::InvalidSignature,
                    "Request signature does not verify.",
                ),
            })?;
        let device = state.store.device(auth.device_id).await?.ok_or_else(|| {
            ApiError::new(
                ErrorCode::DeviceNotFound,
                "Device not found: it may have been removed.",
            )
        })?;
        if let Some(revoked_at) = device.revoked_at {
            // The notice says nothing secret (the device is revoked; the code says as much), so
            // it is answered before the signature is checked: a revoked device may no longer be
            // able to sign (its key deleted by a person, say) and must still be told.
            return Err(ApiError::device_revoked(
                state.service_key.revocation_notice(device.id, revoked_at),
            ));
        }
        let body = read_call_body(state, &parts.headers, body).await?;
        let target = match parts.extensions.get::<OriginalTarget>() {
            Some(original) => original.0.clone(),
            None => parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        };
        auth.verify_signature(&device.public_key, parts.method.as_str(), &target, &body)
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidSignature,
                    "Request signature does not verify for this device.",
                )
            })?;
        // Recorded only after the signature verified, so forgeries cannot burn a device's nonces.
        if !state
            .store
            .record_nonce(device.id, &auth.nonce, now)
            .await?
        {
            return Err(ApiError::new(
                ErrorCode::NonceReplayed,
                "This request was already received (replayed nonce).",
            ));
        }
        // The address feeds the signed "same network" fact; written when it changes, and
        // otherwise at most once per TOUCH_AFTER_SECS.
        let address =
            crate::backend::call_source(state, &parts).map(|ip| ip.to_canonical().to_string());
        let moved = address.is_some() && address != device.last_address;
        if device.last_seen_at < now - TOUCH_AFTER_SECS || moved {
            state
                .store
                .touch_device(device.id, now, address.as_deref())
                .await?;
        }
        Ok(DeviceCall {
            device,
            body,
            now,
            working: crate::metrics::Working::start(&state.metrics),
        })
    }
}

/// The device routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/device/v1/enroll", post(enroll::enroll))
        .route("/device/v1/enroll/preview", post(enroll::preview))
        .route("/device/v1/stream", get(stream::stream))
        .route("/device/v1/requests", get(requests::pending))
        .route("/device/v1/requests/{id}", get(requests::details))
        .route("/device/v1/requests/{id}/decision", post(requests::decide))
        .route("/device/v1/device", delete(requests::remove_self))
}
