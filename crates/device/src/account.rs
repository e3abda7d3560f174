//! Accounts (one per enrollment) and the local decision history, kept as JSON files in the data
//! directory. Neither file contains a secret: keys live in the keychain.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use assent_protocol::crypto::PublicKey;
use assent_protocol::decision::{DenyReason, Outcome};
use assent_protocol::request::AppBranding;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::settings::Settings;

/// One enrollment: this device approving for one person of one app on one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Local id; also names the account's key in the keychain.
    pub id: Uuid,
    /// The service's URL.
    pub server: Url,
    /// The device id the service assigned.
    pub device_id: Uuid,
    /// The device's integer alias at the service.
    pub device_alias: u64,
    /// The name this device enrolled under.
    pub device_name: String,
    /// The person this device approves for.
    pub user_id: u64,
    /// The relying party and its branding.
    pub app: AppBranding,
    /// The pinned service key: every request shown must be signed by it.
    pub service_public_key: PublicKey,
    /// Unix seconds.
    pub enrolled_at: i64,
    /// Unix seconds, once revoked (the key is then deleted).
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// The person as the relying party registered them (display name or e-mail), from the
    /// enrollment answer. `None` for accounts enrolled before services sent it (files written
    /// then have no such field) and for a person registered with a phone number only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
}

impl Account {
    /// False once revoked.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }

    /// The host this account was enrolled with, with its port when not the scheme's default
    /// ("bank.example", "127.0.0.1:8443"): what the device itself verified, never what a
    /// request says.
    pub fn host(&self) -> String {
        let host = self.server.host_str().unwrap_or_default();
        match self.server.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }
}

/// One past decision, for the history view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The request.
    pub request_id: Uuid,
    /// The account that decided.
    pub account_id: Uuid,
    /// The app's name at the time.
    pub app_name: String,
    /// The request's message.
    pub message: String,
    /// Approve or deny.
    pub outcome: Outcome,
    /// The deny reason.
    pub reason: Option<DenyReason>,
    /// Unix seconds.
    pub decided_at: i64,
}

/// This machine's name, for naming a device at enrollment ("ana-laptop (desktop)").
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "this computer".into())
}

/// Entries kept in the history file (oldest dropped first).
pub const HISTORY_LIMIT: usize = 500;

#[derive(Debug, Serialize, Deserialize)]
struct AccountsFile {
    version: u32,
    accounts: Vec<Account>,
}

/// The settings file in the data directory.
pub const SETTINGS_FILE: &str = "settings.json";

/// Where the desktop app kept its settings before the device session did.
const LEGACY_DESKTOP_SETTINGS_FILE: &str = "desktop-settings.json";

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsFile {
    version: u32,
    settings: Settings,
}

#[derive(Debug, Serialize, Deserialize)]
struct HistoryFile {
    version: u32,
    entries: Vec<HistoryEntry>,
}

/// The data directory: `accounts.json`, `history.json` and `settings.json`.
///
/// Invariants (the desktop app and `assent device` may use one directory at once):
/// - the directory is private (0700) and every file in it is written private (0600);
/// - every write is atomic (a temporary file, synced, renamed over the old one);
/// - every read-modify-write (an enrollment, a revocation, a history entry) runs under an
///   exclusive lock on `.lock` in the directory, held across processes, so no update is lost to
///   another writer's stale read.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

