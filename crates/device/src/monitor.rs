//! The approval-log monitor: the person's side of the approval log (`docs/protocol.md`, "The
//! approval log" and "Monitoring the log").
//!
//! Each account's [`LogMonitor`] keeps, in the data directory (`log-monitor-<account id>.json`,
//! written atomically like every file there), the last checkpoint it verified (size, root and the
//! signed note itself), the right edge of the tree it has read up to that checkpoint (a
//! [`Frontier`]: how far it has scanned), and the findings the person has not dismissed.
//!
//! One [`LogMonitor::poll`] step:
//! 1. fetch the checkpoint (`?min_size=` the stored size, so an instance that lags behind cannot
//!    pass for a shrunken log) and verify it against the account's **pinned** service key;
//! 2. check it is consistent with the stored one (a consistency proof from the service, RFC 9162
//!    section 2.1.4.2); a failure, a smaller tree, or the service saying its log is smaller than a
//!    checkpoint it signed, is a [`Finding::Fork`]: the stored checkpoint is kept, never replaced by
//!    the forked one;
//! 3. read every new leaf (`/log/v1/entries`, at most [`MAX_ENTRIES_PER_PAGE`] a call) and push
//!    its hash onto the stored frontier; the result must be the new checkpoint's root. Recomputing
//!    is chosen over inclusion proofs: the monitor must read every leaf anyway (any of them may
//!    be about its person), the frontier is at most 64 hashes, it needs no call per leaf, and it
//!    proves what an inclusion proof per leaf cannot: that the leaves served are *all* the
//!    leaves, none hidden, none added;
//! 4. report what concerns the account's person (same service, `app_id` and `user_id`): another
//!    device's enrollment ([`Finding::UnknownDevice`]; this device's own is not reported), a
//!    decision signed by another device ([`Finding::DecisionOnOtherDevice`], informational once
//!    that device was reported), a decision signed by this device that is not in the local history
//!    of decisions it made ([`Finding::DecisionNotMade`]: the key leaked);
//! 5. store the new checkpoint, the frontier and the findings in one atomic write.
//!
//! Invariants and failure modes:
//! - nothing the service sends changes the stored checkpoint unless every check above passed: a
//!   malformed note, a bad signature, a malformed proof, wrong or missing leaves, leaves that do
//!   not hash to the root, an oversized answer are a [`MonitorError`] with its
//!   [`MonitorErrorKind`], and the state file is not written;
//! - a fork or the service's `60113` (it refuses to sign a rewritten log) is a finding, stored
//!   beside the unchanged checkpoint;
//! - a decision of this device is compared with the history only after [`UNCONFIRMED_GRACE_SECS`]
//!   (the history entry is written just after the service accepted the decision, and the leaf
//!   can be read in between); a decision older than the oldest entry of a full history cannot be
//!   judged and is not reported;
//! - no clock is read here: callers pass `now`.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;

use assent_protocol::approval_log::{
    CHECKPOINT_PATH, CONSISTENCY_PATH, ConsistencyProof, ENTRIES_PATH, LogEntries,
    MAX_ENTRIES_PER_PAGE, hash_from_hex, hashes_from_hex,
};
use assent_protocol::checkpoint::{Checkpoint, CheckpointError, MAX_NOTE_BYTES};
use assent_protocol::crypto::{self, PublicKey};
use assent_protocol::error::ErrorBody;
use assent_protocol::merkle::{self, Frontier, Hash};
use assent_protocol::receipt::LogEntry;
use assent_protocol::text::shown;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::account::{Account, DataDir, HISTORY_LIMIT, HistoryEntry};
use crate::client::{self, Failure};
use crate::error::{Error, ErrorKind};
use crate::view::{Finding, FindingView};

/// The largest entries answer read (1,000 receipt leaves of a ten-approver quorum are about
/// 4 MiB in base64url).
pub const MAX_ENTRIES_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// The largest consistency-proof answer read (66 hashes are under 5 KiB).
const MAX_PROOF_ANSWER_BYTES: usize = 64 * 1024;
/// Seconds a decision of this device may be missing from the local history before it is
/// reported as not made here.
pub const UNCONFIRMED_GRACE_SECS: i64 = 300;
/// The service's code for "the log in the database does not match a checkpoint I signed".
const LOG_INCONSISTENT: &str = "60113";
/// The service's code for a parameter it refuses (`min_size` larger than its log).
const INVALID_PARAMETER: &str = "60004";
/// Version of the state file.
const STATE_VERSION: u32 = 1;

/// Why a poll failed. Nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The service could not be reached.
    #[error("cannot reach the approval log at {server}: {detail}")]
    Network {
        /// The service URL.
        server: String,
        /// What failed.
        detail: String,
    },
    /// The service refused a log call.
    #[error("the approval log refused: {message} (code {code})")]
    Service {
        /// The service's code.
        code: String,
        /// The service's message (unsafe characters stripped, shortened).
        message: String,
    },
    /// The checkpoint is not a valid checkpoint of this account's service (malformed, not signed
    /// by the pinned key, another log).
    #[error("the service's checkpoint is refused: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The consistency proof is malformed (not the sizes asked, not hex hashes).
    #[error("the service's consistency proof is malformed: {0}")]
    Proof(String),
    /// The entries answer is malformed (not the leaves asked, not base64url, not log entries).
    #[error("the service's log entries are malformed: {0}")]
    Entries(String),
    /// The leaves served do not hash to the root of the checkpoint the service signed.
    #[error(
        "the {size} leaves the service served do not hash to the root of the checkpoint it signed"
    )]
    EntriesMismatch {
        /// The checkpoint's size.
        size: u64,
    },
    /// An answer larger than the monitor reads.
    #[error("the service's answer is larger than {limit} bytes")]
    TooLarge {
        /// The bound.
        limit: usize,
    },
    /// An answer that is not the protocol (an error status without an error body, bad UTF-8).
    #[error("the service sent an unexpected answer: {0}")]
    Garbled(String),
    /// The state file could not be read or written.
    #[error(transparent)]
    Storage(#[from] Error),
}

