//! Requests as a device sees them: the pending list, signed details, decisions; and a device
//! removing itself.

use assent_protocol::backend::Done;
use assent_protocol::decision::{Decision, DecisionReceipt, DenyReason, Outcome};
use assent_protocol::error::ErrorCode;
use assent_protocol::request::{DeviceRequest, PendingRequests, RecordedAnswer, RequestStatus};
use assent_protocol::signed::{Signed, VerifyError};
use axum::Json;
use axum::extract::State;
use std::sync::atomic::Ordering;

use uuid::Uuid;

use super::DeviceCall;
use crate::error::{ApiError, ApiResult};
use crate::resolution::{Matching, Refusal};
use crate::segment::Segment;
use crate::state::AppState;
use crate::store::{DecisionRecord, DecisionResult, Device, StoredRequest};

fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::ApprovalRequestNotFound,
        "Approval request not found.",
    )
}

/// Loads a request this device's person may see. Requests of other apps or people are "not
/// found", so a device learns nothing about them.
async fn visible_request(
    state: &AppState,
    device: &Device,
    id: &str,
) -> Result<StoredRequest, ApiError> {
    let id = Uuid::try_parse(id).map_err(|_| not_found())?;
    state
        .store
        .request(Some(&device.app_id), id)
        .await?
        .ok_or_else(not_found)
}

/// `GET /device/v1/requests`: requests waiting for this device's person.
pub async fn pending(
    State(state): State<AppState>,
    call: DeviceCall,
) -> ApiResult<Json<PendingRequests>> {
    let ids = state
        .store
        .pending_for_user(call.device.user_id, call.now)
        .await?;
    Ok(Json(PendingRequests { ids }))
}

/// `GET /device/v1/requests/{id}`: the service-signed canonical request and its status.
pub async fn details(
    State(state): State<AppState>,
    Segment(id): Segment,
    call: DeviceCall,
) -> ApiResult<Json<DeviceRequest>> {
    let request = visible_request(&state, &call.device, &id).await?;
    if !request.approvers.contains(&call.device.user_id) {
        return Err(not_found());
    }
    let payload = serde_json::from_slice(&request.canonical).map_err(|e| ApiError::internal(&e))?;
    // Only a request with several approvers has answers another approver needs to see.
    let answers = if request.approvers.len() > 1 {
        let mut answers: Vec<RecordedAnswer> = state
            .store
            .decisions(request.id)
            .await?
            .iter()
            .map(|d| RecordedAnswer {
                user_id: d.user_id,
                outcome: d.outcome,
            })
            .collect();
        answers.sort_by_key(|a| a.user_id);
        answers.dedup_by_key(|a| a.user_id);
        answers
    } else {
        Vec::new()
    };
    Ok(Json(DeviceRequest {
        request: Signed::from_parts(payload, request.signature),
        status: request.status_at(call.now),
        answers,
    }))
}

