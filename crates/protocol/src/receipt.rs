//! Approval receipts and the entries of the approval log.
//!
//! A **receipt** proves, to anyone holding the service's public key and nothing else, what was
//! decided about a request and by whom:
//!
//! - `request`: the canonical request details exactly as the service signed them and the devices
//!   showed them (hidden details are never in them), with the service's signature;
//! - `decisions`: every decision, as its device signed it, each with the service's signed
//!   **enrollment record** of that device (which key is which device of which person of which app,
//!   since when);
//! - `status` (`approved` or `denied`) and the deny `reason`, which the decisions must imply;
//! - `salt`, `log_index`, `countersigned_at` and the service's **countersignature** over all of the
//!   above;
//! - `inclusion`: a signed checkpoint of the approval log and the proof that this receipt's entry
//!   is in it.
//!
//! A receipt is a canonical JSON document (RFC 8785): its bytes are exactly the canonical form of
//! its value (one trailing newline is tolerated). So any change to any byte either breaks the
//! JSON, breaks the canonical form, or changes a value that a signature, the countersignature or
//! the inclusion proof covers: [`verify_receipt`] names which.
//!
//! The log holds [`LogEntry`]s: one per enrollment (the signed record) and one per receipt (who
//! decided what, when, and a salted commitment to the request details, never the details). See
//! `docs/protocol.md` for the byte-level rules.

use std::collections::BTreeSet;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::approval_log::hash_from_hex;
use crate::canonical::{self, CanonicalError};
use crate::checkpoint::{Checkpoint, CheckpointError};
use crate::crypto::{self, MessageKind, PublicKey, Signature};
use crate::decision::{Decision, DenyReason, Outcome};
use crate::merkle::{self, Hash, ProofError};
use crate::request::{RequestDetails, RequestStatus};
use crate::signed::{Signed, SignedMessage, VerifyError};

/// Version of receipts, log entries and enrollment records.
pub const RECEIPT_VERSION: u32 = 1;
/// Largest receipt accepted (a receipt of ten approvers with full details is about 20 KiB).
pub const MAX_RECEIPT_BYTES: usize = 256 * 1024;
/// Domain tag of the details commitment in a log entry.
pub const COMMITMENT_TAG: &str = "assent/v1/details-commitment";
/// Deny reason of a request denied because the wrong number was picked.
pub const WRONG_NUMBER: &str = "wrong_number";

/// The service's record of an enrollment (signed as [`MessageKind::EnrollmentRecord`]): the key
/// `public_key` is device `device_id` of person `user_id` of app `app_id`, since `enrolled_at`.
/// Names and platforms are not in it: the log is public.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentRecord {
    /// Always [`RECEIPT_VERSION`].
    pub v: u32,
    /// The app the device was enrolled through.
    pub app_id: String,
    /// The person it approves for.
    pub user_id: u64,
    /// The device.
    pub device_id: Uuid,
    /// Its key.
    pub public_key: PublicKey,
    /// Unix seconds.
    pub enrolled_at: i64,
}

impl SignedMessage for EnrollmentRecord {
    const KIND: MessageKind = MessageKind::EnrollmentRecord;
}

/// One decision in a receipt: as its device signed it, with the device's enrollment record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptDecision {
    /// The decision and the device's signature.
    pub decision: Signed<Decision>,
    /// The service-signed record of the deciding device.
    pub enrollment: Signed<EnrollmentRecord>,
}

/// Where a receipt is in the log: a signed checkpoint and the inclusion proof of the receipt's
/// entry at `log_index`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inclusion {
    /// A checkpoint (C2SP signed note) of a tree containing the entry.
    pub checkpoint: String,
    /// The inclusion proof: hashes, lower-case hex.
    pub proof: Vec<String>,
}

/// A receipt. See the module documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Always [`RECEIPT_VERSION`].
    pub v: u32,
    /// The key of the deployment that issued it.
    pub service_key: PublicKey,
    /// The canonical request details and the service's signature.
    pub request: Signed<RequestDetails>,
    /// `approved` or `denied`.
    pub status: RequestStatus,
    /// The deny reason (`not_me`, `cancelled`, `wrong_number`), when denied with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Every decision recorded, in the order recorded.
    pub decisions: Vec<ReceiptDecision>,
    /// 32 random bytes, base64url: salts the details commitment in the log entry.
    pub salt: String,
    /// The receipt's entry in the log.
    pub log_index: u64,
    /// When the service countersigned, Unix seconds.
    pub countersigned_at: i64,
    /// The service's signature (kind [`MessageKind::Receipt`]) over the canonical form of every
    /// other member but `inclusion`.
    pub countersignature: Signature,
    /// Where the entry is in the log (added when the receipt is handed out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion: Option<Inclusion>,
}

