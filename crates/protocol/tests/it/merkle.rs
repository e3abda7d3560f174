use std::sync::OnceLock;

use assent_protocol::approval_log::{hash_from_hex, hashes_hex};
use assent_protocol::merkle::{
    self, Frontier, Hash, ProofError, Tree, verify_consistency, verify_inclusion,
};
use proptest::prelude::*;
use serde_json::Value;

fn hex_list(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| hash_from_hex(h.as_str().unwrap()).expect("64 lower-case hex digits"))
        .collect()
}

fn tree_of(leaf_data: impl Iterator<Item = Vec<u8>>) -> Tree {
    let mut tree = Tree::new();
    leaf_data.for_each(|d| tree.push(merkle::leaf_hash(&d)));
    tree
}

#[test]
fn independent_merkle_vectors() {
    let vectors = crate::vectors("receipts.json");
    let m = &vectors["merkle"];
    let leaves: Vec<Vec<u8>> = (0..13).map(|i| format!("leaf {i}").into_bytes()).collect();
    assert_eq!(
        hashes_hex(
            &leaves
                .iter()
                .map(|l| merkle::leaf_hash(l))
                .collect::<Vec<_>>()
        ),
        m["leaf_hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect::<Vec<_>>(),
        "leaf hashes are SHA-256(0x00 || data)"
    );
    let full = tree_of(leaves.iter().cloned());
    for t in m["trees"].as_array().unwrap() {
        let size = t["size"].as_u64().unwrap();
        let root = hash_from_hex(t["root"].as_str().unwrap()).unwrap();
        assert_eq!(full.root_at(size).unwrap(), root, "root of {size} leaves");
        let mut frontier = Frontier::new();
        leaves[..size as usize]
            .iter()
            .for_each(|l| frontier.push(merkle::leaf_hash(l)));
        assert_eq!(frontier.root(), root, "frontier root of {size} leaves");
        for p in t["inclusion"].as_array().unwrap() {
            let index = p["index"].as_u64().unwrap();
            let proof = hex_list(&p["proof"]);
            assert_eq!(
                full.inclusion_proof(index, size).unwrap(),
                proof,
                "inclusion proof of {index} in {size}"
            );
            let leaf = merkle::leaf_hash(&leaves[index as usize]);
            assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
        }
        for p in t["consistency"].as_array().unwrap() {
            let from = p["from"].as_u64().unwrap();
            let proof = hex_list(&p["proof"]);
            assert_eq!(
                full.consistency_proof(from, size).unwrap(),
                proof,
                "consistency proof {from} -> {size}"
            );
            assert_eq!(
                verify_consistency(from, size, &full.root_at(from).unwrap(), &root, &proof),
                Ok(())
            );
        }
    }
    let large = &m["large"];
    let big = tree_of((0..1000).map(|i| format!("entry {i}").into_bytes()));
    let root = hash_from_hex(large["root"].as_str().unwrap()).unwrap();
    assert_eq!(big.root(), root);
    for p in large["inclusion"].as_array().unwrap() {
        let index = p["index"].as_u64().unwrap();
        assert_eq!(
            big.inclusion_proof(index, 1000).unwrap(),
            hex_list(&p["proof"])
        );
    }
    for p in large["consistency"].as_array().unwrap() {
        let (from, to) = (p["from"].as_u64().unwrap(), p["to"].as_u64().unwrap());
        let proof = hex_list(&p["proof"]);
        assert_eq!(big.consistency_proof(from, to).unwrap(), proof);
        let (old, new) = (
            hash_from_hex(p["root_from"].as_str().unwrap()).unwrap(),
            hash_from_hex(p["root_to"].as_str().unwrap()).unwrap(),
        );
        assert_eq!(verify_consistency(from, to, &old, &new, &proof), Ok(()));
    }
}

const ENTRIES: u64 = 10_000;

/// A log of 10,000 entries, built once.
fn log() -> &'static Tree {
    static TREE: OnceLock<Tree> = OnceLock::new();
    TREE.get_or_init(|| tree_of((0..ENTRIES).map(|i| format!("entry {i}").into_bytes())))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Between any two checkpoints (tree sizes) of a 10,000-entry log, the consistency proof
    /// verifies, and any entry of the older one is proven in the newer one.
    #[test]
    fn proofs_verify_between_random_pairs_of_checkpoints(a in 1..=ENTRIES, b in 1..=ENTRIES, pick in any::<u64>()) {
        let (old, new) = (a.min(b), a.max(b));
        let tree = log();
        let (old_root, new_root) = (tree.root_at(old).unwrap(), tree.root_at(new).unwrap());
        let proof = tree.consistency_proof(old, new).unwrap();
        prop_assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));
        let index = pick % old;
        let inclusion = tree.inclusion_proof(index, new).unwrap();
        let leaf = tree.leaf(index).unwrap();
        prop_assert_eq!(verify_inclusion(&leaf, index, new, &inclusion, &new_root), Ok(()));
        // And the proofs prove nothing else.
        if old < new {
            let mut forged = old_root;
            forged[(pick % 32) as usize] ^= 1;
            prop_assert!(verify_consistency(old, new, &forged, &new_root, &proof).is_err(),
                "a consistency proof must not hold for another old root");
        }
        if !inclusion.is_empty() {
            let mut bent = inclusion;
            let at = (pick as usize / 32) % bent.len();
            bent[at][(pick % 32) as usize] ^= 0x80;
            prop_assert!(verify_inclusion(&leaf, index, new, &bent, &new_root).is_err(),
                "a changed proof hash must not verify");
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A history rewritten by removing one entry: the new tree's checkpoint is not consistent with
    /// any checkpoint taken after the removed entry, whatever proof the log offers.
    #[test]
    fn a_removed_entry_breaks_consistency(removed in 0..2_000u64, old in 2_001..4_000u64, grown in 1..50u64) {
        let honest = log();
        let mut rewritten = Tree::new();
        (0..honest.len())
            .filter(|i| *i != removed)
            .for_each(|i| rewritten.push(honest.leaf(i).unwrap()));
        let new = old + grown;
        let proof = rewritten.consistency_proof(old, new).unwrap();
        prop_assert_eq!(
            verify_consistency(old, new, &honest.root_at(old).unwrap(), &rewritten.root_at(new).unwrap(), &proof),
            Err(ProofError::RootMismatch)
        );
    }
}

#[test]
fn malformed_hex_proofs_are_refused() {
    use assent_protocol::approval_log::hashes_from_hex;
    let good = "ab".repeat(32);
    assert!(hashes_from_hex(std::slice::from_ref(&good)).is_some());
    for bad in [
        "AB".repeat(32),
        "ab".repeat(31),
        format!("{good}0"),
        "zz".repeat(32),
    ] {
        assert!(
            hashes_from_hex(std::slice::from_ref(&bad)).is_none(),
            "{bad} is not a lower-case hex hash"
        );
    }
    assert!(
        hashes_from_hex(&vec![good; merkle::MAX_PROOF_HASHES + 1]).is_none(),
        "more hashes than any tree needs are refused"
    );
}
