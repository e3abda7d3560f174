//! The device SDK's one error type.
//!
//! Every error has a stable [`Error::code`] the desktop UI and the CLI switch on; the `Display`
//! text is for people and never contains a secret.

use assent_protocol::error::ErrorCode;

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
        /// The service's message.
        message: String,
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
    /// The number picked is missing or not one of the choices.
    #[error("{0}")]
    InvalidNumber(String),
    /// Reading or writing the data directory failed.
    #[error("cannot use the data directory {path}: {detail}")]
    Storage {
        /// The file or directory.
        path: String,
        /// What failed.
        detail: String,
    },
}

impl Error {
    /// A stable, machine-readable code. The UI switches on it; messages may change.
    pub fn code(&self) -> &'static str {
        match self {
            Error::KeychainUnavailable { .. } => "keychain_unavailable",
            Error::Keychain(_) => "keychain_error",
            Error::KeyMissing => "key_missing",
            Error::InvalidLink(_) => "invalid_link",
            Error::Network { .. } => "network",
            Error::Service { code, .. } => match ErrorCode::parse(code) {
                Some(ErrorCode::InvalidRegistrationToken) => "token_invalid",
                Some(ErrorCode::RequestNotPending) => "not_pending",
                Some(ErrorCode::ApprovalRequestNotFound) => "request_not_found",
                Some(ErrorCode::WrongNumber) => "wrong_number",
                Some(ErrorCode::AlreadyDecided) => "already_decided",
                Some(ErrorCode::ClockSkew) => "clock_skew",
                Some(ErrorCode::DeviceRevoked | ErrorCode::DeviceNotFound) => "revoked",
                _ => "service_error",
            },
            Error::Protocol(_) => "protocol_error",
            Error::Spoofed { .. } => "spoofed",
            Error::Revoked { .. } => "revoked",
            Error::UnknownAccount(_) => "unknown_account",
            Error::UnknownRequest(_) => "request_not_found",
            Error::InvalidNumber(_) => "invalid_number",
            Error::Storage { .. } => "storage_error",
        }
    }

    /// The service's error code, when the service refused.
    pub fn service_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Service { code, .. } => ErrorCode::parse(code),
            _ => None,
        }
    }

    /// True when the service said this device is revoked or unknown.
    pub fn means_revoked(&self) -> bool {
        matches!(
            self.service_code(),
            Some(ErrorCode::DeviceRevoked | ErrorCode::DeviceNotFound)
        )
    }
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
