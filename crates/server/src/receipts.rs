//! Receipts, service side: issued by the store inside the transaction that makes a request
//! approved or denied, and handed out (to the backend API and in callbacks) with an inclusion proof
//! against a checkpoint that covers them.
//!
//! The receipt is assembled from what the database holds (the canonical request and its
//! signature, each decision as its device signed it, each device's enrollment record) and checked
//! exactly as `assent receipt verify` would check it before it is countersigned
//! ([`assent_protocol::receipt::ReceiptContent::countersign`]): a decision written into the
//! database by hand, without its device's signature, makes issuance fail, so the service never
//! countersigns it.

use assent_protocol::approval_log::hashes_hex;
use assent_protocol::receipt::{Inclusion, Receipt, ReceiptContent, ReceiptDecision};
use assent_protocol::request::RequestStatus;
use assent_protocol::signed::Signed;
use rand::RngCore as _;
use rand::rngs::OsRng;

use crate::approval_log::LogError;
use crate::notary::{IssuedReceipt, Notary};
use crate::state::AppState;
use crate::store::{DecisionRecord, StoreError, StoredEnrollment, StoredReceipt, StoredRequest};

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// True when a request reaching `status` gets a receipt.
pub fn due(notary: &Notary, status: RequestStatus) -> bool {
    notary.issues_receipts() && matches!(status, RequestStatus::Approved | RequestStatus::Denied)
}

/// Issues the receipt of `request`, settled as `status` (with `reason`) by `decisions` (every one
/// recorded, the settling one included), whose devices' records are `records`, as log entry
/// `log_index`.
///
/// # Errors
/// [`StoreError::Corrupt`] when the stored data does not verify (a decision, request or record
/// written or changed behind the service's back): no receipt is countersigned.
#[allow(clippy::too_many_arguments)]
pub fn issue(
    notary: &Notary,
    request: &StoredRequest,
    decisions: &[DecisionRecord],
    records: &[StoredEnrollment],
    status: RequestStatus,
    reason: Option<&str>,
    log_index: u64,
    now: i64,
) -> Result<IssuedReceipt, StoreError> {
    let mut ordered: Vec<&DecisionRecord> = decisions.iter().collect();
    ordered.sort_by_key(|d| (d.recorded_at, d.user_id));
    let decisions = ordered
        .into_iter()
        .map(|d| {
            let record = records
                .iter()
                .find(|r| r.device_id == d.device_id)
                .ok_or_else(|| {
                    corrupt(format!("device {} has no enrollment record", d.device_id))
                })?;
            Ok(ReceiptDecision {
                decision: Signed::from_parts(
                    serde_json::from_slice(&d.payload).map_err(corrupt)?,
                    d.signature,
                ),
                enrollment: Signed::from_parts(
                    serde_json::from_slice(&record.record).map_err(corrupt)?,
                    record.signature,
                ),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let mut salt = [0u8; 32];
    OsRng.fill_bytes(&mut salt);
    let content = ReceiptContent {
        request: Signed::from_parts(
            serde_json::from_slice(&request.canonical).map_err(corrupt)?,
            request.signature,
        ),
        status,
        reason: reason.map(str::to_owned),
        decisions,
        salt,
        log_index,
    };
    notary.receipt(content, now).map_err(|e| {
        tracing::error!(request = %request.id, error = %e, "refusing to countersign a receipt over data that does not verify");
        corrupt(format!("no receipt can be issued for request {}: {e}", request.id))
    })
}

/// The stored receipt with its inclusion proof against a checkpoint covering it (signed now when
/// none does yet): the bytes handed to a relying party.
///
/// # Errors
/// [`LogError`] when the log cannot prove it (its history was rewritten, the database failed).
pub async fn with_inclusion(state: &AppState, stored: &StoredReceipt) -> Result<Receipt, LogError> {
    let store = state.store.as_ref();
    let checkpoint = state
        .log
        .checkpoint(store, &state.notary, stored.log_index + 1, state.now())
        .await?;
    let proof = state
        .log
        .inclusion_proof(store, stored.log_index, checkpoint.size)
        .await?;
    let mut receipt = Receipt::parse(&stored.receipt)
        .map_err(|e| StoreError::Corrupt(format!("a stored receipt does not read back: {e}")))?;
    receipt.inclusion = Some(Inclusion {
        checkpoint: checkpoint.note,
        proof: hashes_hex(&proof),
    });
    Ok(receipt)
}

/// The backend API path of a request's receipt.
pub fn receipt_path(request: uuid::Uuid) -> String {
    format!("/protected/json/approval_requests/{request}/receipt")
}

/// The full URL of a request's receipt at the service's public URL (fetched with the API key).
pub fn receipt_url(public_url: &url::Url, request: uuid::Uuid) -> String {
    format!(
        "{}{}",
        public_url.as_str().trim_end_matches('/'),
        receipt_path(request)
    )
}
