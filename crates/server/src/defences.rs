//! Push-fatigue defences: the rules that decide whether an app may send a person another request
//! now. Pure functions over what the store read inside the creating transaction, so every engine
//! and every instance applies them the same way, and tests move a clock instead of sleeping.
//!
//! Per person and app, on by default ([`AppDefences::default`]):
//! - at most one pending request created in the last [`PENDING_WINDOW_SECS`] for which the
//!   person is the initiator (unless the relying party sends `allow_concurrent=true` or the app
//!   allows more): a prompt the person ignored stops blocking their next sign-in after the window;
//! - after one of their denials (as initiator or approver), the next request naming them waits
//!   10 s, doubling with each denial that follows within
//!   24 hours of the one before, up to an hour; 24 hours without a denial start again at 10 s;
//! - after they said "this wasn't me", no request naming them (as initiator or approver) for
//!   `freeze_secs` (20 minutes by default);
//! - an operator lifting the freeze (`assent app unfreeze`) also forgets the denials before it
//!   (every decision the person had made when it was lifted).
//!
//! What they stop and what they do not is in `docs/security.md`.

use serde::{Deserialize, Serialize};

/// First back-off after a denial.
pub const FIRST_BACKOFF_SECS: i64 = 10;
/// Longest back-off.
pub const MAX_BACKOFF_SECS: i64 = 3600;
/// A denial streak ends after this long without a denial.
pub const STREAK_RESET_SECS: i64 = 86_400;
/// Default freeze after "this wasn't me".
pub const DEFAULT_FREEZE_SECS: u32 = 1200;
/// Only pending requests younger than this count against the one-pending limit.
pub const PENDING_WINDOW_SECS: i64 = 300;
/// Denials read to measure a streak (enough to reach [`MAX_BACKOFF_SECS`]).
pub const STREAK_WINDOW: usize = 10;

/// An app's push-fatigue and verification settings (stored as JSON on the app).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppDefences {
    /// Pending requests one person may have from this app at once; 0 means no limit (the
    /// service-wide `max_pending_per_user` still applies).
    pub max_pending_per_person: u32,
    /// Back off after denials.
    pub backoff: bool,
    /// Seconds new requests are refused after "this wasn't me"; 0 turns the freeze off.
    pub freeze_secs: u32,
    /// Every request of this app requires user verification unless it says otherwise.
    pub require_user_verification: bool,
}

impl Default for AppDefences {
    fn default() -> Self {
        AppDefences {
            max_pending_per_person: 1,
            backoff: true,
            freeze_secs: DEFAULT_FREEZE_SECS,
            require_user_verification: false,
        }
    }
}

/// What the store knows about one person's recent requests from one app, read inside the
/// creating transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonHistory {
    /// Requests this person initiated that are pending, not past their deadline, and created in
    /// the last [`PENDING_WINDOW_SECS`].
    pub pending: u32,
    /// When this person's most recent denials were recorded, newest first, at most
    /// [`STREAK_WINDOW`], none from before an operator lifted the guards.
    pub denials: Vec<i64>,
    /// When this person last said "this wasn't me" to this app (after any lift).
    pub last_not_me: Option<i64>,
}

/// Why a request may not be created now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// "This wasn't me" froze this person until `until`.
    Frozen {
        /// Unix seconds.
        until: i64,
    },
    /// A recent denial: wait until `until`.
    BackingOff {
        /// Unix seconds.
        until: i64,
    },
    /// A request is already waiting for this person.
    PendingExists {
        /// How many.
        pending: u32,
    },
}

impl Guard {
    /// Seconds until a retry can succeed (`Retry-After`); `None` for a pending request, which
    /// ends when the person answers.
    pub fn retry_after(self, now: i64) -> Option<i64> {
        match self {
            Guard::Frozen { until } | Guard::BackingOff { until } => Some((until - now).max(1)),
            Guard::PendingExists { .. } => None,
        }
    }
}

/// The back-off after the `streak`-th denial in a row (1-based): 10 s doubling to an hour.
pub fn backoff_secs(streak: u32) -> i64 {
    let doublings = streak.saturating_sub(1).min(20);
    (FIRST_BACKOFF_SECS << doublings).min(MAX_BACKOFF_SECS)
}

/// Until when `history`'s denials hold new requests back, if they still do at `now`.
pub fn backoff_until(history: &PersonHistory, now: i64) -> Option<i64> {
    let latest = *history.denials.first()?;
    if now - latest >= STREAK_RESET_SECS {
        return None;
    }
    let streak = 1 + history
        .denials
        .windows(2)
        .take_while(|pair| pair[0] - pair[1] < STREAK_RESET_SECS)
        .count() as u32;
    let until = latest + backoff_secs(streak);
    (now < until).then_some(until)
}

