//! The backend API: Authy OneTouch-compatible requests and responses, plus Assent's extensions.
//!
//! Every success is HTTP 200 with `"success": true` (Authy clients accept nothing else). The
//! service also accepts these requests form-encoded (see `docs/api.md`); these types are the JSON
//! form the `assent` CLI sends and the shape every response has.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::decision::{DenyReason, Outcome};
use crate::request::{Logo, RequestKind, RequestStatus, RequesterContext};
use crate::secret::SecretString;

/// `user` in `POST /protected/json/users/new`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUserFields {
    /// E-mail address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Phone number (digits, spaces and dashes allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cellphone: Option<String>,
    /// Country calling code ("1", "351").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// The person's display name (an Assent extension): what devices show for them, signed into
    /// requests. Without it, devices show the e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `POST /protected/json/users/new`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    /// The user's fields.
    pub user: NewUserFields,
    /// Accepted for compatibility; Assent sends no SMS.
    #[serde(default)]
    pub send_install_link_via_sms: bool,
}

/// `{"id": N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    /// The user's `authy_id`.
    pub id: u64,
}

/// Response of `POST /protected/json/users/new`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserCreated {
    /// `User created successfully.`
    pub message: String,
    /// The user (the existing one when the phone or e-mail was already registered).
    pub user: UserRef,
    /// Always true.
    pub success: bool,
}

/// `status` of `GET /protected/json/users/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserStatus {
    /// The user's id.
    pub authy_id: u64,
    /// Always true (Assent does not verify phone numbers).
    pub confirmed: bool,
    /// True once the user has an active enrolled device; backends choose push when it is.
    pub registered: bool,
    /// Country code, when a phone was given.
    pub country_code: Option<u32>,
    /// Masked phone number (`XXX-XXX-1118`), when a phone was given.
    pub phone_number: Option<String>,
    /// Platforms of the user's active devices (`linux`, `macos`, ...).
    pub devices: Vec<String>,
    /// Always false.
    pub has_hard_token: bool,
    /// Always false.
    pub account_disabled: bool,
    /// Assent extension: the active devices.
    pub detailed_devices: Vec<DeviceSummary>,
}

/// An enrolled device as the backend sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSummary {
    /// Device UUID (use it with `DELETE /protected/json/sdk/devices/{id}`).
    pub id: String,
    /// Integer alias (the `device_uuid` of callbacks).
    pub alias: u64,
    /// Name the person gave it.
    pub name: String,
    /// Platform.
    pub os_type: String,
    /// Unix seconds.
    pub registration_date: i64,
    /// Unix seconds.
    pub last_sync_date: i64,
}

/// Response of `GET /protected/json/users/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserStatusResponse {
    /// The status.
    pub status: UserStatus,
    /// `User status.`
    pub message: String,
    /// Always true.
    pub success: bool,
}

/// A success with only a message (user deleted, request cancelled, device revoked).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// What happened.
    pub message: String,
    /// Always true.
    pub success: bool,
}

/// Response of `POST /protected/json/sdk/registrations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationCreated {
    /// Single-use token; give it to the person's device (it is secret).
    pub registration_token: SecretString,
    /// `assent://enroll?server=...&token=...` (contains the token).
    pub enroll_url: SecretString,
    /// The link's enrollment phrase ([`crate::enroll::enroll_phrase`]): the relying party shows
    /// it beside the link so the person can match it with what their device shows. Empty from a
    /// service older than the phrase.
    #[serde(default)]
    pub enroll_phrase: String,
    /// Unix seconds after which the token is refused.
    pub expires_at: i64,
    /// Always true.
    pub success: bool,
}

