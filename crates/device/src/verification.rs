//! User verification: the operating system confirms the person before a key signs an approval.
//!
//! [`UserVerifier`] is the seam the SDK calls, before signing, for an approval of a request that
//! requires it (`RequestDetails::user_verification`) or for every approval when the person's
//! setting [`crate::view::Settings::verify_every_approval`] is on. Denials never ask.
//!
//! - Linux: [`PolkitVerifier`], polkit's `CheckAuthorization` for the action [`POLKIT_ACTION`]
//!   (installed by the packages to `/usr/share/polkit-1/actions/`), answered by the person's
//!   authentication agent with their own password (`auth_self`, asked again every time).
//! - macOS and Windows: no implementation yet. [`platform_verifier`] returns a verifier that
//!   always answers [`VerificationError::Unavailable`] ("not supported on this platform yet"),
//!   so a request that requires verification cannot be approved there (it can be denied), and
//!   nothing claims a verification that did not happen. LocalAuthentication (macOS) would need a
//!   crate this workspace does not have; Windows Hello (`UserConsentVerifier`) is not written.
//!
//! What this stops and what it does not is in `docs/security.md` ("User verification").

use std::fmt;
use std::sync::Arc;

use assent_protocol::decision::VerificationMethod;

/// What the operating system's dialog says is being approved, where the platform lets the app
/// say it (polkit does not: its dialog shows the policy's fixed message). Built from a verified
/// request; control characters are removed and each part shortened, so a request cannot draw a
/// dialog of its own making.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationPrompt {
    /// The relying party's name, as shown on the request.
    pub app_name: String,
    /// The request's question ("Sign in to Acme Bank?").
    pub message: String,
}

/// Characters kept of each part of a [`VerificationPrompt`].
pub const PROMPT_PART_CHARS: usize = 200;

impl VerificationPrompt {
    /// A prompt for approving `message` from `app_name` (cleaned as the type says).
    pub fn new(app_name: &str, message: &str) -> Self {
        VerificationPrompt {
            app_name: clean(app_name),
            message: clean(message),
        }
    }
}

fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(PROMPT_PART_CHARS)
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Why the operating system did not confirm the person. Nothing was signed in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerificationError {
    /// The person cancelled the dialog, or did not prove who they are (a wrong password, no
    /// answer in time).
    #[error(
        "the system did not confirm it is you ({detail}); nothing was approved. Approve again and enter your password when the system asks"
    )]
    Refused {
        /// What the system reported.
        detail: String,
    },
    /// The system cannot ask: no polkit, no authentication agent in this session, the Assent
    /// polkit action not installed, or a platform without an implementation.
    #[error(
        "the system cannot confirm it is you: {detail}; nothing was approved. Deny the request, or approve it on a device that can verify you"
    )]
    Unavailable {
        /// What is missing.
        detail: String,
    },
    /// The system failed while asking.
    #[error("confirming it is you failed: {detail}; nothing was approved")]
    Failed {
        /// What failed.
        detail: String,
    },
}

/// Asks the operating system to confirm the person before a key is used.
///
/// Implementations block until the person answers (minutes at most); async callers run them
/// with `tokio::task::spawn_blocking`. An implementation returns the method the system used,
/// and never [`VerificationMethod::None`] for a confirmation: when it cannot ask, it errs.
pub trait UserVerifier: Send + Sync + fmt::Debug + 'static {
    /// Asks the system to confirm the person, showing `prompt`.
    ///
    /// # Errors
    /// [`VerificationError::Refused`] when the person cancelled or failed;
    /// [`VerificationError::Unavailable`] when the system cannot ask;
    /// [`VerificationError::Failed`] otherwise.
    fn verify(&self, prompt: &VerificationPrompt) -> Result<VerificationMethod, VerificationError>;
}

/// The verifier of the platform this is built for (see the module docs).
pub fn platform_verifier() -> Arc<dyn UserVerifier> {
    #[cfg(target_os = "linux")]
    {
        Arc::new(PolkitVerifier::new())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Arc::new(UnsupportedPlatform)
    }
}

/// The verifier of platforms without an implementation yet: it never confirms anyone, so an
/// approval that needs verification is refused with [`VerificationError::Unavailable`] and
/// nothing is signed.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnsupportedPlatform;

