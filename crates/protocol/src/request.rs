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

/// Number matching: the initiating person must pick the number the relying party shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NumberMatching {
    /// The user who must pick (the initiator); other approvers approve without a number.
    pub user_id: u64,
    /// The choices to offer, in display order; exactly one is right.
    pub choices: Vec<u32>,
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
