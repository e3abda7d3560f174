//! Where device private keys live: the OS keychain, and nowhere else.
//!
//! [`SecretStore`] is the seam. [`Keychain`] is the implementation every real device uses (Secret
//! Service on Linux, Keychain on macOS, Credential Manager on Windows, through `keyring`).
//! `MemoryStore` (feature `memory-store`) exists only for tests and benchmarks. There is no file
//! store: when no keychain is reachable, operations fail with [`Error::KeychainUnavailable`].
//!
//! Methods block (keychains talk D-Bus or system services synchronously); async callers run them
//! with `tokio::task::spawn_blocking`.

use std::fmt;
use std::time::{Duration, Instant};

use assent_protocol::totp::CodeSeed;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Default keychain service name under which device keys are stored.
pub const DEFAULT_KEYCHAIN_SERVICE: &str = "dev.assent.device";

/// Stores 32-byte Ed25519 seeds, one per account.
pub trait SecretStore: Send + Sync + fmt::Debug + 'static {
    /// Stores (or replaces) the seed of `account`.
    ///
    /// # Errors
    /// [`Error::KeychainUnavailable`] when no keychain is reachable; [`Error::Keychain`] otherwise.
    fn save(&self, account: Uuid, seed: &[u8; 32]) -> Result<()>;

    /// The seed of `account`, `None` when there is none.
    ///
    /// # Errors
    /// As [`SecretStore::save`].
    fn load(&self, account: Uuid) -> Result<Option<Zeroizing<[u8; 32]>>>;

    /// Deletes the seed of `account`; deleting a missing seed succeeds.
    ///
    /// # Errors
    /// As [`SecretStore::save`].
    fn delete(&self, account: Uuid) -> Result<()>;

    /// Stores (or replaces) the one-time code seed of `account`, beside its signing key.
    ///
    /// # Errors
    /// As [`SecretStore::save`].
    fn save_code_seed(&self, account: Uuid, seed: &CodeSeed) -> Result<()>;

    /// The one-time code seed of `account`, `None` when there is none (an account enrolled
    /// before codes existed).
    ///
    /// # Errors
    /// As [`SecretStore::save`]; [`Error::Keychain`] when the stored value is not a seed.
    fn load_code_seed(&self, account: Uuid) -> Result<Option<CodeSeed>>;

    /// Deletes the code seed of `account`; deleting a missing seed succeeds.
    ///
    /// # Errors
    /// As [`SecretStore::save`].
    fn delete_code_seed(&self, account: Uuid) -> Result<()>;
}

/// The keychain entry name of an account's code seed: beside the key's (`<account>`).
fn code_seed_entry(account: Uuid) -> String {
    format!("{account}.code")
}

/// The OS keychain, through `keyring`.
#[derive(Debug, Clone)]
pub struct Keychain {
    service: String,
}

impl Keychain {
    /// Keys under `service` (tests use their own namespace so they never touch a person's keys).
    pub fn new(service: impl Into<String>) -> Self {
        Keychain {
            service: service.into(),
        }
    }

    /// The service name keys are stored under.
    pub fn service(&self) -> &str {
        &self.service
    }

    fn entry(&self, account: Uuid) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, &account.to_string()).map_err(map_keyring)
    }

    fn code_entry(&self, account: Uuid) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, &code_seed_entry(account)).map_err(map_keyring)
    }
}

/// Environment variable naming the keychain namespace (tests and the demo use their own).
pub const KEYCHAIN_SERVICE_ENV: &str = "ASSENT_KEYRING_SERVICE";

impl Keychain {
    /// The namespace named by `ASSENT_KEYRING_SERVICE`, or `default` when it is unset or empty.
    pub fn from_env_or(default: &str) -> Self {
        match std::env::var(KEYCHAIN_SERVICE_ENV) {
            Ok(service) if !service.is_empty() => Keychain::new(service),
            _ => Keychain::new(default),
        }
    }
}

impl Default for Keychain {
    fn default() -> Self {
        Keychain::new(DEFAULT_KEYCHAIN_SERVICE)
    }
}

/// How long an operation waits for a Secret Service that is still starting before it reports the
/// keychain as unavailable. A session starts the keyring and its apps together (the desktop app
/// autostarts at login; a headless recipe's next command runs the moment `gnome-keyring-daemon
/// --unlock` returns), and gnome-keyring sets its `default` alias a moment after it forks: until
/// then every operation fails with "no result found" although nothing is wrong.
const KEYCHAIN_STARTING_GRACE: Duration = Duration::from_secs(3);
const KEYCHAIN_STARTING_POLL: Duration = Duration::from_millis(50);

