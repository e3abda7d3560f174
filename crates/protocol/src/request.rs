//! Approval requests as a device sees them: the canonical object the service signs and the
//! device displays.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::MessageKind;
use crate::signed::{Signed, SignedMessage};

/// Version of the request-details object; bumped on any change to its fields.
pub const REQUEST_DETAILS_VERSION: u32 = 1;

/// Where an approval request stands. `pending` is the only state that accepts decisions; every
/// other state is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum RequestStatus {
    /// Waiting for decisions.
    Pending,
    /// Enough approvers approved.
    Approved,
    /// An approver denied (one denial vetoes).
    Denied,
    /// The deadline passed before the quorum was reached.
    Expired,
    /// The relying party withdrew the request (an Assent extension).
    Cancelled,
}

impl RequestStatus {
    /// Every status.
    pub const ALL: [RequestStatus; 5] = [
        RequestStatus::Pending,
        RequestStatus::Approved,
        RequestStatus::Denied,
        RequestStatus::Expired,
        RequestStatus::Cancelled,
    ];

    /// The wire name (`pending`, `approved`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
            RequestStatus::Expired => "expired",
            RequestStatus::Cancelled => "cancelled",
        }
    }

    /// True for every state but `pending`.
    pub fn is_final(self) -> bool {
        self != RequestStatus::Pending
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a known status.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown request status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for RequestStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RequestStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// The resolution a logo is meant for (Authy's `logos[].res`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogoResolution {
    /// Used when no better match exists.
    Default,
    /// Low resolution.
    Low,
    /// Medium resolution.
    Med,
    /// High resolution.
    High,
}

impl LogoResolution {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogoResolution::Default => "default",
            LogoResolution::Low => "low",
            LogoResolution::Med => "med",
            LogoResolution::High => "high",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            LogoResolution::Default,
            LogoResolution::Low,
            LogoResolution::Med,
            LogoResolution::High,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// A logo URL for one resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logo {
    /// Which resolution this image is for.
    pub res: LogoResolution,
    /// Where to fetch it (http or https).
    pub url: String,
}

/// How a relying party presents itself to the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppBranding {
    /// The app's id (24 lower-case hex characters, like Authy's `app_id`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Accent colour as `#rrggbb`, when the app set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accent_color: Option<String>,
    /// Logos, best resolution chosen by the device. Empty when the app has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logos: Vec<Logo>,
}

impl AppBranding {
    /// The logo a desktop should show: the highest resolution offered.
    pub fn best_logo(&self) -> Option<&Logo> {
        let rank = |r: LogoResolution| match r {
            LogoResolution::High => 0,
            LogoResolution::Med => 1,
            LogoResolution::Default => 2,
            LogoResolution::Low => 3,
        };
        self.logos.iter().min_by_key(|l| rank(l.res))
    }
}

/// One detail line shown to the person, in the order the relying party gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailField {
    /// The label (Authy's detail key).
    pub label: String,
    /// The value.
    pub value: String,
}

/// Where the action being approved came from, as the relying party saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequesterContext {
    /// IP address of the requester.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Human-readable location ("Lisbon, Portugal").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Browser or client description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl RequesterContext {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.ip.is_none() && self.location.is_none() && self.user_agent.is_none()
    }
}

/// Number matching: the initiating person must show they see the relying party's screen, by
/// picking the number it shows (pick mode, `choices`) or typing the code it shows (typed mode,
/// `typed`). Exactly one of the two is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberMatching {
    /// The user who must pick or type (the initiator); other approvers approve without a number.
    pub user_id: u64,
    /// Pick mode: the choices to offer, in display order; exactly one is right. A blind guess
    /// wins one time in three, so typed mode is the default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<u32>,
    /// Typed mode: how long the code is and its salted hash (never the code itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typed: Option<TypedCode>,
}

/// Shortest typed code.
pub const MIN_TYPED_DIGITS: u8 = 2;
/// Longest typed code.
pub const MAX_TYPED_DIGITS: u8 = 6;
/// Wrong codes a request tolerates: the last one allowed denies it with `wrong_number`.
pub const TYPED_CODE_ATTEMPTS: u32 = 3;

