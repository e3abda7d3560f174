//! Clock honesty: how far this device's clock is from each service's.
//!
//! One-time codes are derived from the time, and the service accepts a code only within one
//! 30-second step of its own clock; signed calls are refused beyond 120 s. A device whose clock
//! drifted shows codes that are refused, and without a word people blame the codes. So at each
//! stream connection (accepted or refused: a clock far off is refused with `60101`, and that
//! answer still tells the time) and at each heartbeat, the device compares its clock with the
//! service's and the session reports a [`ClockView`]; the desktop shows a warning while the
//! difference is over one step ([`CLOCK_WARNING_SECS`]).
//!
//! The service's time comes from the HTTP `Date` header of the stream upgrade's answer and from
//! the heartbeat frames' `ts`. Neither is signed: over plain `http` a hostile network can change
//! them, and over TLS they are as trustworthy as the connection. So a measurement only ever
//! makes the device *warn*; it never adjusts a code, a signature's timestamp or anything else.
//! The worst a forged time can do is show (or hide) a warning that tells the person to let their
//! computer set its clock automatically.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use assent_protocol::totp::STEP_SECONDS;
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use uuid::Uuid;

/// A difference larger than this (one code step) is worth a warning: from there on, the codes
/// this device shows are at the edge of, or outside, what the service accepts.
pub const CLOCK_WARNING_SECS: i64 = STEP_SECONDS;

/// Offsets within this many seconds of the last one reported are the same measurement (the
/// `Date` header has whole seconds, and the network adds its delay): reported again only when the
/// warning starts or stops.
const REPORT_CHANGE_SECS: i64 = 3;

/// The largest offset reported, either way (about 100 years): beyond that the value is nonsense,
/// and clamping keeps every sum below free of overflow.
const MAX_OFFSET_SECS: i64 = 100 * 365 * 24 * 3600;

/// The service's clock minus this device's, in whole seconds, from the service's Unix time
/// `service_secs` as read when this device's clock said `local_ms` (Unix milliseconds).
/// Positive: the service is ahead (this computer's clock is behind).
pub fn offset_secs(service_secs: i64, local_ms: i64) -> i64 {
    let local_secs = local_ms.div_euclid(1000);
    service_secs
        .saturating_sub(local_secs)
        .clamp(-MAX_OFFSET_SECS, MAX_OFFSET_SECS)
}

/// The offset told by an HTTP `Date` header (RFC 9110 `IMF-fixdate`, or the two obsolete forms)
/// received between `sent_ms` and `received_ms` (this device's Unix milliseconds): measured
/// against the middle of the exchange. `None` for a header that is not an HTTP date.
pub fn offset_from_date_header(header: &str, sent_ms: i64, received_ms: i64) -> Option<i64> {
    if header.len() > 64 {
        return None;
    }
    let service = httpdate::parse_http_date(header.trim()).ok()?;
    let service_secs = i64::try_from(service.duration_since(UNIX_EPOCH).ok()?.as_secs()).ok()?;
    let middle = sent_ms.saturating_add(received_ms.saturating_sub(sent_ms) / 2);
    Some(offset_secs(service_secs, middle))
}

/// "Your computer's clock is 5 minutes behind auth.example.com: ..." for a skewed clock, the
/// sentence the terminal prints (the desktop UI words it the same way).
pub fn warning(clock: &ClockView) -> String {
    let size = clock.offset_secs.unsigned_abs();
    let amount = if size >= 90 {
        let minutes = (size + 30) / 60;
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    } else {
        format!("{size} seconds")
    };
    let side = if clock.offset_secs > 0 {
        "behind"
    } else {
        "ahead of"
    };
    format!(
        "your computer's clock is {amount} {side} {}: one-time codes will be refused; set the clock automatically",
        clock.service
    )
}

/// What the device knows about one account's service clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ClockView {
    /// The account whose connection measured it.
    pub account_id: Uuid,
    /// The service's host (with its port when it is not the default), as the person knows it.
    pub service: String,
    /// The service's clock minus this computer's, in seconds: positive when this computer's clock
    /// is behind, negative when it is ahead. Unsigned data from the network: only for a warning.
    pub offset_secs: i64,
    /// True when the difference is over one code step ([`CLOCK_WARNING_SECS`]): this computer's
    /// codes are likely refused, and its signed calls too beyond 120 s.
    pub skewed: bool,
    /// When it was measured (this computer's Unix milliseconds).
    pub measured_at_ms: i64,
}

impl ClockView {
    /// A measurement of `account`'s service at `service` (its host).
    pub fn new(account_id: Uuid, service: String, offset_secs: i64, measured_at_ms: i64) -> Self {
        ClockView {
            account_id,
            service,
            offset_secs,
            skewed: offset_secs.abs() > CLOCK_WARNING_SECS,
            measured_at_ms,
        }
    }
}

