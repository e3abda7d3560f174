//! The device SDK's one error type.
//!
//! Every error has a stable [`Error::code`] the desktop UI and the CLI switch on; the `Display`
//! text is for people and never contains a secret.

use assent_protocol::error::ErrorCode;
use assent_protocol::revocation::RevocationNotice;
use assent_protocol::signed::Signed;

use crate::verification::VerificationError;

/// Everything that can go wrong on the device side.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No OS keychain is reachable (on Linux: no Secret Service on the D-Bus session bus).
    #[error(
        "no OS keychain is available ({detail}). On Linux, Assent needs a Secret Service provider such as \
         gnome-keyring or KWallet running in your session; keys are never stored in files instead"
    )]
    KeychainUnavailable {
        /// What the platform reported.
        detail: String,
    },
    /// The keychain refused or failed an operation.
    #[error("the OS keychain failed: {0}")]
    Keychain(String),
    /// The account's key is not in the keychain any more.
    #[error(
        "the key for this account is missing from the OS keychain; remove the account and enroll again"
    )]
    KeyMissing,
    /// The enrollment link or token is malformed.
    #[error("{0}")]
    InvalidLink(String),
    /// The service could not be reached.
    #[error("cannot reach the Assent service at {server}: {detail}")]
    Network {
        /// The service URL.
        server: String,
        /// What failed.
        detail: String,
    },
    /// The service answered with an error.
    #[error("the service refused: {message} (code {code})")]
    Service {
        /// The stable code (`60079`, ...).
        code: String,
        /// The service's message (unsafe characters stripped, shortened).
        message: String,
        /// The revocation notice sent with a 60103, **unverified**: only
        /// [`crate::Authenticator`] acts on it, after checking it against the pinned key.
        revocation: Option<Box<Signed<RevocationNotice>>>,
    },
    /// The service says this device is revoked or unknown, but sent no revocation notice signed
    /// by the key pinned at enrollment: nothing is deleted (whoever answers at the service's
    /// address could say as much).
    #[error(
        "the service for {account} refuses this device (revoked or unknown) but did not prove it; \
         the key is kept. If you removed this device, remove the account here too"
    )]
    RevocationUnproven {
        /// The account's app name.
        account: String,
    },
    /// The service address is plain `http` off this machine: enrolling needs the person's
    /// explicit consent.
    #[error(
        "{host} is not a secure (https) address: anyone on the network path could read or change \
         what this computer and the service say to each other"
    )]
    InsecureServer {
        /// The host as parsed.
        host: String,
    },
    /// The service answered something that is not the protocol.
    #[error("the service sent an unexpected answer: {0}")]
    Protocol(String),
    /// A request's signature does not verify against the pinned service key: it was dropped.
    #[error("request {id} is not signed by this account's service key and was dropped")]
    Spoofed {
        /// The request id.
        id: uuid::Uuid,
    },
    /// A request signed by the pinned service key whose action label or people break the rules
    /// a device holds every service to (`RequestDetails::check_people_and_label`): it was
    /// dropped, never shown. Reported under [`ErrorKind::Spoofed`].
    #[error("request {id} was dropped: {why}")]
    Unshowable {
        /// The request id.
        id: uuid::Uuid,
        /// What was wrong.
        why: String,
    },
    /// The device has been revoked; its key is deleted.
    #[error("this device was revoked for {account}; enroll it again to use it")]
    Revoked {
        /// The account's app name.
        account: String,
    },
    /// No such account on this device.
    #[error("no such account: {0}")]
    UnknownAccount(String),
    /// The request is not waiting for this device's person.
    #[error("request {0} is not pending for any account on this device")]
    UnknownRequest(uuid::Uuid),
    /// The number picked or the code typed is missing or cannot be right (not one of the choices,
    /// not the request's number of digits): refused before anything was sent.
    #[error("{0}")]
    InvalidNumber(String),
    /// A setting has a value that cannot be used.
    #[error("{name} is {value:?}: {expected}")]
    InvalidSetting {
        /// The setting (an environment variable's name).
        name: String,
        /// The value given.
        value: String,
        /// What is accepted.
        expected: String,
    },
    /// The operating system did not confirm the person before an approval: nothing was signed
    /// or sent, and the request is still waiting.
    #[error(transparent)]
    Verification(#[from] crate::verification::VerificationError),
    /// Reading or writing the data directory failed.
    #[error("cannot use the data directory {path}: {detail}")]
    Storage {
        /// The file or directory.
        path: String,
        /// What failed.
        detail: String,
    },
}