/// The members of a receipt the countersignature does not cover.
const UNSIGNED_MEMBERS: [&str; 2] = ["countersignature", "inclusion"];

/// What kind of log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// A device was enrolled.
    Enrollment,
    /// A request was decided (a receipt was issued).
    Receipt,
}

/// The log entry of an enrollment: the signed record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentEntry {
    /// Always [`EntryKind::Enrollment`].
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// Always [`RECEIPT_VERSION`].
    pub v: u32,
    /// The service-signed record.
    pub enrollment: Signed<EnrollmentRecord>,
}

/// One decision as the log shows it: who, with which device and key, what, when. No digest and
/// no number: nothing that could confirm a guess of the details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryDecision {
    /// The deciding person.
    pub user_id: u64,
    /// The deciding device.
    pub device_id: Uuid,
    /// Its key.
    pub public_key: PublicKey,
    /// Approve or deny.
    pub outcome: Outcome,
    /// The deny reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DenyReason>,
    /// When the device signed, Unix seconds.
    pub signed_at: i64,
}

/// The log entry of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptEntry {
    /// Always [`EntryKind::Receipt`].
    #[serde(rename = "type")]
    pub kind: EntryKind,
    /// Always [`RECEIPT_VERSION`].
    pub v: u32,
    /// The request.
    pub request_id: Uuid,
    /// Its app.
    pub app_id: String,
    /// The person it was for.
    pub user_id: u64,
    /// `approved` or `denied`.
    pub status: RequestStatus,
    /// The deny reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `SHA-256(COMMITMENT_TAG || 0x00 || salt || canonical request details)`, lower-case hex.
    pub commitment: String,
    /// Every decision.
    pub decisions: Vec<EntryDecision>,
    /// When the receipt was countersigned.
    pub countersigned_at: i64,
}

/// A leaf of the approval log.
#[derive(Debug, Clone)]
pub enum LogEntry {
    /// A device was enrolled.
    Enrollment(EnrollmentEntry),
    /// A request was decided.
    Receipt(ReceiptEntry),
}

/// Why a log entry could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an approval log entry: {0}")]
pub struct EntryError(pub String);

impl LogEntry {
    /// The leaf bytes: the entry's canonical JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Entries hold strings, small integers and signed payloads that already canonicalized.
        match self {
            LogEntry::Enrollment(e) => canonical::to_canonical_bytes(e),
            LogEntry::Receipt(e) => canonical::to_canonical_bytes(e),
        }
        .expect("log entries canonicalize")
    }

    /// Reads leaf bytes: canonical JSON of a known kind and version. (Signatures inside are not
    /// checked here; a monitor checks what it relies on.)
    ///
    /// # Errors
    /// [`EntryError`] saying what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, EntryError> {
        let value = canonical_value(bytes).map_err(|e| EntryError(e.to_string()))?;
        let kind = value
            .get("type")
            .cloned()
            .map(serde_json::from_value::<EntryKind>)
            .transpose()
            .map_err(|e| EntryError(format!("unknown type: {e}")))?
            .ok_or_else(|| EntryError("no type".into()))?;
        let entry = match kind {
            EntryKind::Enrollment => serde_json::from_value(value).map(LogEntry::Enrollment),
            EntryKind::Receipt => serde_json::from_value(value).map(LogEntry::Receipt),
        }
        .map_err(|e| EntryError(e.to_string()))?;
        let version = match &entry {
            LogEntry::Enrollment(e) => e.v,
            LogEntry::Receipt(e) => e.v,
        };
        if version != RECEIPT_VERSION {
            return Err(EntryError(format!("unsupported version {version}")));
        }
        Ok(entry)
    }
}

