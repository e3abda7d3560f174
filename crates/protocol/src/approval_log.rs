//! The approval log's public HTTP API, as clients read it (`docs/api.md`, "Approval log"):
//!
//! - `GET /log/v1/checkpoint[?min_size=N]`: the latest checkpoint, a C2SP signed note as
//!   `text/plain` ([`crate::checkpoint`]); with `min_size`, one of at least `N` leaves (signed on
//!   demand when none is yet);
//! - `GET /log/v1/entries?start=S&end=E`: leaves `S..E` ([`LogEntries`], at most
//!   [`MAX_ENTRIES_PER_PAGE`]), each the canonical JSON of a [`crate::receipt::LogEntry`];
//! - `GET /log/v1/proof/inclusion?index=I&size=N` ([`InclusionProof`]);
//! - `GET /log/v1/proof/consistency?from=M&to=N` ([`ConsistencyProof`]).
//!
//! Proof hashes are 64 lower-case hex digits; leaves are unpadded base64url of their exact bytes.

use serde::{Deserialize, Serialize};

use crate::crypto;
use crate::merkle::{self, Hash};

/// Most leaves one entries call returns.
pub const MAX_ENTRIES_PER_PAGE: u64 = 1000;

/// Path of the checkpoint.
pub const CHECKPOINT_PATH: &str = "/log/v1/checkpoint";
/// Path of the entries.
pub const ENTRIES_PATH: &str = "/log/v1/entries";
/// Path of inclusion proofs.
pub const INCLUSION_PATH: &str = "/log/v1/proof/inclusion";
/// Path of consistency proofs.
pub const CONSISTENCY_PATH: &str = "/log/v1/proof/consistency";

/// One leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLeaf {
    /// Its index.
    pub index: u64,
    /// Its bytes, unpadded base64url.
    pub leaf: String,
}

impl LogLeaf {
    /// The leaf's bytes.
    ///
    /// # Errors
    /// [`crypto::DecodeError`] when `leaf` is not canonical base64url.
    pub fn bytes(&self) -> Result<Vec<u8>, crypto::DecodeError> {
        crypto::b64url_decode(&self.leaf)
    }
}

/// `GET /log/v1/entries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntries {
    /// The leaves asked for, in order.
    pub entries: Vec<LogLeaf>,
}

/// `GET /log/v1/proof/inclusion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The leaf's index.
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The hashes, lower-case hex.
    pub proof: Vec<String>,
}

/// `GET /log/v1/proof/consistency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size.
    pub to: u64,
    /// The hashes, lower-case hex.
    pub proof: Vec<String>,
}

/// Hashes as lower-case hex.
pub fn hashes_hex(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// Reads hashes given as lower-case hex: `None` for anything else, or more than
/// [`merkle::MAX_PROOF_HASHES`].
pub fn hashes_from_hex(hashes: &[String]) -> Option<Vec<Hash>> {
    if hashes.len() > merkle::MAX_PROOF_HASHES {
        return None;
    }
    hashes.iter().map(|h| hash_from_hex(h)).collect()
}

/// Reads one hash given as 64 lower-case hex digits.
pub fn hash_from_hex(text: &str) -> Option<Hash> {
    let lower = text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lower {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}
