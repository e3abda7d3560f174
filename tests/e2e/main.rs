//! End to end: the built desktop app, driven like a person through WebDriver (tauri-driver and
//! WebKitWebDriver), approving real requests from a real `assent serve`, with the real keychain
//! and notification daemon of the private session.

mod driver;
mod scenarios;
