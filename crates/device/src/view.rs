//! What a device session shows: the views and events a shell (the desktop app, the terminal)
//! hands its user interface, and the error shape its commands answer with.
//!
//! These types are the desktop UI's IPC contract. They are defined once, here, and the UI's
//! TypeScript declarations are generated from them (`cargo run -p assent-device --example
//! ipc-types`, checked by `npm run check`), so a renamed field breaks the UI's type check instead
//! of the running app. Nothing here carries key material, tokens or digests: the UI names
//! requests by id, and the Rust side signs what it verified and showed.
//!
//! Every piece of relying-party text in a view (names, messages, details, requester fields) has
//! its control, bidirectional and line-separator characters stripped ([`shown_text`]), whatever
//! the service sent: an older or malicious service may not have refused them. An accent colour
//! reaches a view only as `#rrggbb` ([`accent_color`]), so it can never become other CSS.

use assent_protocol::decision::{DenyReason, Outcome};
use assent_protocol::enroll::EnrollLink;
use assent_protocol::request::{RequestKind, RequestStatus};
use assent_protocol::text::strip_unsafe;
use std::fmt;

use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

use crate::account::{Account, HistoryEntry};
use crate::authenticator::{Answer, ShownRequest};
pub use crate::clock::ClockView;
use crate::error::{Error, ErrorKind};
pub use crate::settings::Settings;

/// An account's current code as a UI shows it: with the seconds its step has left, so the UI
/// counts down and asks again when the step ends. `Debug` prints the code as `<redacted>`; a shell
/// puts it on screen and in the clipboard on the person's click, never in a notification, a log
/// or a window title.
#[derive(Clone, PartialEq, Eq, Serialize, TS)]
pub struct CodeView {
    /// The account.
    pub account_id: Uuid,
    /// The relying party's name (stripped of unsafe characters).
    pub app_name: String,
    /// The code's digits.
    pub code: String,
    /// Its length (6, 7 or 8: the setting).
    pub digits: u8,
    /// Seconds until it changes (1 to `step_seconds`), from this computer's clock.
    pub seconds_left: i64,
    /// The length of a step (30).
    pub step_seconds: i64,
}

impl fmt::Debug for CodeView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CodeView")
            .field("account_id", &self.account_id)
            .field("app_name", &self.app_name)
            .field("code", &"<redacted>")
            .field("digits", &self.digits)
            .field("seconds_left", &self.seconds_left)
            .finish()
    }
}

/// Names of the events a desktop shell emits to its UI.
pub mod events {
    /// Payload: [`super::SessionEvent`]; every change of the session's state.
    pub const SESSION: &str = "assent://session";
    /// Payload: the request id (a string) to bring forward (a notification was clicked).
    pub const OPEN_REQUEST: &str = "assent://open-request";
    /// Payload: [`super::EnrollOffer`], an enrollment link to confirm before enrolling.
    pub const ENROLL_LINK: &str = "assent://enroll-link";
    /// Payload: [`super::UpdateView`]; every change in what the desktop knows about updates.
    pub const UPDATE: &str = "assent://update";
}

/// Relying-party text as a person may see it: control, bidirectional and line-separator
/// characters removed (see [`assent_protocol::text`]).
pub fn shown_text(text: &str) -> String {
    strip_unsafe(text)
}

/// An accent colour fit to become CSS: exactly `#rrggbb` (lower-cased); anything else is dropped
/// and the UI uses its own colour.
pub fn accent_color(color: Option<&str>) -> Option<String> {
    let hex = color?.strip_prefix('#')?;
    (hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("#{}", hex.to_ascii_lowercase()))
}

/// An `assent://enroll` link that arrived from outside (a deep link, another launch), as Rust
/// parsed it: what the confirmation screen shows, host first and whole. No token: the UI hands
/// `link` back to `enroll`, which parses it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct EnrollOffer {
    /// The link as received (the UI passes it back to enroll; it is not shown).
    pub link: String,
    /// The service's host, with its port when it is not the default, exactly as parsed (an IDN in
    /// its ASCII form): what the person must recognise.
    pub host: String,
    /// The whole service address, as parsed.
    pub server: String,
    /// True when the service is plain `http` off this machine: enrolling then needs the person
    /// to accept a warning.
    pub insecure: bool,
}

impl EnrollOffer {
    /// The offer of a parsed link.
    pub fn new(link: &str, parsed: &EnrollLink) -> Self {
        EnrollOffer {
            link: link.to_owned(),
            host: parsed.host(),
            server: parsed.server.to_string(),
            insecure: parsed.is_insecure(),
        }
    }
}

