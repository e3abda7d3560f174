//! The session's settings: what a device keeps about how it behaves (not who it is), in
//! `settings.json` in the data directory. No secret is in them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The session's own settings, kept in the data directory (no secrets).
///
/// A field missing from an older file takes its default, so files written before a setting
/// existed keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Settings {
    /// No notification is shown for new requests (they still appear in the window).
    #[serde(default)]
    pub notifications_paused: bool,
    /// A desktop app looks for a signed update of itself at start and once a day (it never
    /// installs one without the person's click). On by default; the terminal ignores it.
    #[serde(default = "on")]
    pub check_for_updates: bool,
}

fn on() -> bool {
    true
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            notifications_paused: false,
            check_for_updates: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_from_before_update_checks_turns_them_on() {
        let old: Settings = serde_json::from_str(r#"{"notifications_paused":true}"#).unwrap();
        assert!(
            old.notifications_paused && old.check_for_updates,
            "an older settings file keeps its values and checks for updates: {old:?}"
        );
    }
}
