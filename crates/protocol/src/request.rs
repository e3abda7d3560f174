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

/// What the relying party says a request is for. The device uses it for the wording of the card
/// ("Approve sign-in") and a sign-in's short default lifetime; it is the relying party's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum RequestKind {
    /// Someone is signing in (or signing in without a password).
    SignIn,
    /// Someone asks to do something (a payment, a change); see [`RequestDetails::action_label`].
    Action,
}

impl RequestKind {
    /// Every kind.
    pub const ALL: [RequestKind; 2] = [RequestKind::SignIn, RequestKind::Action];

    /// The wire name (`sign_in`, `action`).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::SignIn => "sign_in",
            RequestKind::Action => "action",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        RequestKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Longest action label, in characters: it goes on a button.
pub const MAX_ACTION_LABEL_CHARS: usize = 32;
/// Longest person name, in characters (an e-mail address is at most 254).
pub const MAX_PERSON_NAME_CHARS: usize = 254;

/// A person named on a request, as the relying party registered them (the display name it gave,
/// else the e-mail address). Signed by the service, so a device may show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonName {
    /// The person (Authy `authy_id`); always one of the request's approvers.
    pub user_id: u64,
    /// Their name: 1 to [`MAX_PERSON_NAME_CHARS`] characters, no unsafe text
    /// ([`crate::text::find_unsafe`]).
    pub name: String,
}

/// Why a request's people or action label cannot be shown (the service refuses to create such a
/// request; a device refuses to show one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestTextError {
    /// The action label is empty, longer than [`MAX_ACTION_LABEL_CHARS`] or carries unsafe text.
    #[error("the action label must be 1 to {MAX_ACTION_LABEL_CHARS} characters of plain text")]
    ActionLabel,
    /// A name is empty, longer than [`MAX_PERSON_NAME_CHARS`] or carries unsafe text.
    #[error("the name of user {0} must be 1 to {MAX_PERSON_NAME_CHARS} characters of plain text")]
    PersonName(u64),
    /// A name for someone who is not an approver, or a second name for the same person.
    #[error("user {0} is named but is not an approver, or is named twice")]
    PersonNotApprover(u64),
}

/// Checks an action label as [`RequestDetails::action_label`] requires.
///
/// # Errors
/// [`RequestTextError::ActionLabel`].
pub fn check_action_label(label: &str) -> Result<(), RequestTextError> {
    let chars = label.chars().count();
    if chars == 0
        || chars > MAX_ACTION_LABEL_CHARS
        || label.trim() != label
        || crate::text::find_unsafe(label).is_some()
    {
        return Err(RequestTextError::ActionLabel);
    }
    Ok(())
}

/// Checks a person's name as [`PersonName::name`] requires.
///
/// # Errors
/// [`RequestTextError::PersonName`].
pub fn check_person_name(user_id: u64, name: &str) -> Result<(), RequestTextError> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_PERSON_NAME_CHARS || crate::text::find_unsafe(name).is_some() {
        return Err(RequestTextError::PersonName(user_id));
    }
    Ok(())
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
    /// What the relying party says the request is for (absent: not said, or an older service).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RequestKind>,
    /// The relying party's short name for the action, for the Approve button ("Release
    /// $12,500"); see [`check_action_label`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_label: Option<String>,
    /// The names of the initiator and the approvers as the relying party registered them, as far
    /// as the service knows one (a person registered with a phone number only is left out);
    /// ascending by `user_id`, each an approver, none twice. Empty (and absent) in requests
    /// created before names were signed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<PersonName>,
}

impl SignedMessage for RequestDetails {
    const KIND: MessageKind = MessageKind::RequestDetails;
}

impl RequestDetails {
    /// Seconds left before expiry at `now` (`None` when it never expires; 0 once past).
    pub fn seconds_left(&self, now: i64) -> Option<i64> {
        self.expires_at.map(|at| (at - now).max(0))
    }

    /// Checks the text a device shows from [`RequestDetails::action_label`] and
    /// [`RequestDetails::people`]: a label as [`check_action_label`] says, every name as
    /// [`check_person_name`] says, each named person an approver and named once. A service
    /// checks before it signs; a device checks again, since the signature only says who wrote it.
    ///
    /// # Errors
    /// The first [`RequestTextError`] found.
    pub fn check_people_and_label(&self) -> Result<(), RequestTextError> {
        if let Some(label) = &self.action_label {
            check_action_label(label)?;
        }
        let mut seen = std::collections::BTreeSet::new();
        for person in &self.people {
            if !self.approvers.contains(&person.user_id) || !seen.insert(person.user_id) {
                return Err(RequestTextError::PersonNotApprover(person.user_id));
            }
            check_person_name(person.user_id, &person.name)?;
        }
        Ok(())
    }

