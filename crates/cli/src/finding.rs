//! How `assent device watch` prints what the approval-log monitor found (text and `--json`).

use std::collections::HashSet;

use assent_device::view::{Finding, FindingView, shown_text};
use serde_json::{Value, json};

/// `{"event": "finding", "finding": {...}}`: the finding exactly as the session reports it.
pub fn finding_json(finding: &FindingView) -> Value {
    json!({"event": "finding", "finding": finding})
}

/// A date and time for people, in UTC (`2026-11-26 21:40 UTC`).
pub fn utc(unix: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// One finding as a line (or two) for a terminal.
pub fn finding_text(f: &FindingView) -> String {
    let account = format!("{} ({})", shown_text(&f.app_name), shown_text(&f.service));
    let act = "If it was not you, contact the administrator of this service and deny any request you did not start.";
    match &f.finding {
        Finding::UnknownDevice {
            device_id,
            enrolled_at,
            fingerprint,
            ..
        } => format!(
            "WARNING {account}: a device you may not know was added to your account: device {device_id}, enrolled {}, key fingerprint {fingerprint}. {act}",
            utc(*enrolled_at)
        ),
        Finding::DecisionOnOtherDevice {
            request_id,
            device_id,
            outcome,
            signed_at,
            informational,
            ..
        } => format!(
            "{} {account}: a decision on another device: request {request_id} was answered {} by device {device_id} at {}.{}",
            if *informational { "info" } else { "WARNING" },
            outcome_word(*outcome),
            utc(*signed_at),
            if *informational {
                String::new()
            } else {
                format!(" {act}")
            }
        ),
        Finding::DecisionNotMade {
            request_id,
            outcome,
            signed_at,
            ..
        } => format!(
            "WARNING {account}: a decision you did not make: request {request_id} was answered {} with THIS device's key at {}, but this device never did. The key may have leaked: remove this account here, contact the administrator, and enroll again.",
            outcome_word(*outcome),
            utc(*signed_at)
        ),
        Finding::Fork { size, new_size, .. } => format!(
            "DANGER {account}: the service's approval log was rewritten: its checkpoint of {new_size} entries does not extend the one of {size} entries this device verified before. Contact the administrator; do not trust approvals from this service until it is explained."
        ),
        Finding::LogRefused { message } => format!(
            "DANGER {account}: the service refuses to sign its approval log (its database no longer matches what it signed): {}. Contact the administrator.",
            shown_text(message)
        ),
    }
}

fn outcome_word(outcome: assent_protocol::decision::Outcome) -> &'static str {
    match outcome {
        assent_protocol::decision::Outcome::Approve => "approve",
        assent_protocol::decision::Outcome::Deny => "deny",
    }
}

/// Prints the findings not printed before (by id).
pub fn print_new(findings: &[FindingView], printed: &mut HashSet<String>, json: bool) {
    for f in findings {
        if printed.insert(f.id.clone()) {
            if json {
                println!("{}", finding_json(f));
            } else {
                println!("{}", finding_text(f));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_calendar_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_795_728_000), "2026-11-26 21:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC", "a leap day");
    }
}
