//! How decisions resolve a request. Pure functions, shared by every store engine: an engine
//! loads a [`DecisionContext`] inside its transaction, calls [`judge`], and writes the
//! [`DecisionEffects`].
//!
//! - Nothing from a revoked device or a deleted person is accepted, however early its call
//!   started: the device and person are judged as they are when the decision is written. Nothing
//!   from a device without a service-signed enrollment record is accepted either.
//! - Approved once `quorum` distinct approvers approved.
//! - Denied as soon as one approver denies (a veto), or when the person who must match a number
//!   picks the wrong one (pick mode) or types a wrong code for the third time (typed mode; the
//!   first two wrong codes are counted and refused, and the request stays pending).
//! - An approval of a request that requires user verification must name a method other than
//!   `none`; one that does not is refused and nothing is written (the person can still deny).
//! - A person decides once: the same decision again is a harmless duplicate (a retry after a lost
//!   response); a different one is refused.
//! - Nothing is accepted once the request is final or past its deadline.

use std::collections::BTreeSet;

use assent_protocol::decision::{DenyReason, Outcome, VerificationMethod};
use assent_protocol::request::{RequestStatus, TYPED_CODE_ATTEMPTS, TypedCode};

use crate::store::{
    DecisionContext, DecisionEffects, DecisionRecord, DecisionResult, StoredRequest,
};

/// Deny reason recorded when number matching failed.
pub const WRONG_NUMBER_REASON: &str = "wrong_number";

/// The request facts a decision is judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestState {
    /// Stored status.
    pub status: RequestStatus,
    /// Deadline (`None` = never).
    pub expires_at: Option<i64>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// With number matching: how, and who must match.
    pub matching: Option<Matching>,
    /// Approvals must name a verification method other than `none`.
    pub verification_required: bool,
}

/// Number matching as a decision is judged against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matching {
    /// Pick one of three: `number` is right.
    Pick {
        /// The right number.
        number: u32,
        /// Who must pick.
        picker: u64,
    },
    /// Type the code the relying party shows.
    Typed {
        /// The code's salted hash.
        code: TypedCode,
        /// Who must type.
        picker: u64,
        /// Wrong codes typed so far.
        attempts: u32,
    },
}

impl Matching {
    /// The number matching `request` asks for: typed when it has a typed code (whatever its
    /// number column says), else pick when it has a number; the initiator matches.
    pub fn of(request: &StoredRequest) -> Option<Matching> {
        match (&request.typed_code, request.number) {
            (Some(code), _) => Some(Matching::Typed {
                code: code.clone(),
                picker: request.user_id,
                attempts: request.code_attempts,
            }),
            (None, Some(number)) => Some(Matching::Pick {
                number,
                picker: request.user_id,
            }),
            (None, None) => None,
        }
    }
}

/// One decision, as far as resolution cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    /// Who decided.
    pub user_id: u64,
    /// Approve or deny.
    pub outcome: Outcome,
    /// Deny reason.
    pub reason: Option<DenyReason>,
    /// Number picked.
    pub number: Option<u32>,
    /// Code typed.
    pub code: Option<String>,
    /// How the person was verified.
    pub verification: Option<VerificationMethod>,
}

/// Why a decision is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The device was revoked (or its person deleted) before the decision could be written.
    DeviceRevoked,
    /// The device has no service-signed enrollment record (a row written behind the service's
    /// back): nothing it signs can go into a receipt.
    NotEnrolled,
    /// The request is final (or past its deadline: then `Expired`).
    NotPending(RequestStatus),
    /// This person already decided differently.
    AlreadyDecided,
    /// Number matching failed. The decision is still recorded and the request denied.
    WrongNumber,
    /// A wrong typed code with `left` tries left: counted, nothing else written.
    WrongCode {
        /// Tries left.
        left: u32,
    },
    /// The request requires user verification and this approval names none.
    VerificationRequired,
}

/// What to do with an incoming decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Write the decision; the request moves to `status` (with `reason` when denied).
    Record {
        /// Status after the decision.
        status: RequestStatus,
        /// Deny reason to store on the request.
        reason: Option<String>,
    },
    /// Already recorded; write nothing.
    Duplicate,
    /// Number matching failed: write the decision, deny the request with `wrong_number`, and
    /// answer with [`Refusal::WrongNumber`].
    RecordWrongNumber,
    /// A wrong typed code with tries left: count it and answer [`Refusal::WrongCode`].
    CountWrongCode {
        /// Tries left after this one.
        left: u32,
    },
    /// Refuse. `expire` when the request must be marked expired now.
    Refuse {
        /// Why.
        refusal: Refusal,
        /// True when the stored status is pending but the deadline has passed.
        expire: bool,
    },
}

