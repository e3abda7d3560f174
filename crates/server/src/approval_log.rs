//! The approval log: an append-only Merkle tree (RFC 6962) of every enrollment record and every
//! receipt, with signed checkpoints (C2SP signed notes) and inclusion and consistency proofs.
//!
//! The database is the log. Leaves are appended by the store inside the transaction of the
//! enrollment or decision they publish, at the index the one-row log head gives out (locked, so
//! indexes have no gap and no duplicate, whatever the number of writers). Each instance keeps the
//! tree in memory, built from the leaves in the database: on start, and before every checkpoint or
//! proof it reads the leaves appended since (by any instance). The tree is a pure function of the
//! leaves, so it is rebuilt byte for byte after a restart.
//!
//! Checkpoints are signed at a fixed interval when the tree grew, and on demand (a receipt that
//! needs one, a client asking for a size not yet covered). The service never signs a checkpoint
//! inconsistent with the latest one stored: when the leaves in the database no longer lead to the
//! root it signed (history rewritten behind its back), it refuses ([`LogError::Inconsistent`]) and
//! says so loudly. A rewrite thorough enough to remove the stored checkpoints too is caught by the
//! monitors holding an older checkpoint: the new one is not consistent with it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use assent_protocol::merkle::{self, Hash, ProofError, Tree};
use tokio::sync::Mutex;

use crate::notary::Notary;
use crate::state::AppState;
use crate::store::{Store, StoreError, StoredCheckpoint};

/// Leaves read from the database per query while catching up.
const CATCH_UP_PAGE: u64 = 10_000;

/// Why the log could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The leaves in the database do not lead to a root the service signed.
    #[error(
        "the approval log in the database does not match the checkpoint the service signed at size {size}: its history was rewritten"
    )]
    Inconsistent {
        /// The size of the signed checkpoint that no longer matches.
        size: u64,
    },
    /// A size or index beyond the log.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// The in-memory tree of one instance. See the module documentation.
#[derive(Debug, Default)]
pub struct ApprovalLog {
    tree: Mutex<Tree>,
    /// The size of the latest checkpoint this instance has signed or read (the checkpoint task
    /// reads the stored one every interval, so other instances' signing shows here too, and so
    /// does a database rolled back under it: devices told a smaller size check, and see the
    /// fork). Only a hint for devices' streams, never used to sign or prove anything.
    signed_size: AtomicU64,
}

impl ApprovalLog {
    /// An empty tree, filled from the database on first use.
    pub fn new() -> Self {
        ApprovalLog::default()
    }