/// The kind of a [`MonitorError`], stable for shells and `--json` (`snake_case`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorErrorKind {
    /// [`MonitorError::Network`].
    Network,
    /// [`MonitorError::Service`].
    ServiceError,
    /// [`MonitorError::Checkpoint`].
    CheckpointInvalid,
    /// [`MonitorError::Proof`].
    ProofInvalid,
    /// [`MonitorError::Entries`].
    EntriesInvalid,
    /// [`MonitorError::EntriesMismatch`].
    EntriesMismatch,
    /// [`MonitorError::TooLarge`].
    AnswerTooLarge,
    /// [`MonitorError::Garbled`].
    ProtocolError,
    /// [`MonitorError::Storage`].
    StorageError,
}

impl MonitorError {
    /// As a device [`Error`]: a storage error as itself, anything else as a protocol error.
    pub fn into_error(self) -> Error {
        match self {
            MonitorError::Storage(e) => e,
            MonitorError::Network { server, detail } => Error::Network { server, detail },
            other => Error::Protocol(other.to_string()),
        }
    }

    /// The error's kind.
    pub fn kind(&self) -> MonitorErrorKind {
        match self {
            MonitorError::Network { .. } => MonitorErrorKind::Network,
            MonitorError::Service { .. } => MonitorErrorKind::ServiceError,
            MonitorError::Checkpoint(_) => MonitorErrorKind::CheckpointInvalid,
            MonitorError::Proof(_) => MonitorErrorKind::ProofInvalid,
            MonitorError::Entries(_) => MonitorErrorKind::EntriesInvalid,
            MonitorError::EntriesMismatch { .. } => MonitorErrorKind::EntriesMismatch,
            MonitorError::TooLarge { .. } => MonitorErrorKind::AnswerTooLarge,
            MonitorError::Garbled(_) => MonitorErrorKind::ProtocolError,
            MonitorError::Storage(_) => MonitorErrorKind::StorageError,
        }
    }

    /// The device error kind a session reports it under (its notices carry [`ErrorKind`]).
    pub fn error_kind(&self) -> ErrorKind {
        match self {
            MonitorError::Network { .. } => ErrorKind::Network,
            MonitorError::Service { .. } => ErrorKind::ServiceError,
            MonitorError::Storage(e) => e.kind(),
            _ => ErrorKind::ProtocolError,
        }
    }
}

/// What one poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollReport {
    /// The size of the checkpoint the monitor holds now (unchanged after a fork).
    pub checkpoint_size: u64,
    /// Findings first made by this poll.
    pub new: Vec<FindingView>,
    /// Every finding not dismissed, oldest first.
    pub open: Vec<FindingView>,
}

/// The checkpoint a monitor verified last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCheckpoint {
    size: u64,
    /// Lower-case hex.
    root: String,
    /// The signed note, as the service sent it (verified again on every load).
    note: String,
}

/// A decision signed by this device, not (yet) found in the local history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Unconfirmed {
    request_id: Uuid,
    outcome: assent_protocol::decision::Outcome,
    signed_at: i64,
    log_index: u64,
}

/// The state file of one account's monitor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorState {
    version: u32,
    checkpoint: Option<StoredCheckpoint>,
    /// Leaves read and hashed so far: always the stored checkpoint's size.
    scanned: u64,
    /// The frontier of the first `scanned` leaves, lower-case hex, largest subtree first.
    peaks: Vec<String>,
    /// Other devices of the person already reported (or dismissed as known).
    reported_devices: BTreeSet<Uuid>,
    unconfirmed: Vec<Unconfirmed>,
    /// Findings not dismissed, oldest first.
    findings: Vec<FindingView>,
    /// Ids of dismissed findings: never reported again.
    dismissed: BTreeSet<String>,
}

/// A state file that verified: the checkpoint read back, the frontier rebuilt.
struct Loaded {
    state: MonitorState,
    checkpoint: Option<(u64, Hash)>,
    frontier: Frontier,
}

/// Reads the log of a service. The HTTP implementation is [`HttpLog`]; the unit tests serve a
/// tree built in memory, tampered with on purpose.
pub(crate) trait LogSource {
    /// The signed note of the latest checkpoint, of at least `min_size` leaves when given.
    fn checkpoint(
        &self,
        min_size: Option<u64>,
    ) -> impl Future<Output = Result<String, MonitorError>> + Send;
    /// The consistency proof from `from` to `to` leaves.
    fn consistency(
        &self,
        from: u64,
        to: u64,
    ) -> impl Future<Output = Result<ConsistencyProof, MonitorError>> + Send;
    /// Leaves `start..end`.
    fn entries(
        &self,
        start: u64,
        end: u64,
    ) -> impl Future<Output = Result<LogEntries, MonitorError>> + Send;
}

/// The service's public log API over HTTP (no key; redirects never followed; answers bounded).
pub(crate) struct HttpLog {
    server: Url,
}

impl HttpLog {
    pub(crate) fn new(server: &Url) -> Self {
        HttpLog {
            server: server.clone(),
        }
    }

    async fn get(&self, path: &str, limit: usize) -> Result<Vec<u8>, MonitorError> {
        let network = |detail: String| MonitorError::Network {
            server: self.server.to_string(),
            detail,
        };
        let response = client::http()
            .get(client::endpoint(&self.server, path))
            .send()
            .await
            .map_err(|e| network(client::describe(&e)))?;
        let status = response.status();
        let bytes = client::read_bounded(response, limit)
            .await
            .map_err(|f| match f {
                Failure::Transport(detail) => network(detail),
                Failure::Garbled(_) => MonitorError::TooLarge { limit },
                Failure::Status(status, _) => MonitorError::Garbled(format!("HTTP {status}")),
            })?;
        if status.is_success() {
            return Ok(bytes);
        }
        Err(match ErrorBody::from_answer(&bytes) {
            Some(body) => MonitorError::Service {
                code: shown(&body.error_code, 16),
                message: shown(&body.message, 300),
            },
            None => MonitorError::Garbled(format!("HTTP {status} without an Assent error body")),
        })
    }
}

