//! `GET /protected/json/app/details` (Authy's `apps.fetch`), and the phone channels Assent does
//! not have: SMS, voice calls and phone verification answer an Authy-shaped error saying so.

use assent_protocol::backend::{AppDetails, AppDetailsResponse};
use assent_protocol::error::ErrorCode;
use axum::Json;

use super::{BackendCall, ok};
use crate::error::{ApiError, ApiResult};

/// The calling app's details.
pub async fn details(call: BackendCall) -> ApiResult<Json<AppDetailsResponse>> {
    Ok(ok(AppDetailsResponse {
        app: AppDetails {
            app_id: call.app.serial_id,
            name: call.app.name,
            plan: "self_hosted".into(),
            sms_enabled: false,
            phone_calls_enabled: false,
            onetouch_enabled: true,
        },
        message: "Application information.".into(),
        success: true,
    }))
}

/// SMS, voice calls and phone verification (authenticated first, so a caller without a key
/// learns nothing).
pub async fn phone_channel(_call: BackendCall) -> ApiResult<Json<()>> {
    Err(ApiError::new(
        ErrorCode::PhoneChannelsUnsupported,
        "Assent does not send SMS or place calls: ask the person for the one-time code their Assent app shows, or send a push approval request.",
    ))
}
