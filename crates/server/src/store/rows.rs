//! What both engines share below the SQL: row mapping and the conversions it needs. Both engines
//! store the same columns with the same meaning and the same decoded types (ids and UUIDs as
//! text, times and counts as 64-bit integers, flags as booleans, secrets, digests and signatures
//! as bytes, JSON as text so detail order is kept), so one definition maps a row of either; each
//! engine instantiates it for its own row type with [`row_mappers`].

use assent_protocol::decision::{DenyReason, Outcome, VerificationMethod};
use serde_json::{Map, Value};

use super::StoreError;

/// A stored value that does not read back (a bug or a hand-edited database).
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Ids and counts are stored as signed 64-bit integers; every one the service writes fits (the
/// API refuses ids above 2^53 before they reach the store).
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).expect("ids and counts fit in i64")
}

pub(crate) fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| corrupt(format!("negative id {v}")))
}

pub(crate) fn opt_u32(v: Option<i64>) -> Result<Option<u32>, StoreError> {
    v.map(|n| u32::try_from(n).map_err(|_| corrupt(format!("{n} out of range"))))
        .transpose()
}

/// A new person's id or a device alias: random in `min..2^53`, so the ids of one relying party
/// say nothing about another's (how many people or devices it has, or when they joined), and stay
/// exact in JSON. Two draws collide with probability about n / 2^53; the engines retry a
/// collision on people and let a colliding enrollment fail (it can be retried).
pub(crate) fn random_id(min: u64) -> i64 {
    use rand::Rng as _;
    to_i64(rand::thread_rng().gen_range(min..(1u64 << 53)))
}

/// The unique index that de-duplicates a new person: their phone, or without one their e-mail.
pub(crate) fn person_conflict(has_phone: bool) -> &'static str {
    if has_phone {
        "(app_id, country_code, cellphone) WHERE cellphone IS NOT NULL AND deleted_at IS NULL"
    } else {
        "(app_id, email) WHERE cellphone IS NULL AND deleted_at IS NULL"
    }
}

/// True when `error` is a unique-constraint violation (an id collision, here).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

pub(crate) fn json_object(text: &str) -> Result<Map<String, Value>, StoreError> {
    match serde_json::from_str(text).map_err(corrupt)? {
        Value::Object(map) => Ok(map),
        other => Err(corrupt(format!("expected a JSON object, found {other}"))),
    }
}

pub(crate) fn outcome_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Approve => "approve",
        Outcome::Deny => "deny",
    }
}

pub(crate) fn parse_outcome(text: &str) -> Result<Outcome, StoreError> {
    match text {
        "approve" => Ok(Outcome::Approve),
        "deny" => Ok(Outcome::Deny),
        other => Err(corrupt(format!("outcome {other}"))),
    }
}

pub(crate) fn parse_reason(text: Option<&str>) -> Result<Option<DenyReason>, StoreError> {
    match text {
        None => Ok(None),
        Some("not_me") => Ok(Some(DenyReason::NotMe)),
        Some("cancelled") => Ok(Some(DenyReason::Cancelled)),
        Some(other) => Err(corrupt(format!("reason {other}"))),
    }
}

pub(crate) fn parse_verification(
    text: Option<&str>,
) -> Result<Option<VerificationMethod>, StoreError> {
    match text {
        None => Ok(None),
        Some("none") => Ok(Some(VerificationMethod::None)),
        Some("os_password") => Ok(Some(VerificationMethod::OsPassword)),
        Some("biometric") => Ok(Some(VerificationMethod::Biometric)),
        Some(other) => Err(corrupt(format!("verification {other}"))),
    }
}

pub(crate) const APP_COLUMNS: &str = "serial_id, id, name, logo_url, accent_color, callback_url, callback_method, callback_key, created_at, \
     callback_expired_cancelled, defences";
pub(crate) const USER_COLUMNS: &str =
    "id, app_id, email, cellphone, country_code, created_at, name";
pub(crate) const DEVICE_COLUMNS: &str = "id, alias, app_id, user_id, public_key, name, platform, created_at, last_seen_at, revoked_at, last_address";
pub(crate) const REQUEST_COLUMNS: &str = "id, app_id, user_id, message, details, hidden_details, logos, requester, \
     seconds_to_expire, created_at, expires_at, quorum, number, canonical, digest, signature, status, reason, \
     notified, processed_at, updated_at, typed_code, code_attempts, user_verification";

