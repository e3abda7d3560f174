//! OneTouch approval requests: create, status (with `?wait=` long-poll), cancel.

use std::collections::BTreeSet;
use std::time::Duration;

use assent_protocol::backend::{
    ApprovalRequestCreated, ApprovalRequestInfo, ApprovalRequestStatus, ApproverState,
    CreatedApprovalRequest, ReceiptRef,
};
use assent_protocol::canonical::to_canonical_bytes;
use assent_protocol::crypto::{self, MessageKind};
use assent_protocol::error::ErrorCode;
use assent_protocol::request::{
    AppBranding, DetailField, Logo, LogoResolution, MAX_ACTION_LABEL_CHARS, MAX_TYPED_DIGITS,
    MIN_TYPED_DIGITS, NumberMatching, PersonName, REQUEST_DETAILS_VERSION, RequestDetails,
    RequestFacts, RequestKind, RequestStatus, RequesterContext, TypedCode, UserVerification,
    check_action_label,
};
use axum::Json;
use axum::extract::State;
use rand::Rng as _;
use rand::seq::SliceRandom as _;
use serde_json::{Map, Value};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::users::{MAX_USER_ID, person_name, user_id_from_path, user_not_found};
use super::{BackendCall, ok};
use crate::clock::rfc3339;
use crate::config::Limits;
use crate::defences::Guard;
use crate::error::{ApiError, ApiResult};
use crate::segment::Segment;
use crate::state::AppState;
use crate::store::{App, CreateRefusal, DecisionRecord, NewRequest, StoredReceipt, StoredRequest};
use assent_protocol::params::{Params, as_unsigned, scalar_string};

fn param(field: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::param(message.into()).with_field(field, "is invalid")
}

/// Refuses relying-party text a person will read when it carries control or bidirectional
/// characters (see `assent_protocol::text`).
fn check_text(field: &'static str, what: &str, text: &str) -> Result<(), ApiError> {
    match assent_protocol::text::find_unsafe(text) {
        None => Ok(()),
        Some((at, c)) => Err(param(
            field,
            format!(
                "{what} contains a control or bidirectional character (U+{:04X} at position {at}); people would not see what you sent.",
                c as u32
            ),
        )),
    }
}

/// Reads `details` or `hidden_details`: names to text, in the order given.
fn detail_map(
    raw: Map<String, Value>,
    field: &'static str,
    limits: &Limits,
) -> Result<Map<String, Value>, ApiError> {
    if raw.len() > limits.max_detail_fields {
        return Err(param(
            field,
            format!(
                "{field} may have at most {} entries.",
                limits.max_detail_fields
            ),
        ));
    }
    let mut out = Map::with_capacity(raw.len());
    for (label, value) in raw {
        let label = label.trim().to_owned();
        if label.is_empty() || label.chars().count() > limits.max_detail_label_chars {
            return Err(param(
                field,
                format!(
                    "{field} names must be 1 to {} characters.",
                    limits.max_detail_label_chars
                ),
            ));
        }
        let Some(text) = (match &value {
            Value::Bool(b) => Some(b.to_string()),
            Value::Null => Some(String::new()),
            other => scalar_string(other),
        }) else {
            return Err(param(field, format!("{field}[{label}] must be text.")));
        };
        if text.chars().count() > limits.max_detail_value_chars {
            return Err(param(
                field,
                format!(
                    "{field}[{label}] is longer than {} characters.",
                    limits.max_detail_value_chars
                ),
            ));
        }
        check_text(field, &format!("{field} name {label:?}"), &label)?;
        check_text(field, &format!("{field}[{label}]"), &text)?;
        out.insert(label, Value::String(text));
    }
    Ok(out)
}