/// Why a receipt did not verify. Each variant names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Larger than [`MAX_RECEIPT_BYTES`].
    #[error("the receipt is larger than {MAX_RECEIPT_BYTES} bytes")]
    TooLarge,
    /// Not JSON.
    #[error("the receipt is not JSON: {0}")]
    NotJson(String),
    /// Valid JSON, but not its canonical form: the bytes were changed after issuance.
    #[error(
        "the receipt is not in canonical form (RFC 8785): its bytes were changed after it was issued"
    )]
    NotCanonical,
    /// A member is missing, unknown or of the wrong type.
    #[error("the receipt is malformed: {0}")]
    Malformed(String),
    /// An unknown version.
    #[error("the receipt has unsupported version {0}")]
    Version(u32),
    /// Issued by another deployment.
    #[error("the receipt was issued by another deployment (service key {found}, not {expected})")]
    OtherDeployment {
        /// The key in the receipt.
        found: String,
        /// The key the verifier trusts.
        expected: String,
    },
    /// The request details do not carry a valid service signature.
    #[error("the request details do not verify against the service key: {0}")]
    RequestSignature(String),
    /// An enrollment record does not carry a valid service signature.
    #[error(
        "the enrollment record of decision {index} does not verify against the service key: {detail}"
    )]
    EnrollmentSignature {
        /// The decision's position (from 0).
        index: usize,
        /// What failed.
        detail: String,
    },
    /// A decision is not signed by the key its enrollment record names.
    #[error("decision {index} is not signed by the device key of its enrollment record: {detail}")]
    DecisionSignature {
        /// The decision's position (from 0).
        index: usize,
        /// What failed.
        detail: String,
    },
    /// A decision does not belong with this request or record.
    #[error("decision {index} {problem}")]
    DecisionMismatch {
        /// The decision's position (from 0).
        index: usize,
        /// What is wrong, as a phrase.
        problem: &'static str,
    },
    /// The status (or reason) is not what the decisions imply.
    #[error("the receipt's status is not what its decisions imply: {0}")]
    Status(String),
    /// The salt is not 32 bytes of base64url.
    #[error("the receipt's salt is not 32 bytes of base64url")]
    Salt,
    /// The countersignature does not verify.
    #[error("the service's countersignature does not verify")]
    Countersignature,
    /// No inclusion proof.
    #[error("the receipt carries no inclusion proof")]
    NoInclusion,
    /// The checkpoint is not a valid checkpoint of this service's log.
    #[error("the receipt's checkpoint: {0}")]
    Checkpoint(CheckpointError),
    /// A proof hash is not 64 lower-case hex digits.
    #[error("the inclusion proof's hash {0} is not 64 lower-case hex digits")]
    ProofEncoding(usize),
    /// The entry is not in the log at its index.
    #[error("the receipt's log entry is not at index {index} of the checkpoint's tree: {detail}")]
    Inclusion {
        /// The index the receipt claims.
        index: u64,
        /// What failed.
        detail: ProofError,
    },
}

/// A receipt that verified, read.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    /// The request details.
    pub request: RequestDetails,
    /// Their digest (what every decision signs).
    pub request_digest: [u8; 32],
    /// `approved` or `denied`.
    pub status: RequestStatus,
    /// The deny reason.
    pub reason: Option<String>,
    /// Every decision, with its device's record.
    pub decisions: Vec<VerifiedDecision>,
    /// When the service countersigned.
    pub countersigned_at: i64,
    /// The entry's index in the log.
    pub log_index: u64,
    /// The checkpoint the inclusion proof leads to.
    pub checkpoint: Checkpoint,
    /// The log entry.
    pub entry: ReceiptEntry,
}

/// One verified decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDecision {
    /// The decision as signed.
    pub decision: Decision,
    /// The deciding device's record.
    pub device: EnrollmentRecord,
}

/// `SHA-256(COMMITMENT_TAG || 0x00 || salt || canonical request details)`.
pub fn commitment(salt: &[u8; 32], canonical_request: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(COMMITMENT_TAG.as_bytes());
    hasher.update([0u8]);
    hasher.update(salt);
    hasher.update(canonical_request);
    hasher.finalize().into()
}

/// Parses bytes that must be exactly the canonical form of a JSON value (one trailing newline
/// tolerated).
fn canonical_value(bytes: &[u8]) -> Result<Value, ReceiptError> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ReceiptError::NotJson(e.to_string()))?;
    match canonical::canonicalize(&value) {
        Ok(canonical) if canonical == body => Ok(value),
        _ => Err(ReceiptError::NotCanonical),
    }
}