impl LogSource for HttpLog {
    async fn checkpoint(&self, min_size: Option<u64>) -> Result<String, MonitorError> {
        let path = match min_size {
            Some(n) => format!("{CHECKPOINT_PATH}?min_size={n}"),
            None => CHECKPOINT_PATH.to_owned(),
        };
        let bytes = self.get(&path, MAX_NOTE_BYTES).await?;
        String::from_utf8(bytes)
            .map_err(|_| MonitorError::Checkpoint(CheckpointError::NotANote("not UTF-8")))
    }

    async fn consistency(&self, from: u64, to: u64) -> Result<ConsistencyProof, MonitorError> {
        let bytes = self
            .get(
                &format!("{CONSISTENCY_PATH}?from={from}&to={to}"),
                MAX_PROOF_ANSWER_BYTES,
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| MonitorError::Proof(e.to_string()))
    }

    async fn entries(&self, start: u64, end: u64) -> Result<LogEntries, MonitorError> {
        let bytes = self
            .get(
                &format!("{ENTRIES_PATH}?start={start}&end={end}"),
                MAX_ENTRIES_ANSWER_BYTES,
            )
            .await?;
        serde_json::from_slice(&bytes).map_err(|e| MonitorError::Entries(e.to_string()))
    }
}

/// The fingerprint of a public key as a person compares it: the first 16 hex digits of its
/// SHA-256, in groups of four.
pub fn fingerprint(key: &PublicKey) -> String {
    let hex = hex::encode(crypto::sha256(&key.to_bytes()));
    hex.as_bytes()[..16]
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The service as a person reads it: its host, with the port when not the default.
fn service_name(server: &Url) -> String {
    match (server.host_str(), server.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => server.to_string(),
    }
}

/// The approval-log monitor of a data directory's accounts (see the module docs). Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct LogMonitor {
    data: DataDir,
}

impl LogMonitor {
    /// The monitor of the accounts in `data_dir`.
    ///
    /// # Errors
    /// [`Error::Storage`] when `data_dir` is not a directory.
    pub fn open(data_dir: impl AsRef<Path>) -> crate::Result<Self> {
        Ok(LogMonitor {
            data: DataDir::open(data_dir.as_ref())?,
        })
    }

    fn file(account: &Account) -> String {
        format!("log-monitor-{}.json", account.id)
    }

