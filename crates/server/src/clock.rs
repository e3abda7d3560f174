//! The only place the service reads the wall clock. Logic takes `now` as an argument; the service
//! reads it from its [`Clock`], which tests can move forward (rules that span minutes or hours,
//! such as back-offs and lock-outs, are then tested without sleeping).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The service's clock: the system clock, plus an offset a test may move forward.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_ms: Option<Arc<AtomicI64>>,
    /// Woken when the clock is moved, so timers that sleep until a deadline look again.
    moved: Arc<tokio::sync::Notify>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock that starts at the system time and that [`Clock::advance`] moves forward (tests).
    pub fn adjustable() -> Self {
        Clock {
            offset_ms: Some(Arc::new(AtomicI64::new(0))),
            moved: Arc::default(),
        }
    }

    /// Moves an adjustable clock forward by `secs` (every clone moves together).
    ///
    /// # Panics
    /// On the system clock, which only time moves.
    pub fn advance(&self, secs: i64) {
        self.offset_ms
            .as_ref()
            .expect("only an adjustable clock can be moved")
            .fetch_add(secs * 1000, Ordering::Relaxed);
        self.moved.notify_waiters();
    }

    /// Completes when [`Clock::advance`] moves the clock (never, on the system clock). A task that
    /// sleeps until a deadline read from this clock also waits on this, or it would oversleep a
    /// deadline a test moved the clock past.
    pub async fn moved(&self) {
        self.moved.notified().await;
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        self.now_ms() / 1000
    }

    /// Unix milliseconds now.
    pub fn now_ms(&self) -> i64 {
        unix_now_ms()
            + self
                .offset_ms
                .as_ref()
                .map_or(0, |o| o.load(Ordering::Relaxed))
    }
}

/// Sets every answer's `Date` header from the service's clock (HTTP would take the system's):
/// devices compare it with their own clock to warn their person of a drift that would get their
/// one-time codes refused, and the clock that matters is the one that checks codes.
pub async fn date_header(
    axum::extract::State(state): axum::extract::State<crate::state::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    let now = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(u64::try_from(state.now()).unwrap_or(0));
    if let Ok(value) = axum::http::HeaderValue::from_str(&httpdate::fmt_http_date(now)) {
        response
            .headers_mut()
            .insert(axum::http::header::DATE, value);
    }
    response
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    unix_now_ms() / 1000
}

/// Unix milliseconds now.
pub fn unix_now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64")
}

/// RFC 3339 in UTC (`2017-02-10T01:09:52Z`), as Authy writes times.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Midnight UTC of the first day of the calendar month `unix` falls in.
pub fn month_start(unix: i64) -> i64 {
    let at =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.date()
        .replace_day(1)
        .expect("every month has a first day")
        .midnight()
        .assume_utc()
        .unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_month_starts_at_midnight_utc_of_its_first_day() {
        // 2017-02-10T01:09:52Z -> 2017-02-01T00:00:00Z.
        assert_eq!(super::month_start(1_486_688_992), 1_485_907_200);
        assert_eq!(super::month_start(1_485_907_200), 1_485_907_200);
        assert_eq!(
            super::month_start(1_485_907_199),
            1_483_228_800,
            "the last second of January"
        );
    }

    #[test]
    fn an_adjustable_clock_moves_with_its_clones() {
        let clock = Clock::adjustable();
        let copy = clock.clone();
        let before = copy.now();
        clock.advance(3600);
        assert!(copy.now() >= before + 3600);
    }

    #[test]
    fn formats_like_authy() {
        assert_eq!(super::rfc3339(1_486_688_992), "2017-02-10T01:09:52Z");
    }
}