/// What an enrollment link would enroll into, for the person to check before agreeing: the
/// service and host that will send requests, for which account, and the phrase the relying
/// party's page shows beside the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct EnrollPreview {
    /// The link (the UI passes it back to enroll once the person agrees; it is not shown: it
    /// holds the token).
    pub link: String,
    /// The service's host, with its port when it is not the default, exactly as parsed.
    pub host: String,
    /// The whole service address, as parsed.
    pub server: String,
    /// Plain `http` off this machine: enrolling needs the person to accept a warning.
    pub insecure: bool,
    /// The host is an IP address that is not loopback: worth a warning (a relying party's service
    /// has a name).
    pub bare_ip: bool,
    /// The relying party, as the service's preview answer names it (cleaned; checked logo).
    pub app: BrandingView,
    /// Who the requests will be for, as the relying party registered them; `None` when the
    /// service did not say.
    pub account_name: Option<String>,
    /// The enrollment phrase, computed here from the link, never taken from the service.
    pub phrase: String,
}

/// An app's branding, ready to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct BrandingView {
    /// Display name.
    pub name: String,
    /// `#rrggbb`, when set.
    pub accent_color: Option<String>,
    /// A `data:` URL of the checked logo; `None` shows the placeholder.
    pub logo: Option<String>,
}

/// One detail line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DetailView {
    /// Label.
    pub label: String,
    /// Value.
    pub value: String,
}

/// Where the action came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct RequesterView {
    /// IP address.
    pub ip: Option<String>,
    /// Location.
    pub location: Option<String>,
    /// Browser.
    pub user_agent: Option<String>,
}

/// How this person must show they see the relying party's screen before approving. The UI
/// switches on `mode`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum MatchingView {
    /// Pick the number shown there among these choices.
    Pick {
        /// The choices, in display order.
        choices: Vec<u32>,
    },
    /// Type the code shown there (the device never knows it: the service checks it).
    Typed {
        /// How many digits the code has (2 to 6).
        digits: u8,
    },
}

/// Whether the service saw the requester on this computer's network. A hint, never proof: a
/// shared NAT or a VPN makes either answer wrong, and the UI says so ("as far as the service can
/// tell").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum NetworkFact {
    /// The requester's address is the one this device last connected from.
    Same,
    /// The relying party reported the requester's address, and it is not this device's.
    Other,
    /// The relying party did not report the requester's address.
    Unknown,
}

/// What the service observed when the request was created (signed by it, not written by the
/// relying party).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FactsView {
    /// Requests this app sent this person in the last hour, this one included (more than one
    /// stands out).
    pub requests_last_hour: u32,
    /// Same network as this computer, another one, or not known.
    pub network: NetworkFact,
}

impl FactsView {
    /// The facts of `shown` as this device (`shown.device_id`) reads them.
    pub fn new(shown: &ShownRequest) -> Option<Self> {
        let facts = shown.details.facts.as_ref()?;
        let network = match &facts.same_network {
            None => NetworkFact::Unknown,
            Some(devices) if devices.contains(&shown.device_id) => NetworkFact::Same,
            Some(_) => NetworkFact::Other,
        };
        Some(FactsView {
            requests_last_hour: facts.requests_last_hour,
            network,
        })
    }
}

/// `1st`, `2nd`, `3rd`, `11th`, `22nd`: how "the 3rd request from Acme Bank in the last hour"
/// counts.
pub fn ordinal(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A verified pending request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
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
    /// Number matching, when this person must pick a number or type a code (only the
    /// initiator: other approvers approve without).
    pub number_matching: Option<MatchingView>,
    /// What the service observed (absent from services older than these facts).
    pub facts: Option<FactsView>,
    /// Approvals needed.
    pub quorum: u32,
    /// People who may approve.
    pub approvers: u32,
    /// The service requires the operating system to confirm the person before approving: the
    /// system will ask for their password (denying never asks).
    pub verification_required: bool,
    /// What the relying party says the request is for (signed). `None`: an older service, or
    /// not said.
    pub kind: Option<RequestKind>,
    /// The relying party's short name for the action ("Release $12,500"), put on the Approve
    /// button. At most 32 characters (checked by the service and again by the device). `None`:
    /// the UI says "Approve sign-in" for kind sign_in, otherwise "Approve".
    pub action_label: Option<String>,
    /// The person this device is enrolled for, as the relying party registered them (name or
    /// e-mail, from the enrollment answer, stored with the account). `None` for accounts
    /// enrolled before this existed: the UI then shows nothing rather than "User 1635".
    pub account_name: Option<String>,
    /// The host this account was enrolled with (from the stored account, never from the
    /// request).
    pub server_host: String,
    /// Several approvers only (quorum or approvers > 1), else empty: every approver, the
    /// initiator first, with their name as the service signed it and their state now.
    pub approver_states: Vec<ApproverView>,
    /// This device's own answer while the request still waits on others (it stays in `pending`
    /// under "Waiting on others" until it resolves). `None` until this device answers.
    pub my_answer: Option<Outcome>,
    /// Whether this device's person started the request (the initiator). Decides "This wasn't
    /// me" (initiator) versus "Report as suspicious" (another approver).
    pub is_initiator: bool,
}

