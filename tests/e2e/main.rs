//! End to end: the built desktop app, driven like a person through WebDriver (tauri-driver and
//! WebKitWebDriver), approving real requests from a real `assent serve` (and holding against a
//! hostile one), with the real keychain and notification daemon of the private session.

mod approvers;
mod codes;
mod desktop_shell;
mod driver;
mod enroll;
mod heartbeat;
mod hostile;
mod monitor;
mod scenarios;
mod verification;

/// One app under WebDriver at a time: the tests of this binary run on parallel threads, and two
/// WebKit apps at once on a 2-core machine make every wait a race.
pub static ONE_APP_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
