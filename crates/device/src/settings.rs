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
    /// Digits of the one-time codes this device shows: 6 (what backends and other authenticator
    /// apps expect), 7 or 8. The service accepts any of the three (it checks a code at the length
    /// typed), so this is the person's choice alone. A value outside 6 to 8 in the file is read
    /// as 6 ([`Settings::digits`]).
    #[serde(default = "six")]
    pub code_digits: u8,
    /// Every approval asks the operating system to confirm the person first (polkit on Linux:
    /// the person's own password), not only approvals of requests that require it. Off by
    /// default. Denials never ask.
    #[serde(default)]
    pub verify_every_approval: bool,
}

fn on() -> bool {
    true
}

fn six() -> u8 {
    assent_protocol::totp::DEFAULT_DIGITS
}

impl Settings {
    /// The code length in effect: [`Settings::code_digits`] when it is 6 to 8, else 6.
    pub fn digits(&self) -> assent_protocol::totp::Digits {
        assent_protocol::totp::Digits::new(usize::from(self.code_digits)).unwrap_or_default()
    }
}

/// A whole number of seconds within `range` from the environment variable `name` (a timing a
/// test or an operator may change); `None` when it is not set.
///
/// # Errors
/// [`crate::Error::InvalidSetting`] naming the variable, the value and the range.
pub(crate) fn seconds_from_env(
    name: &str,
    range: std::ops::RangeInclusive<u64>,
) -> crate::Result<Option<std::time::Duration>> {
    let Some(value) = std::env::var_os(name) else {
        return Ok(None);
    };
    let value = value.to_string_lossy().into_owned();
    let secs = value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| range.contains(s))
        .ok_or_else(|| crate::Error::InvalidSetting {
            name: name.into(),
            value: value.clone(),
            expected: format!(
                "a whole number of seconds from {} to {}",
                range.start(),
                range.end()
            ),
        })?;
    Ok(Some(std::time::Duration::from_secs(secs)))
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            notifications_paused: false,
            check_for_updates: true,
            code_digits: six(),
            verify_every_approval: false,
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
        assert_eq!(old.digits().get(), 6, "and shows 6-digit codes");
        assert!(
            !old.verify_every_approval,
            "and does not ask for verification of every approval"
        );
    }

    #[test]
    fn a_code_length_outside_six_to_eight_in_the_file_reads_as_six() {
        for (stored, shown) in [(6, 6), (7, 7), (8, 8), (0, 6), (5, 6), (9, 6), (255, 6)] {
            let settings: Settings =
                serde_json::from_str(&format!(r#"{{"code_digits":{stored}}}"#)).unwrap();
            assert_eq!(
                settings.digits().get(),
                shown,
                "code_digits {stored} in the file should show {shown}-digit codes"
            );
        }
    }
}