fn decode_salt(text: &str) -> Result<[u8; 32], ReceiptError> {
    crypto::b64url_decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(ReceiptError::Salt)
}

/// The request, decisions and status of a receipt, checked against each other and the service
/// key: what both the issuer and the verifier run, so the service never countersigns what a
/// verifier would refuse.
struct Checked {
    request: RequestDetails,
    canonical_request: Vec<u8>,
    request_digest: [u8; 32],
    decisions: Vec<VerifiedDecision>,
}

fn check_parts(
    service: &PublicKey,
    request: &Signed<RequestDetails>,
    status: RequestStatus,
    reason: Option<&str>,
    decisions: &[ReceiptDecision],
) -> Result<Checked, ReceiptError> {
    let verified = request.verify(service).map_err(|e| match e {
        VerifyError::Malformed(m) => ReceiptError::Malformed(format!("request: {m}")),
        other => ReceiptError::RequestSignature(other.to_string()),
    })?;
    let details = verified.message;
    let digest_hex = hex::encode(verified.digest);
    let mut checked = Vec::with_capacity(decisions.len());
    let mut people = BTreeSet::new();
    for (index, entry) in decisions.iter().enumerate() {
        let record = entry
            .enrollment
            .verify(service)
            .map_err(|e| ReceiptError::EnrollmentSignature {
                index,
                detail: e.to_string(),
            })?
            .message;
        let mismatch = |problem| ReceiptError::DecisionMismatch { index, problem };
        if record.v != RECEIPT_VERSION {
            return Err(mismatch(
                "has an enrollment record of an unsupported version",
            ));
        }
        let decision = entry
            .decision
            .verify(&record.public_key)
            .map_err(|e| ReceiptError::DecisionSignature {
                index,
                detail: e.to_string(),
            })?
            .message;
        decision
            .check_shape()
            .map_err(|_| mismatch("is malformed (version, reason, number or digest)"))?;
        if decision.request_id != details.id {
            return Err(mismatch("names another request"));
        }
        if decision.request_digest != digest_hex {
            return Err(mismatch("signs other request details"));
        }
        if decision.device_id != record.device_id {
            return Err(mismatch("names another device than its enrollment record"));
        }
        if record.app_id != details.app.id {
            return Err(mismatch("is by a device of another app"));
        }
        if !details.approvers.contains(&record.user_id) {
            return Err(mismatch("is by a person who is not an approver"));
        }
        if !people.insert(record.user_id) {
            return Err(mismatch("is a second decision by the same person"));
        }
        checked.push(VerifiedDecision {
            decision,
            device: record,
        });
    }
    check_status(&details, status, reason, &checked)?;
    Ok(Checked {
        request: details,
        canonical_request: verified.canonical,
        request_digest: verified.digest,
        decisions: checked,
    })
}

fn check_status(
    request: &RequestDetails,
    status: RequestStatus,
    reason: Option<&str>,
    decisions: &[VerifiedDecision],
) -> Result<(), ReceiptError> {
    let denials: Vec<&Decision> = decisions
        .iter()
        .map(|d| &d.decision)
        .filter(|d| d.outcome == Outcome::Deny)
        .collect();
    match status {
        RequestStatus::Approved => {
            if !denials.is_empty() || reason.is_some() {
                return Err(ReceiptError::Status(
                    "approved, but a decision denies or a deny reason is given".into(),
                ));
            }
            let approvals = decisions
                .iter()
                .filter(|d| d.decision.outcome == Outcome::Approve)
                .count();
            if approvals < request.quorum as usize {
                return Err(ReceiptError::Status(format!(
                    "approved, but only {approvals} of the {} approvals needed are in it",
                    request.quorum
                )));
            }
            let typed = request
                .number_matching
                .as_ref()
                .and_then(|m| m.typed.as_ref().map(|t| (m.user_id, t)));
            for d in decisions {
                if let Some((picker, code)) = typed
                    && d.device.user_id == picker
                    && !d.decision.code.as_deref().is_some_and(|c| code.matches(c))
                {
                    return Err(ReceiptError::Status(
                        "approved, but the approval does not carry the code the request binds"
                            .into(),
                    ));
                }
                let verified = d
                    .decision
                    .verification
                    .is_some_and(|m| m != crate::decision::VerificationMethod::None);
                if request.user_verification.is_some() && !verified {
                    return Err(ReceiptError::Status(
                        "approved, but the request required user verification and an approval names none"
                            .into(),
                    ));
                }
            }
            Ok(())
        }
        RequestStatus::Denied if reason == Some(WRONG_NUMBER) => {
            let matching = request.number_matching.as_ref();
            let picked = decisions.iter().any(|d| {
                let wrong = match matching.and_then(|m| m.typed.as_ref()) {
                    Some(code) => !d.decision.code.as_deref().is_some_and(|c| code.matches(c)),
                    None => d.decision.number.is_some(),
                };
                Some(d.device.user_id) == matching.map(|m| m.user_id)
                    && d.decision.outcome == Outcome::Approve
                    && wrong
            });
            if picked {
                Ok(())
            } else {
                Err(ReceiptError::Status(
                    "denied for a wrong number, but nobody who had to pick a number picked one"
                        .into(),
                ))
            }
        }
        RequestStatus::Denied => {
            let backed = denials
                .iter()
                .any(|d| d.reason.map(DenyReason::as_str) == reason);
            if backed {
                Ok(())
            } else {
                Err(ReceiptError::Status(
                    "denied, but no decision denies with this reason".into(),
                ))
            }
        }
        other => Err(ReceiptError::Status(format!(
            "receipts are for approved or denied requests, not {other}"
        ))),
    }
}

