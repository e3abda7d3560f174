//! `/protected/json/users/...`: create, status, delete.

use assent_protocol::backend::{Done, UserCreated, UserRef, UserStatus, UserStatusResponse};
use assent_protocol::error::ErrorCode;
use assent_protocol::request::RequestStatus;
use axum::Json;
use axum::extract::State;

use super::{BackendCall, ok};
use crate::error::{ApiError, ApiResult};
use crate::segment::Segment;
use crate::state::AppState;
use crate::store::{NewUser, User};
use assent_protocol::params::Params;
use assent_protocol::request::{PersonName, check_person_name};

fn user_invalid(field: &'static str, problem: &str) -> ApiError {
    ApiError::new(
        ErrorCode::UserInvalid,
        format!("User was not valid: {field} {problem}."),
    )
    .with_field(field, problem)
}

/// The largest user id: the largest integer canonical JSON carries exactly (2^53 - 1). Ids are
/// assigned by the database from 1 up, so anything larger names nobody.
pub const MAX_USER_ID: u64 = (1 << 53) - 1;

/// Parses a user id from a path segment; anything but an integer from 1 to [`MAX_USER_ID`] is an
/// unknown user.
pub fn user_id_from_path(segment: &str) -> Result<u64, ApiError> {
    segment
        .parse::<u64>()
        .ok()
        .filter(|id| (1..=MAX_USER_ID).contains(id))
        .ok_or_else(user_not_found)
}

/// 60026.
pub fn user_not_found() -> ApiError {
    ApiError::new(ErrorCode::UserNotFound, "User not found.")
}

fn clean_email(email: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(email) = email.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(Some(email))
    } else {
        Err(user_invalid("email", "is invalid"))
    }
}

/// Longest display name (`user[name]`), in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// `user[name]` (an Assent extension): trimmed plain text a device may show, at most
/// [`MAX_NAME_CHARS`] characters; blank means none.
fn clean_name(name: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(name) = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(user_invalid(
            "name",
            &format!("is longer than {MAX_NAME_CHARS} characters"),
        ));
    }
    if assent_protocol::text::find_unsafe(&name).is_some() {
        return Err(user_invalid(
            "name",
            "contains a control, bidirectional or invisible character",
        ));
    }
    Ok(Some(name))
}

fn clean_digits(
    value: Option<String>,
    field: &'static str,
    allowed: &[char],
    len: std::ops::RangeInclusive<usize>,
) -> Result<Option<String>, ApiError> {
    let Some(value) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let digits: String = value.chars().filter(|c| !allowed.contains(c)).collect();
    if len.contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Some(digits))
    } else {
        Err(user_invalid(field, "is invalid"))
    }
}

fn new_user(app_id: &str, params: &Params) -> Result<NewUser, ApiError> {
    // JSON clients nest under `user`; accept top-level fields too.
    let nested = params.nested("user")?;
    let field = |name: &str| -> Result<Option<String>, ApiError> {
        match nested.string(name)? {
            Some(v) => Ok(Some(v)),
            None => Ok(params.string(name)?),
        }
    };
    let email = clean_email(field("email")?)?;
    let cellphone = clean_digits(
        field("cellphone")?,
        "cellphone",
        &[' ', '-', '.', '(', ')'],
        4..=15,
    )?;
    let country_code = clean_digits(field("country_code")?, "country_code", &['+', ' '], 1..=4)?;
    if cellphone.is_some() && country_code.is_none() {
        return Err(user_invalid("country_code", "is required with a cellphone"));
    }
    if email.is_none() && cellphone.is_none() {
        return Err(user_invalid("email", "or cellphone is required"));
    }
    let name = clean_name(field("name")?)?;
    Ok(NewUser {
        app_id: app_id.to_owned(),
        email,
        cellphone,
        country_code,
        name,
    })
}

/// `POST /protected/json/users/new`.
pub async fn create(
    State(state): State<AppState>,
    call: BackendCall,
) -> ApiResult<Json<UserCreated>> {
    let user = new_user(&call.app.id, &call.params)?;
    let (user, _created) = state.store.create_user(user, state.now()).await?;
    Ok(ok(UserCreated {
        message: "User created successfully.".into(),
        user: UserRef { id: user.id },
        success: true,
    }))
}