fn parse_logos(raw: Vec<Value>, limits: &Limits) -> Result<Vec<Logo>, ApiError> {
    if raw.len() > limits.max_logos {
        return Err(param(
            "logos",
            format!("logos may have at most {} entries.", limits.max_logos),
        ));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, item)| {
            let item = Params::parse(None, Some("application/json"), item.to_string().as_bytes())
                .map_err(|_| {
                param(
                    "logos",
                    format!("logos[{i}] must be an object with res and url."),
                )
            })?;
            let res = item.string("res")?.unwrap_or_else(|| "default".into());
            let res = LogoResolution::parse(&res).ok_or_else(|| {
                param(
                    "logos",
                    format!("logos[{i}].res must be one of default, low, med, high."),
                )
            })?;
            let url = item
                .string("url")?
                .map(|u| u.trim().to_owned())
                .unwrap_or_default();
            if url.len() > limits.max_logo_url_len {
                return Err(param(
                    "logos",
                    format!(
                        "logos[{i}].url must be at most {} bytes.",
                        limits.max_logo_url_len
                    ),
                ));
            }
            let url = crate::admin::check_logo_url(&url)
                .map_err(|problem| param("logos", format!("logos[{i}].url {problem}.")))?;
            Ok(Logo { res, url })
        })
        .collect()
}

fn parse_requester(raw: &Params, limits: &Limits) -> Result<Option<RequesterContext>, ApiError> {
    let field = |name: &str| -> Result<Option<String>, ApiError> {
        let value = raw
            .string(name)?
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty());
        if let Some(v) = &value {
            check_text("requester", &format!("requester[{name}]"), v)?;
        }
        if value
            .as_ref()
            .is_some_and(|v| v.chars().count() > limits.max_requester_field_chars)
        {
            return Err(param(
                "requester",
                format!(
                    "requester[{name}] is longer than {} characters.",
                    limits.max_requester_field_chars
                ),
            ));
        }
        Ok(value)
    };
    let context = RequesterContext {
        ip: field("ip")?,
        location: field("location")?,
        user_agent: field("user_agent")?,
    };
    Ok((!context.is_empty()).then_some(context))
}

/// Lifetime of a `sign_in` request created without `seconds_to_expire`: a sign-in page waits
/// minutes, not the day other requests get by default, and a stale sign-in left on a screen is
/// one a person might approve by mistake.
pub const SIGN_IN_SECONDS_TO_EXPIRE: u64 = 300;

/// `kind` and `action_label`, checked.
fn parse_kind_and_label(p: &Params) -> Result<(Option<RequestKind>, Option<String>), ApiError> {
    let kind = match p.string("kind")? {
        None => None,
        Some(raw) => Some(
            RequestKind::parse(raw.trim())
                .ok_or_else(|| param("kind", "kind must be `sign_in` or `action`."))?,
        ),
    };
    let label = match p.string("action_label")? {
        None => None,
        Some(raw) => {
            let label = raw.trim().to_owned();
            if label.chars().count() > MAX_ACTION_LABEL_CHARS {
                return Err(param(
                    "action_label",
                    format!(
                        "action_label must be at most {MAX_ACTION_LABEL_CHARS} characters (it is put on the Approve button)."
                    ),
                ));
            }
            check_text("action_label", "action_label", &label)?;
            check_action_label(&label)
                .map_err(|_| param("action_label", "action_label must not be empty."))?;
            Some(label)
        }
    };
    Ok((kind, label))
}

/// A number for the person to pick and three choices, shuffled, that include it.
fn number_choices() -> (u32, Vec<u32>) {
    let mut rng = rand::thread_rng();
    let number = rng.gen_range(10..=99);
    let mut choices = vec![number];
    while choices.len() < 3 {
        let decoy = rng.gen_range(10..=99);
        if !choices.contains(&decoy) {
            choices.push(decoy);
        }
    }
    choices.shuffle(&mut rng);
    (number, choices)
}

