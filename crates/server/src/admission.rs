//! Whether a new approval request may be created. A pure rule shared by every store engine: the
//! engine reads each approver's [`ApproverLoad`] inside the creating transaction (with the
//! approver's row locked) and writes the request only when [`admit`] says yes.
//!
//! - Every approver must exist (not deleted, in this app).
//! - At least `quorum` approvers must have an active device, or the request could never resolve.
//! - No approver may already have `max_pending` requests waiting for them: the anti-push-bombing
//!   cap counts what reaches a person's devices, whoever started it, so naming someone as an
//!   approver counts against them exactly like a request of their own.

use crate::store::{ApproverLoad, CreateRefusal};

/// Admits or refuses a request with `quorum` over `approvers` (one entry per approver).
pub fn admit(
    approvers: &[ApproverLoad],
    quorum: u32,
    max_pending: u32,
) -> Result<(), CreateRefusal> {
    if let Some(gone) = approvers.iter().find(|a| !a.active) {
        return Err(CreateRefusal::UnknownUser(gone.user_id));
    }
    let enrolled = approvers.iter().filter(|a| a.devices > 0).count() as u32;
    if enrolled < quorum {
        return Err(CreateRefusal::TooFewDevices { enrolled, quorum });
    }
    if let Some(full) = approvers.iter().find(|a| a.waiting >= max_pending) {
        return Err(CreateRefusal::TooManyPending(full.user_id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(user_id: u64, devices: u32, waiting: u32) -> ApproverLoad {
        ApproverLoad {
            user_id,
            active: true,
            devices,
            waiting,
        }
    }

    #[test]
    fn admits_within_every_bound() {
        assert_eq!(admit(&[load(1, 1, 9), load(2, 0, 0)], 1, 10), Ok(()));
    }

    #[test]
    fn a_deleted_approver_refuses() {
        let mut gone = load(2, 1, 0);
        gone.active = false;
        assert_eq!(
            admit(&[load(1, 1, 0), gone], 1, 10),
            Err(CreateRefusal::UnknownUser(2))
        );
    }

    #[test]
    fn the_quorum_needs_enough_enrolled_approvers() {
        assert_eq!(
            admit(&[load(1, 1, 0), load(2, 0, 0)], 2, 10),
            Err(CreateRefusal::TooFewDevices {
                enrolled: 1,
                quorum: 2
            })
        );
    }

    #[test]
    fn the_cap_counts_requests_waiting_for_any_approver() {
        assert_eq!(
            admit(&[load(1, 1, 0), load(2, 1, 10)], 1, 10),
            Err(CreateRefusal::TooManyPending(2)),
            "a full approver refuses the request even when the initiator has room"
        );
    }
}