/// The kind of an error, as a stable machine-readable code: the one enum every layer switches
/// on (the desktop's commands and events, the UI through its generated TypeScript, the CLI).
/// Messages may change; these codes do not. Serialized in `snake_case` (`keychain_unavailable`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, ts_rs::TS,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No OS keychain is reachable.
    KeychainUnavailable,
    /// The keychain refused or failed an operation.
    KeychainError,
    /// The account's key is not in the keychain any more.
    KeyMissing,
    /// The enrollment link or token is malformed.
    InvalidLink,
    /// The enrollment link was already used or has expired.
    TokenInvalid,
    /// The service could not be reached.
    Network,
    /// The service refused this device's clock.
    ClockSkew,
    /// The request is no longer waiting.
    NotPending,
    /// No such request (or not for this device's person).
    RequestNotFound,
    /// This device already decided the request.
    AlreadyDecided,
    /// The number picked (or the last code typed) did not match; the service denied the request.
    WrongNumber,
    /// The code typed did not match, and the request still waits: the service's message says
    /// how many tries are left (shown as is; nothing is read from its text).
    WrongCode,
    /// The number or code is missing or cannot be right (not one of the choices, not the
    /// request's number of digits): refused locally, nothing sent.
    InvalidNumber,
    /// This device was revoked for the account (the service proved it with a notice signed by
    /// the pinned key; the key is deleted).
    Revoked,
    /// The service refuses this device but did not prove a revocation; the key is kept.
    RevocationUnproven,
    /// The service address is not https (and not loopback): enrolling needs explicit consent.
    InsecureServer,
    /// More requests wait than a device shows at once (a notice, never a command's error).
    TooManyRequests,
    /// A request did not verify against the pinned service key, or broke the rules for what a
    /// device shows (an over-long action label, a name for someone who is not an approver), and
    /// was dropped.
    Spoofed,
    /// No such account on this device.
    UnknownAccount,
    /// The data directory could not be read or written.
    StorageError,
    /// The service refused for another reason.
    ServiceError,
    /// The service answered something that is not the protocol.
    ProtocolError,
    /// A setting (for example an environment variable) has a value that cannot be used.
    InvalidSetting,
    /// A caller passed an argument outside its allowed values (a shell's command argument).
    InvalidArgument,
    /// Start at login could not be changed (desktop shells only).
    AutostartFailed,
    /// No update could be checked for or downloaded (the update server is unreachable or
    /// answered something that is not an update manifest). Desktop shells only.
    UpdateUnavailable,
    /// An update was downloaded but its signature does not verify against the public key built
    /// into the app: it was refused and nothing was installed. Desktop shells only.
    UpdateSignatureInvalid,
    /// An update cannot be installed now: a request is waiting for the person, or no update was
    /// found to install. Nothing was changed. Desktop shells only.
    UpdateNotNow,
    /// A verified update could not be written in place of the app (the app is unchanged).
    UpdateInstallFailed,
    /// The system clipboard could not be used (no display, or a desktop that offers no
    /// clipboard to the app): nothing was copied. Desktop shells only.
    ClipboardUnavailable,
    /// The person cancelled the operating system's verification (or failed it): nothing was
    /// signed, the request is still waiting.
    VerificationRefused,
    /// The operating system cannot verify the person (no polkit, no authentication agent, the
    /// polkit action not installed, an unsupported platform): nothing was signed.
    VerificationUnavailable,
    /// The operating system's verification failed unexpectedly: nothing was signed.
    VerificationFailed,
    /// Anything the shell could not classify (a bug): the UI shows a generic message.
    Internal,
}