impl UserVerifier for UnsupportedPlatform {
    fn verify(&self, _: &VerificationPrompt) -> Result<VerificationMethod, VerificationError> {
        Err(VerificationError::Unavailable {
            detail: "verifying the person is not supported on this platform yet".into(),
        })
    }
}

#[cfg(target_os = "linux")]
pub use polkit::{POLKIT_ACTION, PolkitSubject, PolkitVerifier};

#[cfg(target_os = "linux")]
mod polkit {
    use std::collections::HashMap;
    use std::time::Duration;

    use assent_protocol::decision::VerificationMethod;
    use dbus::arg::{PropMap, RefArg, Variant};
    use dbus::blocking::Connection;

    use crate::verification::{UserVerifier, VerificationError, VerificationPrompt};

    /// The polkit action an approval asks for. Its policy file
    /// (`packaging/desktop/dev.assent.approve.policy`, installed to
    /// `/usr/share/polkit-1/actions/`) says `auth_self` for every kind of session and keeps no
    /// authorization, so every approval asks for the person's own password again. Its message is
    /// fixed: polkit takes no details from an unprivileged caller, so the request's text cannot
    /// be put in the dialog.
    pub const POLKIT_ACTION: &str = "dev.assent.approve";

    const AUTHORITY: &str = "org.freedesktop.PolicyKit1";
    const AUTHORITY_PATH: &str = "/org/freedesktop/PolicyKit1/Authority";
    const AUTHORITY_INTERFACE: &str = "org.freedesktop.PolicyKit1.Authority";
    /// `CheckAuthorization`'s answer: authorized, challenge, details.
    type AuthorizationResult = (bool, bool, HashMap<String, String>);

    /// `CheckAuthorizationFlags.AllowUserInteraction`.
    const ALLOW_USER_INTERACTION: u32 = 1;