/// `POST /onetouch/json/users/{authy_id}/approval_requests` as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewApprovalRequest {
    /// The question, at most 200 characters.
    pub message: String,
    /// Detail lines shown to the person, in order.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    /// Details never shown; echoed in the callback.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub hidden_details: Map<String, Value>,
    /// Logos for this request (override the app's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logos: Vec<Logo>,
    /// Lifetime in seconds; default 86400; 0 = never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_to_expire: Option<u64>,
    /// Extension: further users who may approve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvers: Vec<u64>,
    /// Extension: distinct approvals needed (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// Extension: ask the initiator to prove they see the backend's screen: type the code it
    /// shows (typed mode, the default) or pick the number it shows out of three (pick mode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub number_matching: bool,
    /// Extension: `typed` (default) or `pick`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_matching_mode: Option<String>,
    /// Extension: digits of a typed code, 2 to 6 (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_matching_digits: Option<u8>,
    /// Extension: `required` to make the approver confirm themselves to their operating system
    /// before approving (`none` overrides an app default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<String>,
    /// Extension: allow this request while another from this app waits for the same person.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_concurrent: bool,
    /// Extension: where the action came from, shown to the approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<RequesterContext>,
    /// What the request is for (an Assent extension): `sign_in` (lives 300 s unless
    /// `seconds_to_expire` says otherwise) or `action`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RequestKind>,
    /// The action's short name for the Approve button, at most 32 characters (an Assent
    /// extension): "Release $12,500".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_label: Option<String>,
}

/// `approval_request` of the create response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApprovalRequest {
    /// The request UUID.
    pub uuid: String,
    /// Extension: with number matching in pick mode, the number to show the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// Extension: with number matching in typed mode (the default), the code to show the person,
    /// who types it on their device. A string: leading zeros are part of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

/// Response of the create call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequestCreated {
    /// The new request.
    pub approval_request: CreatedApprovalRequest,
    /// Always true.
    pub success: bool,
}

/// One approver's answer, in the status response (extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApproverState {
    /// The approver.
    pub authy_id: u64,
    /// Their decision, when they made one.
    pub decision: Option<Outcome>,
    /// Their deny reason.
    pub reason: Option<DenyReason>,
    /// Unix seconds.
    pub decided_at: Option<i64>,
}

/// `approval_request` of `GET /onetouch/json/approval_requests/{uuid}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequestInfo {
    /// App name.
    pub _app_name: String,
    /// App serial id.
    pub _app_serial_id: u64,
    /// The user the request is for.
    pub _authy_id: u64,
    /// App id.
    pub app_id: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// True once a device was told about it.
    pub notified: bool,
    /// RFC 3339, when it reached a final state.
    pub processed_at: Option<String>,
    /// Lifetime given at creation (0 = never).
    pub seconds_to_expire: u64,
    /// Current status.
    pub status: RequestStatus,
    /// RFC 3339.
    pub updated_at: String,
    /// The request UUID.
    pub uuid: String,
    /// Extension: distinct approvals needed.
    pub quorum: u32,
    /// Extension: every approver and their answer.
    pub approvers: Vec<ApproverState>,
    /// Extension: the deny reason (`not_me`, `cancelled`, `wrong_number`) once denied.
    pub reason: Option<String>,
    /// Extension: the request's receipt, once it is approved or denied (`null` before, and for
    /// expired and cancelled requests).
    #[serde(default)]
    pub receipt: Option<ReceiptRef>,
}

/// Where a request's receipt is (extension of the status object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptRef {
    /// The path to fetch it with the API key (`/protected/json/approval_requests/{uuid}/receipt`).
    pub url: String,
    /// Its entry's index in the approval log.
    pub log_index: u64,
}

/// Response of the status call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequestStatus {
    /// The request.
    pub approval_request: ApprovalRequestInfo,
    /// Always true.
    pub success: bool,
}

/// `GET /protected/json/verify/{token}/{authy_id}` when the code is accepted, in Authy's shape:
/// Authy's clients look for the exact text `"token":"is valid"`, and `success` is a string here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenVerified {
    /// `Token is valid.`
    pub message: String,
    /// `is valid`.
    pub token: String,
    /// `"true"` (a string, as Authy sends it for this endpoint).
    pub success: String,
    /// The device whose code it was; absent for a code of the person's other authenticator app
    /// (`POST /protected/json/users/{id}/secret`), which is no device of Assent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<VerifiedDevice>,
}

