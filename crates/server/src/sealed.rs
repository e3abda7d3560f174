//! Secrets at rest: the service signing key and the callback HMAC states are stored sealed with a
//! key-encryption key (KEK) that is kept outside the database, so a stolen database (a backup, a
//! dump, a read replica) is not enough to sign requests devices accept or callbacks relying parties
//! accept.
//!
//! A sealed value is `MAGIC || key id (8) || nonce (24) || XChaCha20-Poly1305(secret)`, with
//! associated data naming what the secret is for (`service-key`, `callback-key:<app id>`,
//! `code-seed:<device id>`, `authenticator-app-seed:<user id>`), so a sealed value moved to
//! another row or column does not open. The key id is the first 8 bytes of
//! `SHA-256("assent/v1/kek-id" || 0x00 || key)`; it tells which KEK sealed a value, which is what
//! makes rotation possible (see [`KeyRing`]).
//!
//! KEKs are 32 random bytes written as base64url (43 characters), in a file with mode 0600 or
//! 0400, an environment variable, or a systemd credential; see `docs/operations.md`.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use assent_protocol::crypto::{b64url, b64url_decode, sha256};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore as _;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

const MAGIC: &[u8; 4] = b"AKS1";
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const AAD_PREFIX: &[u8] = b"assent/v1/sealed\0";

/// What a sealed secret is for; part of the associated data, so a sealed value only opens in the
/// place it was sealed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretPurpose {
    /// The deployment's Ed25519 service key.
    ServiceKey,
    /// An app's callback HMAC state.
    CallbackKey {
        /// The app.
        app_id: String,
    },
    /// A device's one-time code seed, bound to the device, so a seed copied onto another device's
    /// row does not open (and does not make that device's codes someone else's).
    CodeSeed {
        /// The device.
        device_id: uuid::Uuid,
    },
    /// A person's one-time code seed for an authenticator app other than Assent's
    /// (`users.generate_qr`), bound to the person, so a seed copied onto another person's row
    /// does not open.
    AuthenticatorAppSeed {
        /// The person (`authy_id`).
        user_id: u64,
    },
}

impl SecretPurpose {
    fn aad(&self) -> Vec<u8> {
        let mut aad = AAD_PREFIX.to_vec();
        match self {
            SecretPurpose::ServiceKey => aad.extend_from_slice(b"service-key"),
            SecretPurpose::CallbackKey { app_id } => {
                aad.extend_from_slice(b"callback-key:");
                aad.extend_from_slice(app_id.as_bytes());
            }
            SecretPurpose::CodeSeed { device_id } => {
                aad.extend_from_slice(b"code-seed:");
                aad.extend_from_slice(device_id.to_string().as_bytes());
            }
            SecretPurpose::AuthenticatorAppSeed { user_id } => {
                aad.extend_from_slice(b"authenticator-app-seed:");
                aad.extend_from_slice(user_id.to_string().as_bytes());
            }
        }
        aad
    }
}

/// Why a KEK could not be loaded or a value could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The KEK text is not 32 bytes of base64url.
    #[error("a key-encryption key must be 32 random bytes as base64url (43 characters)")]
    MalformedKey,
    /// The KEK file could not be read or written.
    #[error("key-encryption key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The KEK file can be read by other users.
    #[error(
        "key-encryption key file {path} is readable by other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    KeyFileMode {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The value was sealed with a KEK this service was not given.
    #[error(
        "a secret in the database was sealed with key-encryption key {0}, which this service was not given (it has {1}); start it with that key (as the current or a previous key)"
    )]
    UnknownKey(String, String),
    /// The value is not a sealed value, or it was changed, or it belongs elsewhere.
    #[error("a sealed secret does not open: it was changed, moved, or is not a sealed value")]
    Tampered,
}

/// A key-encryption key. Never printed; wiped when dropped.
#[derive(Clone)]
pub struct Kek {
    key: Zeroizing<[u8; 32]>,
    id: [u8; KEY_ID_LEN],
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek(id: {}, key: <redacted>)", self.id_hex())
    }
}