/// The name a request shows for `user`: as the relying party registered them (the display name
/// it gave, else the e-mail; a person registered with a phone number only has none, so a device
/// never shows a number for them). A name a device would refuse is left out rather than failing
/// the request.
pub(crate) fn person_name(user: &User) -> Option<PersonName> {
    let name = user.name.clone().or_else(|| user.email.clone())?;
    check_person_name(user.id, &name).ok()?;
    Some(PersonName {
        user_id: user.id,
        name,
    })
}

/// `XXX-XXX-1118`: a phone number as Authy shows it, all but the last four digits hidden.
pub(crate) fn mask_phone(phone: &str) -> String {
    let last: String = phone
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("XXX-XXX-{last}")
}

/// `GET /protected/json/users/{id}/status`.
pub async fn status(
    State(state): State<AppState>,
    Segment(id): Segment,
    call: BackendCall,
) -> ApiResult<Json<UserStatusResponse>> {
    let id = user_id_from_path(&id)?;
    let user = state
        .store
        .user(&call.app.id, id)
        .await?
        .ok_or_else(user_not_found)?;
    // Apps may have asked for callbacks on cancellation (written with the deletion).
    state.outbox_wake.notify_one();
    let devices = state.store.active_devices(&[user.id]).await?;
    Ok(ok(UserStatusResponse {
        status: UserStatus {
            authy_id: user.id,
            confirmed: true,
            registered: !devices.is_empty(),
            country_code: user.country_code.as_deref().and_then(|c| c.parse().ok()),
            phone_number: user.cellphone.as_deref().map(mask_phone),
            devices: devices.iter().map(|d| d.platform.clone()).collect(),
            has_hard_token: false,
            account_disabled: false,
            detailed_devices: devices
                .iter()
                .map(|d| assent_protocol::backend::DeviceSummary {
                    id: d.id.to_string(),
                    alias: d.alias,
                    name: d.name.clone(),
                    os_type: d.platform.clone(),
                    registration_date: d.created_at,
                    last_sync_date: d.last_seen_at,
                })
                .collect(),
        },
        message: "User status.".into(),
        success: true,
    }))
}

/// `POST /protected/json/users/{id}/delete` (and the npm/Ruby and PHP spellings): revokes the
/// user's devices and cancels their pending requests.
pub async fn delete(
    State(state): State<AppState>,
    Segment(id): Segment,
    call: BackendCall,
) -> ApiResult<Json<Done>> {
    let id = user_id_from_path(&id)?;
    let (devices, cancelled) = state
        .store
        .delete_user(&call.app.id, id, state.now())
        .await?
        .ok_or_else(user_not_found)?;
    for device in devices {
        state.announce_revoked(&device).await;
    }
    for request in cancelled {
        state
            .announce_resolved(request.id, RequestStatus::Cancelled, &request.approvers)
            .await;
    }
    Ok(ok(Done {
        message: "User removed.".into(),
        success: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_all_but_the_last_four_digits() {
        assert_eq!(mask_phone("5551231118"), "XXX-XXX-1118");
    }

    #[test]
    fn validates_contact_fields() {
        let p =
            |json: &str| Params::parse(None, Some("application/json"), json.as_bytes()).unwrap();
        let u = new_user("a", &p(r#"{"user": {"email": "a@b.co", "cellphone": "(555) 123-1118", "country_code": "+1"}}"#)).unwrap();
        assert_eq!(u.cellphone.as_deref(), Some("5551231118"));
        assert_eq!(u.country_code.as_deref(), Some("1"));
        for bad in [
            r#"{"user": {"email": "not-an-email"}}"#,
            r#"{"user": {"cellphone": "12"}}"#,
            r#"{"user": {"cellphone": "5551231118"}}"#,
            r#"{"user": {}}"#,
        ] {
            let e = new_user("a", &p(bad)).unwrap_err();
            assert_eq!(
                e.code,
                ErrorCode::UserInvalid,
                "{bad} should be refused as an invalid user"
            );
            assert!(
                e.field.is_some(),
                "the error should name the field for {bad}"
            );
        }
    }
}