/// One approver of a several-approver request, as a card shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ApproverView {
    /// Their name as the service signed it (display name or e-mail); [`UNNAMED_APPROVER`] when
    /// the service signed none (a person registered by phone only): never a bare number.
    pub name: String,
    /// Their answer so far.
    pub state: ApproverState,
    /// This device's person.
    pub is_me: bool,
    /// The person who started the request.
    pub is_initiator: bool,
}

/// What an approver has answered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ApproverState {
    /// Not answered yet.
    Waiting,
    /// Approved.
    Approved,
    /// Denied.
    Denied,
}

/// The name shown for an approver the service named no name for.
pub const UNNAMED_APPROVER: &str = "Another approver";

/// The approvers of a several-approver request, the initiator first (empty for one approver).
fn approver_states(shown: &ShownRequest) -> Vec<ApproverView> {
    let d = &shown.details;
    if d.approvers.len() <= 1 && d.quorum <= 1 {
        return Vec::new();
    }
    let mut order: Vec<u64> = vec![d.user_id];
    order.extend(d.approvers.iter().copied().filter(|a| *a != d.user_id));
    order
        .into_iter()
        .map(|user| ApproverView {
            name: d
                .name_of(user)
                .map_or_else(|| UNNAMED_APPROVER.to_owned(), shown_text),
            state: match shown.answers.iter().find(|a| a.user_id == user) {
                Some(a) if a.outcome == Outcome::Approve => ApproverState::Approved,
                Some(_) => ApproverState::Denied,
                None => ApproverState::Waiting,
            },
            is_me: user == shown.person,
            is_initiator: user == d.user_id,
        })
        .collect()
}

impl RequestView {
    /// The view of a verified request with its logo (a `data:` URL).
    pub fn new(shown: &ShownRequest, logo: Option<String>) -> Self {
        let d = &shown.details;
        let field = |text: &Option<String>| text.as_deref().map(shown_text);
        RequestView {
            id: d.id,
            account_id: shown.account_id,
            app: BrandingView {
                name: shown_text(&d.app.name),
                accent_color: accent_color(d.app.accent_color.as_deref()),
                logo,
            },
            message: shown_text(&d.message),
            details: d
                .details
                .iter()
                .map(|f| DetailView {
                    label: shown_text(&f.label),
                    value: shown_text(&f.value),
                })
                .collect(),
            requester: d.requester.as_ref().map(|r| RequesterView {
                ip: field(&r.ip),
                location: field(&r.location),
                user_agent: field(&r.user_agent),
            }),
            created_at: d.created_at,
            expires_at: d.expires_at,
            number_matching: d
                .number_matching
                .as_ref()
                .filter(|_| shown.needs_number)
                .map(|m| match &m.typed {
                    Some(typed) => MatchingView::Typed {
                        digits: typed.digits,
                    },
                    None => MatchingView::Pick {
                        choices: m.choices.clone(),
                    },
                }),
            facts: FactsView::new(shown),
            quorum: d.quorum,
            approvers: u32::try_from(d.approvers.len()).unwrap_or(u32::MAX),
            verification_required: d.user_verification
                == Some(assent_protocol::request::UserVerification::Required),
            kind: d.kind,
            action_label: d.action_label.as_deref().map(shown_text),
            account_name: shown.account_name.as_deref().map(shown_text),
            server_host: shown.server_host.clone(),
            approver_states: approver_states(shown),
            my_answer: shown.my_answer(),
            is_initiator: d.user_id == shown.person,
        }
    }
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
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
    /// The person as the relying party registered them (name or e-mail); `None` for accounts
    /// enrolled before services sent it.
    pub account_name: Option<String>,
    /// The host the account was enrolled with, port kept when not the default.
    pub host: String,
}

impl AccountView {
    /// The view of an account with its logo.
    pub fn new(account: &Account, logo: Option<String>) -> Self {
        AccountView {
            id: account.id,
            app: BrandingView {
                name: shown_text(&account.app.name),
                accent_color: accent_color(account.app.accent_color.as_deref()),
                logo,
            },
            user_id: account.user_id,
            server: account.server.to_string(),
            device_name: shown_text(&account.device_name),
            enrolled_at: account.enrolled_at,
            revoked: account.revoked_at.is_some(),
            account_name: account.account_name.as_deref().map(shown_text),
            host: account.host(),
        }
    }
}

