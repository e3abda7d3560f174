//! The service as notary: what it signs, with the deployment's key, so that others can check
//! what it says without trusting it: enrollment records (this key is this device of this
//! person), receipts (these decisions settled this request) and checkpoints of the approval log.
//!
//! The store calls it inside its transactions, so a record or a receipt exists exactly when the
//! enrollment or the decision it attests was committed.

use std::fmt;

use assent_protocol::canonical;
use assent_protocol::checkpoint::{Checkpoint, origin_for};
use assent_protocol::crypto::{self, MessageKind, PublicKey, Signature};
use assent_protocol::receipt::{
    EnrollmentEntry, EnrollmentRecord, EntryKind, LogEntry, RECEIPT_VERSION, ReceiptContent,
    ReceiptError,
};
use assent_protocol::signed::Signed;
use ed25519_dalek::SigningKey;
use uuid::Uuid;

use crate::keys::ServiceKey;

/// Signs on the service's behalf. See the module documentation.
#[derive(Clone)]
pub struct Notary {
    key: SigningKey,
    origin: String,
    issue_receipts: bool,
}

impl fmt::Debug for Notary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notary")
            .field("public", &self.public())
            .field("origin", &self.origin)
            .field("issue_receipts", &self.issue_receipts)
            .finish_non_exhaustive()
    }
}

/// An enrollment record as the store writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRecord {
    /// The record's canonical JSON.
    pub record: Vec<u8>,
    /// The service's signature over it.
    pub signature: Signature,
    /// The approval-log leaf that publishes it.
    pub leaf: Vec<u8>,
}

/// A receipt as the store writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedReceipt {
    /// The countersigned receipt's canonical JSON (without inclusion proof).
    pub receipt: Vec<u8>,
    /// The approval-log leaf that publishes it.
    pub leaf: Vec<u8>,
}

impl Notary {
    /// Signs with `key`. `issue_receipts` false leaves decisions without receipts (a measuring
    /// switch: `assent bench` compares the approval path with and without them).
    pub fn new(key: &ServiceKey, issue_receipts: bool) -> Self {
        let key = key.signing_key().clone();
        let origin = origin_for(&PublicKey::from_signing_key(&key));
        Notary {
            key,
            origin,
            issue_receipts,
        }
    }

    /// The service key's public half.
    pub fn public(&self) -> PublicKey {
        PublicKey::from_signing_key(&self.key)
    }

    /// The approval log's origin (and checkpoint key name).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// True when decisions get receipts.
    pub fn issues_receipts(&self) -> bool {
        self.issue_receipts
    }

    /// Signs the enrollment record of a device and builds its log leaf.
    pub fn enrollment(
        &self,
        app_id: &str,
        user_id: u64,
        device_id: Uuid,
        public_key: PublicKey,
        enrolled_at: i64,
    ) -> SignedRecord {
        let record = EnrollmentRecord {
            v: RECEIPT_VERSION,
            app_id: app_id.to_owned(),
            user_id,
            device_id,
            public_key,
            enrolled_at,
        };
        // Strings, a UUID, a key and integers the API bounds below 2^53 always canonicalize.
        let signed = Signed::sign(&record, &self.key).expect("enrollment records canonicalize");
        let canonical =
            canonical::canonicalize(signed.payload()).expect("enrollment records canonicalize");
        debug_assert_eq!(
            crypto::sign_canonical(&self.key, MessageKind::EnrollmentRecord, &canonical),
            *signed.signature()
        );
        let signature = *signed.signature();
        let leaf = LogEntry::Enrollment(EnrollmentEntry {
            kind: EntryKind::Enrollment,
            v: RECEIPT_VERSION,
            enrollment: signed,
        })
        .to_bytes();
        SignedRecord {
            record: canonical,
            signature,
            leaf,
        }
    }

    /// Countersigns a receipt at `now`, after checking it exactly as a verifier would.
    ///
    /// # Errors
    /// What a verifier would refuse the receipt for (stored data that does not verify).
    pub fn receipt(
        &self,
        content: ReceiptContent,
        now: i64,
    ) -> Result<IssuedReceipt, ReceiptError> {
        let (receipt, entry) = content.countersign(&self.key, now)?;
        Ok(IssuedReceipt {
            receipt: receipt.to_bytes(),
            leaf: LogEntry::Receipt(entry).to_bytes(),
        })
    }

    /// Signs the checkpoint of a tree of `size` leaves with root `root` at `now`.
    pub fn checkpoint(&self, size: u64, root: [u8; 32], now: i64) -> String {
        Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            time: now,
        }
        .sign(&self.key)
    }
}
