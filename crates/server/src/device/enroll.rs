//! `POST /device/v1/enroll`: redeem a registration token with a new device key.

use assent_protocol::enroll::{
    EnrollmentRequest, EnrollmentResponse, MAX_DEVICE_NAME_CHARS, MAX_PLATFORM_CHARS,
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
use crate::store::{NewDevice, TokenRefusal};

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

/// Enrolls a device: checks the proof of possession, consumes the token and registers the key,
/// in one transaction.
pub async fn enroll(
    State(state): State<AppState>,
    req: Request,
) -> ApiResult<Json<EnrollmentResponse>> {
    let (parts, body) = req.into_parts();
    state
        .rates
        .check_source(call_source(&state, &parts), std::time::Instant::now())
        .map_err(|wait| rate_limited(wait, "address"))?;
    let body = read_call_body(&state, &parts.headers, body).await?;
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
        Err(TokenRefusal::Invalid) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRegistrationToken,
                "This enrollment link is invalid, already used or expired; ask for a new one.",
            ));
        }
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
        app: AppBranding {
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
        },
        service_public_key: state.service_key.public(),
        enrolled_at: device.created_at,
        code_seed,
        account_name,
    }))
}
