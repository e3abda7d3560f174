//! Checkpoints: the approval log's signed tree heads, as C2SP signed notes
//! (<https://c2sp.org/signed-note>, <https://c2sp.org/tlog-checkpoint>).
//!
//! ```text
//! assent/log/5c0d8f3e9a1b2c4d
//! 1042
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//! time 1764086400
//!
//! — assent/log/5c0d8f3e9a1b2c4d Az3grlgt...(base64 of key ID || Ed25519 signature)
//! ```
//!
//! The note text is the origin, the tree size (decimal, no leading zeros), the root hash (standard
//! base64), and one extension line, `time <Unix seconds>`, when the checkpoint was signed; every
//! line ends in a newline. A blank line separates the text from the signature lines
//! (`— <key name> <base64(key ID || signature)>`). The service signs the text with its Ed25519 key
//! (signature type `0x01`: plain Ed25519 over the note text, no domain tag; a note never contains
//! a NUL byte, so it can never be the input of a tagged Assent signature). The key name is the
//! origin, and the origin is derived from the service key ([`origin_for`]), so a checkpoint of
//! another deployment names another log and fails on both counts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};
use sha2::{Digest as _, Sha256};

use crate::crypto::PublicKey;
use crate::merkle::Hash;

/// Largest note accepted (a checkpoint with 16 signatures is far smaller).
pub const MAX_NOTE_BYTES: usize = 8 * 1024;
/// Most signature lines read (C2SP asks verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 16;
/// The signed-note signature type of plain Ed25519.
const ED25519_TYPE: u8 = 0x01;

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Larger than [`MAX_NOTE_BYTES`].
    #[error("the checkpoint is larger than {MAX_NOTE_BYTES} bytes")]
    TooLarge,
    /// Not a signed note: no blank line before the signatures, a control character, a malformed
    /// signature line.
    #[error("the checkpoint is not a signed note: {0}")]
    NotANote(&'static str),
    /// The note text is not a checkpoint (origin, size, root, time).
    #[error("the checkpoint's text is malformed: {0}")]
    Malformed(&'static str),
    /// No signature line by the service key.
    #[error("the checkpoint carries no signature by this service's key")]
    NotSigned,
    /// A signature line by the service key does not verify.
    #[error("the checkpoint's signature by this service's key does not verify")]
    BadSignature,
    /// The origin is not this service's log.
    #[error("the checkpoint is of another log ({found}); this service's log is {expected}")]
    WrongOrigin {
        /// The origin in the checkpoint.
        found: String,
        /// The origin of this service's log.
        expected: String,
    },
}

/// The origin (and key name) of the log of the service whose key is `key`:
/// `assent/log/` and the first 16 hex digits of `SHA-256(public key)`.
pub fn origin_for(key: &PublicKey) -> String {
    format!(
        "assent/log/{}",
        &hex::encode(Sha256::digest(key.to_bytes()))[..16]
    )
}

/// The signed-note key ID: the first four bytes of `SHA-256(name || 0x0A || 0x01 || key)`.
pub fn key_id(name: &str, key: &PublicKey) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ED25519_TYPE]);
    hasher.update(key.to_bytes());
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A tree head: what a checkpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity ([`origin_for`] the service key).
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
    /// When the service signed it, Unix seconds.
    pub time: i64,
}