    /// Reads and checks the account's state: the stored note must verify against the pinned
    /// key and say the stored size and root, and the frontier must be of that size and root.
    fn load(&self, data: &DataDir, account: &Account) -> Result<Loaded, MonitorError> {
        let name = Self::file(account);
        let corrupt = |detail: &str| {
            MonitorError::Storage(Error::Storage {
                path: data.root().join(&name).display().to_string(),
                detail: detail.to_owned(),
            })
        };
        let state: MonitorState = data.read(&name)?.unwrap_or(MonitorState {
            version: STATE_VERSION,
            ..MonitorState::default()
        });
        if state.version != STATE_VERSION {
            return Err(corrupt("unknown version"));
        }
        let peaks = state
            .peaks
            .iter()
            .map(|h| hash_from_hex(h))
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| corrupt("a frontier hash is not 64 hex digits"))?;
        let frontier = Frontier::from_parts(state.scanned, peaks)
            .map_err(|_| corrupt("the frontier does not match its size"))?;
        let checkpoint = match &state.checkpoint {
            None if state.scanned == 0 => None,
            None => return Err(corrupt("leaves scanned without a checkpoint")),
            Some(stored) => {
                let opened =
                    Checkpoint::open(&stored.note, &account.service_public_key).map_err(|_| {
                        corrupt("the stored checkpoint does not verify with the pinned key")
                    })?;
                if opened.size != stored.size
                    || hex::encode(opened.root) != stored.root
                    || stored.size != state.scanned
                    || frontier.root() != opened.root
                {
                    return Err(corrupt(
                        "the stored checkpoint, its note and the frontier disagree",
                    ));
                }
                Some((opened.size, opened.root))
            }
        };
        Ok(Loaded {
            state,
            checkpoint,
            frontier,
        })
    }

    /// The account's findings not dismissed, oldest first.
    ///
    /// # Errors
    /// [`MonitorError::Storage`] when the state file cannot be read or does not verify.
    pub fn findings(&self, account: &Account) -> Result<Vec<FindingView>, MonitorError> {
        Ok(self.load(&self.data, account)?.state.findings)
    }

    /// The size of the checkpoint the monitor holds for `account` (`None` before the first
    /// successful poll).
    ///
    /// # Errors
    /// As [`LogMonitor::findings`].
    pub fn checkpoint_size(&self, account: &Account) -> Result<Option<u64>, MonitorError> {
        Ok(self.load(&self.data, account)?.checkpoint.map(|c| c.0))
    }

    /// Dismisses the open finding `id` ("I know this device"): it is never reported again, and a
    /// dismissed device's later decisions are informational. An id that is not an open finding
    /// changes nothing (and writes nothing). Returns the findings still open.
    ///
    /// # Errors
    /// [`MonitorError::Storage`].
    pub fn dismiss(&self, account: &Account, id: &str) -> Result<Vec<FindingView>, MonitorError> {
        let mut result = None;
        self.data.with_lock(|data| {
            result = Some(self.dismiss_locked(data, account, id));
            Ok(())
        })?;
        result.expect("the closure ran")
    }

    fn dismiss_locked(
        &self,
        data: &DataDir,
        account: &Account,
        id: &str,
    ) -> Result<Vec<FindingView>, MonitorError> {
        let mut state = self.load(data, account)?.state;
        let Some(at) = state.findings.iter().position(|f| f.id == id) else {
            return Ok(state.findings);
        };
        let gone = state.findings.remove(at);
        if let Finding::UnknownDevice { device_id, .. } = gone.finding {
            state.reported_devices.insert(device_id);
        }
        state.dismissed.insert(gone.id);
        data.write(&Self::file(account), &state)?;
        Ok(state.findings)
    }

    /// One monitoring step for `account` against its service (see the module docs), at `now`
    /// (Unix seconds).
    ///
    /// # Errors
    /// A [`MonitorError`]; nothing is stored then.
    pub async fn poll(&self, account: &Account, now: i64) -> Result<PollReport, MonitorError> {
        self.poll_with(&HttpLog::new(&account.server), account, now)
            .await
    }

    pub(crate) async fn poll_with<L: LogSource>(
        &self,
        log: &L,
        account: &Account,
        now: i64,
    ) -> Result<PollReport, MonitorError> {
        let loaded = self.load(&self.data, account)?;
        let key = &account.service_public_key;
        let stored = loaded.checkpoint;
        let old_size = stored.map_or(0, |c| c.0);
        let mut scan = Scan::new(account, &loaded.state, now);

        let note = match log.checkpoint((old_size > 0).then_some(old_size)).await {
            Ok(note) => note,
            Err(MonitorError::Service { code, message }) if code == LOG_INCONSISTENT => {
                scan.refused(old_size, message);
                return self.commit(account, &loaded.state, scan, None);
            }
            Err(MonitorError::Service { code, .. })
                if code == INVALID_PARAMETER && old_size > 0 =>
            {
                // The service says its log is smaller than a checkpoint it signed: read what it
                // signs now, to name the fork (or its refusal to sign at all).
                match log.checkpoint(None).await {
                    Ok(note) => {
                        let latest = Checkpoint::open(&note, key)?;
                        if let Some((size, root)) = stored {
                            scan.fork(size, &root, &latest);
                        }
                    }
                    Err(MonitorError::Service { code, message }) if code == LOG_INCONSISTENT => {
                        scan.refused(old_size, message);
                    }
                    Err(e) => return Err(e),
                }
                return self.commit(account, &loaded.state, scan, None);
            }
            Err(e) => return Err(e),
        };
        let new = Checkpoint::open(&note, key)?;

        if let Some((size, root)) = stored {
            let proof = if new.size > size && size > 0 {
                let answer = match log.consistency(size, new.size).await {
                    Ok(answer) => answer,
                    Err(MonitorError::Service { code, message }) if code == LOG_INCONSISTENT => {
                        scan.refused(old_size, message);
                        return self.commit(account, &loaded.state, scan, None);
                    }
                    Err(e) => return Err(e),
                };
                if (answer.from, answer.to) != (size, new.size) {
                    return Err(MonitorError::Proof(format!(
                        "asked from {size} to {}, got from {} to {}",
                        new.size, answer.from, answer.to
                    )));
                }
                hashes_from_hex(&answer.proof).ok_or_else(|| {
                    MonitorError::Proof("the hashes are not 64 lower-case hex digits".into())
                })?
            } else {
                Vec::new()
            };
            let consistent = new.size >= size
                && merkle::verify_consistency(size, new.size, &root, &new.root, &proof).is_ok();
            if !consistent {
                scan.fork(size, &root, &new);
                return self.commit(account, &loaded.state, scan, None);
            }
        }

        let mut frontier = loaded.frontier;
        while frontier.size() < new.size {
            let start = frontier.size();
            let end = new.size.min(start.saturating_add(MAX_ENTRIES_PER_PAGE));
            let page = log.entries(start, end).await?;
            if page.entries.len() as u64 != end - start {
                return Err(MonitorError::Entries(format!(
                    "asked for leaves {start} to {}, got {}",
                    end - 1,
                    page.entries.len()
                )));
            }
            for (index, leaf) in (start..end).zip(&page.entries) {
                if leaf.index != index {
                    return Err(MonitorError::Entries(format!(
                        "leaf {index} came as index {}",
                        leaf.index
                    )));
                }
                let bytes = leaf
                    .bytes()
                    .map_err(|e| MonitorError::Entries(format!("leaf {index}: {e}")))?;
                frontier.push(merkle::leaf_hash(&bytes));
                let entry = LogEntry::parse(&bytes)
                    .map_err(|e| MonitorError::Entries(format!("leaf {index}: {e}")))?;
                scan.entry(index, &entry, key)?;
            }
        }
        if frontier.root() != new.root {
            return Err(MonitorError::EntriesMismatch { size: new.size });
        }
        scan.judge_own(&self.data.history()?);
        let advanced = Advanced {
            checkpoint: StoredCheckpoint {
                size: new.size,
                root: hex::encode(new.root),
                note,
            },
            frontier,
        };
        self.commit(account, &loaded.state, scan, Some(advanced))
    }

    /// Stores what a poll found, under the directory's lock. When another process moved the
    /// account's state on meanwhile (it polled too), its state stands and this poll's result is
    /// dropped: it found the same things. Dismissals made meanwhile are kept either way.
    fn commit(
        &self,
        account: &Account,
        started: &MonitorState,
        scan: Scan,
        advanced: Option<Advanced>,
    ) -> Result<PollReport, MonitorError> {
        let mut result = None;
        self.data.with_lock(|data| {
            result = Some(self.commit_locked(data, account, started, scan, advanced));
            Ok(())
        })?;
        result.expect("the closure ran")
    }

    fn commit_locked(
        &self,
        data: &DataDir,
        account: &Account,
        started: &MonitorState,
        scan: Scan,
        advanced: Option<Advanced>,
    ) -> Result<PollReport, MonitorError> {
        let current = self.load(data, account)?;
        if current.state.checkpoint != started.checkpoint {
            return Ok(PollReport {
                checkpoint_size: current.checkpoint.map_or(0, |c| c.0),
                new: Vec::new(),
                open: current.state.findings,
            });
        }
        let before = current.state.clone();
        let mut state = current.state;
        let new: Vec<FindingView> = scan
            .found
            .into_iter()
            .filter(|f| {
                !state.dismissed.contains(&f.id) && !state.findings.iter().any(|o| o.id == f.id)
            })
            .collect();
        state.findings.extend(new.iter().cloned());
        state.reported_devices.extend(scan.reported_devices);
        state.unconfirmed = scan.unconfirmed;
        if let Some(advanced) = advanced {
            state.scanned = advanced.frontier.size();
            state.peaks = advanced.frontier.peaks().iter().map(hex::encode).collect();
            state.checkpoint = Some(advanced.checkpoint);
        }
        // A quiet poll of an unchanged log writes nothing.
        if state != before {
            data.write(&Self::file(account), &state)?;
        }
        Ok(PollReport {
            checkpoint_size: state.checkpoint.as_ref().map_or(0, |c| c.size),
            new,
            open: state.findings,
        })
    }
}