    /// Appends to `tree` the leaves the database has beyond it. A database holding fewer leaves
    /// than the tree (rows removed behind the service's back) makes it start over from the
    /// database, loudly: what it signs next is checked against the stored checkpoints.
    async fn catch_up(tree: &mut Tree, store: &dyn Store) -> Result<(), LogError> {
        let size = store.log_size().await?;
        if size < tree.len() {
            tracing::error!(
                in_memory = tree.len(),
                in_database = size,
                "the approval log in the database is shorter than this instance saw: rebuilding it from the database"
            );
            *tree = Tree::new();
        }
        while tree.len() < size {
            let start = tree.len();
            let leaves = store
                .log_leaves(start, (start + CATCH_UP_PAGE).min(size))
                .await?;
            if leaves.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "the approval log has {size} leaves but none from index {start}"
                ))
                .into());
            }
            for leaf in leaves {
                tree.push(merkle::leaf_hash(&leaf));
            }
        }
        Ok(())
    }

    /// Checks the tree against the latest stored checkpoint.
    fn check(tree: &Tree, latest: Option<&StoredCheckpoint>) -> Result<(), LogError> {
        match latest {
            Some(cp) if cp.size > tree.len() || tree.root_at(cp.size)? != cp.root => {
                tracing::error!(
                    size = cp.size,
                    "the approval log's leaves do not lead to the root the service signed: its history was rewritten; no checkpoint or proof will be signed"
                );
                Err(LogError::Inconsistent { size: cp.size })
            }
            _ => Ok(()),
        }
    }

    /// Reads the database and checks it against the latest checkpoint (on start).
    ///
    /// # Errors
    /// [`LogError`].
    pub async fn load(&self, store: &dyn Store) -> Result<u64, LogError> {
        let mut tree = self.tree.lock().await;
        Self::catch_up(&mut tree, store).await?;
        let latest = store.latest_checkpoint().await?;
        Self::check(&tree, latest.as_ref())?;
        if let Some(latest) = latest {
            self.saw_signed(latest.size);
        }
        Ok(tree.len())
    }

    fn saw_signed(&self, size: u64) {
        self.signed_size.store(size, Ordering::Relaxed);
    }

    /// The size of the latest signed checkpoint this instance knows of (0 before any): what
    /// device streams announce (`log` frames), so devices check the log when it grew.
    pub fn signed_size(&self) -> u64 {
        self.signed_size.load(Ordering::Relaxed)
    }

    /// A checkpoint of at least `min_size` leaves: the latest stored one when it is large
    /// enough, else a new one of the whole tree, signed now.
    ///
    /// # Errors
    /// [`LogError::Proof`] when the log has fewer than `min_size` leaves;
    /// [`LogError::Inconsistent`]; [`LogError::Store`].
    pub async fn checkpoint(
        &self,
        store: &dyn Store,
        notary: &Notary,
        min_size: u64,
        now: i64,
    ) -> Result<StoredCheckpoint, LogError> {
        let mut tree = self.tree.lock().await;
        Self::catch_up(&mut tree, store).await?;
        if min_size > tree.len() {
            return Err(ProofError::SizeOutOfRange {
                old: min_size,
                new: min_size,
                size: tree.len(),
            }
            .into());
        }
        let latest = store.latest_checkpoint().await?;
        Self::check(&tree, latest.as_ref())?;
        if let Some(latest) = latest.filter(|cp| cp.size >= min_size) {
            self.saw_signed(latest.size);
            return Ok(latest);
        }
        let (size, root) = (tree.len(), tree.root());
        let stored = store
            .save_checkpoint(StoredCheckpoint {
                size,
                root,
                note: notary.checkpoint(size, root, now),
                created_at: now,
            })
            .await?;
        if stored.root != root {
            // Another instance signed another root for this size: one of us reads another log.
            return Err(LogError::Inconsistent { size });
        }
        self.saw_signed(stored.size);
        Ok(stored)
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves.
    ///
    /// # Errors
    /// [`LogError::Proof`] for an index or size beyond the log; [`LogError::Inconsistent`].
    pub async fn inclusion_proof(
        &self,
        store: &dyn Store,
        index: u64,
        size: u64,
    ) -> Result<Vec<Hash>, LogError> {
        let mut tree = self.tree.lock().await;
        Self::catch_up(&mut tree, store).await?;
        Self::check(&tree, store.latest_checkpoint().await?.as_ref())?;
        Ok(tree.inclusion_proof(index, size)?)
    }

    /// The consistency proof between the trees of `old` and `new` leaves.
    ///
    /// # Errors
    /// As [`ApprovalLog::inclusion_proof`].
    pub async fn consistency_proof(
        &self,
        store: &dyn Store,
        old: u64,
        new: u64,
    ) -> Result<Vec<Hash>, LogError> {
        let mut tree = self.tree.lock().await;
        Self::catch_up(&mut tree, store).await?;
        Self::check(&tree, store.latest_checkpoint().await?.as_ref())?;
        Ok(tree.consistency_proof(old, new)?)
    }

    /// The root of the tree of `size` leaves (for tests and operators comparing instances).
    ///
    /// # Errors
    /// As [`ApprovalLog::inclusion_proof`].
    pub async fn root_at(&self, store: &dyn Store, size: u64) -> Result<Hash, LogError> {
        let mut tree = self.tree.lock().await;
        Self::catch_up(&mut tree, store).await?;
        Ok(tree.root_at(size)?)
    }
}

/// Signs a checkpoint every `interval` when the log grew, until the service shuts down.
pub async fn run(state: AppState, interval: Duration) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = state.shutdown.cancelled() => return,
        }
        let size = match state.store.log_size().await {
            Ok(size) => size,
            Err(e) => {
                tracing::warn!(error = %e, "reading the approval log's size failed");
                continue;
            }
        };
        if let Err(e) = state
            .log
            .checkpoint(state.store.as_ref(), &state.notary, size, state.now())
            .await
        {
            tracing::error!(error = %e, "signing the approval log's checkpoint failed");
        }
    }
}