/// `POST /device/v1/requests/{id}/decision`: a signed approve or deny. See `docs/protocol.md`
/// for the checks and their order.
pub async fn decide(
    State(state): State<AppState>,
    Segment(id): Segment,
    call: DeviceCall,
) -> ApiResult<Json<DecisionReceipt>> {
    let device = &call.device;
    let signed: Signed<Decision> = serde_json::from_slice(&call.body).map_err(|e| {
        ApiError::bad_request(format!(
            "The decision is not a signed decision envelope: {e}."
        ))
    })?;
    let request = visible_request(&state, device, &id).await?;
    if !request.approvers.contains(&device.user_id) {
        return Err(ApiError::new(
            ErrorCode::NotAnApprover,
            "This device's person is not an approver of this request.",
        ));
    }
    let verified = signed.verify(&device.public_key).map_err(|e| match e {
        VerifyError::Malformed(m) => {
            ApiError::bad_request(format!("The signed decision is not valid: {m}."))
        }
        _ => ApiError::new(
            ErrorCode::InvalidSignature,
            "The decision signature does not verify for this device.",
        ),
    })?;
    let decision = verified.message;
    decision
        .check_shape()
        .map_err(|e| ApiError::param(format!("Invalid decision: {e}.")))?;
    // The body may have arrived long after the headers were checked: judge it at the time it is
    // written, and bound the time the device claims by the same window as a call's `ts`.
    let now = state.now();
    let skew = state.config.max_clock_skew_secs;
    if decision.signed_at.abs_diff(now) > skew {
        return Err(ApiError::new(
            ErrorCode::ClockSkew,
            format!(
                "The decision's signed_at is more than {skew} seconds from the service clock. Check this computer's clock (for example, enable automatic time)."
            ),
        ));
    }
    if decision.request_id != request.id || decision.device_id != device.id {
        return Err(ApiError::param(
            "The decision names another request or device than this call.",
        ));
    }
    if decision.request_digest != hex::encode(request.digest) {
        return Err(ApiError::new(
            ErrorCode::DigestMismatch,
            "The decision signs a different request than the one on record; fetch the request again.",
        ));
    }
    // The person who must match answers in their mode; an incomplete answer costs no try.
    let incomplete = match Matching::of(&request) {
        _ if decision.outcome != Outcome::Approve => None,
        Some(Matching::Pick { picker, .. })
            if picker == device.user_id && decision.number.is_none() =>
        {
            Some(("number", "the number shown"))
        }
        Some(Matching::Typed { picker, .. })
            if picker == device.user_id
                && (decision.code.is_none() || decision.number.is_some()) =>
        {
            Some(("code", "the code shown, typed"))
        }
        _ => None,
    };
    if let Some((field, answer)) = incomplete {
        return Err(ApiError::param(format!(
            "This request uses number matching: approve with {answer}."
        ))
        .with_field(field, "is required"));
    }
    let record = DecisionRecord {
        request_id: request.id,
        user_id: device.user_id,
        device_id: device.id,
        outcome: decision.outcome,
        reason: decision.reason,
        number: decision.number,
        code: decision.code.clone(),
        verification: decision.verification,
        signed_at: decision.signed_at,
        payload: verified.canonical,
        signature: *signed.signature(),
        recorded_at: now,
    };
    let result = state
        .store
        .record_decision(record, &state.notary, now)
        .await?;
    tracing::info!(request = %request.id, device = %device.id, outcome = ?decision.outcome, result = ?result, "decision");
    match result {
        DecisionResult::Recorded {
            status,
            resolved,
            frozen_until,
        } => {
            if resolved {
                state.outbox_wake.notify_one();
                state
                    .announce_resolved(request.id, status, &request.approvers)
                    .await;
            } else if request.approvers.len() > 1 {
                // Still waiting on others: every approver's devices show who answered.
                state
                    .announce_answered(request.id, &request.approvers)
                    .await;
            }
            if status == RequestStatus::Denied && decision.reason == Some(DenyReason::NotMe) {
                state.metrics.fraud_reports.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(request = %request.id, app = %request.app_id, user = device.user_id, frozen_until, "fraud reported: this wasn't me");
            }
            Ok(Json(DecisionReceipt {
                success: true,
                status,
                duplicate: false,
                frozen_until,
            }))
        }
        DecisionResult::Duplicate { status } => Ok(Json(DecisionReceipt {
            success: true,
            status,
            duplicate: true,
            frozen_until: None,
        })),
        DecisionResult::Refused {
            refusal,
            expired_now,
        } => {
            if expired_now {
                state
                    .announce_resolved(request.id, RequestStatus::Expired, &request.approvers)
                    .await;
            }
            Err(match refusal {
                Refusal::DeviceRevoked => ApiError::device_revoked(
                    state
                        .service_key
                        .revocation_notice(call.device.id, call.now),
                ),
                Refusal::NotEnrolled => ApiError::new(
                    ErrorCode::DeviceNotFound,
                    "This device has no enrollment record signed by the service, so its decisions cannot be proven; enroll it again.",
                ),
                Refusal::NotPending(status) => ApiError::new(
                    ErrorCode::RequestNotPending,
                    format!("This request is no longer pending (it is {status})."),
                ),
                Refusal::AlreadyDecided => ApiError::new(
                    ErrorCode::AlreadyDecided,
                    "You already answered this request differently.",
                ),
                Refusal::WrongNumber => {
                    state.outbox_wake.notify_one();
                    state
                        .announce_resolved(request.id, RequestStatus::Denied, &request.approvers)
                        .await;
                    ApiError::new(
                        ErrorCode::WrongNumber,
                        if request.typed_code.is_some() {
                            "That is not the code shown, for the third time; the request was denied for your safety."
                        } else {
                            "That is not the number shown; the request was denied for your safety."
                        },
                    )
                }
                Refusal::WrongCode { left } => ApiError::new(
                    ErrorCode::WrongCode,
                    format!(
                        "That is not the code shown. {left} {} left; after that the request is denied.",
                        if left == 1 { "try" } else { "tries" }
                    ),
                ),
                Refusal::VerificationRequired => ApiError::new(
                    ErrorCode::UserVerificationRequired,
                    "This request requires you to confirm it is you (your system password or biometrics) before approving; nothing was recorded.",
                ),
            })
        }
    }
}

/// `DELETE /device/v1/device`: the device revokes itself (the person removed the account).
pub async fn remove_self(State(state): State<AppState>, call: DeviceCall) -> ApiResult<Json<Done>> {
    state
        .store
        .revoke_device(None, call.device.id, call.now)
        .await?;
    state.announce_revoked(&call.device).await;
    tracing::info!(device = %call.device.id, "device removed itself");
    Ok(Json(Done {
        message: "Device removed.".into(),
        success: true,
    }))
}