/// `POST /onetouch/json/users/{authy_id}/approval_requests`.
pub async fn create(
    State(state): State<AppState>,
    Segment(user): Segment,
    call: BackendCall,
) -> ApiResult<Json<ApprovalRequestCreated>> {
    let started = std::time::Instant::now();
    let shed_above = state.config.connections.shed_new_requests_above;
    if shed_above > 0 && state.metrics.calls_working() > shed_above {
        return Err(ApiError::new(
            ErrorCode::ServiceBusy,
            "The service is at capacity and takes no new approval requests for a moment; requests already sent are not affected. Retry shortly.",
        )
        .retry_after(1));
    }
    let now = state.now();
    let limits = &state.config.limits;
    let (app, p) = (&call.app, &call.params);
    let user_id = user_id_from_path(&user)?;
    let initiator = state
        .store
        .user(&app.id, user_id)
        .await?
        .ok_or_else(user_not_found)?;

    let message = p
        .string("message")?
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::param("message is required.").with_field("message", "is required")
        })?;
    if message.chars().count() > limits.max_message_chars {
        return Err(param(
            "message",
            format!(
                "message must be at most {} characters.",
                limits.max_message_chars
            ),
        ));
    }
    check_text("message", "message", &message)?;
    let details = detail_map(p.object("details")?, "details", limits)?;
    let hidden_details = detail_map(p.object("hidden_details")?, "hidden_details", limits)?;
    let logos = parse_logos(p.list("logos")?, limits)?;
    let (kind, action_label) = parse_kind_and_label(p)?;
    let seconds_to_expire = p.unsigned("seconds_to_expire")?.unwrap_or(match kind {
        Some(RequestKind::SignIn) => SIGN_IN_SECONDS_TO_EXPIRE,
        _ => state.config.default_seconds_to_expire,
    });
    if seconds_to_expire > limits.max_seconds_to_expire {
        return Err(param(
            "seconds_to_expire",
            format!(
                "seconds_to_expire must be at most {} (0 means never).",
                limits.max_seconds_to_expire
            ),
        ));
    }

    // Parsed and counted before any is looked up: a list of thousands costs one refusal, not
    // thousands of queries.
    let mut approvers = BTreeSet::from([user_id]);
    for (i, raw) in p.list("approvers")?.iter().enumerate() {
        let id = as_unsigned(raw)
            .filter(|id| (1..=MAX_USER_ID).contains(id))
            .ok_or_else(|| param("approvers", format!("approvers[{i}] must be a user id.")))?;
        approvers.insert(id);
        if approvers.len() > limits.max_approvers {
            return Err(param(
                "approvers",
                format!(
                    "A request may have at most {} approvers.",
                    limits.max_approvers
                ),
            ));
        }
    }
    let mut people: Vec<PersonName> = person_name(&initiator).into_iter().collect();
    for id in &approvers {
        if *id == user_id {
            continue;
        }
        let Some(approver) = state.store.user(&app.id, *id).await? else {
            return Err(ApiError::new(
                ErrorCode::UserNotFound,
                format!("Approver {id} is not a user of this app."),
            ));
        };
        people.extend(person_name(&approver));
    }
    people.sort_by_key(|p| p.user_id);
    let approvers: Vec<u64> = approvers.into_iter().collect();
    let quorum = p.unsigned("quorum")?.unwrap_or(1);
    if quorum == 0 || quorum > approvers.len() as u64 {
        return Err(param(
            "quorum",
            format!(
                "quorum must be between 1 and the number of approvers ({}).",
                approvers.len()
            ),
        ));
    }
    let quorum = quorum as u32;
    let number_matching = p.boolean("number_matching")?.unwrap_or(false);
    let matching = if number_matching {
        Some(parse_matching(p)?)
    } else {
        for field in ["number_matching_mode", "number_matching_digits"] {
            if p.string(field)?.is_some() {
                return Err(param(field, format!("{field} needs number_matching=true.")));
            }
        }
        None
    };
    let user_verification = match p.string("user_verification")?.as_deref() {
        None => app.defences.require_user_verification,
        Some("required") => true,
        Some("none") => false,
        Some(_) => {
            return Err(param(
                "user_verification",
                "user_verification must be `required` or `none`.",
            ));
        }
    };
    let allow_concurrent = p.boolean("allow_concurrent")?.unwrap_or(false);
    let requester = parse_requester(&p.nested("requester")?, limits)?;

    // Checked again, authoritatively, inside the creating transaction; here for an early,
    // cheap answer before anything is signed.
    let devices = state.store.active_devices(&approvers).await?;
    let enrolled = approvers
        .iter()
        .filter(|a| devices.iter().any(|d| d.user_id == **a))
        .count() as u32;
    if enrolled < quorum {
        return Err(no_devices(enrolled, quorum, &approvers));
    }

    let id = Uuid::new_v4();
    let expires_at = (seconds_to_expire > 0).then(|| now + seconds_to_expire as i64);
    let (number, choices, code) = match matching {
        Some(MatchingMode::Pick) => {
            let (number, choices) = number_choices();
            (Some(number), choices, None)
        }
        Some(MatchingMode::Typed(digits)) => (None, Vec::new(), Some(typed_code(digits))),
        None => (None, Vec::new(), None),
    };
    let typed = code
        .as_deref()
        .map(|code| TypedCode::bind(code, rand::thread_rng().r#gen()));
    let facts = RequestFacts {
        requests_last_hour: state
            .store
            .requests_since(user_id, now - 3600)
            .await?
            .saturating_add(1),
        // Compared as canonical addresses (an IPv4 client of a dual-stack listener is the same
        // address as its IPv4 form); a requester address that does not parse says nothing.
        same_network: requester
            .as_ref()
            .and_then(|r| r.ip.as_deref())
            .and_then(|ip| ip.trim().parse::<std::net::IpAddr>().ok())
            .map(|ip| {
                let ip = ip.to_canonical().to_string();
                devices
                    .iter()
                    .filter(|d| d.last_address.as_deref() == Some(ip.as_str()))
                    .map(|d| d.id)
                    .collect()
            }),
    };
    let shown_logos = if logos.is_empty() {
        app.logo_url
            .iter()
            .map(|url| Logo {
                res: LogoResolution::Default,
                url: url.clone(),
            })
            .collect()
    } else {
        logos.clone()
    };
    let canonical_request = RequestDetails {
        v: REQUEST_DETAILS_VERSION,
        id,
        app: AppBranding {
            id: app.id.clone(),
            name: app.name.clone(),
            accent_color: app.accent_color.clone(),
            logos: shown_logos,
        },
        user_id,
        message: message.clone(),
        details: details
            .iter()
            .map(|(label, value)| DetailField {
                label: label.clone(),
                value: value.as_str().unwrap_or_default().to_owned(),
            })
            .collect(),
        requester: requester.clone(),
        created_at: now,
        expires_at,
        number_matching: number_matching.then_some(NumberMatching {
            user_id,
            choices,
            typed: typed.clone(),
        }),
        approvers: approvers.clone(),
        quorum,
        user_verification: user_verification.then_some(UserVerification::Required),
        facts: Some(facts),
        kind,
        action_label,
        people,
    };
    let canonical = to_canonical_bytes(&canonical_request).map_err(|e| ApiError::internal(&e))?;
    let stored = StoredRequest {
        id,
        app_id: app.id.clone(),
        user_id,
        message,
        details,
        hidden_details,
        logos,
        requester,
        seconds_to_expire,
        created_at: now,
        expires_at,
        quorum,
        number,
        typed_code: typed,
        code_attempts: 0,
        user_verification,
        signature: crypto::sign_canonical(
            state.service_key.signing_key(),
            MessageKind::RequestDetails,
            &canonical,
        ),
        digest: crypto::digest(MessageKind::RequestDetails, &canonical),
        canonical,
        status: RequestStatus::Pending,
        reason: None,
        notified: false,
        processed_at: None,
        updated_at: now,
        approvers,
    };
    let new = NewRequest {
        request: stored.clone(),
        max_pending_per_user: limits.max_pending_per_user,
        defences: app.defences,
        allow_concurrent,
    };
    state.config.pause_points.at("create.before_write").await;
    if let Err(refusal) = state.store.create_request(new, now).await? {
        return Err(match refusal {
            CreateRefusal::UnknownUser(id) if id == user_id => user_not_found(),
            CreateRefusal::UnknownUser(id) => ApiError::new(
                ErrorCode::UserNotFound,
                format!("Approver {id} is not a user of this app."),
            ),
            CreateRefusal::TooFewDevices { enrolled, quorum } => {
                no_devices(enrolled, quorum, &stored.approvers)
            }
            CreateRefusal::Guarded(person, guard) => {
                guard_refusal(app, (person != user_id).then_some(person), guard, now)
            }
            CreateRefusal::TooManyPending(id) => ApiError::new(
                ErrorCode::TooManyPendingRequests,
                format!(
                    "User {id} already has {} requests waiting for them; wait for those to be answered or to expire.",
                    limits.max_pending_per_user
                ),
            ),
        });
    }
    if expires_at.is_some() {
        state.expiry_wake.notify_one();
    }
    state.announce_request(&stored, started).await;
    tracing::info!(request = %id, app = %app.id, user = user_id, quorum, number_matching, user_verification, kind = kind.map(RequestKind::as_str), "approval request created");
    Ok(ok(ApprovalRequestCreated {
        approval_request: CreatedApprovalRequest {
            uuid: id.to_string(),
            number,
            code,
        },
        success: true,
    }))
}

/// How the initiator proves they see the relying party's screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MatchingMode {
    /// Pick the number shown out of three.
    Pick,
    /// Type the code shown, this many digits long.
    Typed(u8),
}