/// The honest state of one account's link to its service.
///
/// `Connected` is only ever shown while the service answers within the heartbeat window: a
/// stream that stops answering is `Reconnecting` once the window has passed, never `Connected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// The first connection since start is being opened.
    Connecting,
    /// Connected, in sync, and answering heartbeats.
    Connected,
    /// The connection was lost (or never came up) and is being retried.
    Reconnecting {
        /// Consecutive failed attempts.
        attempt: u32,
        /// When the next attempt starts (Unix milliseconds); `None` while an attempt is under way.
        next_try_at_ms: Option<i64>,
    },
    /// Not trying: the device was revoked for this account, or its key is missing.
    Offline,
}

/// One account's link, with the last time the service was heard from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ConnectionView {
    /// The account.
    pub account_id: Uuid,
    /// Its state.
    pub state: LinkState,
    /// The last time anything arrived from the service on this account's stream (Unix
    /// milliseconds); `None` before the first contact.
    pub last_contact_at_ms: Option<i64>,
}

/// A past decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct HistoryView {
    /// Request id.
    pub request_id: Uuid,
    /// App name.
    pub app_name: String,
    /// Message.
    pub message: String,
    /// Approve or deny.
    pub outcome: Outcome,
    /// Deny reason.
    pub reason: Option<DenyReason>,
    /// Unix seconds.
    pub decided_at: i64,
}

impl From<&HistoryEntry> for HistoryView {
    fn from(e: &HistoryEntry) -> Self {
        HistoryView {
            request_id: e.request_id,
            app_name: shown_text(&e.app_name),
            message: shown_text(&e.message),
            outcome: e.outcome,
            reason: e.reason,
            decided_at: e.decided_at,
        }
    }
}

/// The settings a desktop UI shows: the session's, plus start at login (an OS setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SettingsView {
    /// Start at login.
    pub autostart: bool,
    /// Notifications paused.
    pub notifications_paused: bool,
    /// Look for updates at start and once a day.
    pub check_for_updates: bool,
    /// Every approval asks the system to confirm the person (their password), not only those
    /// the service requires it for.
    pub verify_every_approval: bool,
}

/// What a session holds now (see [`crate::DeviceSession::snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SessionSnapshot {
    /// Accounts, active and revoked.
    pub accounts: Vec<AccountView>,
    /// Pending requests, oldest first.
    pub pending: Vec<RequestView>,
    /// Each active account's link.
    pub connections: Vec<ConnectionView>,
    /// Settings.
    pub settings: Settings,
}

/// Everything a desktop UI needs at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
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
    pub enroll_link: Option<EnrollOffer>,
}

impl StateView {
    /// The session's snapshot with the shell's own parts.
    pub fn new(
        snapshot: SessionSnapshot,
        autostart: bool,
        enroll_link: Option<EnrollOffer>,
    ) -> Self {
        StateView {
            accounts: snapshot.accounts,
            pending: snapshot.pending,
            connections: snapshot.connections,
            settings: SettingsView {
                autostart,
                notifications_paused: snapshot.settings.notifications_paused,
                check_for_updates: snapshot.settings.check_for_updates,
                verify_every_approval: snapshot.settings.verify_every_approval,
            },
            enroll_link,
        }
    }
}

/// What the desktop app knows about updates of itself. Updates are signed; the app installs one
/// only after its signature verifies against the public key built into it, and only when the
/// person asks (never while a request waits for them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct UpdateView {
    /// The version running now (the workspace version it was built from).
    pub current_version: String,
    /// What is happening.
    pub state: UpdateState,
    /// When the last check finished (Unix seconds); `None` before the first.
    pub last_checked_at: Option<i64>,
    /// Why the last check, download or install failed; cleared by the next attempt.
    pub error: Option<ErrorView>,
}

/// The phase of the update machinery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UpdateState {
    /// Nothing newer is known (or no check was made yet).
    Idle,
    /// Asking the update server.
    Checking,
    /// A newer version is offered; the person may install it.
    Available {
        /// Its version.
        version: String,
        /// Its release notes, as the update manifest gives them.
        notes: Option<String>,
    },
    /// Downloading, verifying and installing; the app restarts when done.
    Installing {
        /// The version being installed.
        version: String,
    },
}

/// The result of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DecisionView {
    /// Request id.
    pub id: Uuid,
    /// The request's status afterwards (`pending` when more approvers are needed).
    pub status: RequestStatus,
    /// After "This wasn't me": until when (Unix seconds) the service refuses new requests from
    /// this app to this person, so the UI can say what happened and what to do next. `None`
    /// otherwise (and from services that do not freeze).
    pub frozen_until: Option<i64>,
}

