//! Revocation notices: the service's signed word that a device is revoked.
//!
//! A device deletes its private key only on a notice signed by the service key it pinned at
//! enrollment and naming its own device id ([`RevocationNotice::verify_for`]). An unsigned
//! `revoked` frame, an error code (60103, 60092) or a notice for another device changes nothing:
//! whoever answers at the service's address (a captive portal, an attacker on a plain-`http` path,
//! a service restored from an old backup) must not be able to disarm a person's approver.
//!
//! A notice carries no expiry and no nonce on purpose: revocation is final (a revoked device id is
//! never active again; enrolling again makes a new device), so a replayed notice can only tell a
//! revoked device what is already true.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::{MessageKind, PublicKey};
use crate::signed::{Signed, SignedMessage, VerifyError};

/// Version of the revocation notice; bumped on any change to its fields.
pub const REVOCATION_VERSION: u32 = 1;

/// "Device `device_id` was revoked at `revoked_at`", signed by the service key (kind
/// [`MessageKind::Revocation`]). Sent in the stream's `revoked` frame and in the body of every
/// 60103 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationNotice {
    /// Always [`REVOCATION_VERSION`].
    pub v: u32,
    /// The revoked device.
    pub device_id: Uuid,
    /// When the service recorded the revocation (Unix seconds).
    pub revoked_at: i64,
}

impl SignedMessage for RevocationNotice {
    const KIND: MessageKind = MessageKind::Revocation;
}

/// Why a revocation notice was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RevocationError {
    /// The signature does not verify under the pinned service key, or the payload is not a notice.
    #[error("the revocation notice is not signed by this account's service key: {0}")]
    NotSigned(#[from] VerifyError),
    /// A validly signed notice about another device.
    #[error("the revocation notice names another device")]
    OtherDevice,
    /// A validly signed notice of a version this device does not know.
    #[error("the revocation notice has unknown version {0}")]
    Version(u32),
}

impl RevocationNotice {
    /// A notice for `device_id`, revoked at `revoked_at`.
    pub fn new(device_id: Uuid, revoked_at: i64) -> Self {
        RevocationNotice {
            v: REVOCATION_VERSION,
            device_id,
            revoked_at,
        }
    }

    /// Checks `signed` against the pinned `service_key` and this device's id; the notice is
    /// returned only when both hold.
    ///
    /// # Errors
    /// A [`RevocationError`] naming the check that failed.
    pub fn verify_for(
        signed: &Signed<RevocationNotice>,
        service_key: &PublicKey,
        device_id: Uuid,
    ) -> Result<RevocationNotice, RevocationError> {
        let notice = signed.verify(service_key)?.message;
        if notice.v != REVOCATION_VERSION {
            return Err(RevocationError::Version(notice.v));
        }
        if notice.device_id != device_id {
            return Err(RevocationError::OtherDevice);
        }
        Ok(notice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn only_the_pinned_key_and_the_named_device_verify() {
        let service = SigningKey::from_bytes(&[5; 32]);
        let pinned = PublicKey::from_signing_key(&service);
        let device = Uuid::from_u128(7);
        let signed = Signed::sign(&RevocationNotice::new(device, 100), &service).unwrap();
        assert_eq!(
            RevocationNotice::verify_for(&signed, &pinned, device),
            Ok(RevocationNotice::new(device, 100))
        );
        assert_eq!(
            RevocationNotice::verify_for(&signed, &pinned, Uuid::from_u128(8)),
            Err(RevocationError::OtherDevice),
            "a notice for another device is refused"
        );
        let impostor = SigningKey::from_bytes(&[6; 32]);
        let forged = Signed::sign(&RevocationNotice::new(device, 100), &impostor).unwrap();
        assert!(
            matches!(
                RevocationNotice::verify_for(&forged, &pinned, device),
                Err(RevocationError::NotSigned(_))
            ),
            "a notice signed by another key is refused"
        );
        let as_request = crate::signed::Signed::<RevocationNotice>::from_parts(
            signed.payload().clone(),
            crate::crypto::sign(
                &service,
                MessageKind::RequestDetails,
                &RevocationNotice::new(device, 100),
            )
            .unwrap(),
        );
        assert!(
            RevocationNotice::verify_for(&as_request, &pinned, device).is_err(),
            "a signature of another kind over the same bytes is refused"
        );
        let future = Signed::sign(
            &RevocationNotice {
                v: 2,
                device_id: device,
                revoked_at: 1,
            },
            &service,
        )
        .unwrap();
        assert_eq!(
            RevocationNotice::verify_for(&future, &pinned, device),
            Err(RevocationError::Version(2))
        );
    }
}