    /// The process polkit checks: a `unix-process` subject (pid, start time, uid), so a pid
    /// reused by another process is not mistaken for it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PolkitSubject {
        /// The process id.
        pub pid: u32,
        /// Its start time, in clock ticks since boot (field 22 of `/proc/<pid>/stat`).
        pub start_time: u64,
        /// Its real user id.
        pub uid: u32,
    }

    impl PolkitSubject {
        /// This process.
        ///
        /// # Errors
        /// [`VerificationError::Failed`] when `/proc` cannot be read.
        pub fn this_process() -> Result<Self, VerificationError> {
            Self::process(std::process::id())
        }

        /// Process `pid`, read from `/proc`. polkit lets only a privileged caller check another
        /// process than itself (tests do, as root, for an unprivileged process).
        ///
        /// # Errors
        /// [`VerificationError::Failed`] when `/proc/<pid>` cannot be read or parsed.
        pub fn process(pid: u32) -> Result<Self, VerificationError> {
            let failed = |what: &str| VerificationError::Failed {
                detail: format!("cannot read process {pid} in /proc: {what}"),
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_err(|e| failed(&e.to_string()))?;
            let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .map_err(|e| failed(&e.to_string()))?;
            let start_time = start_time(&stat).ok_or_else(|| failed("no start time in stat"))?;
            let uid = real_uid(&status).ok_or_else(|| failed("no Uid line in status"))?;
            Ok(PolkitSubject {
                pid,
                start_time,
                uid,
            })
        }

        fn to_dbus(self) -> (&'static str, PropMap) {
            let mut fields: PropMap = HashMap::new();
            fields.insert("pid".into(), Variant(Box::new(self.pid) as Box<dyn RefArg>));
            fields.insert(
                "start-time".into(),
                Variant(Box::new(self.start_time) as Box<dyn RefArg>),
            );
            fields.insert(
                "uid".into(),
                Variant(Box::new(i32::try_from(self.uid).unwrap_or(-1)) as Box<dyn RefArg>),
            );
            ("unix-process", fields)
        }
    }

    /// Field 22 of `/proc/<pid>/stat`; the command name (field 2) may hold spaces and
    /// parentheses, so fields are counted after its last `)`.
    pub(super) fn start_time(stat: &str) -> Option<u64> {
        let after_name = &stat[stat.rfind(')')? + 1..];
        after_name.split_whitespace().nth(19)?.parse().ok()
    }

    /// The real uid from `/proc/<pid>/status`'s `Uid:` line.
    pub(super) fn real_uid(status: &str) -> Option<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// User verification through polkit on the system bus (see [`POLKIT_ACTION`]).
    ///
    /// Invariants: the subject is this process unless [`PolkitVerifier::for_subject`] says
    /// otherwise; a subject running as root is refused as
    /// [`VerificationError::Unavailable`], because polkit authorizes uid 0 without asking
    /// anyone, which would claim a verification that never happened.
    #[derive(Debug, Clone)]
    pub struct PolkitVerifier {
        /// `None`: the system bus (`DBUS_SYSTEM_BUS_ADDRESS`, else the standard socket).
        bus: Option<String>,
        subject: Option<PolkitSubject>,
        answer_within: Duration,
    }

    impl Default for PolkitVerifier {
        fn default() -> Self {
            Self::new()
        }
    }

    impl PolkitVerifier {
        /// How long the person has to answer the dialog before the check is cancelled.
        pub const ANSWER_WITHIN: Duration = Duration::from_secs(120);

        /// polkit on the system bus, for this process.
        pub fn new() -> Self {
            PolkitVerifier {
                bus: None,
                subject: None,
                answer_within: Self::ANSWER_WITHIN,
            }
        }

        /// The same, on the bus at `address` (a test's private system bus).
        pub fn on_bus(mut self, address: impl Into<String>) -> Self {
            self.bus = Some(address.into());
            self
        }

        /// The same, checking `subject` instead of this process (polkit allows it only to a
        /// privileged caller).
        pub fn for_subject(mut self, subject: PolkitSubject) -> Self {
            self.subject = Some(subject);
            self
        }

        /// The same, with `limit` for the person to answer.
        pub fn answer_within(mut self, limit: Duration) -> Self {
            self.answer_within = limit;
            self
        }

        fn connect(&self) -> Result<Connection, VerificationError> {
            let connected = match &self.bus {
                Some(address) => Connection::new_address(address),
                None => Connection::new_system(),
            };
            connected.map_err(|e| VerificationError::Unavailable {
                detail: format!(
                    "the system bus cannot be reached ({})",
                    e.message().unwrap_or("no message")
                ),
            })
        }
    }

    impl UserVerifier for PolkitVerifier {
        /// `_prompt` is not shown: see the comment on the details below.
        fn verify(
            &self,
            _prompt: &VerificationPrompt,
        ) -> Result<VerificationMethod, VerificationError> {
            let subject = match self.subject {
                Some(subject) => subject,
                None => PolkitSubject::this_process()?,
            };
            if subject.uid == 0 {
                return Err(VerificationError::Unavailable {
                    detail: "polkit never asks root for a password, so it cannot confirm who is \
                             there; run Assent as your own user"
                        .into(),
                });
            }
            let connection = self.connect()?;
            let authority = connection.with_proxy(AUTHORITY, AUTHORITY_PATH, self.answer_within);
            // No details: polkit refuses details from a caller that is neither root nor the
            // action's owner, so the dialog shows the policy's fixed message and the person
            // reads what they approve in Assent's own window, where they clicked Approve.
            let details: HashMap<&str, &str> = HashMap::new();
            let cancellation = format!("assent-{}", uuid::Uuid::new_v4());
            let answer: Result<(AuthorizationResult,), dbus::Error> = authority.method_call(
                AUTHORITY_INTERFACE,
                "CheckAuthorization",
                (
                    subject.to_dbus(),
                    POLKIT_ACTION,
                    details,
                    ALLOW_USER_INTERACTION,
                    cancellation.as_str(),
                ),
            );
            match answer {
                Ok(((authorized, challenge, details),)) => {
                    read_answer(authorized, challenge, &details)
                }
                Err(e) => {
                    if e.name() == Some("org.freedesktop.DBus.Error.NoReply") {
                        // The dialog may still be up: take it down so a late answer counts for
                        // nothing.
                        let cancel = connection.with_proxy(
                            AUTHORITY,
                            AUTHORITY_PATH,
                            Duration::from_secs(5),
                        );
                        let _: Result<(), _> = cancel.method_call(
                            AUTHORITY_INTERFACE,
                            "CancelCheckAuthorization",
                            (cancellation.as_str(),),
                        );
                    }
                    Err(read_error(&e, self.answer_within))
                }
            }
        }
    }

    /// polkit's answer as a verification: authorized is [`VerificationMethod::OsPassword`]
    /// (`auth_self` asks for the person's password); dismissed is refused; a challenge that was
    /// not taken means no agent could ask.
    pub(super) fn read_answer<S: std::hash::BuildHasher>(
        authorized: bool,
        challenge: bool,
        details: &HashMap<String, String, S>,
    ) -> Result<VerificationMethod, VerificationError> {
        if authorized {
            return Ok(VerificationMethod::OsPassword);
        }
        if details.get("polkit.dismissed").is_some_and(|v| v == "true") {
            return Err(VerificationError::Refused {
                detail: "the password dialog was cancelled".into(),
            });
        }
        if challenge {
            return Err(VerificationError::Unavailable {
                detail: "no polkit authentication agent is running in this session to ask for \
                         your password"
                    .into(),
            });
        }
        Err(VerificationError::Refused {
            detail: "polkit did not authorize the approval".into(),
        })
    }

    fn read_error(e: &dbus::Error, answer_within: Duration) -> VerificationError {
        let message = e.message().unwrap_or("no message").to_owned();
        match e.name().unwrap_or("") {
            "org.freedesktop.DBus.Error.NoReply" | "org.freedesktop.PolicyKit1.Error.Cancelled" => {
                VerificationError::Refused {
                    detail: format!("no answer within {} seconds", answer_within.as_secs()),
                }
            }
            "org.freedesktop.DBus.Error.ServiceUnknown"
            | "org.freedesktop.DBus.Error.NameHasNoOwner" => VerificationError::Unavailable {
                detail: "polkit is not running on this system".into(),
            },
            "org.freedesktop.PolicyKit1.Error.Failed" if message.contains("not registered") => {
                VerificationError::Unavailable {
                    detail: format!(
                        "the polkit action {POLKIT_ACTION} is not installed (reinstall Assent)"
                    ),
                }
            }
            name => VerificationError::Failed {
                detail: format!("polkit answered {name}: {message}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_loses_control_characters_and_is_shortened() {
        let prompt = VerificationPrompt::new(
            "Acme\nBank",
            &format!("Sign in?\u{1b}[2J{}", "x".repeat(500)),
        );
        assert_eq!(prompt.app_name, "Acme Bank", "a newline becomes a space");
        assert!(
            !prompt.message.chars().any(char::is_control),
            "no control character reaches the system dialog: {:?}",
            prompt.message
        );
        assert_eq!(
            prompt.message.chars().count(),
            PROMPT_PART_CHARS,
            "each part is cut at {PROMPT_PART_CHARS} characters"
        );
    }

    #[test]
    fn an_unsupported_platform_never_confirms_anyone() {
        let answer = UnsupportedPlatform.verify(&VerificationPrompt::new("a", "b"));
        assert!(
            matches!(answer, Err(VerificationError::Unavailable { .. })),
            "a platform without an implementation refuses as unavailable: {answer:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn polkit_answers_read_as_verifications() {
        use std::collections::HashMap;
        let none = HashMap::new();
        assert_eq!(
            polkit::read_answer(true, false, &none),
            Ok(VerificationMethod::OsPassword),
            "authorized means the person typed their password"
        );
        let dismissed = HashMap::from([("polkit.dismissed".to_owned(), "true".to_owned())]);
        assert!(
            matches!(
                polkit::read_answer(false, false, &dismissed),
                Err(VerificationError::Refused { .. })
            ),
            "a dismissed dialog is refused"
        );
        assert!(
            matches!(
                polkit::read_answer(false, true, &none),
                Err(VerificationError::Unavailable { .. })
            ),
            "a challenge nobody could take means no agent"
        );
        assert!(
            matches!(
                polkit::read_answer(false, false, &none),
                Err(VerificationError::Refused { .. })
            ),
            "not authorized is refused"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_files_give_the_start_time_and_real_uid() {
        let stat = "4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            polkit::start_time(stat),
            Some(987_654),
            "field 22 counted after the last parenthesis"
        );
        assert_eq!(
            polkit::start_time("garbage"),
            None,
            "no name, no start time"
        );
        let status = "Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t5\n";
        assert_eq!(
            polkit::real_uid(status),
            Some(1000),
            "the real uid is the first"
        );
        let this = PolkitSubject::this_process().expect("this process is readable in /proc");
        assert_eq!(this.pid, std::process::id());
    }
}