/// Defines `app_from_row`, `user_from_row`, `device_from_row`, `request_from_row` and
/// `decision_from_row` for an engine's row type.
macro_rules! row_mappers {
    ($row:ty) => {
        fn app_from_row(row: &$row) -> Result<$crate::store::App, $crate::store::StoreError> {
            use ::sqlx::Row as _;
            let method: String = row.try_get("callback_method")?;
            Ok($crate::store::App {
                serial_id: $crate::store::rows::to_u64(row.try_get("serial_id")?)?,
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                logo_url: row.try_get("logo_url")?,
                accent_color: row.try_get("accent_color")?,
                callback_url: row.try_get("callback_url")?,
                callback_method: ::assent_protocol::callback::CallbackMethod::parse(&method)
                    .ok_or_else(|| {
                        $crate::store::rows::corrupt(format!("callback_method {method}"))
                    })?,
                callback_expired_cancelled: row.try_get::<bool, _>("callback_expired_cancelled")?,
                sealed_callback_key: row.try_get("callback_key")?,
                created_at: row.try_get("created_at")?,
                defences: row
                    .try_get::<Option<String>, _>("defences")?
                    .map(|text| serde_json::from_str(&text).map_err($crate::store::rows::corrupt))
                    .transpose()?
                    .unwrap_or_default(),
            })
        }

        fn user_from_row(row: &$row) -> Result<$crate::store::User, $crate::store::StoreError> {
            use ::sqlx::Row as _;
            Ok($crate::store::User {
                id: $crate::store::rows::to_u64(row.try_get("id")?)?,
                app_id: row.try_get("app_id")?,
                email: row.try_get("email")?,
                cellphone: row.try_get("cellphone")?,
                country_code: row.try_get("country_code")?,
                created_at: row.try_get("created_at")?,
                name: row.try_get("name")?,
            })
        }

        fn device_from_row(row: &$row) -> Result<$crate::store::Device, $crate::store::StoreError> {
            use ::sqlx::Row as _;
            let id: String = row.try_get("id")?;
            let key: Vec<u8> = row.try_get("public_key")?;
            let key: [u8; 32] = key
                .try_into()
                .map_err(|_| $crate::store::rows::corrupt("public_key is not 32 bytes"))?;
            Ok($crate::store::Device {
                id: ::uuid::Uuid::parse_str(&id).map_err($crate::store::rows::corrupt)?,
                alias: $crate::store::rows::to_u64(row.try_get("alias")?)?,
                app_id: row.try_get("app_id")?,
                user_id: $crate::store::rows::to_u64(row.try_get("user_id")?)?,
                public_key: ::assent_protocol::crypto::PublicKey::from_bytes(&key)
                    .map_err($crate::store::rows::corrupt)?,
                name: row.try_get("name")?,
                platform: row.try_get("platform")?,
                created_at: row.try_get("created_at")?,
                last_seen_at: row.try_get("last_seen_at")?,
                revoked_at: row.try_get("revoked_at")?,
                last_address: row.try_get("last_address")?,
            })
        }

        fn request_from_row(
            row: &$row,
            approvers: Vec<u64>,
        ) -> Result<$crate::store::StoredRequest, $crate::store::StoreError> {
            use ::sqlx::Row as _;
            let id: String = row.try_get("id")?;
            let logos: String = row.try_get("logos")?;
            let requester: Option<String> = row.try_get("requester")?;
            let digest: Vec<u8> = row.try_get("digest")?;
            let signature: Vec<u8> = row.try_get("signature")?;
            let signature: [u8; 64] = signature
                .try_into()
                .map_err(|_| $crate::store::rows::corrupt("signature is not 64 bytes"))?;
            let status: String = row.try_get("status")?;
            Ok($crate::store::StoredRequest {
                id: ::uuid::Uuid::parse_str(&id).map_err($crate::store::rows::corrupt)?,
                app_id: row.try_get("app_id")?,
                user_id: $crate::store::rows::to_u64(row.try_get("user_id")?)?,
                message: row.try_get("message")?,
                details: $crate::store::rows::json_object(row.try_get("details")?)?,
                hidden_details: $crate::store::rows::json_object(row.try_get("hidden_details")?)?,
                logos: serde_json::from_str::<Vec<::assent_protocol::request::Logo>>(&logos)
                    .map_err($crate::store::rows::corrupt)?,
                requester: requester
                    .map(|r| {
                        serde_json::from_str::<::assent_protocol::request::RequesterContext>(&r)
                            .map_err($crate::store::rows::corrupt)
                    })
                    .transpose()?,
                seconds_to_expire: $crate::store::rows::to_u64(row.try_get("seconds_to_expire")?)?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                quorum: $crate::store::rows::opt_u32(Some(row.try_get("quorum")?))?.unwrap_or(1),
                number: $crate::store::rows::opt_u32(row.try_get("number")?)?,
                typed_code: row
                    .try_get::<Option<String>, _>("typed_code")?
                    .map(|text| serde_json::from_str(&text).map_err($crate::store::rows::corrupt))
                    .transpose()?,
                code_attempts: $crate::store::rows::opt_u32(Some(row.try_get("code_attempts")?))?
                    .unwrap_or(0),
                user_verification: row.try_get::<bool, _>("user_verification")?,
                canonical: row.try_get("canonical")?,
                digest: digest
                    .try_into()
                    .map_err(|_| $crate::store::rows::corrupt("digest is not 32 bytes"))?,
                signature: ::assent_protocol::crypto::Signature::from_bytes(&signature),
                status: status.parse().map_err($crate::store::rows::corrupt)?,
                reason: row.try_get("reason")?,
                notified: row.try_get::<bool, _>("notified")?,
                processed_at: row.try_get("processed_at")?,
                updated_at: row.try_get("updated_at")?,
                approvers,
            })
        }

        fn decision_from_row(
            row: &$row,
        ) -> Result<$crate::store::DecisionRecord, $crate::store::StoreError> {
            use ::sqlx::Row as _;
            let request_id: String = row.try_get("request_id")?;
            let device_id: String = row.try_get("device_id")?;
            let outcome: String = row.try_get("outcome")?;
            let reason: Option<String> = row.try_get("reason")?;
            let signature: Vec<u8> = row.try_get("signature")?;
            let signature: [u8; 64] = signature
                .try_into()
                .map_err(|_| $crate::store::rows::corrupt("signature is not 64 bytes"))?;
            Ok($crate::store::DecisionRecord {
                request_id: ::uuid::Uuid::parse_str(&request_id)
                    .map_err($crate::store::rows::corrupt)?,
                user_id: $crate::store::rows::to_u64(row.try_get("user_id")?)?,
                device_id: ::uuid::Uuid::parse_str(&device_id)
                    .map_err($crate::store::rows::corrupt)?,
                outcome: $crate::store::rows::parse_outcome(&outcome)?,
                reason: $crate::store::rows::parse_reason(reason.as_deref())?,
                number: $crate::store::rows::opt_u32(row.try_get("number")?)?,
                code: row.try_get("code")?,
                verification: $crate::store::rows::parse_verification(
                    row.try_get::<Option<String>, _>("verification")?.as_deref(),
                )?,
                signed_at: row.try_get("signed_at")?,
                payload: row.try_get("payload")?,
                signature: ::assent_protocol::crypto::Signature::from_bytes(&signature),
                recorded_at: row.try_get("recorded_at")?,
            })
        }
    };
}
pub(crate) use row_mappers;