/// Whether `e` says the Secret Service is (re)starting rather than answering: its "no default
/// collection (yet)" answer, or the service leaving the bus in the middle of a call.
///
/// The second happens when gnome-keyring dies while it handles the call (it has a known crash
/// when clients come and go quickly, and a session can restart it); the session bus then starts
/// it again on the next call. Every operation here may be repeated: a save replaces the item, a
/// delete of an item already gone is a success, a read changes nothing.
#[cfg(target_os = "linux")]
fn keychain_still_starting(e: &keyring::Error) -> bool {
    let (keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner)) = e
    else {
        return false;
    };
    match inner.downcast_ref::<dbus_secret_service::Error>() {
        Some(dbus_secret_service::Error::NoResult) => true,
        Some(dbus_secret_service::Error::Dbus(e)) => {
            e.name() == Some("org.freedesktop.DBus.Error.NoReply")
        }
        _ => false,
    }
}

#[cfg(not(target_os = "linux"))]
fn keychain_still_starting(_: &keyring::Error) -> bool {
    false
}

/// Runs `op` again while the keychain is still starting, for at most `grace`; any other outcome
/// (and the last "still starting" after `grace`, which then reads as unavailable) is returned as
/// is. A keychain that never gets a default collection costs `grace` once per operation.
fn while_keychain_starts<T>(
    grace: Duration,
    mut op: impl FnMut() -> keyring::Result<T>,
) -> keyring::Result<T> {
    let deadline = Instant::now() + grace;
    loop {
        match op() {
            Err(e) if keychain_still_starting(&e) && Instant::now() < deadline => {
                std::thread::sleep(KEYCHAIN_STARTING_POLL);
            }
            outcome => return outcome,
        }
    }
}

fn map_keyring(e: keyring::Error) -> Error {
    match e {
        keyring::Error::NoStorageAccess(inner) | keyring::Error::PlatformFailure(inner) => {
            Error::KeychainUnavailable {
                detail: inner.to_string(),
            }
        }
        other => Error::Keychain(other.to_string()),
    }
}

impl SecretStore for Keychain {
    fn save(&self, account: Uuid, seed: &[u8; 32]) -> Result<()> {
        let entry = self.entry(account)?;
        while_keychain_starts(KEYCHAIN_STARTING_GRACE, || entry.set_secret(seed))
            .map_err(map_keyring)
    }

    fn load(&self, account: Uuid) -> Result<Option<Zeroizing<[u8; 32]>>> {
        let entry = self.entry(account)?;
        match while_keychain_starts(KEYCHAIN_STARTING_GRACE, || entry.get_secret()) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let seed: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Keychain("the stored key has the wrong length".into()))?;
                Ok(Some(Zeroizing::new(seed)))
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn delete(&self, account: Uuid) -> Result<()> {
        let entry = self.entry(account)?;
        match while_keychain_starts(KEYCHAIN_STARTING_GRACE, || entry.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn save_code_seed(&self, account: Uuid, seed: &CodeSeed) -> Result<()> {
        let entry = self.code_entry(account)?;
        while_keychain_starts(KEYCHAIN_STARTING_GRACE, || entry.set_secret(seed.expose()))
            .map_err(map_keyring)
    }

    fn load_code_seed(&self, account: Uuid) -> Result<Option<CodeSeed>> {
        let entry = self.code_entry(account)?;
        match while_keychain_starts(KEYCHAIN_STARTING_GRACE, || entry.get_secret()) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                CodeSeed::from_slice(&bytes).map(Some).map_err(|_| {
                    Error::Keychain("the stored code seed has the wrong length".into())
                })
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(map_keyring(e)),
        }
    }

    fn delete_code_seed(&self, account: Uuid) -> Result<()> {
        let entry = self.code_entry(account)?;
        match while_keychain_starts(KEYCHAIN_STARTING_GRACE, || entry.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_keyring(e)),
        }
    }
}

/// Keys in process memory. **Only for tests and benchmarks**: keys vanish with the process, so a
/// real device using it would lose its identity on restart.
#[cfg(feature = "memory-store")]
#[derive(Debug, Default)]
pub struct MemoryStore {
    seeds: std::sync::Mutex<std::collections::HashMap<Uuid, Zeroizing<[u8; 32]>>>,
    code_seeds: std::sync::Mutex<std::collections::HashMap<Uuid, CodeSeed>>,
}