fn entry_of(
    checked: &Checked,
    status: RequestStatus,
    reason: Option<&str>,
    salt: &[u8; 32],
    countersigned_at: i64,
) -> ReceiptEntry {
    ReceiptEntry {
        kind: EntryKind::Receipt,
        v: RECEIPT_VERSION,
        request_id: checked.request.id,
        app_id: checked.request.app.id.clone(),
        user_id: checked.request.user_id,
        status,
        reason: reason.map(str::to_owned),
        commitment: hex::encode(commitment(salt, &checked.canonical_request)),
        decisions: checked
            .decisions
            .iter()
            .map(|d| EntryDecision {
                user_id: d.device.user_id,
                device_id: d.device.device_id,
                public_key: d.device.public_key,
                outcome: d.decision.outcome,
                reason: d.decision.reason,
                signed_at: d.decision.signed_at,
            })
            .collect(),
        countersigned_at,
    }
}

/// What the service puts in a receipt before countersigning it.
#[derive(Debug, Clone)]
pub struct ReceiptContent {
    /// The request details and the service's signature, as devices were shown them.
    pub request: Signed<RequestDetails>,
    /// `approved` or `denied`.
    pub status: RequestStatus,
    /// The deny reason.
    pub reason: Option<String>,
    /// Every decision, in the order recorded, with its device's record.
    pub decisions: Vec<ReceiptDecision>,
    /// 32 random bytes.
    pub salt: [u8; 32],
    /// The index the entry gets in the log.
    pub log_index: u64,
}

impl ReceiptContent {
    /// Checks the content exactly as [`verify_receipt`] would, and countersigns it with the
    /// service key at `now`. Returns the receipt (without inclusion proof) and its log entry.
    ///
    /// # Errors
    /// The [`ReceiptError`] a verifier would report: the service refuses to countersign it.
    pub fn countersign(
        self,
        service: &SigningKey,
        now: i64,
    ) -> Result<(Receipt, ReceiptEntry), ReceiptError> {
        let public = PublicKey::from_signing_key(service);
        let checked = check_parts(
            &public,
            &self.request,
            self.status,
            self.reason.as_deref(),
            &self.decisions,
        )?;
        let entry = entry_of(
            &checked,
            self.status,
            self.reason.as_deref(),
            &self.salt,
            now,
        );
        let mut receipt = Receipt {
            v: RECEIPT_VERSION,
            service_key: public,
            request: self.request,
            status: self.status,
            reason: self.reason,
            decisions: self.decisions,
            salt: crypto::b64url(&self.salt),
            log_index: self.log_index,
            countersigned_at: now,
            countersignature: Signature::from_bytes(&[0; 64]),
            inclusion: None,
        };
        let body = countersigned_body(
            &serde_json::to_value(&receipt).map_err(|e| ReceiptError::Malformed(e.to_string()))?,
        );
        let canonical = canonical::canonicalize(&body)
            .map_err(|e: CanonicalError| ReceiptError::Malformed(e.to_string()))?;
        receipt.countersignature =
            crypto::sign_canonical(service, MessageKind::Receipt, &canonical);
        Ok((receipt, entry))
    }
}