/// A typed code as the signed request carries it: `hash` is
/// `SHA-256("assent-typed-code-v1" || 0x00 || salt || code)` in lower-case hex, with `salt` 16
/// random bytes (lower-case hex) and `code` the ASCII digits.
///
/// The hash binds the code into what the device signs without writing it down: whoever is later
/// handed the signed details (a receipt, the log) learns it only by trying the 10^digits codes,
/// and by then the request has ended. It does not hide the code from someone holding the details
/// while the request is pending; the service, not the hash, enforces the three attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypedCode {
    /// Number of digits ([`MIN_TYPED_DIGITS`]..=[`MAX_TYPED_DIGITS`]).
    pub digits: u8,
    /// 16 bytes, lower-case hex.
    pub salt: String,
    /// Lower-case hex SHA-256, see the type.
    pub hash: String,
}

impl TypedCode {
    /// The typed-code hash of `code` under `salt` (hex), as [`TypedCode::hash`] stores it.
    pub fn hash_of(salt: &str, code: &str) -> String {
        let mut data = Vec::with_capacity(21 + salt.len() / 2 + code.len());
        data.extend_from_slice(b"assent-typed-code-v1\0");
        data.extend_from_slice(&hex::decode(salt).unwrap_or_default());
        data.extend_from_slice(code.as_bytes());
        hex::encode(crate::crypto::sha256(&data))
    }

    /// Binds `code` under a fresh `salt`.
    pub fn bind(code: &str, salt: [u8; 16]) -> Self {
        let salt = hex::encode(salt);
        TypedCode {
            digits: code.len() as u8,
            hash: Self::hash_of(&salt, code),
            salt,
        }
    }

    /// True when `code` is this code: the right number of ASCII digits with the right hash.
    pub fn matches(&self, code: &str) -> bool {
        code.len() == usize::from(self.digits)
            && code.bytes().all(|b| b.is_ascii_digit())
            && crate::crypto::constant_time_eq(
                Self::hash_of(&self.salt, code).as_bytes(),
                self.hash.as_bytes(),
            )
    }
}

/// Whether the person must confirm themselves to the operating system before the device signs
/// an approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum UserVerification {
    /// An approval must name a verification method other than `none`; the service refuses one
    /// that does not. Denials never need verification.
    Required,
}

impl UserVerification {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserVerification::Required => "required",
        }
    }
}

/// Facts the service observed when the request was created, signed into it so that the person
/// can judge the request with something the relying party did not write.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestFacts {
    /// Requests this app sent this person in the hour before this one was created, this one
    /// included: a burst stands out.
    pub requests_last_hour: u32,
    /// Present only when the relying party reported the requester's IP address: the devices
    /// whose last connection to the service came from that same address. A device in the list
    /// may say "same network" and one outside it "another network"; neither is proof (a shared
    /// NAT or a VPN makes either wrong), and the device says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_network: Option<Vec<Uuid>>,
}

/// The canonical approval request: everything a device shows, signed by the service key.
///
/// Hidden details never appear here. A decision names this object by its digest
/// ([`crate::crypto::digest`] of kind [`MessageKind::RequestDetails`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestDetails {
    /// Always [`REQUEST_DETAILS_VERSION`].
    pub v: u32,
    /// The request's UUID.
    pub id: Uuid,
    /// The relying party.
    pub app: AppBranding,
    /// The person the request is about (Authy `authy_id`).
    pub user_id: u64,
    /// The question ("Sign in to Acme Bank?"); at most 200 characters.
    pub message: String,
    /// Detail lines, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<DetailField>,
    /// Requester context, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<RequesterContext>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; absent when the request never expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Number matching, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_matching: Option<NumberMatching>,
    /// Users who may approve (always includes `user_id`), ascending.
    pub approvers: Vec<u64>,
    /// Distinct approvers needed (1..=approvers.len()).
    pub quorum: u32,
    /// Set when approvals must carry an operating-system verification of the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_verification: Option<UserVerification>,
    /// What the service observed (absent in requests created before these facts were signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<RequestFacts>,
}

impl SignedMessage for RequestDetails {
    const KIND: MessageKind = MessageKind::RequestDetails;
}

impl RequestDetails {
    /// Seconds left before expiry at `now` (`None` when it never expires; 0 once past).
    pub fn seconds_left(&self, now: i64) -> Option<i64> {
        self.expires_at.map(|at| (at - now).max(0))
    }
}

/// `GET /device/v1/requests/{id}`: the signed request and its current status. The status is
/// not signed: it changes over time, and a forged status can at worst hide a request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceRequest {
    /// The service-signed canonical request.
    pub request: Signed<RequestDetails>,
    /// Current status.
    pub status: RequestStatus,
}

/// `GET /device/v1/requests`: ids of the requests waiting for this device's person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequests {
    /// Request ids, oldest first.
    pub ids: Vec<Uuid>,
}
