//! The one error shape of every Assent HTTP endpoint, and the stable error codes.
//!
//! The shape is Authy's, so Authy client libraries read our errors:
//! `{"message": "...", "success": false, "errors": {"message": "..."}, "error_code": "60001"}`.
//! Codes 600xx are Authy's own; 601xx are Assent's extensions (device API and limits).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::revocation::RevocationNotice;
use crate::signed::Signed;

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $name:ident = $code:literal, $status:literal; )*) => {
        /// A stable error code. Clients switch on the code, never on the message text.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $name, )*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The code as it appears in `error_code`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $code,)* }
            }

            /// The HTTP status that carries this code.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$name => $status,)* }
            }

            /// Looks a code up by its string.
            pub fn parse(code: &str) -> Option<Self> {
                match code { $($code => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

error_codes! {
    /// Missing or wrong API key.
    InvalidApiKey = "60001", 401;
    /// The request could not be read (malformed JSON or form body, wrong content type).
    InvalidRequest = "60002", 400;
    /// A parameter is missing or out of range.
    InvalidParameter = "60004", 400;
    /// A one-time code is wrong, expired, malformed, already used, or from a revoked device
    /// (token verification; the body also carries Authy's `"token": "is invalid"`).
    TokenInvalid = "60020", 401;
    /// No such user in this app.
    UserNotFound = "60026", 404;
    /// The user's fields are invalid.
    UserInvalid = "60027", 400;
    /// No such approval request in this app.
    ApprovalRequestNotFound = "60049", 404;
    /// The user has no enrolled device (or too few approvers do to reach the quorum).
    UnregisteredUser = "60050", 400;
    /// The request is no longer pending (decided, expired or cancelled).
    RequestNotPending = "60079", 409;
    /// A signature does not verify.
    InvalidSignature = "60087", 401;
    /// No such device.
    DeviceNotFound = "60092", 404;
    /// The registration token is unknown, used or expired.
    InvalidRegistrationToken = "60100", 400;
    /// The device clock is too far from the service clock (a call's `ts`, or a decision's
    /// `signed_at`).
    ClockSkew = "60101", 401;
    /// The request nonce was already used.
    NonceReplayed = "60102", 401;
    /// The device has been revoked.
    DeviceRevoked = "60103", 401;
    /// The `Authorization` header is missing or malformed.
    MalformedAuthorization = "60104", 401;
    /// The decision signs a different request than the one on record.
    DigestMismatch = "60105", 409;
    /// Number matching: the number picked is not the right one. The request is denied.
    WrongNumber = "60106", 409;
    /// This device's person is not an approver of this request.
    NotAnApprover = "60107", 403;
    /// The body is larger than the service accepts.
    PayloadTooLarge = "60108", 413;
    /// Too many pending requests for this user (push-bombing protection).
    TooManyPendingRequests = "60109", 429;
    /// This person already answered this request differently.
    AlreadyDecided = "60110", 409;
    /// Too many calls from this API key or source address; retry after `Retry-After` seconds.
    RateLimited = "60111", 429;
    /// The request has no receipt: only approved and denied requests have one.
    ReceiptUnavailable = "60112", 409;
    /// The approval log in the database does not match a checkpoint the service signed (its
    /// history was rewritten): the service signs no further checkpoint or proof.
    LogInconsistent = "60113", 503;
    /// Too many wrong one-time codes for this person: verification is locked; retry after
    /// `Retry-After` seconds.
    CodeAttemptsLocked = "60114", 429;
    /// SMS, voice calls and phone verification: Assent sends nothing over the phone network; codes
    /// come from the person's Assent app instead.
    PhoneChannelsUnsupported = "60115", 400;
    /// Push-fatigue defence: this person denied a request from this app recently, and new
    /// requests wait an exponentially growing time (10 s doubling to an hour); retry after
    /// `Retry-After` seconds.
    PersonBackingOff = "60116", 429;
    /// Push-fatigue defence: this person said "this wasn't me" to a request from this app, and new
    /// requests are refused until the freeze ends (`Retry-After`) or an operator lifts it.
    PersonFrozen = "60117", 429;
    /// Push-fatigue defence: this person already has a pending request from this app; the relying
    /// party may send `allow_concurrent=true` when several at once are intended.
    PendingRequestExists = "60118", 409;
    /// The request requires user verification and the approval names none.
    UserVerificationRequired = "60119", 403;
    /// Typed number matching: the code typed is wrong, and the request stays pending; the
    /// message says how many tries are left. The last wrong try answers [`ErrorCode::WrongNumber`]
    /// instead (the request is then denied).
    WrongCode = "60120", 409;
    /// The service is past its capacity: it refuses new approval requests for a moment, so the
    /// ones already sent are still pushed and decided in time; retry after `Retry-After` seconds.
    ServiceBusy = "60121", 503;
    /// Unexpected failure inside the service; details are in the service log, never the reply.
    Internal = "60199", 500;
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `errors` inside [`ErrorBody`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Same text as the top-level message.
    pub message: String,
    /// Per-parameter problems (`{"cellphone": "is invalid"}`), when a parameter is at fault.
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
}

/// The error body of every endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A helpful, human-readable message (never internals, never secrets).
    pub message: String,
    /// Always false.
    pub success: bool,
    /// Authy clients read `errors.message`.
    pub errors: ErrorDetail,
    /// The stable code, as a string.
    pub error_code: String,
    /// With 60103 (device revoked): the service-signed notice a device verifies before it
    /// forgets its key (an Assent extension; Authy clients ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Signed<RevocationNotice>>,
}

impl ErrorBody {
    /// Builds the body for `code` with `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        ErrorBody {
            errors: ErrorDetail {
                message: message.clone(),
                fields: BTreeMap::new(),
            },
            message,
            success: false,
            error_code: code.as_str().to_owned(),
            revocation: None,
        }
    }

    /// Attaches a signed revocation notice (60103 answers).
    pub fn with_revocation(mut self, notice: Signed<RevocationNotice>) -> Self {
        self.revocation = Some(notice);
        self
    }

    /// Adds a per-parameter problem to `errors`.
    pub fn with_field(mut self, name: impl Into<String>, problem: impl Into<String>) -> Self {
        self.errors.fields.insert(name.into(), problem.into());
        self
    }

    /// The code, when it is one this version knows.
    pub fn code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.error_code)
    }

    /// Reads an error answer as a device receives it from whatever answers at its service's
    /// address. A `revocation` that is not a signed notice is left out (it proves nothing) rather
    /// than making the whole refusal unreadable; the notice kept is **unverified** (see
    /// [`RevocationNotice::verify_for`]). `None` when the body is not an error body at all.
    pub fn from_answer(bytes: &[u8]) -> Option<ErrorBody> {
        let mut value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
        let revocation = value
            .as_object_mut()?
            .remove("revocation")
            .and_then(|notice| serde_json::from_value(notice).ok());
        let body: ErrorBody = serde_json::from_value(value).ok()?;
        Some(ErrorBody { revocation, ..body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_with_a_bad_revocation_is_read_without_it() {
        let body = |revocation: serde_json::Value| {
            serde_json::json!({"message": "Device revoked.", "success": false,
                "errors": {"message": "Device revoked."}, "error_code": "60103",
                "revocation": revocation})
            .to_string()
        };
        for junk in [
            serde_json::json!("forged"),
            serde_json::json!({"payload": {}}),
            serde_json::Value::Null,
        ] {
            let read = ErrorBody::from_answer(body(junk.clone()).as_bytes())
                .unwrap_or_else(|| panic!("the refusal is read despite revocation {junk}"));
            assert_eq!(read.code(), Some(ErrorCode::DeviceRevoked));
            assert_eq!(
                read.revocation, None,
                "{junk} is not a notice and is dropped"
            );
        }
        for not_an_error in ["", "[]", "{}", "{\"message\": 1}", "\u{0}"] {
            assert_eq!(ErrorBody::from_answer(not_an_error.as_bytes()), None);
        }
    }

    #[test]
    fn codes_are_unique_and_round_trip() {
        for (i, a) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(ErrorCode::parse(a.as_str()), Some(*a));
            for b in &ErrorCode::ALL[i + 1..] {
                assert_ne!(a.as_str(), b.as_str(), "{a:?} and {b:?} share a code");
            }
        }
    }

    #[test]
    fn body_matches_authy_shape() {
        let body = ErrorBody::new(ErrorCode::InvalidApiKey, "Invalid API key");
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"message":"Invalid API key","success":false,"errors":{"message":"Invalid API key"},"error_code":"60001"}"#
        );
    }
}
