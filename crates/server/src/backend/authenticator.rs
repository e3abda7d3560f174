//! `POST /protected/json/users/{id}/secret` (Authy's `users.generate_qr`): a one-time code seed
//! for a person who prefers an authenticator app other than Assent's, as a QR code of its
//! `otpauth://` URI (RFC 6238: HMAC-SHA-1, 30-second steps, 6 digits).
//!
//! The seed is made here, sealed for this person ([`SecretPurpose::AuthenticatorAppSeed`]) and
//! stored in place of any earlier one: generating again replaces it, and the earlier app's codes
//! stop working at once. The token verification endpoint checks its codes with the same window,
//! replay and lock-out rules as a device's. The seed leaves the service once, inside the QR code
//! of this answer (which says `Cache-Control: no-store`); it is never logged.

use assent_protocol::backend::AuthenticatorQr;
use assent_protocol::secret::SecretString;
use assent_protocol::totp::{CodeSeed, Digits};
use axum::Json;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::BackendCall;
use super::users::{mask_phone, user_id_from_path, user_not_found};
use crate::error::ApiError;
use crate::qr;
use crate::sealed::SecretPurpose;
use crate::segment::Segment;
use crate::state::AppState;
use crate::store::User;

/// Longest label, in characters (what an authenticator app's list shows comfortably).
pub const MAX_LABEL_CHARS: usize = 64;

fn param(field: &'static str, message: String) -> ApiError {
    ApiError::param(message).with_field(field, "is invalid")
}

/// The image side asked for (`qr_size`, Authy's name), checked.
fn qr_size(call: &BackendCall) -> Result<u64, ApiError> {
    let size = call.params.unsigned("qr_size")?.unwrap_or(qr::DEFAULT_SIZE);
    if (qr::MIN_SIZE..=qr::MAX_SIZE).contains(&size) {
        Ok(size)
    } else {
        Err(param(
            "qr_size",
            format!(
                "`qr_size` must be {} to {} pixels.",
                qr::MIN_SIZE,
                qr::MAX_SIZE
            ),
        ))
    }
}

/// The label asked for, checked; `None` when the caller gave none.
fn label(call: &BackendCall) -> Result<Option<String>, ApiError> {
    let Some(label) = call.params.string("label")? else {
        return Ok(None);
    };
    let label = label.trim();
    if label.is_empty() {
        return Ok(None);
    }
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(param(
            "label",
            format!("`label` must be at most {MAX_LABEL_CHARS} characters."),
        ));
    }
    if label.contains(':') {
        // Authenticator apps split `issuer:label` on the first colon.
        return Err(param("label", "`label` must not contain `:`.".into()));
    }
    if assent_protocol::text::find_unsafe(label).is_some() {
        return Err(param(
            "label",
            "`label` must not contain control or bidirectional characters.".into(),
        ));
    }
    Ok(Some(label.to_owned()))
}

/// The label when the caller gives none: the person's e-mail, or their masked phone number.
fn default_label(user: &User) -> String {
    match (&user.email, &user.cellphone) {
        (Some(email), _) => email.clone(),
        (None, Some(phone)) => mask_phone(phone),
        (None, None) => format!("user {}", user.id),
    }
}

/// `POST /protected/json/users/{id}/secret` with optional `qr_size` (pixels, 150 to 1000,
/// default 300) and `label`.
pub async fn generate_qr(
    State(state): State<AppState>,
    Segment(id): Segment,
    call: BackendCall,
) -> Result<Response, ApiError> {
    let size = qr_size(&call)?;
    let asked_label = label(&call)?;
    let user_id = user_id_from_path(&id)?;
    let user = state
        .store
        .user(&call.app.id, user_id)
        .await?
        .ok_or_else(user_not_found)?;
    let label = asked_label.unwrap_or_else(|| default_label(&user));
    // Authenticator apps split on the first colon; app names may carry one.
    let issuer = call.app.name.replace(':', " ");
    let seed = CodeSeed::generate();
    let uri = seed.otpauth_uri(&issuer, &label, Digits::default());
    // Rendered before anything is stored, so a failure leaves the earlier seed in place.
    let qr_code = qr::png_data_url(&uri, size).map_err(|e| ApiError::internal(&e))?;
    let purpose = SecretPurpose::AuthenticatorAppSeed { user_id: user.id };
    let sealed = state.keys.seal(seed.expose(), &purpose);
    if !state
        .store
        .replace_authenticator_seed(&call.app.id, user.id, sealed, state.now())
        .await?
    {
        // Deleted between the lookup and the write.
        return Err(user_not_found());
    }
    tracing::info!(
        user = user.id,
        "authenticator app seed generated (any earlier one replaced)"
    );
    let body = AuthenticatorQr {
        label,
        issuer,
        qr_code: SecretString::new(qr_code.as_str()),
        message: "QR code generated.".into(),
        success: true,
    };
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(email: Option<&str>, phone: Option<&str>) -> User {
        User {
            id: 7,
            app_id: "a".into(),
            email: email.map(str::to_owned),
            cellphone: phone.map(str::to_owned),
            country_code: phone.map(|_| "1".to_owned()),
            created_at: 0,
            name: None,
        }
    }

    #[test]
    fn the_default_label_is_the_email_or_the_masked_phone() {
        assert_eq!(
            default_label(&user(Some("ana@example.com"), Some("5551231118"))),
            "ana@example.com"
        );
        assert_eq!(
            default_label(&user(None, Some("5551231118"))),
            "XXX-XXX-1118"
        );
    }
}
