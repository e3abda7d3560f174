//! Merkle trees as RFC 6962 and RFC 9162 define them: the shape of the approval log.
//!
//! - leaf hash: `SHA-256(0x00 || leaf bytes)`; node hash: `SHA-256(0x01 || left || right)`; the
//!   empty tree's root is `SHA-256("")`. The two prefixes keep a leaf from ever being read as a
//!   node (second-preimage attacks on the tree shape);
//! - a tree of `n` leaves splits at the largest power of two below `n`: its left subtree is
//!   complete, its right subtree holds the rest;
//! - an **inclusion proof** shows a leaf is at an index of a tree of a given size and root; a
//!   **consistency proof** shows a tree of size `m` is a prefix of a tree of size `n` (nothing
//!   was removed or changed, only appended).
//!
//! [`Tree`] keeps every complete subtree's hash, so roots and proofs of any size up to its own
//! cost `O(log² n)` hashes at most; [`Frontier`] keeps only the right edge of a tree (one hash per
//! set bit of its size), enough for a monitor that reads every leaf to follow the root.
//! [`verify_inclusion`] and [`verify_consistency`] are RFC 9162's algorithms (sections 2.1.3.2 and
//! 2.1.4.2), checked against an independent implementation's vectors in `tests/vectors/`.

use sha2::{Digest as _, Sha256};

/// A SHA-256 hash of a leaf, a node or a root.
pub type Hash = [u8; 32];

