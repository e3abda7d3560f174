//! `POST /device/v1/enroll`: redeem a registration token with a new device key;
//! `POST /device/v1/enroll/preview`: say what a token would enroll into, without redeeming it.

use assent_protocol::enroll::{
    EnrollPreviewRequest, EnrollPreviewResponse, EnrollmentRequest, EnrollmentResponse,
    MAX_DEVICE_NAME_CHARS, MAX_PLATFORM_CHARS,
};
use assent_protocol::error::ErrorCode;
use assent_protocol::request::{AppBranding, Logo, LogoResolution};
use assent_protocol::totp::CodeSeed;
use axum::Json;
use axum::extract::{Request, State};
use uuid::Uuid;

use crate::backend::{call_source, rate_limited};
use crate::body::read_call_body;
use crate::error::{ApiError, ApiResult};
use crate::keys::secret_hash;
use crate::sealed::SecretPurpose;
use crate::state::AppState;
use crate::store::{App, NewDevice, TokenRefusal, account_name};

fn check_label(value: &str, field: &'static str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty()
        || value.chars().count() > max
        || assent_protocol::text::find_unsafe(value).is_some()
    {
        return Err(
            ApiError::param(format!("{field} must be 1 to {max} printable characters."))
                .with_field(field, "is invalid"),
        );
    }
    Ok(value.to_owned())
}

/// The one answer for a token that cannot be used, whether unknown, used or expired: telling them
/// apart would tell a guesser which tokens once existed.
fn invalid_token() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidRegistrationToken,
        "This enrollment link is invalid, already used or expired; ask for a new one.",
    )
}

fn branding(app: App) -> AppBranding {
    AppBranding {
        id: app.id,
        name: app.name,
        accent_color: app.accent_color,
        logos: app
            .logo_url
            .into_iter()
            .map(|url| Logo {
                res: LogoResolution::Default,
                url,
            })
            .collect(),
    }
}

/// The body of an unauthenticated enrollment call (preview or enroll), once the caller's address
/// is within its shared budget: both answer whether a token is live, so both count against it.
async fn rated_body(state: &AppState, req: Request) -> ApiResult<axum::body::Bytes> {
    let (parts, body) = req.into_parts();
    state
        .rates
        .check_source(call_source(state, &parts), std::time::Instant::now())
        .map_err(|wait| rate_limited(wait, "address"))?;
    read_call_body(state, &parts.headers, body).await
}

/// Says which app and which person a registration token enrolls for, so the device can show it
/// before the person agrees. Reads only: the token stays valid. Rate-limited per address like
/// [`enroll`], since it too answers whether a token is live.
pub async fn preview(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<Json<EnrollPreviewResponse>> {
    let body = rated_body(&state, req).await?;
    let request: EnrollPreviewRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("The preview request is not valid: {e}.")))?;
    let now = state.now();
    let (app_id, user_id) = state
        .store
        .registration_owner(secret_hash(request.token.expose()), now)
        .await?
        .ok_or_else(invalid_token)?;
    // A user deleted after the link was made: enrolling would be refused, so the preview is too.
    let user = state
        .store
        .user(&app_id, user_id)
        .await?
        .ok_or_else(invalid_token)?;
    let app = state.store.app(&app_id).await?.ok_or_else(invalid_token)?;
    Ok(Json(EnrollPreviewResponse {
        app: branding(app),
        account_name: account_name(&user),
    }))
}

/// Enrolls a device: checks the proof of possession, consumes the token and registers the key,
/// in one transaction.
pub async fn enroll(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<Json<EnrollmentResponse>> {
    let body = rated_body(&state, req).await?;
    let request: EnrollmentRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("The enrollment request is not valid: {e}.")))?;
    let name = check_label(&request.name, "name", MAX_DEVICE_NAME_CHARS)?;
    let platform = check_label(&request.platform, "platform", MAX_PLATFORM_CHARS)?;
    if name != request.name || platform != request.platform {
        // The proof covers the exact strings; trimmed ones would no longer match it.
        return Err(ApiError::param(
            "name and platform must not have surrounding spaces.",
        ));
    }
    request.verify_proof().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidSignature,
            "The enrollment proof does not verify for the given public key.",
        )
    })?;
    let now = state.now();
    let id = Uuid::new_v4();
    // The seed is sealed for this device id, so it opens only on this device's row.
    let code_seed = CodeSeed::generate();
    let device = NewDevice {
        id,
        public_key: request.public_key,
        name,
        platform,
        sealed_code_seed: state.keys.seal(
            code_seed.expose(),
            &SecretPurpose::CodeSeed { device_id: id },
        ),
    };
    let enrollment = match state
        .store
        .enroll(
            secret_hash(request.token.expose()),
            device,
            &state.notary,
            now,
        )
        .await?
    {
        Ok(enrollment) => enrollment,
        Err(TokenRefusal::Invalid) => return Err(invalid_token()),
    };
    let (device, app) = (enrollment.device, enrollment.app);
    // Shown beside the account on the device: the person as the relying party registered them.
    let account_name = state
        .store
        .user(&app.id, device.user_id)
        .await?
        .as_ref()
        .and_then(crate::backend::users::person_name)
        .map(|person| person.name);
    tracing::info!(device = %device.id, user = device.user_id, app = %app.id, "device enrolled");
    Ok(Json(EnrollmentResponse {
        device_id: device.id,
        device_alias: device.alias,
        user_id: device.user_id,
        app: branding(app),
        service_public_key: state.service_key.public(),
        enrolled_at: device.created_at,
        code_seed,
        account_name,
    }))
}