/// Until when a "this wasn't me" recorded at `reported_at` freezes its person (`None` when the
/// app turned the freeze off).
pub fn freeze_end(defences: &AppDefences, reported_at: i64) -> Option<i64> {
    (defences.freeze_secs > 0).then(|| reported_at + i64::from(defences.freeze_secs))
}

/// Until when a "this wasn't me" freezes the person, if it still does at `now`.
pub fn frozen_until(defences: &AppDefences, history: &PersonHistory, now: i64) -> Option<i64> {
    freeze_end(defences, history.last_not_me?).filter(|until| now < *until)
}

/// Whether a new request may be created at `now`. The freeze is checked first (it says most
/// about what happened), then the back-off, then the pending limit.
///
/// # Errors
/// The first guard that holds.
pub fn admit(
    defences: &AppDefences,
    history: &PersonHistory,
    allow_concurrent: bool,
    now: i64,
) -> Result<(), Guard> {
    if let Some(until) = frozen_until(defences, history, now) {
        return Err(Guard::Frozen { until });
    }
    if defences.backoff
        && let Some(until) = backoff_until(history, now)
    {
        return Err(Guard::BackingOff { until });
    }
    let limit = defences.max_pending_per_person;
    if !allow_concurrent && limit > 0 && history.pending >= limit {
        return Err(Guard::PendingExists {
            pending: history.pending,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000;

    fn denied(at: &[i64]) -> PersonHistory {
        PersonHistory {
            denials: at.to_vec(),
            ..PersonHistory::default()
        }
    }

    #[test]
    fn backoff_doubles_from_ten_seconds_to_an_hour() {
        let waits: Vec<i64> = (1..=11).map(backoff_secs).collect();
        assert_eq!(
            waits,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600],
            "each denial in a row doubles the wait, capped at an hour"
        );
    }

    #[test]
    fn one_denial_holds_ten_seconds() {
        let h = denied(&[T]);
        assert_eq!(backoff_until(&h, T), Some(T + 10));
        assert_eq!(backoff_until(&h, T + 9), Some(T + 10));
        assert_eq!(backoff_until(&h, T + 10), None, "free again after 10 s");
    }

    #[test]
    fn a_streak_counts_denials_less_than_a_day_apart() {
        // Three denials within minutes: 40 s after the newest.
        let h = denied(&[T + 100, T + 50, T]);
        assert_eq!(backoff_until(&h, T + 100), Some(T + 140));
        // A gap of a day or more breaks the streak: only the newest two count.
        let h = denied(&[T + 100, T + 50, T + 50 - STREAK_RESET_SECS]);
        assert_eq!(backoff_until(&h, T + 100), Some(T + 120));
    }

    #[test]
    fn a_day_without_denials_forgets_the_streak() {
        let h = denied(&[T, T - 10, T - 20, T - 30]);
        assert_eq!(backoff_until(&h, T + STREAK_RESET_SECS), None);
    }

    #[test]
    fn freeze_lasts_its_configured_time_and_can_be_off() {
        let d = AppDefences::default();
        let h = PersonHistory {
            last_not_me: Some(T),
            ..PersonHistory::default()
        };
        assert_eq!(frozen_until(&d, &h, T + 1), Some(T + 1200));
        assert_eq!(frozen_until(&d, &h, T + 1200), None);
        let off = AppDefences {
            freeze_secs: 0,
            ..d
        };
        assert_eq!(frozen_until(&off, &h, T + 1), None);
    }

    #[test]
    fn admit_checks_freeze_then_backoff_then_pending() {
        let d = AppDefences::default();
        let h = PersonHistory {
            pending: 1,
            denials: vec![T],
            last_not_me: Some(T),
        };
        assert_eq!(
            admit(&d, &h, false, T),
            Err(Guard::Frozen { until: T + 1200 })
        );
        let h = PersonHistory {
            last_not_me: None,
            ..h
        };
        assert_eq!(
            admit(&d, &h, false, T),
            Err(Guard::BackingOff { until: T + 10 })
        );
        assert_eq!(
            admit(&d, &h, false, T + 10),
            Err(Guard::PendingExists { pending: 1 })
        );
        assert_eq!(
            admit(&d, &h, true, T + 10),
            Ok(()),
            "allow_concurrent lifts the pending limit only"
        );
        let relaxed = AppDefences {
            backoff: false,
            max_pending_per_person: 0,
            ..d
        };
        assert_eq!(admit(&relaxed, &h, false, T), Ok(()));
    }

    #[test]
    fn retry_after_is_never_zero() {
        assert_eq!(Guard::BackingOff { until: T }.retry_after(T), Some(1));
        assert_eq!(Guard::Frozen { until: T + 60 }.retry_after(T), Some(60));
        assert_eq!(Guard::PendingExists { pending: 1 }.retry_after(T), None);
    }
}