/// Longest proof accepted: a tree of 2^64 leaves needs at most 64 hashes (consistency proofs
/// one or two more). Anything longer is refused before any hashing.
pub const MAX_PROOF_HASHES: usize = 66;

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(data);
    hasher.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Why a proof was not produced, or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not inside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The sizes are not `old <= new <= tree size`.
    #[error("tree sizes {old} and {new} cannot be compared (the log has {size} leaves)")]
    SizeOutOfRange {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
        /// The size the log has.
        size: u64,
    },
    /// The proof has more hashes than any tree needs.
    #[error("the proof has {0} hashes, more than any tree needs")]
    TooLong(usize),
    /// The proof has the wrong number of hashes for these sizes.
    #[error("the proof has the wrong number of hashes for these tree sizes")]
    WrongLength,
    /// The proof does not lead to the root it should.
    #[error("the proof does not lead to the expected root hash")]
    RootMismatch,
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// A whole tree, kept as the hashes of every complete, aligned subtree: `levels[k][i]` is the
/// root of leaves `i·2^k .. (i+1)·2^k`. Memory: about two hashes per leaf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Tree::default()
    }

    /// Leaves in the tree.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// True when the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a leaf, given by its leaf hash ([`leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut level = 0;
        // A node is complete once its right child exists: the new hash is a right child when its
        // index on its level is odd.
        while self.levels[level].len().is_multiple_of(2) {
            let row = &self.levels[level];
            let parent = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(parent);
            level += 1;
        }
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels
            .first()?
            .get(usize::try_from(index).ok()?)
            .copied()
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        self.root_at(self.len()).expect("the tree's own size")
    }

    /// The root the tree had when it had `size` leaves.
    ///
    /// # Errors
    /// [`ProofError::SizeOutOfRange`] when `size` is beyond the tree.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        if size > self.len() {
            return Err(ProofError::SizeOutOfRange {
                old: size,
                new: size,
                size: self.len(),
            });
        }
        Ok(if size == 0 {
            empty_root()
        } else {
            self.subtree(0, size)
        })
    }

    /// `MTH(D[lo:hi])` for `lo < hi <= len`.
    fn subtree(&self, lo: u64, hi: u64) -> Hash {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            return self.levels[level][(lo >> level) as usize];
        }
        let k = split(n);
        node_hash(&self.subtree(lo, lo + k), &self.subtree(lo + k, hi))
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 `PATH`).
    ///
    /// # Errors
    /// [`ProofError::SizeOutOfRange`] or [`ProofError::IndexOutOfRange`].
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if size > self.len() {
            return Err(ProofError::SizeOutOfRange {
                old: size,
                new: size,
                size: self.len(),
            });
        }
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut proof = Vec::new();
        self.path(index, 0, size, &mut proof);
        Ok(proof)
    }

    fn path(&self, m: u64, lo: u64, hi: u64, out: &mut Vec<Hash>) {
        let n = hi - lo;
        if n == 1 {
            return;
        }
        let k = split(n);
        if m < k {
            self.path(m, lo, lo + k, out);
            out.push(self.subtree(lo + k, hi));
        } else {
            self.path(m - k, lo + k, hi, out);
            out.push(self.subtree(lo, lo + k));
        }
    }

    /// The consistency proof between the tree of `old` leaves and the tree of `new` leaves
    /// (RFC 6962 `PROOF`); empty when `old` is 0 or equals `new`.
    ///
    /// # Errors
    /// [`ProofError::SizeOutOfRange`] unless `old <= new <= len`.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        if old > new || new > self.len() {
            return Err(ProofError::SizeOutOfRange {
                old,
                new,
                size: self.len(),
            });
        }
        let mut proof = Vec::new();
        if old > 0 && old < new {
            self.subproof(old, 0, new, true, &mut proof);
        }
        Ok(proof)
    }

    fn subproof(&self, m: u64, lo: u64, hi: u64, whole: bool, out: &mut Vec<Hash>) {
        let n = hi - lo;
        if m == n {
            if !whole {
                out.push(self.subtree(lo, hi));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            self.subproof(m, lo, lo + k, whole, out);
            out.push(self.subtree(lo + k, hi));
        } else {
            self.subproof(m - k, lo + k, hi, false, out);
            out.push(self.subtree(lo, lo + k));
        }
    }
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves whose root is
/// `root` (RFC 9162, section 2.1.3.2).
///
/// # Errors
/// [`ProofError::IndexOutOfRange`], [`ProofError::TooLong`], [`ProofError::WrongLength`] or
/// [`ProofError::RootMismatch`].
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::TooLong(proof.len()));
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `old` leaves with root `old_root` is a prefix of the tree of `new`
/// leaves with root `new_root` (RFC 9162, section 2.1.4.2). Equal sizes need an empty proof and
/// equal roots; the empty tree is a prefix of every tree (empty proof).
///
/// # Errors
/// [`ProofError::SizeOutOfRange`] when `old > new`; [`ProofError::TooLong`];
/// [`ProofError::WrongLength`]; [`ProofError::RootMismatch`] when the roots do not follow.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizeOutOfRange {
            old,
            new,
            size: new,
        });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::TooLong(proof.len()));
    }
    if old == new || old == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        let ok = if old == 0 {
            *old_root == empty_root()
        } else {
            old_root == new_root
        };
        return if ok {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The right edge of a tree: the roots of its complete subtrees, largest first (one per set bit
/// of the size). Enough to append leaves and know the root, without keeping the leaves: what a
/// monitor that reads every leaf keeps between visits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    peaks: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// Rebuilds a frontier from its parts.
    ///
    /// # Errors
    /// [`ProofError::WrongLength`] unless there is one peak per set bit of `size`.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Result<Self, ProofError> {
        if peaks.len() != size.count_ones() as usize {
            return Err(ProofError::WrongLength);
        }
        Ok(Frontier { size, peaks })
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The peaks, largest subtree first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends a leaf (given by its leaf hash).
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            let left = self.peaks.pop().expect("one peak per set bit");
            hash = node_hash(&left, &hash);
            size >>= 1;
        }
        self.peaks.push(hash);
        self.size += 1;
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6962's definitions, recursively over the leaf hashes: the reference [`Tree`] must
    /// agree with.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn roots_match_the_recursive_definition() {
        let all = leaves(70);
        let mut tree = Tree::new();
        let mut frontier = Frontier::new();
        assert_eq!(tree.root(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            tree.push(*leaf);
            frontier.push(*leaf);
            let expected = mth(&all[..=i]);
            assert_eq!(tree.root(), expected, "tree root at size {}", i + 1);
            assert_eq!(frontier.root(), expected, "frontier root at size {}", i + 1);
        }
        for size in 0..=70 {
            assert_eq!(tree.root_at(size).unwrap(), mth(&all[..size as usize]));
        }
    }

    #[test]
    fn every_inclusion_and_consistency_proof_of_a_small_tree_verifies() {
        let all = leaves(33);
        let mut tree = Tree::new();
        all.iter().for_each(|l| tree.push(*l));
        for size in 1..=33 {
            let root = tree.root_at(size).unwrap();
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size).unwrap();
                assert_eq!(
                    verify_inclusion(&all[index as usize], index, size, &proof, &root),
                    Ok(()),
                    "leaf {index} of {size}"
                );
                let other = (index + 1) % size;
                if other != index {
                    assert!(
                        verify_inclusion(&all[index as usize], other, size, &proof, &root).is_err(),
                        "a proof for leaf {index} must not prove it at {other} of {size}"
                    );
                }
            }
            for old in 0..=size {
                let proof = tree.consistency_proof(old, size).unwrap();
                let old_root = tree.root_at(old).unwrap();
                assert_eq!(
                    verify_consistency(old, size, &old_root, &root, &proof),
                    Ok(()),
                    "{old} -> {size}"
                );
            }
        }
    }

    #[test]
    fn a_changed_leaf_breaks_consistency() {
        let mut all = leaves(20);
        let mut honest = Tree::new();
        all.iter().for_each(|l| honest.push(*l));
        all[3] = leaf_hash(b"rewritten");
        let mut forked = Tree::new();
        all.iter().for_each(|l| forked.push(*l));
        forked.push(leaf_hash(b"more"));
        let proof = forked.consistency_proof(10, 21).unwrap();
        assert_eq!(
            verify_consistency(10, 21, &honest.root_at(10).unwrap(), &forked.root(), &proof),
            Err(ProofError::RootMismatch)
        );
    }

    #[test]
    fn hostile_proofs_are_refused_without_panicking() {
        let root = empty_root();
        assert_eq!(
            verify_inclusion(&root, 5, 5, &[], &root),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        );
        assert_eq!(
            verify_inclusion(&root, 0, 1, &[root; 67], &root),
            Err(ProofError::TooLong(67))
        );
        assert_eq!(
            verify_inclusion(&root, 0, 4, &[root], &root),
            Err(ProofError::WrongLength)
        );
        assert_eq!(
            verify_consistency(3, 2, &root, &root, &[]),
            Err(ProofError::SizeOutOfRange {
                old: 3,
                new: 2,
                size: 2
            })
        );
        assert_eq!(
            verify_consistency(3, 7, &root, &root, &[]),
            Err(ProofError::WrongLength)
        );
        assert_eq!(
            verify_consistency(u64::MAX - 1, u64::MAX, &root, &root, &[root; 3]),
            Err(ProofError::WrongLength)
        );
        assert!(Frontier::from_parts(3, vec![root]).is_err());
    }
}
