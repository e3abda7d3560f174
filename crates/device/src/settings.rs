//! The session's settings: what a device keeps about how it behaves (not who it is), in
//! `settings.json` in the data directory. No secret is in them.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The session's own settings, kept in the data directory (no secrets).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Settings {
    /// No notification is shown for new requests (they still appear in the window).
    pub notifications_paused: bool,
}