impl ErrorKind {
    /// Every kind, in declaration order (the generated TypeScript and its tests list them).
    pub const ALL: [ErrorKind; 34] = [
        ErrorKind::KeychainUnavailable,
        ErrorKind::KeychainError,
        ErrorKind::KeyMissing,
        ErrorKind::InvalidLink,
        ErrorKind::TokenInvalid,
        ErrorKind::Network,
        ErrorKind::ClockSkew,
        ErrorKind::NotPending,
        ErrorKind::RequestNotFound,
        ErrorKind::AlreadyDecided,
        ErrorKind::WrongNumber,
        ErrorKind::WrongCode,
        ErrorKind::InvalidNumber,
        ErrorKind::Revoked,
        ErrorKind::RevocationUnproven,
        ErrorKind::InsecureServer,
        ErrorKind::TooManyRequests,
        ErrorKind::Spoofed,
        ErrorKind::UnknownAccount,
        ErrorKind::StorageError,
        ErrorKind::ServiceError,
        ErrorKind::ProtocolError,
        ErrorKind::InvalidSetting,
        ErrorKind::InvalidArgument,
        ErrorKind::AutostartFailed,
        ErrorKind::UpdateUnavailable,
        ErrorKind::UpdateSignatureInvalid,
        ErrorKind::UpdateNotNow,
        ErrorKind::UpdateInstallFailed,
        ErrorKind::ClipboardUnavailable,
        ErrorKind::VerificationRefused,
        ErrorKind::VerificationUnavailable,
        ErrorKind::VerificationFailed,
        ErrorKind::Internal,
    ];