/// An error as a UI sees it: every desktop command fails with this, and the UI switches on
/// `code`, never on `message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, thiserror::Error)]
#[error("{message}")]
pub struct ErrorView {
    /// The stable code.
    pub code: ErrorKind,
    /// What happened, for a person (never a secret).
    pub message: String,
}

impl From<Error> for ErrorView {
    fn from(e: Error) -> Self {
        ErrorView::from(&e)
    }
}

impl From<&Error> for ErrorView {
    fn from(e: &Error) -> Self {
        let message = match e {
            // A wrong code's message is the service's own ("Wrong code: 2 tries left"), shown as
            // is: the person reads how many tries remain, and no one parses it.
            Error::Service { message, .. } if e.kind() == ErrorKind::WrongCode => message.clone(),
            e => e.to_string(),
        };
        ErrorView {
            code: e.kind(),
            message,
        }
    }
}

/// Something the approval-log monitor found about an account's person (see
/// [`crate::LogMonitor`]). Findings stay until the person dismisses them ("I know this
/// device"); a dismissed one is never shown again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct FindingView {
    /// Stable id (`device:<device id>`, `decision:<request id>:<device id>`,
    /// `fork:<size>:<root>`, `refused:<size>`): what a dismissal names.
    pub id: String,
    /// The account (this device's enrollment) it concerns.
    pub account_id: Uuid,
    /// The relying party's name, as the account shows it.
    pub app_name: String,
    /// The service's host (with its port when not the default).
    pub service: String,
    /// When this device found it, Unix seconds.
    pub found_at: i64,
    /// What was found.
    pub finding: Finding,
}

/// What the approval-log monitor found. The UI switches on `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// Another device was enrolled for this person: "a device you may not know".
    UnknownDevice {
        /// The other device.
        device_id: Uuid,
        /// When the service enrolled it, Unix seconds.
        enrolled_at: i64,
        /// Its public key's fingerprint (the first 16 hex digits of SHA-256 of the key, in
        /// groups of four).
        fingerprint: String,
        /// Its enrollment's index in the log.
        log_index: u64,
    },
    /// A decision in this person's name was signed by another device.
    DecisionOnOtherDevice {
        /// The request.
        request_id: Uuid,
        /// The deciding device.
        device_id: Uuid,
        /// Approve or deny.
        outcome: Outcome,
        /// When the device signed it, Unix seconds.
        signed_at: i64,
        /// The receipt's index in the log.
        log_index: u64,
        /// True when that device was already reported (or the person said they know it): the
        /// decision is then for information.
        informational: bool,
    },
    /// A decision signed with THIS device's key that this device never made: the key leaked.
    DecisionNotMade {
        /// The request.
        request_id: Uuid,
        /// Approve or deny.
        outcome: Outcome,
        /// When it was signed, Unix seconds.
        signed_at: i64,
        /// The receipt's index in the log.
        log_index: u64,
    },
    /// The service's log does not extend the checkpoint this device verified before: its
    /// history was rewritten. The earlier checkpoint is kept.
    Fork {
        /// The size of the checkpoint kept.
        size: u64,
        /// Its root, lower-case hex.
        root: String,
        /// The size of the checkpoint that does not extend it.
        new_size: u64,
        /// Its root, lower-case hex.
        new_root: String,
    },
    /// The service refuses to sign its log (`60113`): the log in its database no longer matches
    /// a checkpoint it signed.
    LogRefused {
        /// The service's message.
        message: String,
    },
}

/// A change in a [`crate::DeviceSession`], in the order it happened. A shell forwards them to
/// its UI (the desktop emits each as [`events::SESSION`]) or prints them (the terminal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionEvent {
    /// The whole pending list (oldest first), after any change to it.
    Pending {
        /// The verified requests waiting for this device's people.
        requests: Vec<RequestView>,
    },
    /// A request newly verified and added to the pending list (once per request).
    Arrived {
        /// The request (boxed: it is much larger than the other events).
        request: Box<RequestView>,
        /// True when the shell should alert the person (raise its window, notify): at most a
        /// few arrivals a minute do ([`crate::SessionConfig::alerts_per_minute`]).
        alert: bool,
    },
    /// A request left the pending list.
    Resolved {
        /// Request id.
        id: Uuid,
        /// Final status, when known (`None`: resolved while offline, or the device was revoked).
        status: Option<RequestStatus>,
        /// True when this device made the decision.
        decided_here: bool,
    },
    /// An account's link changed, or the service was heard from.
    Connection {
        /// The link.
        connection: ConnectionView,
    },
    /// The account list changed (enrolled, removed, revoked).
    Accounts {
        /// Every account.
        accounts: Vec<AccountView>,
    },
    /// The settings changed.
    Settings {
        /// The settings now in effect.
        settings: Settings,
    },
    /// An account's service clock was measured and it is news: the first measurement, a
    /// difference over one code step that starts or stops, or one that moved. A UI warns while
    /// `skewed` holds (see [`crate::clock`]).
    Clock {
        /// The measurement.
        clock: ClockView,
    },
    /// The approval-log monitor's open findings (every account, oldest first), after any
    /// change: a new finding, or one dismissed.
    LogFindings {
        /// The findings not dismissed.
        findings: Vec<FindingView>,
    },
    /// Something the person should know that no command asked for: a request that failed its
    /// security check, a revocation, a settings file that could not be read.
    Notice {
        /// The stable code.
        code: ErrorKind,
        /// Details for people and logs.
        message: String,
    },
}

