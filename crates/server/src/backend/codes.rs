//! `GET /protected/json/verify/{token}/{authy_id}`: Authy's token verification, for the one-time
//! codes (RFC 6238, see `assent_protocol::totp`) of a person's enrolled devices and of the other
//! authenticator app they may have added (`users.generate_qr`, see `authenticator.rs`).
//!
//! A code is accepted when it is the code of one of the person's active devices (or of their
//! authenticator app) for the current time step or the one before or after (clocks drift, people
//! type slowly), and only once per device (or app) and step (the store's unique key decides,
//! across instances). Wrong codes count towards
//! a per-person lock-out, checked before any code is, so guessing is bounded by
//! [`LOCKOUT`] whatever the call budget of the API key.

use assent_protocol::backend::TokenVerified;
use assent_protocol::error::{ErrorBody, ErrorCode};
use assent_protocol::totp::OneTimeCode;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::BackendCall;
use super::users::{user_id_from_path, user_not_found};
use crate::error::ApiError;
use crate::sealed::SecretPurpose;
use crate::state::AppState;
use crate::store::{CodeLockout, CodeUse};

/// Steps accepted either side of the current one.
pub const WINDOW_STEPS: i64 = 1;

/// Five wrong codes within five minutes lock the person's verification for five minutes: at most
/// 5 guesses in 10^6 per five minutes, so a 6-digit code is guessed once in ~10^5 lock-outs.
pub const LOCKOUT: CodeLockout = CodeLockout {
    max_failures: 5,
    window_secs: 300,
    lock_secs: 300,
};

/// A refusal of this endpoint: Authy's error body, with `"token": "is invalid"` for 60020.
#[derive(Debug)]
pub struct VerifyRefusal(ApiError);

impl From<ApiError> for VerifyRefusal {
    fn from(e: ApiError) -> Self {
        VerifyRefusal(e)
    }
}

impl IntoResponse for VerifyRefusal {
    fn into_response(self) -> Response {
        let error = self.0;
        if error.code != ErrorCode::TokenInvalid {
            return error.into_response();
        }
        let body = ErrorBody::new(error.code, error.message);
        let Ok(Value::Object(fields)) = serde_json::to_value(&body) else {
            return ApiError::internal(&"an error body did not serialize").into_response();
        };
        // Authy's order: message, token, success, errors, error_code.
        let mut shaped = Map::new();
        for (name, value) in fields {
            shaped.insert(name.clone(), value);
            if name == "message" {
                shaped.insert("token".into(), Value::from("is invalid"));
            }
        }
        let mut response = (StatusCode::UNAUTHORIZED, Json(shaped)).into_response();
        response.extensions_mut().insert(error.code);
        response
    }
}

fn token_invalid(message: &'static str) -> ApiError {
    ApiError::new(ErrorCode::TokenInvalid, message)
}

fn locked(until: i64, now: i64) -> ApiError {
    ApiError::new(
        ErrorCode::CodeAttemptsLocked,
        "Too many wrong codes for this user; verification is locked, retry after the time in Retry-After.",
    )
    .retry_after(u64::try_from(until - now).unwrap_or(1))
}

/// Verifies a one-time code of user `authy_id`.
pub async fn verify(
    State(state): State<AppState>,
    path: Result<Path<(String, String)>, PathRejection>,
    call: BackendCall,
) -> Result<Json<TokenVerified>, VerifyRefusal> {
    // A path that does not decode is a malformed token (the id is digits or unknown anyway).
    let (token, user) = path.map(|Path(p)| p).unwrap_or_default();
    let user_id = user_id_from_path(&user)?;
    let user = state
        .store
        .user(&call.app.id, user_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(user_not_found)?;
    let now = state.now();
    if let Some(until) = state
        .store
        .code_locked_until(user.id, now)
        .await
        .map_err(ApiError::from)?
    {
        return Err(locked(until, now).into());
    }
    // A malformed token cannot match any code, so it is refused without counting as a guess.
    let code = OneTimeCode::parse(&token)
        .map_err(|_| token_invalid("Token is invalid. A token is 6 to 8 digits."))?;
    let used = match matching_device(&state, user.id, &code, now).await? {
        Some((device_id, alias, step)) => Some((
            state
                .store
                .use_code(device_id, step, now)
                .await
                .map_err(ApiError::from)?,
            TokenVerified::new(alias),
        )),
        None => match matching_authenticator_app(&state, user.id, &code, now).await? {
            Some((sealed, step)) => Some((
                state
                    .store
                    .use_authenticator_code(user.id, &sealed, step, now)
                    .await
                    .map_err(ApiError::from)?,
                TokenVerified::authenticator_app(),
            )),
            None => None,
        },
    };
    let refusal = match used {
        Some((CodeUse::Accepted, accepted)) => {
            match &accepted.device {
                Some(device) => {
                    tracing::info!(user = user.id, device = device.id, "one-time code accepted");
                }
                None => tracing::info!(user = user.id, "authenticator app one-time code accepted"),
            }
            return Ok(Json(accepted));
        }
        Some((CodeUse::Replayed, _)) => token_invalid("Token is invalid. Token was used recently"),
        Some((CodeUse::DeviceGone, _)) | None => token_invalid("Token is invalid"),
    };
    match state
        .store
        .code_failed(user.id, now, LOCKOUT)
        .await
        .map_err(ApiError::from)?
    {
        Some(until) => {
            tracing::warn!(
                user = user.id,
                "one-time code verification locked after repeated failures"
            );
            Err(locked(until, now).into())
        }
        None => Err(refusal.into()),
    }
}

/// The person's authenticator-app seed (as stored, sealed) when `code` is its code within the
/// window, with the step.
async fn matching_authenticator_app(
    state: &AppState,
    user_id: u64,
    code: &OneTimeCode,
    now: i64,
) -> Result<Option<(Vec<u8>, i64)>, ApiError> {
    let Some(sealed) = state.store.authenticator_seed(user_id).await? else {
        return Ok(None);
    };
    let seed = state
        .keys
        .open_array::<{ assent_protocol::totp::SEED_LEN }>(
            &sealed,
            &SecretPurpose::AuthenticatorAppSeed { user_id },
        )
        .map_err(|e| ApiError::internal(&e))?;
    let seed = assent_protocol::totp::CodeSeed::from_bytes(*seed);
    Ok(seed
        .matching_step(code, now, WINDOW_STEPS)
        .map(|step| (sealed, step)))
}

/// The active device whose code `code` is within the window, with its alias and the step.
/// Every device's seed is tried (a person may have several devices).
async fn matching_device(
    state: &AppState,
    user_id: u64,
    code: &OneTimeCode,
    now: i64,
) -> Result<Option<(uuid::Uuid, u64, i64)>, ApiError> {
    let mut found = None;
    for (device, sealed) in state.store.code_seeds(user_id).await? {
        let seed = state
            .keys
            .open_array::<{ assent_protocol::totp::SEED_LEN }>(
                &sealed,
                &SecretPurpose::CodeSeed {
                    device_id: device.id,
                },
            )
            .map_err(|e| ApiError::internal(&e))?;
        let seed = assent_protocol::totp::CodeSeed::from_bytes(*seed);
        if let Some(step) = seed.matching_step(code, now, WINDOW_STEPS) {
            found.get_or_insert((device.id, device.alias, step));
        }
    }
    Ok(found)
}