/// One-time codes: the SQL both engines run (they share the dialect used here).
pub(crate) mod codes {
    /// Active devices of a person with their sealed seeds (`$1` user id).
    pub(crate) fn seeds_sql() -> String {
        format!(
            "SELECT {}, seed FROM devices JOIN device_code_seeds ON device_code_seeds.device_id = devices.id \
             WHERE devices.revoked_at IS NULL AND devices.user_id = $1 ORDER BY created_at, alias",
            super::DEVICE_COLUMNS
        )
    }
    /// `$1` device id, `$2` sealed seed.
    pub(crate) const INSERT_SEED: &str =
        "INSERT INTO device_code_seeds (device_id, seed) VALUES ($1, $2)";
    /// Until when a person is locked (`$1` user id, `$2` now).
    pub(crate) const LOCKED_UNTIL: &str =
        "SELECT locked_until FROM code_failures WHERE user_id = $1 AND locked_until > $2";
    /// The device's person when it is active (`$1` device id).
    pub(crate) const ACTIVE_DEVICE_USER: &str =
        "SELECT user_id FROM devices WHERE id = $1 AND revoked_at IS NULL";
    /// `$1` device id, `$2` step, `$3` now; no row inserted means a replay.
    pub(crate) const INSERT_USE: &str = "INSERT INTO used_codes (device_id, step, used_at) \
         VALUES ($1, $2, $3) ON CONFLICT (device_id, step) DO NOTHING";
    /// `$1` device id, `$2` oldest step still worth remembering.
    pub(crate) const FORGET_USES: &str =
        "DELETE FROM used_codes WHERE device_id = $1 AND step < $2";
    /// `$1` user id.
    pub(crate) const CLEAR_FAILURES: &str = "DELETE FROM code_failures WHERE user_id = $1";
    /// Counts a failure: `$1` user id, `$2` now, `$3` window start before which the count
    /// restarts. Returns the count in the current window.
    pub(crate) const COUNT_FAILURE: &str = "INSERT INTO code_failures (user_id, failures, window_start, locked_until) \
         VALUES ($1, 1, $2, NULL) ON CONFLICT (user_id) DO UPDATE SET \
         failures = CASE WHEN code_failures.window_start <= $3 THEN 1 ELSE code_failures.failures + 1 END, \
         window_start = CASE WHEN code_failures.window_start <= $3 THEN $2 ELSE code_failures.window_start END \
         RETURNING failures";
    /// Locks a person: `$1` user id, `$2` now, `$3` locked until. The count restarts.
    pub(crate) const LOCK: &str = "UPDATE code_failures SET failures = 0, window_start = $2, locked_until = $3 \
         WHERE user_id = $1";
}