fn storage(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Storage {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// The lock file's name in the data directory.
const LOCK_FILE: &str = ".lock";

/// Holds the data directory's lock until dropped (closing the file releases it).
#[derive(Debug)]
struct Locked {
    _file: fs::File,
}

impl DataDir {
    /// Uses `root`. Nothing is created until the first write, so a failed first enrollment
    /// leaves no trace.
    ///
    /// # Errors
    /// [`Error::Storage`] when `root` exists but is not a directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        if root.exists() && !root.is_dir() {
            return Err(storage(&root, "not a directory"));
        }
        Ok(DataDir { root })
    }

    /// Creates the directory when missing, private from the start (mode 0700, never briefly
    /// open to others), and makes an existing one private (an older version, or a person, may
    /// have created it open to others).
    fn ensure_exists(&self) -> Result<()> {
        if !self.root.is_dir() {
            let mut builder = fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(&self.root)
                .map_err(|e| storage(&self.root, e))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&self.root)
                .map_err(|e| storage(&self.root, e))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))
                    .map_err(|e| storage(&self.root, e))?;
            }
        }
        Ok(())
    }

    /// Takes the directory's exclusive lock, waiting for another process (or thread) holding it.
    fn lock(&self) -> Result<Locked> {
        self.ensure_exists()?;
        let path = self.root.join(LOCK_FILE);
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| storage(&path, e))?;
        file.lock().map_err(|e| storage(&path, e))?;
        Ok(Locked { _file: file })
    }

    /// Runs `f` holding the directory's exclusive lock (a read-modify-write of a file that
    /// another process may write too).
    pub(crate) fn with_lock<R>(&self, f: impl FnOnce(&DataDir) -> Result<R>) -> Result<R> {
        let _locked = self.lock()?;
        f(self)
    }

    /// The platform's data directory for Assent (`~/.local/share/assent` on Linux).
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("dev", "assent", "assent")
            .map(|d| d.data_dir().to_path_buf())
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads `name` as JSON; `None` when the file does not exist.
    pub(crate) fn read<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let path = self.root.join(name);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| storage(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage(&path, e)),
        }
    }

    /// Writes atomically: a temporary file (mode 0600) in the same directory, synced, then
    /// renamed over the old one, and the directory synced so the rename itself survives a power
    /// cut. A crash leaves either the old or the new file, never half of one, and a failed write
    /// leaves the old file and no temporary file.
    pub(crate) fn write<T: Serialize>(&self, name: &str, value: &T) -> Result<()> {
        self.ensure_exists()?;
        let path = self.root.join(name);
        let tmp = self.root.join(format!(".{name}.{}.tmp", Uuid::new_v4()));
        let bytes = serde_json::to_vec_pretty(value).map_err(|e| storage(&path, e))?;
        let result = (|| -> std::io::Result<()> {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            #[cfg(unix)]
            fs::File::open(&self.root)?.sync_all()?;
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(|e| storage(&path, e))
    }

    /// Every account, active or revoked.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn accounts(&self) -> Result<Vec<Account>> {
        Ok(self
            .read::<AccountsFile>("accounts.json")?
            .map(|f| f.accounts)
            .unwrap_or_default())
    }

    /// Replaces the account list.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn save_accounts(&self, accounts: &[Account]) -> Result<()> {
        let _locked = self.lock()?;
        self.write_accounts(accounts)
    }

    fn write_accounts(&self, accounts: &[Account]) -> Result<()> {
        self.write(
            "accounts.json",
            &AccountsFile {
                version: 1,
                accounts: accounts.to_vec(),
            },
        )
    }

    /// Reads the account list, lets `change` edit it, and writes it back, all under the
    /// directory's lock: a concurrent enrollment in another process is never lost. Nothing is
    /// written when `change` fails.
    ///
    /// # Errors
    /// [`Error::Storage`], or `change`'s error.
    pub fn update_accounts<R>(
        &self,
        change: impl FnOnce(&mut Vec<Account>) -> Result<R>,
    ) -> Result<R> {
        let _locked = self.lock()?;
        let mut accounts = self.accounts()?;
        let result = change(&mut accounts)?;
        self.write_accounts(&accounts)?;
        Ok(result)
    }

    /// The session settings, `None` when none were saved yet. Before `settings.json`, the
    /// desktop app kept them in `desktop-settings.json`; that file is read when the new one does
    /// not exist yet (the next save writes the new one).
    ///
    /// # Errors
    /// [`Error::Storage`] when the file exists but cannot be read or is not settings.
    pub fn settings(&self) -> Result<Option<Settings>> {
        match self.read::<SettingsFile>(SETTINGS_FILE)? {
            Some(file) => Ok(Some(file.settings)),
            None => self.read::<Settings>(LEGACY_DESKTOP_SETTINGS_FILE),
        }
    }

    /// Saves the session settings (atomically, as every write here).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn save_settings(&self, settings: Settings) -> Result<()> {
        let _locked = self.lock()?;
        self.write(
            SETTINGS_FILE,
            &SettingsFile {
                version: 1,
                settings,
            },
        )
    }

    /// Past decisions, newest last.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn history(&self) -> Result<Vec<HistoryEntry>> {
        Ok(self
            .read::<HistoryFile>("history.json")?
            .map(|f| f.entries)
            .unwrap_or_default())
    }

    /// Appends a decision, dropping the oldest beyond [`HISTORY_LIMIT`] (under the directory's
    /// lock: two processes deciding at once both keep their entry).
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn record_history(&self, entry: HistoryEntry) -> Result<()> {
        let _locked = self.lock()?;
        let mut entries = self.history()?;
        entries.push(entry);
        let excess = entries.len().saturating_sub(HISTORY_LIMIT);
        entries.drain(..excess);
        self.write(
            "history.json",
            &HistoryFile {
                version: 1,
                entries,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Temporary files left in `dir` (an atomic write must leave none).
    fn temporary_files(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .collect()
    }

    fn account(id: u128) -> Account {
        Account {
            id: Uuid::from_u128(id),
            server: Url::parse("http://127.0.0.1:1").unwrap(),
            device_id: Uuid::from_u128(id + 1),
            device_alias: 1001,
            device_name: "laptop".into(),
            user_id: 7,
            app: AppBranding {
                id: "a".repeat(24),
                name: "Acme".into(),
                accent_color: None,
                logos: vec![],
            },
            service_public_key: PublicKey::from_signing_key(
                &ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
            ),
            enrolled_at: 1,
            revoked_at: None,
            account_name: None,
        }
    }

    #[test]
    fn accounts_stored_before_account_names_still_load_and_a_name_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().join("d")).unwrap();
        let mut named = account(2);
        named.account_name = Some("Ana Lima".into());
        data.save_accounts(&[account(1), named.clone()]).unwrap();
        let text = fs::read_to_string(data.root().join("accounts.json")).unwrap();
        assert_eq!(
            text.matches("account_name").count(),
            1,
            "an account without a name is written as before (no field): {text}"
        );
        assert_eq!(data.accounts().unwrap(), vec![account(1), named]);
        // A file written by a version without the field.
        let old: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut old = old;
        for a in old["accounts"].as_array_mut().unwrap() {
            a.as_object_mut().unwrap().remove("account_name");
        }
        fs::write(data.root().join("accounts.json"), old.to_string()).unwrap();
        let loaded = data.accounts().unwrap();
        assert_eq!(
            loaded
                .iter()
                .map(|a| a.account_name.clone())
                .collect::<Vec<_>>(),
            vec![None, None],
            "older accounts load with no name"
        );
        assert_eq!(account(1).host(), "127.0.0.1:1");
    }

    #[test]
    fn accounts_round_trip_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().join("d")).unwrap();
        assert!(data.accounts().unwrap().is_empty());
        assert!(
            !data.root().exists(),
            "nothing is created before the first write"
        );
        data.save_accounts(&[account(1), account(5)]).unwrap();
        assert_eq!(data.accounts().unwrap(), vec![account(1), account(5)]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(data.root().join("accounts.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "accounts.json must be private to the user");
            let mode = fs::metadata(data.root()).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o077,
                0,
                "the data directory must be private to the user"
            );
        }
        let leftovers = temporary_files(data.root());
        assert!(
            leftovers.is_empty(),
            "atomic writes leave no temporary files"
        );
    }

    #[test]
    fn a_new_data_directory_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path().join("a/b/assent")).unwrap();
        data.save_settings(Settings::default()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(data.root()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "created 0700, not {mode:o}");
        }
    }

    #[test]
    fn the_lock_excludes_a_second_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let held = data.lock().unwrap();
        let other = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.path().join(LOCK_FILE))
            .unwrap();
        assert!(
            matches!(other.try_lock(), Err(fs::TryLockError::WouldBlock)),
            "a second open of the lock file cannot take it while it is held"
        );
        drop(held);
        assert!(
            other.try_lock().is_ok(),
            "released when the holder is dropped"
        );
    }

    #[test]
    fn history_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        for i in 0..(HISTORY_LIMIT + 3) {
            data.record_history(HistoryEntry {
                request_id: Uuid::from_u128(i as u128),
                account_id: Uuid::nil(),
                app_name: "Acme".into(),
                message: "m".into(),
                outcome: Outcome::Approve,
                reason: None,
                decided_at: i as i64,
            })
            .unwrap();
        }
        let history = data.history().unwrap();
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert_eq!(
            history[0].decided_at, 3,
            "the oldest entries are dropped first"
        );
    }

    #[test]
    fn settings_are_written_atomically_and_privately() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("open");
        fs::create_dir(&root).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let data = DataDir::open(&root).unwrap();
        assert_eq!(
            data.settings().unwrap(),
            None,
            "no settings before the first save"
        );
        let paused = Settings {
            notifications_paused: true,
            ..Settings::default()
        };
        data.save_settings(paused).unwrap();
        assert_eq!(data.settings().unwrap(), Some(paused));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let file = fs::metadata(root.join(SETTINGS_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                file & 0o777,
                0o600,
                "the settings file is 0600, not {file:o}"
            );
            let dir_mode = fs::metadata(&root).unwrap().permissions().mode();
            assert_eq!(
                dir_mode & 0o777,
                0o700,
                "a data directory open to others is made private on write, not {dir_mode:o}"
            );
        }
        let mut names: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![LOCK_FILE.to_owned(), SETTINGS_FILE.to_owned()],
            "no temporary file is left (only the lock file beside the settings)"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let lock = fs::metadata(root.join(LOCK_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(lock & 0o777, 0o600, "the lock file is private too");
        }
    }

    #[test]
    fn the_desktops_older_settings_file_is_read_until_the_new_one_exists() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        fs::write(
            dir.path().join(LEGACY_DESKTOP_SETTINGS_FILE),
            br#"{"notifications_paused":true}"#,
        )
        .unwrap();
        let paused = Settings {
            notifications_paused: true,
            ..Settings::default()
        };
        assert_eq!(
            data.settings().unwrap(),
            Some(paused),
            "the old file is honoured"
        );
        data.save_settings(Settings::default()).unwrap();
        assert_eq!(
            data.settings().unwrap(),
            Some(Settings::default()),
            "once saved, the new file wins"
        );
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        data.save_settings(Settings {
            notifications_paused: true,
            ..Settings::default()
        })
        .unwrap();
        // The rename cannot replace a directory: the write fails after the temporary file
        // was written and synced.
        fs::create_dir(dir.path().join("history.json")).unwrap();
        let failed = data.record_history(HistoryEntry {
            request_id: Uuid::nil(),
            account_id: Uuid::nil(),
            app_name: "Acme".into(),
            message: "m".into(),
            outcome: Outcome::Approve,
            reason: None,
            decided_at: 1,
        });
        assert!(failed.is_err(), "writing over a directory must fail");
        let leftovers = temporary_files(dir.path());
        assert!(
            leftovers.is_empty(),
            "a failed write removes its temporary file"
        );
        assert_eq!(
            data.settings().unwrap(),
            Some(Settings {
                notifications_paused: true,
                ..Settings::default()
            }),
            "other files are untouched"
        );
    }

    #[test]
    fn unreadable_settings_are_an_error_and_are_not_overwritten_by_reading() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        for bad in [
            &b"{oops"[..],
            br#"{"version":1,"settings":{"notifications_paused":"yes"}}"#,
            br#"{"version":1,"settings":{},"extra":1}"#,
        ] {
            fs::write(dir.path().join(SETTINGS_FILE), bad).unwrap();
            assert!(
                matches!(data.settings(), Err(Error::Storage { .. })),
                "{} is refused",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(
                fs::read(dir.path().join(SETTINGS_FILE)).unwrap(),
                bad,
                "reading changes nothing"
            );
        }
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        fs::write(data.root().join("accounts.json"), b"{oops").unwrap();
        assert!(
            matches!(data.accounts(), Err(Error::Storage { .. })),
            "never silently forget accounts"
        );
    }
}