/// A checkpoint that passed every check, with the frontier of its leaves.
struct Advanced {
    checkpoint: StoredCheckpoint,
    frontier: Frontier,
}

/// What one poll learns, before it is stored.
struct Scan {
    account_id: Uuid,
    device_id: Uuid,
    app_id: String,
    user_id: u64,
    app_name: String,
    service: String,
    now: i64,
    reported_devices: BTreeSet<Uuid>,
    unconfirmed: Vec<Unconfirmed>,
    found: Vec<FindingView>,
}

impl Scan {
    fn new(account: &Account, state: &MonitorState, now: i64) -> Self {
        Scan {
            account_id: account.id,
            device_id: account.device_id,
            app_id: account.app.id.clone(),
            user_id: account.user_id,
            app_name: crate::view::shown_text(&account.app.name),
            service: service_name(&account.server),
            now,
            reported_devices: state.reported_devices.clone(),
            unconfirmed: state.unconfirmed.clone(),
            found: Vec::new(),
        }
    }

    fn report(&mut self, id: String, finding: Finding) {
        self.found.push(FindingView {
            id,
            account_id: self.account_id,
            app_name: self.app_name.clone(),
            service: self.service.clone(),
            found_at: self.now,
            finding,
        });
    }

    fn refused(&mut self, size: u64, message: String) {
        self.report(format!("refused:{size}"), Finding::LogRefused { message });
    }

    fn fork(&mut self, size: u64, root: &Hash, new: &Checkpoint) {
        let root = hex::encode(root);
        self.report(
            format!("fork:{size}:{root}"),
            Finding::Fork {
                size,
                root,
                new_size: new.size,
                new_root: hex::encode(new.root),
            },
        );
    }