#[cfg(feature = "memory-store")]
impl SecretStore for MemoryStore {
    fn save(&self, account: Uuid, seed: &[u8; 32]) -> Result<()> {
        self.seeds
            .lock()
            .expect("memory store lock")
            .insert(account, Zeroizing::new(*seed));
        Ok(())
    }

    fn load(&self, account: Uuid) -> Result<Option<Zeroizing<[u8; 32]>>> {
        Ok(self
            .seeds
            .lock()
            .expect("memory store lock")
            .get(&account)
            .cloned())
    }

    fn delete(&self, account: Uuid) -> Result<()> {
        self.seeds
            .lock()
            .expect("memory store lock")
            .remove(&account);
        Ok(())
    }

    fn save_code_seed(&self, account: Uuid, seed: &CodeSeed) -> Result<()> {
        self.code_seeds
            .lock()
            .expect("memory store lock")
            .insert(account, seed.clone());
        Ok(())
    }

    fn load_code_seed(&self, account: Uuid) -> Result<Option<CodeSeed>> {
        Ok(self
            .code_seeds
            .lock()
            .expect("memory store lock")
            .get(&account)
            .cloned())
    }

    fn delete_code_seed(&self, account: Uuid) -> Result<()> {
        self.code_seeds
            .lock()
            .expect("memory store lock")
            .remove(&account);
        Ok(())
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;

    fn still_starting() -> keyring::Error {
        keyring::Error::NoStorageAccess(Box::new(dbus_secret_service::Error::NoResult))
    }

    /// How a keyring library reports a D-Bus error `name`.
    fn dbus_error(name: &str, message: &str) -> keyring::Error {
        keyring::Error::PlatformFailure(Box::new(dbus_secret_service::Error::Dbus(
            dbus::Error::new_custom(name, message),
        )))
    }

    /// Runs an operation that fails `failures` times with `error()` and then succeeds through
    /// [`while_keychain_starts`] (5 s grace): how often it was called, and whether the answer
    /// was the success.
    fn tries(failures: usize, error: impl Fn() -> keyring::Error) -> (usize, bool) {
        let mut calls = 0;
        let outcome = while_keychain_starts(Duration::from_secs(5), || {
            calls += 1;
            if calls <= failures {
                Err(error())
            } else {
                Ok(())
            }
        });
        (calls, outcome.is_ok())
    }

    #[test]
    fn an_operation_waits_while_the_keychain_has_no_default_collection_yet() {
        assert_eq!(
            tries(2, still_starting),
            (3, true),
            "the third try, once the keyring has its default collection, should be the answer"
        );
    }

    #[test]
    fn a_keychain_that_never_finishes_starting_is_reported_after_the_grace() {
        let started = Instant::now();
        let outcome: keyring::Result<()> =
            while_keychain_starts(Duration::from_millis(200), || Err(still_starting()));
        assert!(
            matches!(
                map_keyring(outcome.unwrap_err()),
                Error::KeychainUnavailable { .. }
            ),
            "after the grace the keychain should read as unavailable"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "it should have kept trying for the whole grace"
        );
    }

    #[test]
    fn a_keychain_that_left_the_bus_mid_call_is_asked_again() {
        // What libdbus reports when gnome-keyring dies before it answers.
        let left = || {
            dbus_error(
                "org.freedesktop.DBus.Error.NoReply",
                "Message recipient disconnected from message bus without replying",
            )
        };
        assert_eq!(
            tries(1, left),
            (2, true),
            "the call should be made again once the session bus restarted the keyring"
        );
    }

    #[test]
    fn other_keychain_errors_are_not_retried() {
        let locked =
            || keyring::Error::NoStorageAccess(Box::new(dbus_secret_service::Error::Locked));
        let unavailable =
            || keyring::Error::PlatformFailure(Box::new(dbus_secret_service::Error::Unavailable));
        let refused = || dbus_error("org.freedesktop.DBus.Error.AccessDenied", "denied");
        assert_eq!(
            tries(1, locked),
            (1, false),
            "a locked keyring is an answer, not a keyring still starting"
        );
        for error in [unavailable, refused] {
            assert_eq!(
                tries(1, error),
                (1, false),
                "no Secret Service at all, or a refusal, is an answer: asked once"
            );
        }
    }
}
