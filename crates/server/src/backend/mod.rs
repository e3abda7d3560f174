//! The backend API: Authy OneTouch-compatible endpoints for relying parties, plus extensions.
//!
//! Every endpoint authenticates the app by its API key, taken from the `X-Authy-API-Key` header,
//! or the `api_key` query or body parameter (Authy's clients use all three).

mod app;
mod approvals;
mod authenticator;
pub(crate) mod codes;
mod sdk;
pub(crate) mod users;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use assent_protocol::error::ErrorCode;
use assent_protocol::params::Params;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::body::read_call_body;
use crate::error::ApiError;
use crate::http::PeerAddr;
use crate::keys::secret_hash;
use crate::state::AppState;
use crate::store::App;

/// Header carrying the API key.
pub const API_KEY_HEADER: &str = "x-authy-api-key";

/// An authenticated backend call: the app and its merged parameters.
#[derive(Debug)]
pub struct BackendCall {
    /// The calling app.
    pub app: App,
    /// Query and body parameters, merged.
    pub params: Params,
    /// Counts this call as work in progress until it is answered (load shedding).
    pub working: crate::metrics::Working,
}

fn invalid_key() -> ApiError {
    ApiError::new(ErrorCode::InvalidApiKey, "Invalid API key")
}

async fn app_for_key(state: &AppState, key: Option<&str>) -> Result<App, ApiError> {
    let key = key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(invalid_key)?;
    state
        .store
        .app_by_key_hash(&secret_hash(key))
        .await?
        .ok_or_else(invalid_key)
}

/// The address a call comes from (see [`crate::rate::RateLimits::source`]).
pub fn call_source(state: &AppState, parts: &axum::http::request::Parts) -> Option<IpAddr> {
    let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0.ip());
    state.rates.source(peer, &parts.headers)
}

/// 60111 with `Retry-After`.
pub fn rate_limited(wait: Duration, who: &str) -> ApiError {
    ApiError::new(
        ErrorCode::RateLimited,
        format!("Too many calls from this {who}; retry after the time in Retry-After."),
    )
    .retry_after(wait.as_secs_f64().ceil() as u64)
}

impl FromRequest<AppState> for BackendCall {
    type Rejection = ApiError;

    /// Checks, in this order and before any parsing of the body: the source's call budget; the
    /// API key when it is in the header or the query; then reads and parses the body (bounded, see
    /// `assent_protocol::params`), takes the key from it when it was nowhere else, and charges the
    /// app's budget.
    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let now = Instant::now();
        state
            .rates
            .check_source(call_source(state, &parts), now)
            .map_err(|wait| rate_limited(wait, "address"))?;
        let header_key = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Authenticate before reading the body whenever the key is in the header or the query, so
        // an unauthenticated caller learns nothing about how we parse bodies.
        let early_app = match &header_key {
            Some(key) => Some(app_for_key(state, Some(key)).await?),
            None => {
                let query = Params::parse(parts.uri.query(), None, b"")?;
                match query.string("api_key").ok().flatten() {
                    Some(key) => Some(app_for_key(state, Some(&key)).await?),
                    None => None,
                }
            }
        };
        let body = read_call_body(state, &parts.headers, body).await?;
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let params = Params::parse(parts.uri.query(), content_type, &body)?;
        let app = match early_app {
            Some(app) => app,
            None => app_for_key(state, params.string("api_key").ok().flatten().as_deref()).await?,
        };
        state
            .rates
            .check_app(&app.id, now)
            .map_err(|wait| rate_limited(wait, "API key"))?;
        Ok(BackendCall {
            app,
            params,
            working: crate::metrics::Working::start(&state.metrics),
        })
    }
}

/// A 200 JSON answer (Authy clients accept nothing else as success).
pub fn ok<T: Serialize>(body: T) -> Json<T> {
    Json(body)
}

/// The backend routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/protected/json/users/new", post(users::create))
        .route("/protected/json/users/{id}/status", get(users::status))
        .route(
            "/protected/json/verify/{token}/{authy_id}",
            get(codes::verify),
        )
        .route(
            "/protected/json/users/{id}/secret",
            post(authenticator::generate_qr),
        )
        .route("/protected/json/app/details", get(app::details))
        .route("/protected/json/app/stats", get(app::stats))
        .route("/protected/json/sms/{id}", get(app::phone_channel))
        .route("/protected/json/call/{id}", get(app::phone_channel))
        .route(
            "/protected/json/phones/verification/start",
            post(app::phone_channel),
        )
        .route(
            "/protected/json/phones/verification/check",
            get(app::phone_channel),
        )
        .route("/protected/json/phones/info", get(app::phone_channel))
        .route("/protected/json/users/{id}/delete", post(users::delete))
        .route("/protected/json/users/delete/{id}", post(users::delete))
        .route("/protected/json/users/{id}/remove", post(users::delete))
        .route(
            "/protected/json/sdk/registrations",
            post(sdk::create_registration),
        )
        .route(
            "/protected/json/sdk/devices/{id}",
            delete(sdk::revoke_device),
        )
        .route(
            "/onetouch/json/users/{id}/approval_requests",
            post(approvals::create),
        )
        .route(
            "/onetouch/json/approval_requests/{uuid}",
            get(approvals::status),
        )
        .route(
            "/onetouch/json/approval_requests/{uuid}/cancel",
            post(approvals::cancel),
        )
        .route(
            "/protected/json/approval_requests/{uuid}/receipt",
            get(approvals::receipt),
        )
}
