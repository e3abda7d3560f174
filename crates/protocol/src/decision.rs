//! A person's decision, signed by their device.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::MessageKind;
use crate::request::RequestStatus;
use crate::signed::SignedMessage;

/// Version of the decision object.
pub const DECISION_VERSION: u32 = 1;

/// Approve or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Outcome {
    /// The person approves.
    Approve,
    /// The person denies.
    Deny,
}

/// Why a person denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DenyReason {
    /// "This wasn't me": the person did not start this action (a signal of compromise).
    NotMe,
    /// The person started it but changed their mind.
    Cancelled,
}

impl DenyReason {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyReason::NotMe => "not_me",
            DenyReason::Cancelled => "cancelled",
        }
    }
}

/// The decision object a device signs (kind [`MessageKind::Decision`]).
///
/// Invariants, checked by [`Decision::check_shape`]: a reason only with `deny`; a number only with
/// `approve`; the digest is 64 lower-case hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Always [`DECISION_VERSION`].
    pub v: u32,
    /// The request decided.
    pub request_id: Uuid,
    /// Lower-case hex SHA-256 digest of the canonical request the person was shown.
    pub request_digest: String,
    /// The deciding device.
    pub device_id: Uuid,
    /// Approve or deny.
    pub outcome: Outcome,
    /// Why, for a denial (absent means unspecified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DenyReason>,
    /// The number the person picked, for number matching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// Unix seconds when the person decided.
    pub signed_at: i64,
}

impl SignedMessage for Decision {
    const KIND: MessageKind = MessageKind::Decision;
}

/// A decision that breaks [`Decision`]'s invariants.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecisionShapeError {
    /// Unknown version.
    #[error("unsupported decision version {0}")]
    Version(u32),
    /// A reason was given with an approval.
    #[error("a reason is only allowed when denying")]
    ReasonWithApproval,
    /// A number was given with a denial.
    #[error("a number is only allowed when approving")]
    NumberWithDenial,
    /// The digest is not 64 lower-case hex characters.
    #[error("request_digest must be 64 lower-case hex characters")]
    Digest,
}

impl Decision {
    /// Checks the invariants listed on the type.
    ///
    /// # Errors
    /// The first broken invariant.
    pub fn check_shape(&self) -> Result<(), DecisionShapeError> {
        if self.v != DECISION_VERSION {
            return Err(DecisionShapeError::Version(self.v));
        }
        match self.outcome {
            Outcome::Approve if self.reason.is_some() => {
                return Err(DecisionShapeError::ReasonWithApproval);
            }
            Outcome::Deny if self.number.is_some() => {
                return Err(DecisionShapeError::NumberWithDenial);
            }
            _ => {}
        }
        let digest_ok = self.request_digest.len() == 64
            && self
                .request_digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !digest_ok {
            return Err(DecisionShapeError::Digest);
        }
        Ok(())
    }
}

/// The service's answer to a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionReceipt {
    /// Always true (errors use the error shape).
    pub success: bool,
    /// The request's status after this decision.
    pub status: RequestStatus,
    /// True when this exact decision had already been recorded (a retry): nothing new was written.
    pub duplicate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision() -> Decision {
        Decision {
            v: 1,
            request_id: Uuid::nil(),
            request_digest: "ab".repeat(32),
            device_id: Uuid::nil(),
            outcome: Outcome::Approve,
            reason: None,
            number: Some(42),
            signed_at: 1,
        }
    }

    #[test]
    fn shape_rules() {
        assert_eq!(decision().check_shape(), Ok(()));
        let mut d = decision();
        d.reason = Some(DenyReason::NotMe);
        assert_eq!(d.check_shape(), Err(DecisionShapeError::ReasonWithApproval));
        let mut d = decision();
        d.outcome = Outcome::Deny;
        assert_eq!(d.check_shape(), Err(DecisionShapeError::NumberWithDenial));
        let mut d = decision();
        d.request_digest = "AB".repeat(32);
        assert_eq!(
            d.check_shape(),
            Err(DecisionShapeError::Digest),
            "upper-case hex is not canonical"
        );
        let mut d = decision();
        d.v = 2;
        assert_eq!(d.check_shape(), Err(DecisionShapeError::Version(2)));
    }
}