/// Default length of a typed code: a blind guess with three tries wins 3 times in 10,000.
const DEFAULT_TYPED_DIGITS: u8 = 4;

fn parse_matching(p: &Params) -> Result<MatchingMode, ApiError> {
    let digits = p.unsigned("number_matching_digits")?;
    match p.string("number_matching_mode")?.as_deref() {
        Some("pick") if digits.is_some() => Err(param(
            "number_matching_digits",
            "number_matching_digits applies to the typed mode only.",
        )),
        Some("pick") => Ok(MatchingMode::Pick),
        None | Some("typed") => {
            let range = u64::from(MIN_TYPED_DIGITS)..=u64::from(MAX_TYPED_DIGITS);
            match digits {
                None => Ok(MatchingMode::Typed(DEFAULT_TYPED_DIGITS)),
                Some(d) if range.contains(&d) => Ok(MatchingMode::Typed(d as u8)),
                Some(_) => Err(param(
                    "number_matching_digits",
                    format!(
                        "number_matching_digits must be between {MIN_TYPED_DIGITS} and {MAX_TYPED_DIGITS}."
                    ),
                )),
            }
        }
        Some(_) => Err(param(
            "number_matching_mode",
            "number_matching_mode must be `typed` or `pick`.",
        )),
    }
}