/// The status implied by a set of votes (one per person).
pub fn verdict(quorum: u32, votes: &[Vote]) -> (RequestStatus, Option<String>) {
    if let Some(deny) = votes.iter().find(|v| v.outcome == Outcome::Deny) {
        return (
            RequestStatus::Denied,
            deny.reason.map(|r| r.as_str().to_owned()),
        );
    }
    let approvers: BTreeSet<u64> = votes
        .iter()
        .filter(|v| v.outcome == Outcome::Approve)
        .map(|v| v.user_id)
        .collect();
    if approvers.len() as u64 >= u64::from(quorum) {
        (RequestStatus::Approved, None)
    } else {
        (RequestStatus::Pending, None)
    }
}

/// Decides what to do with `incoming`, given the request and the votes already recorded.
pub fn plan(request: &RequestState, recorded: &[Vote], incoming: &Vote, now: i64) -> Plan {
    // Duplicates first: a retry of a decision that made the request final must still succeed.
    if let Some(previous) = recorded.iter().find(|v| v.user_id == incoming.user_id) {
        return if previous == incoming {
            Plan::Duplicate
        } else {
            Plan::Refuse {
                refusal: Refusal::AlreadyDecided,
                expire: false,
            }
        };
    }
    if request.status != RequestStatus::Pending {
        return Plan::Refuse {
            refusal: Refusal::NotPending(request.status),
            expire: false,
        };
    }
    if request.expires_at.is_some_and(|at| now >= at) {
        return Plan::Refuse {
            refusal: Refusal::NotPending(RequestStatus::Expired),
            expire: true,
        };
    }
    if incoming.outcome == Outcome::Approve {
        let verified = incoming
            .verification
            .is_some_and(|m| m != VerificationMethod::None);
        if request.verification_required && !verified {
            return Plan::Refuse {
                refusal: Refusal::VerificationRequired,
                expire: false,
            };
        }
        match &request.matching {
            Some(Matching::Pick { number, picker })
                if incoming.user_id == *picker && incoming.number != Some(*number) =>
            {
                return Plan::RecordWrongNumber;
            }
            Some(Matching::Typed {
                code,
                picker,
                attempts,
            }) if incoming.user_id == *picker
                && !incoming.code.as_deref().is_some_and(|c| code.matches(c)) =>
            {
                let used = attempts + 1;
                return if used >= TYPED_CODE_ATTEMPTS {
                    Plan::RecordWrongNumber
                } else {
                    Plan::CountWrongCode {
                        left: TYPED_CODE_ATTEMPTS - used,
                    }
                };
            }
            _ => {}
        }
    }
    let mut votes = recorded.to_vec();
    votes.push(incoming.clone());
    let (status, reason) = verdict(request.quorum, &votes);
    Plan::Record { status, reason }
}

impl From<&DecisionRecord> for Vote {
    fn from(d: &DecisionRecord) -> Self {
        Vote {
            user_id: d.user_id,
            outcome: d.outcome,
            reason: d.reason,
            number: d.number,
            code: d.code.clone(),
            verification: d.verification,
        }
    }
}