/// The device in [`TokenVerified`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedDevice {
    /// The device's integer alias (Authy's device id).
    pub id: u64,
}

impl TokenVerified {
    /// The answer for a code of device `alias`.
    pub fn new(alias: u64) -> Self {
        TokenVerified {
            device: Some(VerifiedDevice { id: alias }),
            ..Self::authenticator_app()
        }
    }

    /// The answer for a code of the person's other authenticator app.
    pub fn authenticator_app() -> Self {
        TokenVerified {
            message: "Token is valid.".into(),
            token: "is valid".into(),
            success: "true".into(),
            device: None,
        }
    }
}

/// `POST /protected/json/users/{id}/secret` (Authy's `users.generate_qr`): a new one-time code
/// seed for an authenticator app other than Assent's, as a QR code of its `otpauth://` URI.
/// `Debug` never prints the QR code (it carries the seed).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthenticatorQr {
    /// What the authenticator app shows under the issuer (the person's e-mail by default).
    pub label: String,
    /// The app's name, as the authenticator app shows it.
    pub issuer: String,
    /// A `data:image/png;base64,...` URL of the QR code.
    pub qr_code: SecretString,
    /// `QR code generated.`
    pub message: String,
    /// Always true.
    pub success: bool,
}

impl std::fmt::Debug for AuthenticatorQr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatorQr")
            .field("label", &self.label)
            .field("issuer", &self.issuer)
            .field("qr_code", &self.qr_code)
            .finish_non_exhaustive()
    }
}

/// `GET /protected/json/app/stats`, in Authy's shape: one entry per calendar month (UTC), oldest
/// first, from the app's first month (at most the last 12) to the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatsResponse {
    /// `Monthly statistics.`
    pub message: String,
    /// How many months `stats` has.
    pub count: usize,
    /// The app's people now (deleted ones left out).
    pub total_users: u64,
    /// The app's integer id.
    pub app_id: u64,
    /// Always true.
    pub success: bool,
    /// The months.
    pub stats: Vec<MonthStats>,
}

/// One month of [`AppStatsResponse`]. Authy's fields, then Assent's own (which Authy clients
/// ignore).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthStats {
    /// Always 0: Assent sends no SMS.
    pub sms_count: u64,
    /// Always 0: Assent places no calls.
    pub calls_count: u64,
    /// People created in the month (deleted since or not).
    pub users_count: u64,
    /// Successful authentications: approval requests approved in the month plus one-time codes
    /// accepted in the month.
    pub auths_count: u64,
    /// The month's English name (`June`).
    pub month: String,
    /// Always null: Assent does not count API calls.
    pub api_calls_count: Option<u64>,
    /// The year.
    pub year: i32,
    /// Extension: approval requests created in the month, whatever became of them.
    pub approval_requests_count: u64,
    /// Extension: approval requests approved in the month.
    pub approvals_count: u64,
    /// Extension: one-time codes accepted in the month (devices' and other authenticator apps').
    pub codes_accepted_count: u64,
}

/// `GET /protected/json/app/details`, in Authy's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppDetailsResponse {
    /// The calling app.
    pub app: AppDetails,
    /// `Application information.`
    pub message: String,
    /// Always true.
    pub success: bool,
}

/// `app` in [`AppDetailsResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppDetails {
    /// The app's integer id (Authy's `app_id` is an integer).
    pub app_id: u64,
    /// The app's name.
    pub name: String,
    /// Authy's billing plan; Assent has one: `self_hosted`.
    pub plan: String,
    /// Always false: Assent sends no SMS.
    pub sms_enabled: bool,
    /// Always false: Assent places no calls.
    pub phone_calls_enabled: bool,
    /// Always true.
    pub onetouch_enabled: bool,
}