/// The TypeScript declarations of every IPC type, as one module's source: what
/// `ui/src/lib/generated/ipc.ts` must contain. Used by the `ipc-types` example (which writes or
/// checks the file) and by this crate's tests.
pub fn typescript_declarations() -> String {
    let cfg = ts_rs::Config::new().with_large_int("number");
    let mut out = String::from(
        "// GENERATED by `cargo run -p assent-device --example ipc-types` from the Rust types in\n\
         // crates/device/src/view.rs and crates/device/src/error.rs. Do not edit: change the Rust\n\
         // types and run `npm run gen:types` in ui/. `npm run check` fails when this file is stale.\n\n",
    );
    let decls = [
        RequestStatus::decl(&cfg),
        Outcome::decl(&cfg),
        DenyReason::decl(&cfg),
        ErrorKind::decl(&cfg),
        BrandingView::decl(&cfg),
        DetailView::decl(&cfg),
        RequesterView::decl(&cfg),
        MatchingView::decl(&cfg),
        NetworkFact::decl(&cfg),
        FactsView::decl(&cfg),
        RequestKind::decl(&cfg),
        ApproverState::decl(&cfg),
        ApproverView::decl(&cfg),
        RequestView::decl(&cfg),
        Answer::decl(&cfg),
        AccountView::decl(&cfg),
        LinkState::decl(&cfg),
        ConnectionView::decl(&cfg),
        HistoryView::decl(&cfg),
        EnrollOffer::decl(&cfg),
        EnrollPreview::decl(&cfg),
        Settings::decl(&cfg),
        SettingsView::decl(&cfg),
        UpdateState::decl(&cfg),
        UpdateView::decl(&cfg),
        SessionSnapshot::decl(&cfg),
        Finding::decl(&cfg),
        FindingView::decl(&cfg),
        StateView::decl(&cfg),
        DecisionView::decl(&cfg),
        ErrorView::decl(&cfg),
        ClockView::decl(&cfg),
        CodeView::decl(&cfg),
        SessionEvent::decl(&cfg),
    ];
    for decl in decls {
        out.push_str("export ");
        out.push_str(decl.trim());
        out.push_str("\n\n");
    }
    let codes: Vec<String> = ErrorKind::ALL
        .iter()
        .map(|k| format!("\"{}\"", k.as_str()))
        .collect();
    out.push_str(&format!(
        "/** Every error code, in the Rust enum's order. */\nexport const ERROR_KINDS: readonly ErrorKind[] = [{}];\n\n",
        codes.join(", ")
    ));
    out.push_str(&format!(
        "/** The events a desktop shell emits, and their payloads. */\nexport const EVENTS = {{\n  session: \"{}\",\n  openRequest: \"{}\",\n  enrollLink: \"{}\",\n  update: \"{}\",\n}} as const;\n\nexport type EventPayloads = {{\n  [EVENTS.session]: SessionEvent;\n  [EVENTS.openRequest]: string;\n  [EVENTS.enrollLink]: EnrollOffer;\n  [EVENTS.update]: UpdateView;\n}};\n",
        events::SESSION,
        events::OPEN_REQUEST,
        events::ENROLL_LINK,
        events::UPDATE
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typescript_names_every_field_as_serde_writes_it() {
        let ts = typescript_declarations();
        for needle in [
            "export type RequestView = {",
            "account_id: string",
            "expires_at: number | null",
            "number_matching: MatchingView | null",
            "\"mode\": \"typed\",",
            "facts: FactsView | null",
            "export type NetworkFact = \"same\" | \"other\" | \"unknown\"",
            "export type Answer = { \"number\": number } | { \"code\": string }",
            "frozen_until: number | null",
            "export type ErrorKind = \"keychain_unavailable\"",
            "\"state\": \"reconnecting\"",
            "next_try_at_ms: number | null",
            "\"kind\": \"pending\"",
            "export type Outcome = \"approve\" | \"deny\"",
            "export const ERROR_KINDS",
            "export type EnrollPreview = {",
            "bare_ip: boolean",
            "account_name: string | null",
        ] {
            assert!(
                ts.contains(needle),
                "the generated TypeScript should contain {needle:?}:\n{ts}"
            );
        }
    }

    #[test]
    fn accent_colours_are_only_ever_rrggbb() {
        assert_eq!(accent_color(Some("#C8102E")).as_deref(), Some("#c8102e"));
        for bad in [
            "red",
            "#c8102e; background: url(https://evil.example/t)",
            "#fff",
            "#c8102e00",
            "var(--x)",
            "#c8102",
            "#gggggg",
            "url(x)",
            "",
            "#\u{202e}c8102",
        ] {
            assert_eq!(accent_color(Some(bad)), None, "{bad:?} never becomes CSS");
        }
        assert_eq!(accent_color(None), None);
    }

    fn shown(
        matching: Option<assent_protocol::request::NumberMatching>,
        facts: Option<assent_protocol::request::RequestFacts>,
        needs_number: bool,
    ) -> ShownRequest {
        use assent_protocol::request::{AppBranding, RequestDetails};
        ShownRequest {
            account_id: Uuid::nil(),
            details: RequestDetails {
                v: 1,
                id: Uuid::nil(),
                app: AppBranding {
                    id: "a".repeat(24),
                    name: "Acme Bank".into(),
                    accent_color: None,
                    logos: vec![],
                },
                user_id: 7,
                message: "Sign in?".into(),
                details: vec![],
                requester: None,
                created_at: 1,
                expires_at: None,
                number_matching: matching,
                approvers: vec![7],
                quorum: 1,
                user_verification: None,
                facts,
                kind: None,
                action_label: None,
                people: vec![],
            },
            digest: [0; 32],
            status: RequestStatus::Pending,
            needs_number,
            device_id: Uuid::from_u128(5),
            person: 7,
            account_name: None,
            server_host: "bank.example".into(),
            answers: vec![],
        }
    }

    #[test]
    fn number_matching_shows_the_mode_and_never_the_code() {
        use assent_protocol::request::{NumberMatching, TypedCode};
        let typed = NumberMatching {
            user_id: 7,
            choices: vec![],
            typed: Some(TypedCode::bind("0427", [9; 16])),
        };
        let view = RequestView::new(&shown(Some(typed.clone()), None, true), None);
        assert_eq!(
            view.number_matching,
            Some(MatchingView::Typed { digits: 4 }),
            "the initiator types a 4-digit code"
        );
        let json = serde_json::to_string(&view).unwrap();
        assert!(
            !json.contains("0427") && !json.contains(&typed.typed.as_ref().unwrap().hash),
            "neither the code nor its hash reaches the UI: {json}"
        );
        assert_eq!(
            RequestView::new(&shown(Some(typed), None, false), None).number_matching,
            None,
            "another approver approves without a code"
        );
        let pick = NumberMatching {
            user_id: 7,
            choices: vec![27, 64, 93],
            typed: None,
        };
        assert_eq!(
            RequestView::new(&shown(Some(pick), None, true), None).number_matching,
            Some(MatchingView::Pick {
                choices: vec![27, 64, 93]
            })
        );
        assert_eq!(
            serde_json::to_value(MatchingView::Typed { digits: 4 }).unwrap(),
            serde_json::json!({"mode": "typed", "digits": 4})
        );
    }

    #[test]
    fn facts_say_same_network_only_for_a_listed_device() {
        use assent_protocol::request::RequestFacts;
        let facts = |same_network| {
            FactsView::new(&shown(
                None,
                Some(RequestFacts {
                    requests_last_hour: 3,
                    same_network,
                }),
                false,
            ))
            .expect("facts are shown when signed")
        };
        assert_eq!(
            facts(Some(vec![Uuid::from_u128(1), Uuid::from_u128(5)])).network,
            NetworkFact::Same,
            "this device (5) is in the list"
        );
        assert_eq!(
            facts(Some(vec![Uuid::from_u128(1)])).network,
            NetworkFact::Other,
            "this device is not in the list"
        );
        assert_eq!(
            facts(Some(vec![])).network,
            NetworkFact::Other,
            "no device shares the requester's address"
        );
        assert_eq!(
            facts(None).network,
            NetworkFact::Unknown,
            "the relying party did not report the address"
        );
        assert_eq!(facts(None).requests_last_hour, 3);
        assert_eq!(
            FactsView::new(&shown(None, None, false)),
            None,
            "an older service signs no facts"
        );
    }

    #[test]
    fn a_wrong_code_shows_the_services_message_as_is() {
        let service = |code: &str| Error::Service {
            code: code.into(),
            message: "Wrong code: 2 tries left".into(),
            revocation: None,
        };
        let view = ErrorView::from(service("60120"));
        assert_eq!(view.code, ErrorKind::WrongCode);
        assert_eq!(view.message, "Wrong code: 2 tries left");
        assert!(
            ErrorView::from(service("60079"))
                .message
                .starts_with("the service refused"),
            "other refusals keep their full text"
        );
    }

    #[test]
    fn several_approvers_are_listed_initiator_first_with_signed_names_and_answers() {
        use assent_protocol::request::{PersonName, RecordedAnswer};
        let mut s = shown(None, None, false);
        let view = RequestView::new(&s, None);
        assert!(
            view.approver_states.is_empty(),
            "one approver: no approver list"
        );
        assert!(view.is_initiator);
        s.details.approvers = vec![3, 7, 9];
        s.details.user_id = 9;
        s.details.quorum = 2;
        s.details.people = vec![
            PersonName {
                user_id: 3,
                name: "Ana\u{202E}".into(),
            },
            PersonName {
                user_id: 9,
                name: "Cy".into(),
            },
        ];
        s.answers = vec![RecordedAnswer {
            user_id: 9,
            outcome: Outcome::Approve,
        }];
        let view = RequestView::new(&s, None);
        let states: Vec<(&str, ApproverState, bool, bool)> = view
            .approver_states
            .iter()
            .map(|a| (a.name.as_str(), a.state, a.is_me, a.is_initiator))
            .collect();
        assert_eq!(
            states,
            vec![
                ("Cy", ApproverState::Approved, false, true),
                ("Ana", ApproverState::Waiting, false, false),
                (UNNAMED_APPROVER, ApproverState::Waiting, true, false),
            ],
            "initiator first; names stripped; no name is never a number"
        );
        assert!(!view.is_initiator);
        assert_eq!(view.my_answer, None);
        s.record_my_answer(Outcome::Approve);
        let view = RequestView::new(&s, None);
        assert_eq!(view.my_answer, Some(Outcome::Approve));
        assert_eq!(view.approver_states[2].state, ApproverState::Approved);
        assert_eq!(view.server_host, "bank.example");
    }

    #[test]
    fn ordinals_read_as_english() {
        let read: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111]
            .into_iter()
            .map(ordinal)
            .collect();
        assert_eq!(
            read,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd",
                "101st", "111th"
            ]
        );
    }

    #[test]
    fn shown_text_strips_what_could_mislead() {
        assert_eq!(
            shown_text("Pay \u{202e}lived\u{1b}[2J\u{2028}now"),
            "Pay lived[2Jnow"
        );
    }

    #[test]
    fn a_finding_event_nests_the_finding_under_its_own_kind() {
        let event = SessionEvent::LogFindings {
            findings: vec![FindingView {
                id: "device:x".into(),
                account_id: Uuid::nil(),
                app_name: "Acme".into(),
                service: "auth.acme.example".into(),
                found_at: 5,
                finding: Finding::UnknownDevice {
                    device_id: Uuid::nil(),
                    enrolled_at: 4,
                    fingerprint: "0000 1111 2222 3333".into(),
                    log_index: 1,
                },
            }],
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["kind"], "log_findings");
        assert_eq!(json["findings"][0]["finding"]["kind"], "unknown_device");
        assert_eq!(json["findings"][0]["finding"]["log_index"], 1);
        let ts = typescript_declarations();
        for needle in [
            "export type FindingView = {",
            "\"kind\": \"unknown_device\"",
            "\"kind\": \"log_findings\"",
        ] {
            assert!(
                ts.contains(needle),
                "the TypeScript should contain {needle:?}"
            );
        }
    }

    #[test]
    fn a_session_event_serializes_with_its_kind() {
        let event = SessionEvent::Resolved {
            id: Uuid::nil(),
            status: Some(RequestStatus::Cancelled),
            decided_here: false,
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({"kind": "resolved", "id": Uuid::nil(), "status": "cancelled", "decided_here": false})
        );
        let link = ConnectionView {
            account_id: Uuid::nil(),
            state: LinkState::Reconnecting {
                attempt: 2,
                next_try_at_ms: Some(5),
            },
            last_contact_at_ms: Some(1),
        };
        assert_eq!(
            serde_json::to_value(&link).unwrap()["state"],
            serde_json::json!({"state": "reconnecting", "attempt": 2, "next_try_at_ms": 5})
        );
    }
}
