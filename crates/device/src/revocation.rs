//! [`RevocationProof`]: the only thing that makes a device forget a key.
//!
//! A device deletes an account's key on a revocation notice signed by the service key it pinned
//! at enrollment and naming its own device id, and on nothing else: not on an unsigned `revoked`
//! frame, not on an error code (60103, 60092), not on a notice signed by another key or for
//! another device. [`crate::Authenticator::mark_revoked`] takes a proof, so no code path can
//! delete a key on an unverified word.

use assent_protocol::revocation::{RevocationError, RevocationNotice};
use assent_protocol::signed::Signed;
use uuid::Uuid;

use crate::account::Account;

/// A revocation notice verified for one account: signed by its pinned service key, naming its
/// device. Only [`RevocationProof::verify`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationProof {
    account_id: Uuid,
    notice: RevocationNotice,
}

impl RevocationProof {
    /// Verifies `signed` for `account`.
    ///
    /// # Errors
    /// A [`RevocationError`] naming the check that failed; nothing may be forgotten then.
    pub fn verify(
        account: &Account,
        signed: &Signed<RevocationNotice>,
    ) -> Result<Self, RevocationError> {
        let notice =
            RevocationNotice::verify_for(signed, &account.service_public_key, account.device_id)?;
        Ok(RevocationProof {
            account_id: account.id,
            notice,
        })
    }

    /// The account whose device was revoked.
    pub fn account_id(&self) -> Uuid {
        self.account_id
    }

    /// When the service says it was revoked (Unix seconds).
    pub fn revoked_at(&self) -> i64 {
        self.notice.revoked_at
    }
}