    /// The signed name of `user_id`, when the request carries one.
    pub fn name_of(&self, user_id: u64) -> Option<&str> {
        self.people
            .iter()
            .find(|p| p.user_id == user_id)
            .map(|p| p.name.as_str())
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
    /// The answers recorded so far, one per approver who answered, ascending by `user_id`
    /// (absent when nobody has). Not signed, like `status`: each is backed by the approver's
    /// signed decision, which the service keeps and the receipt carries; a forged one can at
    /// worst mislabel who answered a pending request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<RecordedAnswer>,
}

/// One approver's answer to a request, as the service recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedAnswer {
    /// The approver.
    pub user_id: u64,
    /// Their answer.
    pub outcome: crate::decision::Outcome,
}

/// `GET /device/v1/requests`: ids of the requests waiting for this device's person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequests {
    /// Request ids, oldest first.
    pub ids: Vec<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details() -> RequestDetails {
        RequestDetails {
            v: REQUEST_DETAILS_VERSION,
            id: Uuid::from_u128(1),
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
            number_matching: None,
            approvers: vec![7, 8],
            quorum: 2,
            user_verification: None,
            facts: None,
            kind: None,
            action_label: None,
            people: vec![],
        }
    }

    #[test]
    fn new_fields_are_left_out_when_unset_so_older_signatures_still_verify() {
        let json = serde_json::to_string(&details()).unwrap();
        for field in ["kind", "action_label", "people"] {
            assert!(
                !json.contains(field),
                "{field} must be absent when unset: {json}"
            );
        }
        let mut with = details();
        with.kind = Some(RequestKind::SignIn);
        with.action_label = Some("Release $12,500".into());
        with.people = vec![PersonName {
            user_id: 7,
            name: "ana@acme.example".into(),
        }];
        let json = serde_json::to_value(&with).unwrap();
        assert_eq!(json["kind"], "sign_in");
        assert_eq!(json["action_label"], "Release $12,500");
        assert_eq!(
            json["people"],
            serde_json::json!([{"user_id": 7, "name": "ana@acme.example"}])
        );
        assert_eq!(
            serde_json::from_value::<RequestDetails>(json).unwrap(),
            with
        );
    }

    #[test]
    fn kinds_parse_only_their_wire_names() {
        assert_eq!(RequestKind::parse("sign_in"), Some(RequestKind::SignIn));
        assert_eq!(RequestKind::parse("action"), Some(RequestKind::Action));
        for bad in ["", "SignIn", "sign-in", "login", "action "] {
            assert_eq!(RequestKind::parse(bad), None, "{bad:?} is not a kind");
        }
    }

    #[test]
    fn labels_and_names_are_bounded_plain_text_about_approvers() {
        let mut d = details();
        d.action_label = Some("x".repeat(MAX_ACTION_LABEL_CHARS));
        d.people = vec![
            PersonName {
                user_id: 7,
                name: "Ana".into(),
            },
            PersonName {
                user_id: 8,
                name: "b".repeat(MAX_PERSON_NAME_CHARS),
            },
        ];
        assert_eq!(d.check_people_and_label(), Ok(()));
        assert_eq!(d.name_of(8).map(str::len), Some(MAX_PERSON_NAME_CHARS));
        assert_eq!(d.name_of(9), None);

        let refused = |change: &dyn Fn(&mut RequestDetails), want: RequestTextError| {
            let mut bad = d.clone();
            change(&mut bad);
            assert_eq!(bad.check_people_and_label(), Err(want.clone()), "{want}");
        };
        refused(
            &|d| d.action_label = Some("x".repeat(MAX_ACTION_LABEL_CHARS + 1)),
            RequestTextError::ActionLabel,
        );
        refused(
            &|d| d.action_label = Some(String::new()),
            RequestTextError::ActionLabel,
        );
        refused(
            &|d| d.action_label = Some("Release \u{202E}005,21$".into()),
            RequestTextError::ActionLabel,
        );
        refused(
            &|d| d.people[1].name = "b".repeat(MAX_PERSON_NAME_CHARS + 1),
            RequestTextError::PersonName(8),
        );
        refused(
            &|d| d.people[0].name = "Ana\u{1b}[2J".into(),
            RequestTextError::PersonName(7),
        );
        refused(
            &|d| d.people[1].user_id = 9,
            RequestTextError::PersonNotApprover(9),
        );
        refused(
            &|d| d.people[1].user_id = 7,
            RequestTextError::PersonNotApprover(7),
        );
    }
}