impl Kek {
    /// A new random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        Self::from_bytes(key)
    }

    fn from_bytes(key: Zeroizing<[u8; 32]>) -> Self {
        let mut input = b"assent/v1/kek-id\0".to_vec();
        input.extend_from_slice(key.as_ref());
        let digest = sha256(&input);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Kek { key, id }
    }

    /// Parses the text form (base64url of 32 bytes; surrounding whitespace ignored).
    ///
    /// # Errors
    /// [`SealError::MalformedKey`].
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let bytes =
            Zeroizing::new(b64url_decode(text.trim()).map_err(|_| SealError::MalformedKey)?);
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SealError::MalformedKey)?;
        Ok(Self::from_bytes(Zeroizing::new(key)))
    }

    /// The text form, for writing a new key file. Handle with care.
    pub fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(b64url(self.key.as_ref()))
    }

    /// The key id, as lower-case hex (safe to print and log).
    pub fn id_hex(&self) -> String {
        hex::encode(self.id)
    }

    /// Reads a key file, refusing one other users can read.
    ///
    /// # Errors
    /// [`SealError::KeyFile`], [`SealError::KeyFileMode`], [`SealError::MalformedKey`].
    pub fn read_file(path: &Path) -> Result<Self, SealError> {
        let io = |source| SealError::KeyFile {
            path: path.to_owned(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(SealError::KeyFileMode {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        Self::parse(&text)
    }

    /// Writes a new random key to `path` (mode 0600, refusing to overwrite) and returns it.
    ///
    /// # Errors
    /// [`SealError::KeyFile`] (including when the file exists).
    pub fn create_file(path: &Path) -> Result<Self, SealError> {
        let io = |source| SealError::KeyFile {
            path: path.to_owned(),
            source,
        };
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(key.to_text().as_bytes()).map_err(io)?;
        file.write_all(b"\n").map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.as_ref().into())
    }
}

/// The current KEK (seals everything new) and previous ones (still open what they sealed, during
/// a rotation). Rotation: start every instance with the new key as current and the old one as
/// previous, run `assent kek rewrap`, then drop the old key.
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: Kek,
    previous: Vec<Kek>,
}

impl KeyRing {
    /// A ring with `current` and `previous` keys.
    pub fn new(current: Kek, previous: Vec<Kek>) -> Self {
        KeyRing { current, previous }
    }

    /// The key new values are sealed with.
    pub fn current(&self) -> &Kek {
        &self.current
    }

    /// Seals `secret` for `purpose` with the current key.
    pub fn seal(&self, secret: &[u8], purpose: &SecretPurpose) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let aad = purpose.aad();
        let ciphertext = self
            .current
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut out = Vec::with_capacity(MAGIC.len() + KEY_ID_LEN + NONCE_LEN + ciphertext.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    /// True when `value` has the sealed layout (it may still fail to open).
    pub fn is_sealed(value: &[u8]) -> bool {
        value.len() >= MAGIC.len() + KEY_ID_LEN + NONCE_LEN + TAG_LEN && value.starts_with(MAGIC)
    }

    /// The id of the key that sealed `value`, when it is sealed.
    pub fn sealed_with(value: &[u8]) -> Option<String> {
        Self::is_sealed(value).then(|| hex::encode(&value[MAGIC.len()..MAGIC.len() + KEY_ID_LEN]))
    }

    /// Opens a sealed value for `purpose`.
    ///
    /// # Errors
    /// [`SealError::UnknownKey`] when no key of the ring sealed it; [`SealError::Tampered`] when
    /// it is not a sealed value or does not authenticate for `purpose`.
    pub fn open(
        &self,
        value: &[u8],
        purpose: &SecretPurpose,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if !Self::is_sealed(value) {
            return Err(SealError::Tampered);
        }
        let id = &value[MAGIC.len()..MAGIC.len() + KEY_ID_LEN];
        let nonce = &value[MAGIC.len() + KEY_ID_LEN..MAGIC.len() + KEY_ID_LEN + NONCE_LEN];
        let ciphertext = &value[MAGIC.len() + KEY_ID_LEN + NONCE_LEN..];
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == id)
            .ok_or_else(|| {
                SealError::UnknownKey(
                    hex::encode(id),
                    std::iter::once(&self.current)
                        .chain(&self.previous)
                        .map(Kek::id_hex)
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })?;
        let aad = purpose.aad();
        key.cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Tampered)
    }

    /// Opens a value of exactly `N` bytes.
    ///
    /// # Errors
    /// As [`KeyRing::open`]; [`SealError::Tampered`] when the length is wrong.
    pub fn open_array<const N: usize>(
        &self,
        value: &[u8],
        purpose: &SecretPurpose,
    ) -> Result<Zeroizing<[u8; N]>, SealError> {
        let opened = self.open(value, purpose)?;
        let array: [u8; N] = opened
            .as_slice()
            .try_into()
            .map_err(|_| SealError::Tampered)?;
        Ok(Zeroizing::new(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(Kek::generate(), Vec::new())
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_purpose() {
        let ring = ring();
        let app = SecretPurpose::CallbackKey {
            app_id: "a1".into(),
        };
        let sealed = ring.seal(b"secret state", &app);
        assert_eq!(&ring.open(&sealed, &app).unwrap()[..], b"secret state");
        assert!(
            !sealed.windows(12).any(|w| w == b"secret state"),
            "the secret must not appear in the sealed bytes"
        );
        let other = SecretPurpose::CallbackKey {
            app_id: "a2".into(),
        };
        assert!(
            matches!(ring.open(&sealed, &other), Err(SealError::Tampered)),
            "another app's row must not open this value"
        );
        assert!(matches!(
            ring.open(&sealed, &SecretPurpose::ServiceKey),
            Err(SealError::Tampered)
        ));
    }

    #[test]
    fn every_changed_byte_is_detected() {
        let ring = ring();
        let sealed = ring.seal(&[7u8; 32], &SecretPurpose::ServiceKey);
        for i in 0..sealed.len() {
            let mut changed = sealed.clone();
            changed[i] ^= 0x01;
            assert!(
                ring.open(&changed, &SecretPurpose::ServiceKey).is_err(),
                "flipping byte {i} must make the value fail to open"
            );
        }
    }

    #[test]
    fn another_key_is_named_and_a_previous_key_still_opens() {
        let old = Kek::generate();
        let sealed = KeyRing::new(old.clone(), Vec::new()).seal(b"x", &SecretPurpose::ServiceKey);
        let new = Kek::generate();
        match KeyRing::new(new.clone(), Vec::new()).open(&sealed, &SecretPurpose::ServiceKey) {
            Err(SealError::UnknownKey(id, _)) => assert_eq!(id, old.id_hex()),
            other => panic!("a value sealed with another key must say which key: {other:?}"),
        }
        let rotating = KeyRing::new(new, vec![old]);
        assert_eq!(
            &rotating.open(&sealed, &SecretPurpose::ServiceKey).unwrap()[..],
            b"x"
        );
    }

    #[test]
    fn key_text_round_trips_and_bad_text_is_refused() {
        let key = Kek::generate();
        let parsed = Kek::parse(&format!("  {}\n", key.to_text().as_str())).unwrap();
        assert_eq!(parsed.id_hex(), key.id_hex());
        for bad in ["", "short", &"A".repeat(44), "not base64 !!"] {
            assert!(Kek::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(!format!("{key:?}").contains(key.to_text().as_str()));
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("assent.kek");
        let key = Kek::create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a new key file must be private");
        assert_eq!(Kek::read_file(&path).unwrap().id_hex(), key.id_hex());
        assert!(
            Kek::create_file(&path).is_err(),
            "an existing key file must never be overwritten"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            matches!(Kek::read_file(&path), Err(SealError::KeyFileMode { .. })),
            "a key file others can read must be refused"
        );
    }
}