    /// Looks at one leaf for this account's person.
    fn entry(&mut self, index: u64, entry: &LogEntry, key: &PublicKey) -> Result<(), MonitorError> {
        match entry {
            LogEntry::Enrollment(e) => {
                let record = e
                    .enrollment
                    .verify(key)
                    .map_err(|err| {
                        MonitorError::Entries(format!(
                            "leaf {index}: the enrollment record does not verify: {err}"
                        ))
                    })?
                    .message;
                let ours = record.app_id == self.app_id && record.user_id == self.user_id;
                if ours && record.device_id != self.device_id {
                    self.reported_devices.insert(record.device_id);
                    self.report(
                        format!("device:{}", record.device_id),
                        Finding::UnknownDevice {
                            device_id: record.device_id,
                            enrolled_at: record.enrolled_at,
                            fingerprint: fingerprint(&record.public_key),
                            log_index: index,
                        },
                    );
                }
            }
            LogEntry::Receipt(r) => {
                if r.app_id != self.app_id {
                    return Ok(());
                }
                let user_id = self.user_id;
                for d in r.decisions.iter().filter(|d| d.user_id == user_id) {
                    if d.device_id == self.device_id {
                        self.unconfirmed.push(Unconfirmed {
                            request_id: r.request_id,
                            outcome: d.outcome,
                            signed_at: d.signed_at,
                            log_index: index,
                        });
                    } else {
                        let informational = self.reported_devices.contains(&d.device_id);
                        self.report(
                            format!("decision:{}:{}", r.request_id, d.device_id),
                            Finding::DecisionOnOtherDevice {
                                request_id: r.request_id,
                                device_id: d.device_id,
                                outcome: d.outcome,
                                signed_at: d.signed_at,
                                log_index: index,
                                informational,
                            },
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Compares this device's decisions in the log with the local history of decisions it made.
    fn judge_own(&mut self, history: &[HistoryEntry]) {
        let made: BTreeSet<Uuid> = history
            .iter()
            .filter(|h| h.account_id == self.account_id)
            .map(|h| h.request_id)
            .collect();
        // A full history forgot its oldest entries: what is older cannot be judged.
        let horizon = (history.len() >= HISTORY_LIMIT)
            .then(|| history.iter().map(|h| h.decided_at).min())
            .flatten();
        let mut still = Vec::new();
        for u in std::mem::take(&mut self.unconfirmed) {
            if made.contains(&u.request_id) {
                continue;
            }
            if horizon.is_some_and(|oldest| u.signed_at < oldest) {
                tracing::info!(request = %u.request_id, "a decision of this device older than its history; not judged");
                continue;
            }
            if self.now.saturating_sub(u.signed_at) < UNCONFIRMED_GRACE_SECS {
                still.push(u);
                continue;
            }
            self.report(
                format!("decision:{}:{}", u.request_id, self.device_id),
                Finding::DecisionNotMade {
                    request_id: u.request_id,
                    outcome: u.outcome,
                    signed_at: u.signed_at,
                    log_index: u.log_index,
                },
            );
        }
        self.unconfirmed = still;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assent_protocol::approval_log::{LogLeaf, hashes_hex};
    use assent_protocol::checkpoint::origin_for;
    use assent_protocol::decision::Outcome;
    use assent_protocol::receipt::{
        EnrollmentEntry, EnrollmentRecord, EntryDecision, EntryKind, ReceiptEntry,
    };
    use assent_protocol::request::{AppBranding, RequestStatus};
    use assent_protocol::signed::Signed;
    use ed25519_dalek::SigningKey;

    const APP: &str = "aaaaaaaaaaaaaaaaaaaaaaaa";
    const ANA: u64 = 7;
    const NOW: i64 = 1_800_000_000;

    fn service_key() -> SigningKey {
        SigningKey::from_bytes(&[0x21; 32])
    }

    fn device_key(n: u8) -> PublicKey {
        PublicKey::from_signing_key(&SigningKey::from_bytes(&[n; 32]))
    }

    fn account() -> Account {
        Account {
            id: Uuid::from_u128(1),
            server: Url::parse("http://127.0.0.1:1").unwrap(),
            device_id: Uuid::from_u128(100),
            device_alias: 1,
            device_name: "laptop".into(),
            user_id: ANA,
            app: AppBranding {
                id: APP.into(),
                name: "Acme".into(),
                accent_color: None,
                logos: vec![],
            },
            service_public_key: PublicKey::from_signing_key(&service_key()),
            enrolled_at: NOW - 1000,
            revoked_at: None,
            account_name: None,
        }
    }

    fn enrollment(app: &str, user: u64, device: u128, key: u8) -> Vec<u8> {
        let record = EnrollmentRecord {
            v: 1,
            app_id: app.into(),
            user_id: user,
            device_id: Uuid::from_u128(device),
            public_key: device_key(key),
            enrolled_at: NOW - 500,
        };
        LogEntry::Enrollment(EnrollmentEntry {
            kind: EntryKind::Enrollment,
            v: 1,
            enrollment: Signed::sign(&record, &service_key()).unwrap(),
        })
        .to_bytes()
    }

    fn receipt(request: u128, device: u128, signed_at: i64) -> Vec<u8> {
        LogEntry::Receipt(ReceiptEntry {
            kind: EntryKind::Receipt,
            v: 1,
            request_id: Uuid::from_u128(request),
            app_id: APP.into(),
            user_id: ANA,
            status: RequestStatus::Approved,
            reason: None,
            commitment: "00".repeat(32),
            decisions: vec![EntryDecision {
                user_id: ANA,
                device_id: Uuid::from_u128(device),
                public_key: device_key(9),
                outcome: Outcome::Approve,
                reason: None,
                signed_at,
            }],
            countersigned_at: signed_at + 1,
        })
        .to_bytes()
    }

    /// A log served from memory: the checkpoint is signed over `leaves`; `served` (when set) is
    /// what the entries call answers instead, and the other fields make it misbehave.
    struct FakeLog {
        key: SigningKey,
        leaves: Vec<Vec<u8>>,
        served: Option<Vec<LogLeaf>>,
        note: Option<String>,
        refuse: Option<&'static str>,
        proof: Option<Vec<String>>,
    }

    impl FakeLog {
        fn new(leaves: Vec<Vec<u8>>) -> Self {
            FakeLog {
                key: service_key(),
                leaves,
                served: None,
                note: None,
                refuse: None,
                proof: None,
            }
        }

        fn tree(&self) -> merkle::Tree {
            let mut tree = merkle::Tree::new();
            self.leaves
                .iter()
                .for_each(|l| tree.push(merkle::leaf_hash(l)));
            tree
        }

        fn signed(&self, key: &SigningKey) -> String {
            Checkpoint {
                origin: origin_for(&PublicKey::from_signing_key(key)),
                size: self.leaves.len() as u64,
                root: self.tree().root(),
                time: NOW,
            }
            .sign(key)
        }
    }

    fn refusal(code: &str) -> MonitorError {
        MonitorError::Service {
            code: code.into(),
            message: "refused".into(),
        }
    }

    impl LogSource for FakeLog {
        async fn checkpoint(&self, min_size: Option<u64>) -> Result<String, MonitorError> {
            if let Some(code) = self.refuse {
                return Err(refusal(code));
            }
            if let Some(note) = &self.note {
                return Ok(note.clone());
            }
            if min_size.is_some_and(|m| m > self.leaves.len() as u64) {
                return Err(refusal(INVALID_PARAMETER));
            }
            Ok(self.signed(&self.key))
        }

        async fn consistency(&self, from: u64, to: u64) -> Result<ConsistencyProof, MonitorError> {
            let proof = match &self.proof {
                Some(proof) => proof.clone(),
                None => hashes_hex(&self.tree().consistency_proof(from, to).unwrap()),
            };
            Ok(ConsistencyProof { from, to, proof })
        }

        async fn entries(&self, start: u64, end: u64) -> Result<LogEntries, MonitorError> {
            if let Some(served) = &self.served {
                return Ok(LogEntries {
                    entries: served.clone(),
                });
            }
            Ok(LogEntries {
                entries: (start..end)
                    .map(|i| LogLeaf {
                        index: i,
                        leaf: crypto::b64url(&self.leaves[i as usize]),
                    })
                    .collect(),
            })
        }
    }

    fn monitor() -> (tempfile::TempDir, LogMonitor) {
        let dir = tempfile::tempdir().unwrap();
        let monitor = LogMonitor::open(dir.path()).unwrap();
        (dir, monitor)
    }

    fn state_file(dir: &tempfile::TempDir) -> Option<Vec<u8>> {
        std::fs::read(dir.path().join(LogMonitor::file(&account()))).ok()
    }

    fn kinds(findings: &[FindingView]) -> Vec<&Finding> {
        findings.iter().map(|f| &f.finding).collect()
    }

    /// Ana's device (100) enrolled, then Bob's device, then another device for Ana (200).
    fn anas_log() -> Vec<Vec<u8>> {
        vec![
            enrollment(APP, ANA, 100, 1),
            enrollment(APP, 8, 150, 3),
            enrollment("b".repeat(24).as_str(), ANA, 160, 4),
            enrollment(APP, ANA, 200, 2),
        ]
    }

    #[tokio::test]
    async fn another_device_of_the_person_is_reported_once_and_its_own_never() {
        let (_dir, monitor) = monitor();
        let log = FakeLog::new(anas_log());
        let report = monitor.poll_with(&log, &account(), NOW).await.unwrap();
        assert_eq!(report.checkpoint_size, 4);
        assert_eq!(
            kinds(&report.new),
            vec![&Finding::UnknownDevice {
                device_id: Uuid::from_u128(200),
                enrolled_at: NOW - 500,
                fingerprint: fingerprint(&device_key(2)),
                log_index: 3,
            }],
            "only Ana's other device of this app is reported: not her own, not Bob's, not another app's"
        );
        assert_eq!(
            report.new[0].id,
            "device:00000000-0000-0000-0000-0000000000c8"
        );
        assert_eq!(report.new[0].service, "127.0.0.1:1");
        let again = monitor.poll_with(&log, &account(), NOW + 60).await.unwrap();
        assert!(again.new.is_empty(), "nothing new on an unchanged log");
        assert_eq!(
            again.open, report.new,
            "the finding stays open until dismissed"
        );

        let open = monitor.dismiss(&account(), &report.new[0].id).unwrap();
        assert!(open.is_empty(), "dismissed");
        assert!(
            monitor.findings(&account()).unwrap().is_empty(),
            "dismissal is stored"
        );

        // The dismissed device decides later: informational, since the person knows it.
        let mut grown = anas_log();
        grown.push(receipt(77, 200, NOW + 100));
        let report = monitor
            .poll_with(&FakeLog::new(grown), &account(), NOW + 120)
            .await
            .unwrap();
        assert_eq!(
            kinds(&report.new),
            vec![&Finding::DecisionOnOtherDevice {
                request_id: Uuid::from_u128(77),
                device_id: Uuid::from_u128(200),
                outcome: Outcome::Approve,
                signed_at: NOW + 100,
                log_index: 4,
                informational: true,
            }]
        );
        assert!(
            !report.open.iter().any(|f| f.id.starts_with("device:")),
            "a dismissed device is never reported again"
        );
    }

    #[tokio::test]
    async fn a_rewritten_history_is_a_fork_and_the_verified_checkpoint_is_kept() {
        let (dir, monitor) = monitor();
        let honest = FakeLog::new(anas_log());
        monitor.poll_with(&honest, &account(), NOW).await.unwrap();
        let kept = state_file(&dir).unwrap();
        let first = monitor.checkpoint_size(&account()).unwrap();

        // Entry 1 removed, two appended: a larger tree that does not extend the old one.
        let mut rewritten = anas_log();
        rewritten.remove(1);
        rewritten.push(receipt(5, 300, NOW));
        rewritten.push(receipt(6, 300, NOW));
        let report = monitor
            .poll_with(&FakeLog::new(rewritten.clone()), &account(), NOW + 60)
            .await
            .unwrap();
        assert_eq!(report.checkpoint_size, 4, "the verified checkpoint is kept");
        let fork = report
            .new
            .iter()
            .find(|f| matches!(f.finding, Finding::Fork { .. }))
            .expect("a fork is reported");
        assert!(
            matches!(
                &fork.finding,
                Finding::Fork {
                    size: 4,
                    new_size: 5,
                    ..
                }
            ),
            "{fork:?}"
        );
        assert_eq!(monitor.checkpoint_size(&account()).unwrap(), first);
        let stored: MonitorState = serde_json::from_slice(&state_file(&dir).unwrap()).unwrap();
        let before: MonitorState = serde_json::from_slice(&kept).unwrap();
        assert_eq!(
            stored.checkpoint, before.checkpoint,
            "the forked checkpoint never replaces the verified one"
        );
        assert_eq!(
            (stored.scanned, &stored.peaks),
            (before.scanned, &before.peaks)
        );

        // The same size with another root is a fork too; one finding per kept checkpoint.
        rewritten.pop();
        let same_size = monitor
            .poll_with(&FakeLog::new(rewritten), &account(), NOW + 120)
            .await
            .unwrap();
        assert!(
            same_size.new.is_empty(),
            "the same fork is not reported twice"
        );
        assert_eq!(same_size.checkpoint_size, 4);

        // A smaller log: the service refuses `min_size`, and that is a fork as well.
        let (_dir, monitor) = self::monitor();
        monitor.poll_with(&honest, &account(), NOW).await.unwrap();
        let shrunk = FakeLog::new(anas_log()[..2].to_vec());
        let report = monitor
            .poll_with(&shrunk, &account(), NOW + 60)
            .await
            .unwrap();
        assert!(
            report.new.iter().any(|f| matches!(
                f.finding,
                Finding::Fork {
                    size: 4,
                    new_size: 2,
                    ..
                }
            )),
            "a log smaller than a checkpoint it signed is a fork: {report:?}"
        );
    }

    #[tokio::test]
    async fn a_forged_consistency_proof_is_a_fork_and_a_malformed_one_an_error() {
        let (dir, monitor) = monitor();
        monitor
            .poll_with(&FakeLog::new(anas_log()[..3].to_vec()), &account(), NOW)
            .await
            .unwrap();
        let kept = state_file(&dir);
        let mut log = FakeLog::new(anas_log());
        log.proof = Some(vec!["ab".repeat(32); 2]);
        let report = monitor.poll_with(&log, &account(), NOW).await.unwrap();
        assert!(
            report
                .new
                .iter()
                .any(|f| matches!(f.finding, Finding::Fork { .. })),
            "a proof that does not verify is a fork"
        );
        let kept_after_fork = state_file(&dir);
        log.proof = Some(vec!["XYZ".into()]);
        let err = monitor.poll_with(&log, &account(), NOW).await.unwrap_err();
        assert_eq!(err.kind(), MonitorErrorKind::ProofInvalid, "{err}");
        assert_eq!(
            state_file(&dir),
            kept_after_fork,
            "nothing stored on failure"
        );
        assert_ne!(kept, kept_after_fork, "the fork finding itself was stored");
    }

    #[tokio::test]
    async fn tampered_missing_or_misnumbered_entries_are_refused_and_nothing_is_stored() {
        let (dir, monitor) = monitor();
        monitor
            .poll_with(&FakeLog::new(anas_log()[..2].to_vec()), &account(), NOW)
            .await
            .unwrap();
        let kept = state_file(&dir);
        let leaf = |i: u64, bytes: &[u8]| LogLeaf {
            index: i,
            leaf: crypto::b64url(bytes),
        };
        let other = enrollment(APP, ANA, 999, 5);
        let cases: Vec<(Vec<LogLeaf>, MonitorErrorKind, &str)> = vec![
            (
                vec![leaf(2, &other), leaf(3, &anas_log()[3])],
                MonitorErrorKind::EntriesMismatch,
                "a leaf swapped for another",
            ),
            (
                vec![leaf(2, &anas_log()[2])],
                MonitorErrorKind::EntriesInvalid,
                "a leaf missing",
            ),
            (
                vec![leaf(3, &anas_log()[2]), leaf(2, &anas_log()[3])],
                MonitorErrorKind::EntriesInvalid,
                "leaves out of order",
            ),
            (
                vec![
                    LogLeaf {
                        index: 2,
                        leaf: "not base64!".into(),
                    },
                    leaf(3, &anas_log()[3]),
                ],
                MonitorErrorKind::EntriesInvalid,
                "a leaf that is not base64url",
            ),
            (
                vec![leaf(2, b"{\"type\":\"nonsense\"}"), leaf(3, &anas_log()[3])],
                MonitorErrorKind::EntriesInvalid,
                "a leaf that is not a log entry",
            ),
        ];
        for (served, kind, why) in cases {
            let mut log = FakeLog::new(anas_log());
            log.served = Some(served);
            let err = monitor
                .poll_with(&log, &account(), NOW + 60)
                .await
                .expect_err(why);
            assert_eq!(err.kind(), kind, "{why}: {err}");
            assert_eq!(state_file(&dir), kept, "{why}: nothing is stored");
        }
        // A record the service did not sign, in a tree it did sign: refused too.
        let mut forged = anas_log();
        forged[3] = {
            let record = EnrollmentRecord {
                v: 1,
                app_id: APP.into(),
                user_id: ANA,
                device_id: Uuid::from_u128(300),
                public_key: device_key(6),
                enrolled_at: NOW,
            };
            LogEntry::Enrollment(EnrollmentEntry {
                kind: EntryKind::Enrollment,
                v: 1,
                enrollment: Signed::sign(&record, &SigningKey::from_bytes(&[0x33; 32])).unwrap(),
            })
            .to_bytes()
        };
        let err = monitor
            .poll_with(&FakeLog::new(forged), &account(), NOW + 60)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), MonitorErrorKind::EntriesInvalid, "{err}");
        assert_eq!(state_file(&dir), kept);
    }

    #[tokio::test]
    async fn malformed_or_foreign_checkpoints_are_refused_and_nothing_is_stored() {
        let (dir, monitor) = monitor();
        let honest = FakeLog::new(anas_log());
        let foreign = honest.signed(&SigningKey::from_bytes(&[0x44; 32]));
        let tampered = honest.signed(&service_key()).replacen("\n4\n", "\n5\n", 1);
        for (note, why) in [
            ("garbage".to_owned(), "not a note"),
            (foreign, "another deployment's key"),
            (tampered, "a changed size"),
            ("x".repeat(MAX_NOTE_BYTES + 1), "oversized"),
        ] {
            let mut log = FakeLog::new(anas_log());
            log.note = Some(note);
            let err = monitor
                .poll_with(&log, &account(), NOW)
                .await
                .expect_err(why);
            assert_eq!(
                err.kind(),
                MonitorErrorKind::CheckpointInvalid,
                "{why}: {err}"
            );
            assert_eq!(state_file(&dir), None, "{why}: nothing is stored");
        }
    }

    #[tokio::test]
    async fn a_log_the_service_refuses_to_sign_is_reported_and_keeps_the_checkpoint() {
        let (_dir, monitor) = monitor();
        monitor
            .poll_with(&FakeLog::new(anas_log()), &account(), NOW)
            .await
            .unwrap();
        let mut log = FakeLog::new(anas_log());
        log.refuse = Some(LOG_INCONSISTENT);
        let report = monitor.poll_with(&log, &account(), NOW + 60).await.unwrap();
        assert_eq!(report.checkpoint_size, 4);
        assert!(
            report
                .new
                .iter()
                .any(|f| f.id == "refused:4" && matches!(f.finding, Finding::LogRefused { .. })),
            "60113 is reported: {report:?}"
        );
        log.refuse = Some("60199");
        let err = monitor
            .poll_with(&log, &account(), NOW + 60)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), MonitorErrorKind::ServiceError);
    }

    #[tokio::test]
    async fn a_decision_of_this_device_missing_from_its_history_is_reported_after_the_grace() {
        let (dir, monitor) = monitor();
        let data = DataDir::open(dir.path()).unwrap();
        data.record_history(HistoryEntry {
            request_id: Uuid::from_u128(41),
            account_id: account().id,
            app_name: "Acme".into(),
            message: "m".into(),
            outcome: Outcome::Approve,
            reason: None,
            decided_at: NOW,
        })
        .unwrap();
        let mut leaves = vec![enrollment(APP, ANA, 100, 1)];
        leaves.push(receipt(41, 100, NOW)); // made here
        leaves.push(receipt(42, 100, NOW)); // not made here
        let log = FakeLog::new(leaves);
        let early = monitor.poll_with(&log, &account(), NOW + 10).await.unwrap();
        assert!(
            early.new.is_empty(),
            "within the grace a missing history entry is not yet a finding: {early:?}"
        );
        let later = monitor
            .poll_with(&log, &account(), NOW + UNCONFIRMED_GRACE_SECS)
            .await
            .unwrap();
        assert_eq!(
            kinds(&later.new),
            vec![&Finding::DecisionNotMade {
                request_id: Uuid::from_u128(42),
                outcome: Outcome::Approve,
                signed_at: NOW,
                log_index: 2,
            }],
            "only the decision this device never made is reported"
        );
    }

    #[tokio::test]
    async fn a_corrupt_state_file_is_an_error_not_a_fresh_start() {
        let (dir, monitor) = monitor();
        monitor
            .poll_with(&FakeLog::new(anas_log()), &account(), NOW)
            .await
            .unwrap();
        let path = dir.path().join(LogMonitor::file(&account()));
        let mut state: MonitorState =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        state.checkpoint.as_mut().unwrap().size = 3;
        std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
        let err = monitor
            .poll_with(&FakeLog::new(anas_log()), &account(), NOW)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), MonitorErrorKind::StorageError, "{err}");
    }
}
