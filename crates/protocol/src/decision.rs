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

/// How the device confirmed the person before it signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum VerificationMethod {
    /// Not at all: whoever sat at the unlocked device decided.
    #[default]
    None,
    /// The operating system asked for the account password (polkit, macOS, Windows Hello PIN).
    OsPassword,
    /// The operating system checked a biometric (Touch ID, Windows Hello face or fingerprint).
    Biometric,
}

impl VerificationMethod {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            VerificationMethod::None => "none",
            VerificationMethod::OsPassword => "os_password",
            VerificationMethod::Biometric => "biometric",
        }
    }
}

/// The decision object a device signs (kind [`MessageKind::Decision`]).
///
/// Invariants, checked by [`Decision::check_shape`]: a reason only with `deny`; a number or a code only with `approve`, never
/// both; a code is 2 to 6 ASCII digits; the digest is 64 lower-case hex characters.
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
    /// The number the person picked, for number matching in pick mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<u32>,
    /// The code the person typed, for number matching in typed mode (ASCII digits, leading
    /// zeros kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// How the person was verified before signing; absent (from devices older than the field)
    /// means [`VerificationMethod::None`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationMethod>,
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
    /// A code with a denial, a code next to a number, or a code that is not 2 to 6 digits.
    #[error("a code is 2 to 6 digits, only with an approval and never next to a number")]
    Code,
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
        if let Some(code) = &self.code {
            let digits = crate::request::MIN_TYPED_DIGITS as usize
                ..=crate::request::MAX_TYPED_DIGITS as usize;
            if self.outcome == Outcome::Deny
                || self.number.is_some()
                || !digits.contains(&code.len())
                || !code.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(DecisionShapeError::Code);
            }
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
    /// After a "this wasn't me" denial: until when (Unix seconds) the app may not send this person
    /// new requests, so the device can tell the person what happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen_until: Option<i64>,
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
            code: None,
            verification: None,
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
        let mut d = decision();
        d.number = None;
        d.code = Some("0042".into());
        assert_eq!(
            d.check_shape(),
            Ok(()),
            "a typed code keeps its leading zeros"
        );
        for bad in ["1", "1234567", "12a4", "١٢٣"] {
            d.code = Some(bad.into());
            assert_eq!(
                d.check_shape(),
                Err(DecisionShapeError::Code),
                "{bad:?} is no code"
            );
        }
        let mut d = decision();
        d.code = Some("1234".into());
        assert_eq!(
            d.check_shape(),
            Err(DecisionShapeError::Code),
            "a number and a code together are refused"
        );
    }
}