    /// The code as a string, exactly as serialized (`keychain_unavailable`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::KeychainUnavailable => "keychain_unavailable",
            ErrorKind::KeychainError => "keychain_error",
            ErrorKind::KeyMissing => "key_missing",
            ErrorKind::InvalidLink => "invalid_link",
            ErrorKind::TokenInvalid => "token_invalid",
            ErrorKind::Network => "network",
            ErrorKind::ClockSkew => "clock_skew",
            ErrorKind::NotPending => "not_pending",
            ErrorKind::RequestNotFound => "request_not_found",
            ErrorKind::AlreadyDecided => "already_decided",
            ErrorKind::WrongNumber => "wrong_number",
            ErrorKind::WrongCode => "wrong_code",
            ErrorKind::InvalidNumber => "invalid_number",
            ErrorKind::Revoked => "revoked",
            ErrorKind::RevocationUnproven => "revocation_unproven",
            ErrorKind::InsecureServer => "insecure_server",
            ErrorKind::TooManyRequests => "too_many_requests",
            ErrorKind::Spoofed => "spoofed",
            ErrorKind::UnknownAccount => "unknown_account",
            ErrorKind::StorageError => "storage_error",
            ErrorKind::ServiceError => "service_error",
            ErrorKind::ProtocolError => "protocol_error",
            ErrorKind::InvalidSetting => "invalid_setting",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::AutostartFailed => "autostart_failed",
            ErrorKind::UpdateUnavailable => "update_unavailable",
            ErrorKind::UpdateSignatureInvalid => "update_signature_invalid",
            ErrorKind::UpdateNotNow => "update_not_now",
            ErrorKind::UpdateInstallFailed => "update_install_failed",
            ErrorKind::ClipboardUnavailable => "clipboard_unavailable",
            ErrorKind::VerificationRefused => "verification_refused",
            ErrorKind::VerificationUnavailable => "verification_unavailable",
            ErrorKind::VerificationFailed => "verification_failed",
            ErrorKind::Internal => "internal",
        }
    }

    /// True when the request the error is about is no longer waiting for this device, so a
    /// shell stops showing it: it was decided, expired or cancelled, the number picked was
    /// wrong (the service denied it), or the device was revoked. A wrong typed code with tries
    /// left (`wrong_code`) does not end it.
    pub fn ends_the_request(self) -> bool {
        matches!(
            self,
            ErrorKind::NotPending
                | ErrorKind::RequestNotFound
                | ErrorKind::WrongNumber
                | ErrorKind::Revoked
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The error's kind. Shells and the UI switch on it; messages may change.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::KeychainUnavailable { .. } => ErrorKind::KeychainUnavailable,
            Error::Keychain(_) => ErrorKind::KeychainError,
            Error::KeyMissing => ErrorKind::KeyMissing,
            Error::InvalidLink(_) => ErrorKind::InvalidLink,
            Error::Network { .. } => ErrorKind::Network,
            Error::Service { code, .. } => match ErrorCode::parse(code) {
                Some(ErrorCode::InvalidRegistrationToken) => ErrorKind::TokenInvalid,
                Some(ErrorCode::RequestNotPending) => ErrorKind::NotPending,
                Some(ErrorCode::ApprovalRequestNotFound) => ErrorKind::RequestNotFound,
                Some(ErrorCode::WrongNumber) => ErrorKind::WrongNumber,
                Some(ErrorCode::WrongCode) => ErrorKind::WrongCode,
                Some(ErrorCode::AlreadyDecided) => ErrorKind::AlreadyDecided,
                Some(ErrorCode::ClockSkew) => ErrorKind::ClockSkew,
                // An error code is never proof: `revoked` is only for a verified notice.
                Some(ErrorCode::DeviceRevoked | ErrorCode::DeviceNotFound) => {
                    ErrorKind::RevocationUnproven
                }
                _ => ErrorKind::ServiceError,
            },
            Error::Protocol(_) => ErrorKind::ProtocolError,
            Error::Spoofed { .. } | Error::Unshowable { .. } => ErrorKind::Spoofed,
            Error::Revoked { .. } => ErrorKind::Revoked,
            Error::RevocationUnproven { .. } => ErrorKind::RevocationUnproven,
            Error::InsecureServer { .. } => ErrorKind::InsecureServer,
            Error::UnknownAccount(_) => ErrorKind::UnknownAccount,
            Error::UnknownRequest(_) => ErrorKind::RequestNotFound,
            Error::InvalidNumber(_) => ErrorKind::InvalidNumber,
            Error::Storage { .. } => ErrorKind::StorageError,
            Error::Verification(e) => match e {
                VerificationError::Refused { .. } => ErrorKind::VerificationRefused,
                VerificationError::Unavailable { .. } => ErrorKind::VerificationUnavailable,
                VerificationError::Failed { .. } => ErrorKind::VerificationFailed,
            },
            Error::InvalidSetting { .. } => ErrorKind::InvalidSetting,
        }
    }

    /// The kind's code as a string (`keychain_unavailable`, `not_pending`, ...).
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The service's error code, when the service refused.
    pub fn service_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Service { code, .. } => ErrorCode::parse(code),
            _ => None,
        }
    }

    /// True when the service said (without proof) that this device is revoked or unknown. Used
    /// only where the person asked to forget the account anyway; never a reason to delete a key
    /// on its own.
    pub fn says_revoked(&self) -> bool {
        matches!(
            self.service_code(),
            Some(ErrorCode::DeviceRevoked | ErrorCode::DeviceNotFound)
        )
    }

    /// The revocation notice the service sent with this refusal, **unverified**.
    pub(crate) fn revocation_notice(&self) -> Option<&Signed<RevocationNotice>> {
        match self {
            Error::Service {
                revocation: Some(notice),
                ..
            } => Some(notice),
            _ => None,
        }
    }
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_serializes_as_its_code_and_back() {
        for kind in ErrorKind::ALL {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str(), "{kind:?} serializes as its code");
            assert_eq!(
                serde_json::from_value::<ErrorKind>(json).unwrap(),
                kind,
                "{kind:?} round-trips"
            );
        }
        let codes: std::collections::HashSet<_> =
            ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len(), "codes are distinct");
    }

    #[test]
    fn service_refusals_map_to_kinds() {
        let service = |code: &str| Error::Service {
            code: code.into(),
            message: "m".into(),
            revocation: None,
        };
        assert_eq!(service("60100").kind(), ErrorKind::TokenInvalid);
        for code in ["60103", "60092"] {
            assert_eq!(
                service(code).kind(),
                ErrorKind::RevocationUnproven,
                "{code} alone is never a revocation"
            );
        }
        assert_eq!(service("99999").kind(), ErrorKind::ServiceError);
        assert_eq!(service("60120").kind(), ErrorKind::WrongCode);
        assert!(
            !ErrorKind::WrongCode.ends_the_request(),
            "a wrong code with tries left keeps the request on screen"
        );
        assert!(
            ErrorKind::WrongNumber.ends_the_request(),
            "the last wrong code (60106) denied the request"
        );
        assert_eq!(
            Error::UnknownRequest(uuid::Uuid::nil()).kind(),
            ErrorKind::RequestNotFound
        );
    }

    #[test]
    fn verification_errors_have_their_own_kinds_and_never_end_the_request() {
        for (error, kind) in [
            (
                VerificationError::Refused { detail: "d".into() },
                ErrorKind::VerificationRefused,
            ),
            (
                VerificationError::Unavailable { detail: "d".into() },
                ErrorKind::VerificationUnavailable,
            ),
            (
                VerificationError::Failed { detail: "d".into() },
                ErrorKind::VerificationFailed,
            ),
        ] {
            let error = Error::from(error);
            assert_eq!(error.kind(), kind, "{error} has the kind {kind}");
            assert!(
                !kind.ends_the_request(),
                "{kind}: the request stays waiting after a failed verification"
            );
        }
    }
}