/// Judges `incoming` against `ctx` at `now`: what to answer and what to write. When the request
/// becomes final and its app has a callback URL, the effects carry the callback payload.
pub fn judge(ctx: &DecisionContext, incoming: &DecisionRecord, now: i64) -> DecisionEffects {
    let refuse = |refusal, expire: bool| DecisionEffects {
        result: DecisionResult::Refused {
            refusal,
            expired_now: expire,
        },
        record: false,
        finalize: expire.then_some((RequestStatus::Expired, None)),
        callback: None,
        count_wrong_code: false,
        fraud_report: None,
    };
    if ctx.device.revoked_at.is_some() || !ctx.person_active {
        return refuse(Refusal::DeviceRevoked, false);
    }
    if !ctx.device_enrolled {
        return refuse(Refusal::NotEnrolled, false);
    }
    let request = &ctx.request;
    let state = RequestState {
        status: request.status,
        expires_at: request.expires_at,
        quorum: request.quorum,
        matching: Matching::of(request),
        verification_required: request.user_verification,
    };
    let recorded: Vec<Vote> = ctx.recorded.iter().map(Vote::from).collect();
    let (status, reason, result) = match plan(&state, &recorded, &Vote::from(incoming), now) {
        Plan::Duplicate => {
            return DecisionEffects {
                result: DecisionResult::Duplicate {
                    status: request.status_at(now),
                },
                record: false,
                finalize: None,
                callback: None,
                count_wrong_code: false,
                fraud_report: None,
            };
        }
        Plan::Refuse { refusal, expire } => return refuse(refusal, expire),
        Plan::CountWrongCode { left } => {
            return DecisionEffects {
                count_wrong_code: true,
                ..refuse(Refusal::WrongCode { left }, false)
            };
        }
        Plan::Record { status, reason } => (
            status,
            reason,
            DecisionResult::Recorded {
                status,
                resolved: status.is_final(),
                frozen_until: None,
            },
        ),
        Plan::RecordWrongNumber => (
            RequestStatus::Denied,
            Some(WRONG_NUMBER_REASON.to_owned()),
            DecisionResult::Refused {
                refusal: Refusal::WrongNumber,
                expired_now: false,
            },
        ),
    };
    let finalize = status.is_final().then(|| (status, reason.clone()));
    let callback = match (&finalize, &ctx.app.callback_url) {
        (Some(_), Some(_)) => Some(
            serde_json::to_value(crate::outbox::callback_payload(
                &ctx.app,
                request,
                &ctx.device,
                incoming,
                status,
                reason.as_deref(),
            ))
            .expect("callback payloads serialize"),
        ),
        _ => None,
    };
    // A "this wasn't me" that denied the request freezes the person who said it; the device
    // and the relying party are told the same end.
    let reported = status == RequestStatus::Denied
        && incoming.outcome == Outcome::Deny
        && incoming.reason == Some(DenyReason::NotMe);
    let frozen_until = reported
        .then(|| crate::defences::freeze_end(&ctx.app.defences, now))
        .flatten();
    let result = match result {
        DecisionResult::Recorded {
            status, resolved, ..
        } => DecisionResult::Recorded {
            status,
            resolved,
            frozen_until,
        },
        other => other,
    };
    let fraud_report = match &ctx.app.callback_url {
        Some(_) if reported => Some(
            serde_json::to_value(crate::outbox::fraud_reported_payload(
                &ctx.app,
                request,
                &ctx.device,
                incoming,
                frozen_until,
            ))
            .expect("callback payloads serialize"),
        ),
        _ => None,
    };
    DecisionEffects {
        result,
        record: true,
        finalize,
        callback,
        count_wrong_code: false,
        fraud_report,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(quorum: u32) -> RequestState {
        RequestState {
            status: RequestStatus::Pending,
            expires_at: Some(100),
            quorum,
            matching: None,
            verification_required: false,
        }
    }

    fn approve(user_id: u64) -> Vote {
        Vote {
            user_id,
            outcome: Outcome::Approve,
            reason: None,
            number: None,
            code: None,
            verification: None,
        }
    }

    fn deny(user_id: u64) -> Vote {
        Vote {
            user_id,
            outcome: Outcome::Deny,
            reason: Some(DenyReason::NotMe),
            number: None,
            code: None,
            verification: None,
        }
    }

    #[test]
    fn single_approval_approves_a_quorum_of_one() {
        assert_eq!(
            plan(&state(1), &[], &approve(1), 50),
            Plan::Record {
                status: RequestStatus::Approved,
                reason: None
            }
        );
    }

    #[test]
    fn two_of_three_needs_two_distinct_people() {
        let s = state(2);
        assert_eq!(
            plan(&s, &[], &approve(1), 50),
            Plan::Record {
                status: RequestStatus::Pending,
                reason: None
            }
        );
        assert_eq!(
            plan(&s, &[approve(1)], &approve(1), 50),
            Plan::Duplicate,
            "the same person approving twice must not count twice"
        );
        assert_eq!(
            plan(&s, &[approve(1)], &approve(2), 50),
            Plan::Record {
                status: RequestStatus::Approved,
                reason: None
            }
        );
    }

    #[test]
    fn one_denial_vetoes() {
        assert_eq!(
            plan(&state(2), &[approve(1)], &deny(2), 50),
            Plan::Record {
                status: RequestStatus::Denied,
                reason: Some("not_me".into())
            }
        );
    }

    #[test]
    fn changing_ones_mind_is_refused() {
        assert_eq!(
            plan(&state(2), &[approve(1)], &deny(1), 50),
            Plan::Refuse {
                refusal: Refusal::AlreadyDecided,
                expire: false
            }
        );
    }

    #[test]
    fn final_and_expired_requests_refuse() {
        let mut s = state(1);
        s.status = RequestStatus::Approved;
        assert_eq!(
            plan(&s, &[approve(1)], &approve(2), 50),
            Plan::Refuse {
                refusal: Refusal::NotPending(RequestStatus::Approved),
                expire: false
            }
        );
        assert_eq!(
            plan(&s, &[approve(1)], &approve(1), 50),
            Plan::Duplicate,
            "a retry after the final decision succeeds"
        );
        assert_eq!(
            plan(&state(1), &[], &approve(1), 100),
            Plan::Refuse {
                refusal: Refusal::NotPending(RequestStatus::Expired),
                expire: true
            },
            "at the deadline the request is expired"
        );
    }

    #[test]
    fn number_matching_applies_to_the_picker_only() {
        let mut s = state(2);
        s.matching = Some(Matching::Pick {
            number: 42,
            picker: 1,
        });
        let mut right = approve(1);
        right.number = Some(42);
        let mut wrong = approve(1);
        wrong.number = Some(41);
        assert_eq!(plan(&s, &[], &wrong, 50), Plan::RecordWrongNumber);
        assert_eq!(
            plan(&s, &[], &right, 50),
            Plan::Record {
                status: RequestStatus::Pending,
                reason: None
            }
        );
        assert_eq!(
            plan(&s, &[right], &approve(2), 50),
            Plan::Record {
                status: RequestStatus::Approved,
                reason: None
            },
            "the second approver needs no number"
        );
        assert_eq!(
            plan(&s, &[], &deny(1), 50),
            Plan::Record {
                status: RequestStatus::Denied,
                reason: Some("not_me".into())
            },
            "denying needs no number"
        );
    }

    #[test]
    fn typed_codes_allow_three_tries_and_the_third_wrong_one_denies() {
        let mut s = state(1);
        let code = TypedCode::bind("0427", [7; 16]);
        let typed = |attempts| Matching::Typed {
            code: code.clone(),
            picker: 1,
            attempts,
        };
        let with = |c: Option<&str>| Vote {
            code: c.map(str::to_owned),
            ..approve(1)
        };
        s.matching = Some(typed(0));
        assert_eq!(
            plan(&s, &[], &with(Some("0427")), 50),
            Plan::Record {
                status: RequestStatus::Approved,
                reason: None
            }
        );
        assert_eq!(
            plan(&s, &[], &with(Some("427")), 50),
            Plan::CountWrongCode { left: 2 },
            "leading zeros are part of the code"
        );
        assert_eq!(
            plan(&s, &[], &with(None), 50),
            Plan::CountWrongCode { left: 2 },
            "an approval without a code is a wrong try"
        );
        s.matching = Some(typed(1));
        assert_eq!(
            plan(&s, &[], &with(Some("1111")), 50),
            Plan::CountWrongCode { left: 1 }
        );
        s.matching = Some(typed(2));
        assert_eq!(
            plan(&s, &[], &with(Some("1111")), 50),
            Plan::RecordWrongNumber
        );
        assert_eq!(
            plan(&s, &[], &deny(1), 50),
            Plan::Record {
                status: RequestStatus::Denied,
                reason: Some("not_me".into())
            },
            "denying needs no code"
        );
    }

    #[test]
    fn required_verification_refuses_an_unverified_approval_only() {
        let mut s = state(1);
        s.verification_required = true;
        let refused = Plan::Refuse {
            refusal: Refusal::VerificationRequired,
            expire: false,
        };
        assert_eq!(plan(&s, &[], &approve(1), 50), refused);
        let none = Vote {
            verification: Some(VerificationMethod::None),
            ..approve(1)
        };
        assert_eq!(
            plan(&s, &[], &none, 50),
            refused,
            "`none` is no verification"
        );
        let password = Vote {
            verification: Some(VerificationMethod::OsPassword),
            ..approve(1)
        };
        assert!(matches!(plan(&s, &[], &password, 50), Plan::Record { .. }));
        assert!(
            matches!(plan(&s, &[], &deny(1), 50), Plan::Record { .. }),
            "a denial never needs verification"
        );
    }
}
