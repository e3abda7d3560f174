//! What crosses IPC: view models and event payloads. Nothing here carries key material, tokens or
//! digests; the UI names requests by id and the Rust side signs what it verified and showed.

use assent_device::{Account, ConnectionState, HistoryEntry, ShownRequest};
use assent_protocol::request::RequestStatus;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Events the UI listens to.
pub mod events {
    /// Payload: `Vec<RequestView>`, the whole pending list.
    pub const PENDING: &str = "assent://pending";
    /// Payload: [`super::ResolvedView`].
    pub const RESOLVED: &str = "assent://resolved";
    /// Payload: [`super::ConnectionView`].
    pub const CONNECTION: &str = "assent://connection";
    /// Payload: `Vec<AccountView>`.
    pub const ACCOUNTS: &str = "assent://accounts";
    /// Payload: the request id to bring forward (a notification was clicked).
    pub const OPEN_REQUEST: &str = "assent://open-request";
    /// Payload: an `assent://enroll` link to confirm (opened as a deep link).
    pub const ENROLL_LINK: &str = "assent://enroll-link";
    /// Payload: [`super::NoticeView`].
    pub const NOTICE: &str = "assent://notice";
}

/// An app's branding, ready to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrandingView {
    /// Display name.
    pub name: String,
    /// `#rrggbb`, when set.
    pub accent_color: Option<String>,
    /// A `data:` URL of the checked logo; `None` shows the placeholder.
    pub logo: Option<String>,
}

/// One detail line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailView {
    /// Label.
    pub label: String,
    /// Value.
    pub value: String,
}

/// Where the action came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequesterView {
    /// IP address.
    pub ip: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Browser.
    pub user_agent: Option<String>,
}

/// A verified pending request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestView {
    /// Request id.
    pub id: Uuid,
    /// The account it is for.
    pub account_id: Uuid,
    /// The relying party.
    pub app: BrandingView,
    /// The question.
    pub message: String,
    /// Detail lines, in order.
    pub details: Vec<DetailView>,
    /// Requester context.
    pub requester: Option<RequesterView>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Number-matching choices, when this person must pick one.
    pub number_choices: Option<Vec<u32>>,
    /// Approvals needed.
    pub quorum: u32,
    /// People who may approve.
    pub approvers: usize,
}

impl RequestView {
    /// The view of a verified request with its logo.
    pub fn new(shown: &ShownRequest, logo: Option<String>) -> Self {
        let d = &shown.details;
        RequestView {
            id: d.id,
            account_id: shown.account_id,
            app: BrandingView {
                name: d.app.name.clone(),
                accent_color: d.app.accent_color.clone(),
                logo,
            },
            message: d.message.clone(),
            details: d
                .details
                .iter()
                .map(|f| DetailView {
                    label: f.label.clone(),
                    value: f.value.clone(),
                })
                .collect(),
            requester: d.requester.as_ref().map(|r| RequesterView {
                ip: r.ip.clone(),
                location: r.location.clone(),
                user_agent: r.user_agent.clone(),
            }),
            created_at: d.created_at,
            expires_at: d.expires_at,
            number_choices: if shown.needs_number {
                d.number_matching.as_ref().map(|m| m.choices.clone())
            } else {
                None
            },
            quorum: d.quorum,
            approvers: d.approvers.len(),
        }
    }
}

/// A request left the pending list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedView {
    /// Request id.
    pub id: Uuid,
    /// Final status, when known (`None`: resolved while offline).
    pub status: Option<RequestStatus>,
    /// True when this device made the decision.
    pub decided_here: bool,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// Local account id.
    pub id: Uuid,
    /// The relying party.
    pub app: BrandingView,
    /// The person's id at the relying party.
    pub user_id: u64,
    /// The service URL.
    pub server: String,
    /// The name this device enrolled under.
    pub device_name: String,
    /// Unix seconds.
    pub enrolled_at: i64,
    /// True once revoked (its key is deleted).
    pub revoked: bool,
}

impl AccountView {
    /// The view of an account with its logo.
    pub fn new(account: &Account, logo: Option<String>) -> Self {
        AccountView {
            id: account.id,
            app: BrandingView {
                name: account.app.name.clone(),
                accent_color: account.app.accent_color.clone(),
                logo,
            },
            user_id: account.user_id,
            server: account.server.to_string(),
            device_name: account.device_name.clone(),
            enrolled_at: account.enrolled_at,
            revoked: account.revoked_at.is_some(),
        }
    }
}

/// One account's connection state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionView {
    /// The account.
    pub account_id: Uuid,
    /// Its state.
    pub state: ConnectionState,
}

/// A past decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    /// Request id.
    pub request_id: Uuid,
    /// App name.
    pub app_name: String,
    /// Message.
    pub message: String,
    /// `approve` or `deny`.
    pub outcome: String,
    /// Deny reason.
    pub reason: Option<String>,
    /// Unix seconds.
    pub decided_at: i64,
}

impl From<&HistoryEntry> for HistoryView {
    fn from(e: &HistoryEntry) -> Self {
        HistoryView {
            request_id: e.request_id,
            app_name: e.app_name.clone(),
            message: e.message.clone(),
            outcome: match e.outcome {
                assent_protocol::decision::Outcome::Approve => "approve".into(),
                assent_protocol::decision::Outcome::Deny => "deny".into(),
            },
            reason: e.reason.map(|r| r.as_str().to_owned()),
            decided_at: e.decided_at,
        }
    }
}

/// User-facing settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsView {
    /// Start at login.
    pub autostart: bool,
    /// Notifications paused.
    pub notifications_paused: bool,
}

/// Everything the UI needs at start.
#[derive(Debug, Clone, Serialize)]
pub struct StateView {
    /// Accounts.
    pub accounts: Vec<AccountView>,
    /// Pending requests.
    pub pending: Vec<RequestView>,
    /// Connection states.
    pub connections: Vec<ConnectionView>,
    /// Settings.
    pub settings: SettingsView,
    /// A deep link waiting to be confirmed, if the app was opened with one.
    pub enroll_link: Option<String>,
}

/// Something the person should know (a dropped spoofed request, a failed fetch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoticeView {
    /// A stable code the UI switches on.
    pub code: String,
    /// Details for the log view.
    pub message: String,
}

/// The result of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecisionView {
    /// Request id.
    pub id: Uuid,
    /// The request's status afterwards (`pending` when more approvers are needed).
    pub status: RequestStatus,
}
