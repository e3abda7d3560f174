//! `GET /protected/json/app/details` (Authy's `apps.fetch`), `GET /protected/json/app/stats`
//! (monthly counts), and the phone channels Assent does not have: SMS, voice calls and phone
//! verification answer an Authy-shaped error saying so.

use assent_protocol::backend::{AppDetails, AppDetailsResponse, AppStatsResponse, MonthStats};
use assent_protocol::error::ErrorCode;
use axum::Json;
use axum::extract::State;

use super::{BackendCall, ok};
use crate::clock::month_start;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::MonthSpan;

/// Most months the statistics cover (the current one and the eleven before it).
pub const STATS_MONTHS: usize = 12;

/// The calling app's details.
pub async fn details(call: BackendCall) -> ApiResult<Json<AppDetailsResponse>> {
    Ok(ok(AppDetailsResponse {
        app: AppDetails {
            app_id: call.app.serial_id,
            name: call.app.name,
            plan: "self_hosted".into(),
            sms_enabled: false,
            phone_calls_enabled: false,
            onetouch_enabled: true,
        },
        message: "Application information.".into(),
        success: true,
    }))
}

/// SMS, voice calls and phone verification (authenticated first, so a caller without a key
/// learns nothing).
pub async fn phone_channel(_call: BackendCall) -> ApiResult<Json<()>> {
    Err(ApiError::new(
        ErrorCode::PhoneChannelsUnsupported,
        "Assent does not send SMS or place calls: ask the person for the one-time code their Assent app shows, or send a push approval request.",
    ))
}

/// The calendar months (UTC) from the one of `first` (at most [`STATS_MONTHS`] back) to the one
/// of `now`, oldest first.
fn stats_months(first: i64, now: i64) -> Vec<MonthSpan> {
    let earliest = month_start(first.min(now));
    let mut start = month_start(now);
    // 32 days past a month's first day is always in the next month.
    let mut months = vec![MonthSpan {
        start,
        end: month_start(start + 32 * 86_400),
    }];
    while months.len() < STATS_MONTHS && start > earliest {
        let end = start;
        start = month_start(start - 1);
        months.push(MonthSpan { start, end });
    }
    months.reverse();
    months
}

/// The month's English name and year.
fn month_name(span: MonthSpan) -> (String, i32) {
    let at = time::OffsetDateTime::from_unix_timestamp(span.start)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    (at.month().to_string(), at.year())
}

/// The calling app's monthly counts, from the rows of its people, requests and accepted codes.
pub async fn stats(
    State(state): State<AppState>,
    call: BackendCall,
) -> ApiResult<Json<AppStatsResponse>> {
    let months = stats_months(call.app.created_at, state.now());
    let (total_users, counts) = state.store.app_stats(&call.app.id, &months).await?;
    let stats: Vec<MonthStats> = months
        .iter()
        .zip(counts)
        .map(|(span, counts)| {
            let (month, year) = month_name(*span);
            MonthStats {
                sms_count: 0,
                calls_count: 0,
                users_count: counts.users,
                auths_count: counts.approvals + counts.codes_accepted,
                month,
                api_calls_count: None,
                year,
                approval_requests_count: counts.approval_requests,
                approvals_count: counts.approvals,
                codes_accepted_count: counts.codes_accepted,
            }
        })
        .collect();
    Ok(ok(AppStatsResponse {
        message: "Monthly statistics.".into(),
        count: stats.len(),
        total_users,
        app_id: call.app.serial_id,
        success: true,
        stats,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_run_from_the_apps_first_to_the_current_one_at_most_a_year() {
        // 2017-02-10T01:09:52Z; the app created 2016-12-31T23:59:59Z.
        let now = 1_486_688_992;
        let months = stats_months(1_483_228_799, now);
        let names: Vec<_> = months.iter().map(|m| month_name(*m)).collect();
        assert_eq!(
            names,
            [
                ("December".to_owned(), 2016),
                ("January".to_owned(), 2017),
                ("February".to_owned(), 2017)
            ]
        );
        for pair in months.windows(2) {
            assert_eq!(pair[0].end, pair[1].start, "months are contiguous");
        }
        assert_eq!(
            months[2].end, 1_488_326_400,
            "February 2017 ends on 1 March"
        );
        let long_ago = stats_months(0, now);
        assert_eq!(long_ago.len(), STATS_MONTHS, "at most a year");
        assert_eq!(month_name(long_ago[0]), ("March".to_owned(), 2016));
    }
}
