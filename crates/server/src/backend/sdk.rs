//! `/protected/json/sdk/...`: registration tokens and device revocation.

use assent_protocol::backend::{Done, RegistrationCreated};
use assent_protocol::enroll::EnrollLink;
use assent_protocol::error::ErrorCode;
use assent_protocol::secret::SecretString;
use axum::Json;
use axum::extract::State;
use uuid::Uuid;

use super::users::{MAX_USER_ID, user_not_found};
use super::{BackendCall, ok};
use crate::error::{ApiError, ApiResult};
use crate::keys::{new_registration_token, secret_hash};
use crate::segment::Segment;
use crate::state::AppState;

/// `POST /protected/json/sdk/registrations` `authy_id=N`: a single-use enrollment token and link.
pub async fn create_registration(
    State(state): State<AppState>,
    call: BackendCall,
) -> ApiResult<Json<RegistrationCreated>> {
    let user_id = call.params.unsigned("authy_id")?.ok_or_else(|| {
        ApiError::param("authy_id is required.").with_field("authy_id", "is required")
    })?;
    if !(1..=MAX_USER_ID).contains(&user_id) {
        return Err(user_not_found());
    }
    let user = state
        .store
        .user(&call.app.id, user_id)
        .await?
        .ok_or_else(user_not_found)?;
    let now = state.now();
    let expires_at = now + state.config.registration_ttl_secs;
    let token = new_registration_token();
    state
        .store
        .create_registration(
            &call.app.id,
            user.id,
            secret_hash(token.expose()),
            expires_at,
            now,
        )
        .await?;
    let link = EnrollLink {
        server: state.config.public_url.clone(),
        token: token.clone(),
    };
    Ok(ok(RegistrationCreated {
        registration_token: token,
        enroll_url: SecretString::new(link.render()),
        enroll_phrase: link.phrase(),
        expires_at,
        success: true,
    }))
}

fn device_not_found() -> ApiError {
    ApiError::new(ErrorCode::DeviceNotFound, "Device not found.")
}

/// `DELETE /protected/json/sdk/devices/{id}`: revokes a device; its open stream is told and closed.
pub async fn revoke_device(
    State(state): State<AppState>,
    Segment(id): Segment,
    call: BackendCall,
) -> ApiResult<Json<Done>> {
    let id = Uuid::try_parse(&id).map_err(|_| device_not_found())?;
    let device = state
        .store
        .revoke_device(Some(&call.app.id), id, state.now())
        .await?
        .ok_or_else(device_not_found)?;
    state.announce_revoked(&device).await;
    Ok(ok(Done {
        message: "Device revoked.".into(),
        success: true,
    }))
}