/// A uniformly random code of `digits` digits (leading zeros included).
fn typed_code(digits: u8) -> String {
    let mut rng = rand::thread_rng();
    (0..digits)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect()
}

/// The answer to a create refused by a push-fatigue defence (for `approver`, when it is not
/// the person the request is for).
fn guard_refusal(app: &App, approver: Option<u64>, guard: Guard, now: i64) -> ApiError {
    let who = approver.map_or_else(|| "This person".to_owned(), |id| format!("Approver {id}"));
    let error = match guard {
        Guard::Frozen { until } => ApiError::new(
            ErrorCode::PersonFrozen,
            format!(
                "{who} reported a request from {} as not theirs; new requests naming them are refused until {} (or until an operator lifts the freeze).",
                app.name,
                rfc3339(until)
            ),
        ),
        Guard::BackingOff { until } => ApiError::new(
            ErrorCode::PersonBackingOff,
            format!(
                "{who} recently denied a request; new requests naming them are held back until {} (the wait doubles with each denial, up to an hour).",
                rfc3339(until)
            ),
        ),
        Guard::PendingExists { pending } => ApiError::new(
            ErrorCode::PendingRequestExists,
            format!(
                "This person already has {pending} request(s) from this app waiting; wait for an answer or the expiry, cancel it, or send allow_concurrent=true when several at once are intended."
            ),
        ),
    };
    match guard.retry_after(now) {
        Some(secs) => error.retry_after(secs as u64),
        None => error,
    }
}