/// The receipt value without the members the countersignature does not cover.
fn countersigned_body(receipt: &Value) -> Value {
    let mut body = receipt.clone();
    if let Value::Object(map) = &mut body {
        for member in UNSIGNED_MEMBERS {
            map.remove(member);
        }
    }
    body
}

impl Receipt {
    /// The receipt's bytes: its canonical JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        canonical::to_canonical_bytes(self).expect("receipts canonicalize")
    }

    /// Reads a receipt from bytes without verifying anything but its shape. Use
    /// [`verify_receipt`] to trust it.
    ///
    /// # Errors
    /// [`ReceiptError`] for bytes that are not a well-formed canonical receipt.
    pub fn parse(bytes: &[u8]) -> Result<Self, ReceiptError> {
        if bytes.len() > MAX_RECEIPT_BYTES {
            return Err(ReceiptError::TooLarge);
        }
        let value = canonical_value(bytes)?;
        serde_json::from_value(value).map_err(|e| ReceiptError::Malformed(e.to_string()))
    }
}

/// Verifies a receipt offline with nothing but the service's public key, in this order (the
/// first failure is reported): size, JSON, canonical form, shape, version, service key, the
/// request details' signature, each decision (its enrollment record's signature, its own
/// signature by the recorded key, that it names this request, these details, this device, an
/// approver of this app, one decision per person), the status the decisions imply, the salt, the
/// countersignature, and the inclusion proof against the checkpoint (signed by the service key,
/// of this service's log).
///
/// # Errors
/// The first [`ReceiptError`]; its message names what failed.
pub fn verify_receipt(bytes: &[u8], service: &PublicKey) -> Result<VerifiedReceipt, ReceiptError> {
    if bytes.len() > MAX_RECEIPT_BYTES {
        return Err(ReceiptError::TooLarge);
    }
    let value = canonical_value(bytes)?;
    let receipt: Receipt = serde_json::from_value(value.clone())
        .map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    if receipt.v != RECEIPT_VERSION {
        return Err(ReceiptError::Version(receipt.v));
    }
    if receipt.service_key != *service {
        return Err(ReceiptError::OtherDeployment {
            found: receipt.service_key.to_b64(),
            expected: service.to_b64(),
        });
    }
    let checked = check_parts(
        service,
        &receipt.request,
        receipt.status,
        receipt.reason.as_deref(),
        &receipt.decisions,
    )?;
    let salt = decode_salt(&receipt.salt)?;
    let body = canonical::canonicalize(&countersigned_body(&value))
        .map_err(|e| ReceiptError::Malformed(e.to_string()))?;
    service
        .verify_canonical(MessageKind::Receipt, &body, &receipt.countersignature)
        .map_err(|_| ReceiptError::Countersignature)?;
    let inclusion = receipt
        .inclusion
        .as_ref()
        .ok_or(ReceiptError::NoInclusion)?;
    let checkpoint =
        Checkpoint::open(&inclusion.checkpoint, service).map_err(ReceiptError::Checkpoint)?;
    let proof = inclusion
        .proof
        .iter()
        .enumerate()
        .map(|(i, h)| hash_from_hex(h).ok_or(ReceiptError::ProofEncoding(i)))
        .collect::<Result<Vec<Hash>, _>>()?;
    let entry = entry_of(
        &checked,
        receipt.status,
        receipt.reason.as_deref(),
        &salt,
        receipt.countersigned_at,
    );
    let leaf = merkle::leaf_hash(&LogEntry::Receipt(entry.clone()).to_bytes());
    merkle::verify_inclusion(
        &leaf,
        receipt.log_index,
        checkpoint.size,
        &proof,
        &checkpoint.root,
    )
    .map_err(|detail| ReceiptError::Inclusion {
        index: receipt.log_index,
        detail,
    })?;
    Ok(VerifiedReceipt {
        request: checked.request,
        request_digest: checked.request_digest,
        status: receipt.status,
        reason: receipt.reason,
        decisions: checked.decisions,
        countersigned_at: receipt.countersigned_at,
        log_index: receipt.log_index,
        checkpoint,
        entry,
    })
}