/// The last measurement of each account's service clock, deciding which ones are worth
/// reporting (a heartbeat every 25 s must not become an event every 25 s).
#[derive(Debug, Default)]
pub(crate) struct ClockWatch {
    last: Mutex<HashMap<Uuid, ClockView>>,
}

impl ClockWatch {
    /// Records `measured`; returns it when it should be reported: the first measurement of its
    /// account, a warning that starts or stops, or an offset that moved by more than the noise.
    pub(crate) fn observe(&self, measured: ClockView) -> Option<ClockView> {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let report = match last.get(&measured.account_id) {
            None => true,
            Some(before) => {
                before.skewed != measured.skewed
                    || (before.offset_secs - measured.offset_secs).abs() > REPORT_CHANGE_SECS
                    || before.service != measured.service
            }
        };
        if report {
            last.insert(measured.account_id, measured.clone());
            Some(measured)
        } else {
            None
        }
    }

    /// Forgets an account (removed or revoked).
    pub(crate) fn forget(&self, account: Uuid) {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&account);
    }

    /// Every account's last reported measurement, by account id.
    pub(crate) fn all(&self) -> Vec<ClockView> {
        let mut views: Vec<ClockView> = self
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        views.sort_by_key(|v| v.account_id);
        views
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_header_gives_the_offset_against_the_middle_of_the_exchange() {
        // 1994-11-06 08:49:37 UTC = 784111777.
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        assert_eq!(
            offset_from_date_header(date, 784_111_777_000, 784_111_777_400),
            Some(0),
            "the same second on both clocks"
        );
        assert_eq!(
            offset_from_date_header(date, 784_111_477_000, 784_111_477_200),
            Some(300),
            "this computer 5 minutes behind: positive"
        );
        assert_eq!(
            offset_from_date_header(date, 784_112_077_000, 784_112_077_000),
            Some(-300),
            "this computer 5 minutes ahead: negative"
        );
        assert_eq!(
            offset_from_date_header(
                "Sunday, 06-Nov-94 08:49:37 GMT",
                784_111_777_000,
                784_111_777_000
            ),
            Some(0),
            "the obsolete RFC 850 form is still a date"
        );
    }

    #[test]
    fn a_header_that_is_not_a_date_tells_nothing() {
        for bad in [
            "",
            "yesterday",
            "784111777",
            "Sun, 06 Nov 1994 08:49:37 GMT; extra",
            &"Sun, 06 Nov 1994 08:49:37 GMT ".repeat(10),
        ] {
            assert_eq!(
                offset_from_date_header(bad, 0, 0),
                None,
                "{bad:?} should be no measurement"
            );
        }
    }

    #[test]
    fn hostile_times_are_clamped_not_overflowed() {
        assert_eq!(offset_secs(i64::MAX, i64::MIN), MAX_OFFSET_SECS);
        assert_eq!(offset_secs(i64::MIN, i64::MAX), -MAX_OFFSET_SECS);
        assert_eq!(offset_secs(1_000, 1_000_999), 0, "milliseconds are floored");
    }

    #[test]
    fn the_warning_says_how_far_and_which_way() {
        let at = |offset| {
            warning(&ClockView::new(
                Uuid::nil(),
                "auth.example:8443".into(),
                offset,
                0,
            ))
        };
        assert_eq!(
            at(300),
            "your computer's clock is 5 minutes behind auth.example:8443: one-time codes will be refused; set the clock automatically"
        );
        assert!(
            at(-45).starts_with("your computer's clock is 45 seconds ahead of auth.example:8443")
        );
        assert!(at(-89).contains("89 seconds ahead of"));
        assert!(at(90).contains("2 minutes behind"), "{}", at(90));
        assert!(at(-3600).contains("60 minutes ahead of"));
    }

    #[test]
    fn a_warning_is_over_one_step_either_way() {
        let view = |offset| ClockView::new(Uuid::nil(), "s".into(), offset, 0).skewed;
        assert!(!view(0) && !view(30) && !view(-30), "one step is tolerated");
        assert!(view(31) && view(-31) && view(300), "beyond one step warns");
    }

    #[test]
    fn only_changes_worth_telling_are_reported() {
        let watch = ClockWatch::default();
        let at = |offset| ClockView::new(Uuid::nil(), "auth.example".into(), offset, 0);
        assert!(watch.observe(at(1)).is_some(), "the first measurement");
        assert!(watch.observe(at(2)).is_none(), "noise is not news");
        assert!(watch.observe(at(-2)).is_none(), "noise either way");
        assert!(watch.observe(at(10)).is_some(), "a real move");
        assert!(watch.observe(at(300)).is_some(), "a warning starts");
        assert!(watch.observe(at(302)).is_none());
        assert!(watch.observe(at(0)).is_some(), "the warning stops");
        assert_eq!(watch.all(), vec![at(0)]);
        watch.forget(Uuid::nil());
        assert!(watch.all().is_empty());
        assert!(
            watch.observe(at(0)).is_some(),
            "a forgotten account starts over"
        );
    }
}