fn no_devices(enrolled: u32, quorum: u32, approvers: &[u64]) -> ApiError {
    let message = if approvers.len() == 1 {
        "User has no enrolled device: enroll one with a registration token first.".to_owned()
    } else {
        format!(
            "Only {enrolled} of the approvers have an enrolled device, but the quorum is {quorum}."
        )
    };
    ApiError::new(ErrorCode::UnregisteredUser, message)
}

fn request_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::ApprovalRequestNotFound,
        "Approval request not found.",
    )
}

fn request_id_from_path(segment: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(segment).map_err(|_| request_not_found())
}

/// The status body of a request at `now`; `receipt` names its receipt (at `public_url`).
pub fn request_info(
    app: &App,
    request: &StoredRequest,
    decisions: &[DecisionRecord],
    receipt: Option<(&url::Url, &StoredReceipt)>,
    now: i64,
) -> ApprovalRequestInfo {
    let status = request.status_at(now);
    let processed_at = match (request.processed_at, status) {
        (Some(at), _) => Some(at),
        (None, RequestStatus::Expired) => request.expires_at,
        _ => None,
    };
    ApprovalRequestInfo {
        _app_name: app.name.clone(),
        _app_serial_id: app.serial_id,
        _authy_id: request.user_id,
        app_id: app.id.clone(),
        created_at: rfc3339(request.created_at),
        notified: request.notified,
        processed_at: processed_at.map(rfc3339),
        seconds_to_expire: request.seconds_to_expire,
        status,
        updated_at: rfc3339(
            processed_at
                .unwrap_or(request.updated_at)
                .max(request.updated_at),
        ),
        uuid: request.id.to_string(),
        quorum: request.quorum,
        approvers: request
            .approvers
            .iter()
            .map(|user| {
                let decision = decisions.iter().find(|d| d.user_id == *user);
                ApproverState {
                    authy_id: *user,
                    decision: decision.map(|d| d.outcome),
                    reason: decision.and_then(|d| d.reason),
                    decided_at: decision.map(|d| d.recorded_at),
                }
            })
            .collect(),
        reason: request.reason.clone(),
        receipt: receipt.map(|(public_url, stored)| ReceiptRef {
            url: crate::receipts::receipt_url(public_url, request.id),
            log_index: stored.log_index,
        }),
    }
}

