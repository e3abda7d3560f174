//! The one test kit of the workspace: everything a test needs to run Assent for real and talk to
//! it. Used by every test binary, never by shipped code.
//!
//! - [`service`]: the service in-process on real sockets, on SQLite or PostgreSQL
//!   ([`Engine::from_env`]: `ASSENT_TEST_DATABASE=postgres` runs a suite on PostgreSQL);
//! - [`backend`]: a relying party's client of the backend API;
//! - [`authenticator`]: a person's other authenticator app, reading `users.generate_qr`'s QR code;
//! - [`device`]: a device speaking the protocol directly (and misbehaving on purpose);
//! - [`callbacks`]: a callback receiver;
//! - [`hostile`]: a hostile service a device can be enrolled with (forged revocations, floods,
//!   misleading text, huge answers, redirects);
//! - [`postgres`]: a database per test in the throwaway cluster `scripts/test` starts;
//! - [`balancer`]: Debian's nginx in front of several instances, as an operator runs it;
//! - [`wait`]: waiting for things that should happen promptly, and raw HTTP;
//! - [`rogue`]: a writer of the database without any key, to show what it cannot do;
//! - [`polkit`] (Linux): a private system bus with polkitd and a test authentication agent that
//!   approves or refuses on command;
//! - [`browser`]: headless Chromium through chromedriver, for a relying party's pages;
//! - [`process`]: the built binaries as processes (`assent serve`, headless devices), artifacts,
//!   the virtual display.

pub mod authenticator;
pub mod backend;
pub mod balancer;
pub mod browser;
pub mod callbacks;
pub mod device;
pub mod hostile;
#[cfg(target_os = "linux")]
pub mod polkit;
pub mod postgres;
pub mod process;
pub mod rogue;
pub mod service;
pub mod wait;

pub use authenticator::AuthenticatorApp;
pub use backend::Backend;
pub use callbacks::{CallbackReceiver, ReceivedCallback};
pub use device::{DeviceStream, Reply, TestDevice};
pub use hostile::{
    Answer, HostileService, LogoAnswer, LogoHit, LogoServer, StreamAnswer, dimension_bomb,
};
pub use service::{Engine, Options, Stopped, TestData, TestService};
pub use wait::{PROMPTLY, authority, eventually, parse_answer};

/// A code of `code`'s length that is not `code`: every digit moved on by one. Stands for a wrong
/// typed code, or a one-time code no device shows now.
pub fn another_code(code: &str) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect()
}

/// Whether `text` shows `code` as a token of its own: a word that is exactly the code, where words
/// are split at anything but letters, digits and `-`. A short code is then not "found" inside a
/// timestamp, a device id or a UUID segment by chance (a 4-digit code is a substring of a long
/// serialised view about as often as not), while `Code: 1234.` or `"code":"1234"` still is.
pub fn shows_code(text: &str, code: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|word| word == code)
}

/// Asserts that a backend answer (`status`, the JSON `body`) is the refusal `http` with Authy
/// error code `code`; the rest is the failure message, formatted like `assert_eq!`'s.
#[macro_export]
macro_rules! assert_refused {
    ($status:expr, $body:expr, $http:expr, $code:expr, $($message:tt)+) => {
        assert_eq!(
            ($status.as_u16(), $body["error_code"].as_str()),
            ($http, Some($code)),
            $($message)+
        )
    };
}

#[cfg(test)]
mod tests {
    use super::shows_code;

    #[test]
    fn a_code_is_found_as_a_word_and_not_inside_other_numbers() {
        assert!(
            shows_code("Code: 1234.", "1234"),
            "a code in prose is shown"
        );
        assert!(
            shows_code(r#"{"code":"1234"}"#, "1234"),
            "a code as a JSON string"
        );
        assert!(
            shows_code(r#"{"n":1234,"m":2}"#, "1234"),
            "a code as a JSON number"
        );
        assert!(
            !shows_code(
                r#"{"created_at":1795776411,"approvers":[3333359033968370]}"#,
                "7764"
            ),
            "digits inside a timestamp are not the code"
        );
        assert!(
            !shows_code("c0b06b68-7e36-4123-93ce-3cf6d4fc1026", "4123"),
            "a UUID segment is not the code"
        );
    }
}
