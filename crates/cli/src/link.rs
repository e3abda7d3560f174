//! How an account's link to its service reads in a terminal.

use assent_device::view::LinkState;

/// "connected", "reconnecting (attempt 2, next try in 4 s)", ...
pub fn describe_link(state: &LinkState, now_ms: i64) -> String {
    match state {
        LinkState::Connecting => "connecting".into(),
        LinkState::Connected => "connected".into(),
        LinkState::Reconnecting {
            attempt,
            next_try_at_ms: Some(at),
        } => format!(
            "reconnecting (attempt {attempt}, next try in {} s)",
            ((at - now_ms).max(0) + 999) / 1000
        ),
        LinkState::Reconnecting { attempt, .. } => {
            format!("reconnecting (attempt {attempt}, trying now)")
        }
        LinkState::Offline => "offline".into(),
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