/// `GET /onetouch/json/approval_requests/{uuid}`, with `?wait=SECONDS` to answer as soon as the
/// request is final (or when the wait ends).
pub async fn status(
    State(state): State<AppState>,
    Segment(uuid): Segment,
    mut call: BackendCall,
) -> ApiResult<Json<ApprovalRequestStatus>> {
    let id = request_id_from_path(&uuid)?;
    let wait = call
        .params
        .unsigned("wait")?
        .unwrap_or(0)
        .min(state.config.max_wait_secs);
    // Subscribe before reading, so a resolution between the read and the wait is not missed.
    let mut resolutions = state.hub.subscribe_resolved();
    let mut request = state
        .store
        .request(Some(&call.app.id), id)
        .await?
        .ok_or_else(request_not_found)?;
    let now = state.now();
    if wait > 0 && request.status_at(now) == RequestStatus::Pending {
        let mut budget = Duration::from_secs(wait);
        if let Some(at) = request.expires_at {
            // Wake at the deadline even if the sweeper is late.
            budget = budget.min(Duration::from_millis(
                ((at - now).max(0) as u64) * 1000 + 500,
            ));
        }
        let deadline = tokio::time::Instant::now() + budget;
        // Waiting for a person is not work: it must not count toward load shedding.
        call.working.stop();
        loop {
            tokio::select! {
                event = resolutions.recv() => match event {
                    Ok(resolved) if resolved.id == id => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => break,
                },
                () = tokio::time::sleep_until(deadline) => break,
                () = state.shutdown.cancelled() => break,
            }
        }
        request = state
            .store
            .request(Some(&call.app.id), id)
            .await?
            .ok_or_else(request_not_found)?;
    }
    let decisions = state.store.decisions(id).await?;
    let receipt = state.store.receipt(id).await?;
    Ok(ok(ApprovalRequestStatus {
        approval_request: request_info(
            &call.app,
            &request,
            &decisions,
            receipt.as_ref().map(|r| (&state.config.public_url, r)),
            state.now(),
        ),
        success: true,
    }))
}

/// `POST /onetouch/json/approval_requests/{uuid}/cancel` (extension): withdraws a pending request;
/// devices showing it are told.
pub async fn cancel(
    State(state): State<AppState>,
    Segment(uuid): Segment,
    call: BackendCall,
) -> ApiResult<Json<ApprovalRequestStatus>> {
    let id = request_id_from_path(&uuid)?;
    let now = state.now();
    let request = match state
        .store
        .cancel_request(&call.app.id, id, now)
        .await?
        .ok_or_else(request_not_found)?
    {
        Ok(request) => request,
        Err(status) => {
            return Err(ApiError::new(
                ErrorCode::RequestNotPending,
                format!("Approval request is no longer pending (it is {status})."),
            ));
        }
    };
    state
        .announce_resolved(id, RequestStatus::Cancelled, &request.approvers)
        .await;
    // The app may have asked for a callback on cancellation (written in the same transaction).
    state.outbox_wake.notify_one();
    let decisions = state.store.decisions(id).await?;
    Ok(ok(ApprovalRequestStatus {
        approval_request: request_info(&call.app, &request, &decisions, None, now),
        success: true,
    }))
}

/// `GET /protected/json/approval_requests/{uuid}/receipt` (extension): the receipt of an approved
/// or denied request with its inclusion proof in the approval log. The body is the receipt itself,
/// exactly its canonical bytes (no `success` wrapper), so it can be saved and verified as it is.
pub async fn receipt(
    State(state): State<AppState>,
    Segment(uuid): Segment,
    call: BackendCall,
) -> ApiResult<impl axum::response::IntoResponse> {
    let id = request_id_from_path(&uuid)?;
    let request = state
        .store
        .request(Some(&call.app.id), id)
        .await?
        .ok_or_else(request_not_found)?;
    let Some(stored) = state.store.receipt(id).await? else {
        let status = request.status_at(state.now());
        let message = match status {
            RequestStatus::Pending => {
                "This request is still pending: its receipt is issued once it is approved or denied.".to_owned()
            }
            RequestStatus::Approved | RequestStatus::Denied => format!(
                "This request was {status} while receipts were off (or before they existed): it has none."
            ),
            RequestStatus::Expired => {
                "This request expired: only approved and denied requests have receipts.".to_owned()
            }
            RequestStatus::Cancelled => {
                "This request was cancelled: only approved and denied requests have receipts."
                    .to_owned()
            }
        };
        return Err(ApiError::new(ErrorCode::ReceiptUnavailable, message));
    };
    let receipt = crate::receipts::with_inclusion(&state, &stored).await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        receipt.to_bytes(),
    ))
}