impl Checkpoint {
    /// The note text: four lines, each ending in a newline.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\ntime {}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root),
            self.time
        )
    }

    /// The whole signed note: the text, a blank line, and the signature line of `key` under the
    /// origin as key name.
    pub fn sign(&self, key: &SigningKey) -> String {
        let text = self.text();
        let public = PublicKey::from_signing_key(key);
        let mut signature = key_id(&self.origin, &public).to_vec();
        signature.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
        format!(
            "{text}\n\u{2014} {} {}\n",
            self.origin,
            STANDARD.encode(signature)
        )
    }

    /// Reads a note text (without signatures) as a checkpoint.
    ///
    /// # Errors
    /// [`CheckpointError::Malformed`] naming the line at fault.
    pub fn parse_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("the text must end in a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root, time] = lines.as_slice() else {
            return Err(CheckpointError::Malformed(
                "expected four lines: origin, tree size, root hash, time",
            ));
        };
        if origin.is_empty() || origin.contains(char::is_whitespace) || origin.contains('+') {
            return Err(CheckpointError::Malformed(
                "the origin must be non-empty, without spaces or +",
            ));
        }
        let size = parse_decimal(size)
            .ok_or(CheckpointError::Malformed("the tree size is not a decimal"))?;
        let root = decode_std(root)
            .and_then(|b| <Hash>::try_from(b).ok())
            .ok_or(CheckpointError::Malformed(
                "the root hash is not 32 bytes of base64",
            ))?;
        let time = time
            .strip_prefix("time ")
            .and_then(parse_decimal)
            .and_then(|t| i64::try_from(t).ok())
            .ok_or(CheckpointError::Malformed(
                "the last line must be `time <Unix seconds>`",
            ))?;
        Ok(Checkpoint {
            origin: (*origin).to_owned(),
            size,
            root,
            time,
        })
    }

    /// Verifies a signed note against the service key `key` and reads it: the note must be well
    /// formed, carry a signature line by `key` under this service's origin that verifies (lines by
    /// other keys are ignored, as C2SP asks), and name this service's log.
    ///
    /// # Errors
    /// The first [`CheckpointError`] found.
    pub fn open(note: &str, key: &PublicKey) -> Result<Self, CheckpointError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(CheckpointError::TooLarge);
        }
        if note.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(CheckpointError::NotANote(
                "it contains a control character other than newline",
            ));
        }
        let split = note.rfind("\n\n").ok_or(CheckpointError::NotANote(
            "no blank line before the signatures",
        ))?;
        let text = &note[..=split];
        let signatures = note[split + 2..]
            .strip_suffix('\n')
            .ok_or(CheckpointError::NotANote(
                "the signature lines must end in a newline",
            ))?;
        let expected = origin_for(key);
        let id = key_id(&expected, key);
        let mut verified = false;
        for (n, line) in signatures.split('\n').enumerate() {
            if n >= MAX_SIGNATURES {
                return Err(CheckpointError::NotANote("too many signature lines"));
            }
            let rest = line
                .strip_prefix("\u{2014} ")
                .ok_or(CheckpointError::NotANote(
                    "a signature line must start with an em dash and a space",
                ))?;
            let (name, encoded) = rest.split_once(' ').ok_or(CheckpointError::NotANote(
                "a signature line must be `— <name> <signature>`",
            ))?;
            let bytes = decode_std(encoded).ok_or(CheckpointError::NotANote(
                "a signature is not standard base64",
            ))?;
            if name.is_empty() || bytes.len() < 4 {
                return Err(CheckpointError::NotANote("a signature line is too short"));
            }
            if name != expected || bytes[..4] != id {
                continue;
            }
            let signature: [u8; 64] = bytes[4..]
                .try_into()
                .map_err(|_| CheckpointError::BadSignature)?;
            let signature = crate::crypto::Signature::from_bytes(&signature);
            key.verify_note(text.as_bytes(), &signature)
                .map_err(|_| CheckpointError::BadSignature)?;
            verified = true;
        }
        if !verified {
            return Err(CheckpointError::NotSigned);
        }
        let checkpoint = Checkpoint::parse_text(text)?;
        if checkpoint.origin != expected {
            return Err(CheckpointError::WrongOrigin {
                found: checkpoint.origin,
                expected,
            });
        }
        Ok(checkpoint)
    }
}

/// A decimal without sign or leading zeros (`0` alone is zero).
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}

/// Standard base64 with padding, refusing any other spelling of the same bytes.
fn decode_std(text: &str) -> Option<Vec<u8>> {
    let bytes = STANDARD.decode(text).ok()?;
    (STANDARD.encode(&bytes) == text).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[0x11; 32])
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: origin_for(&PublicKey::from_signing_key(&key())),
            size: 1042,
            root: [7; 32],
            time: 1_764_086_400,
        }
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key_only() {
        let note = checkpoint().sign(&key());
        let public = PublicKey::from_signing_key(&key());
        assert_eq!(Checkpoint::open(&note, &public), Ok(checkpoint()));
        let other = PublicKey::from_signing_key(&SigningKey::from_bytes(&[0x12; 32]));
        assert_eq!(
            Checkpoint::open(&note, &other),
            Err(CheckpointError::NotSigned),
            "another deployment's key finds no signature of its own"
        );
    }

    #[test]
    fn unknown_signature_lines_are_ignored_and_a_bad_known_one_refused() {
        let note = checkpoint().sign(&key());
        let public = PublicKey::from_signing_key(&key());
        let with_witness = format!("{note}\u{2014} witness.example/w1 AAAAAAAA\n");
        assert_eq!(Checkpoint::open(&with_witness, &public), Ok(checkpoint()));
        let tampered = note.replacen("1042", "1043", 1);
        assert_eq!(
            Checkpoint::open(&tampered, &public),
            Err(CheckpointError::BadSignature)
        );
    }

    #[test]
    fn malformed_notes_say_what_is_wrong() {
        let public = PublicKey::from_signing_key(&key());
        for (note, why) in [
            ("no blank line\n", "no blank line"),
            ("a\n\n\u{2014} x\n", "<name> <signature>"),
            ("a\0b\n\n\u{2014} x AAAA\n", "control character"),
        ] {
            match Checkpoint::open(note, &public) {
                Err(CheckpointError::NotANote(detail)) => {
                    assert!(detail.contains(why), "{note:?}: {detail}")
                }
                other => panic!("{note:?} should not be a note: {other:?}"),
            }
        }
        assert_eq!(
            Checkpoint::open(&"x".repeat(MAX_NOTE_BYTES + 1), &public),
            Err(CheckpointError::TooLarge)
        );
        for text in [
            "o\n01\nAAAA\ntime 1\n",
            "o\n1\nAAAA\ntime 1\n",
            "o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o o\n1\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\ntime 1\n",
        ] {
            assert!(
                matches!(
                    Checkpoint::parse_text(text),
                    Err(CheckpointError::Malformed(_))
                ),
                "{text:?} is not a checkpoint"
            );
        }
    }
}
