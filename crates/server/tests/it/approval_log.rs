//! The approval log over HTTP: leaves appended with their enrollments and decisions, without gaps
//! under concurrent writers on several instances; checkpoints and proofs that verify; a history
//! rewritten in the database caught; hostile queries refused.

use assent_protocol::approval_log::{ConsistencyProof, InclusionProof, LogEntries};
use assent_protocol::checkpoint::Checkpoint;
use assent_protocol::crypto::PublicKey;
use assent_protocol::merkle::{self, ProofError, verify_consistency, verify_inclusion};
use assent_protocol::receipt::LogEntry;
use assent_testkit::{Options, TestService, rogue};
use serde_json::{Value, json};

async fn log_get(svc: &TestService, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{}{path}", svc.base))
        .await
        .expect("service reachable");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

async fn checkpoint(svc: &TestService, key: &PublicKey, min_size: u64) -> Checkpoint {
    let (status, note) = log_get(svc, &format!("/log/v1/checkpoint?min_size={min_size}")).await;
    assert_eq!(status, 200, "a checkpoint should be served: {note}");
    Checkpoint::open(&note, key).expect("the checkpoint is signed by the service key")
}

async fn consistency(svc: &TestService, from: u64, to: u64) -> Vec<merkle::Hash> {
    let (status, body) = log_get(
        svc,
        &format!("/log/v1/proof/consistency?from={from}&to={to}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let proof: ConsistencyProof = serde_json::from_str(&body).unwrap();
    assent_protocol::approval_log::hashes_from_hex(&proof.proof).expect("hex hashes")
}

/// Every leaf of the log, read over HTTP.
async fn leaves(svc: &TestService, size: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while (out.len() as u64) < size {
        let start = out.len() as u64;
        let end = (start + 1000).min(size);
        let (status, body) =
            log_get(svc, &format!("/log/v1/entries?start={start}&end={end}")).await;
        assert_eq!(status, 200, "{body}");
        let page: LogEntries = serde_json::from_str(&body).unwrap();
        for (i, leaf) in page.entries.iter().enumerate() {
            assert_eq!(leaf.index, start + i as u64, "entries come in order");
            out.push(leaf.bytes().unwrap());
        }
    }
    out
}

#[tokio::test]
async fn concurrent_decisions_on_two_instances_get_gapless_leaves_and_proofs_verify() {
    let svc = TestService::start_with(Options::several_pending()).await;
    let other = svc.another_instance(None).await;
    let key = svc.state.notary.public();
    let mut people = Vec::new();
    for i in 0..6 {
        people.push(svc.enrolled_user(&format!("log{i}@example.com")).await);
    }
    let mut ids = Vec::new();
    for (user, _) in &people {
        for _ in 0..3 {
            ids.push((
                svc.backend.request(*user, json!({"message": "m"})).await.0,
                *user,
            ));
        }
    }
    // Every decision at once, half through each instance.
    let mut tasks = Vec::new();
    for (n, (id, user)) in ids.iter().enumerate() {
        let base = if n % 2 == 0 { &svc.base } else { &other.base };
        let device = people.iter().find(|(u, _)| u == user).unwrap().1.at(base);
        let id = *id;
        tasks.push(tokio::spawn(async move { device.approve(id).await.status }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200, "every decision is recorded");
    }
    let expected = (people.len() + ids.len()) as u64;
    assert_eq!(
        svc.state.store.log_size().await.unwrap(),
        expected,
        "one leaf per enrollment and per receipt"
    );
    let all = leaves(&other, expected).await;
    assert_eq!(all.len() as u64, expected, "no gap in the leaf indexes");
    let (mut enrollments, mut receipts) = (0, 0);
    for leaf in &all {
        match LogEntry::parse(leaf).expect("every leaf is a log entry") {
            LogEntry::Enrollment(_) => enrollments += 1,
            LogEntry::Receipt(_) => receipts += 1,
        }
    }
    assert_eq!((enrollments, receipts), (people.len(), ids.len()));

    // Both instances sign the same tree, and the tree is what the leaves say.
    let mut tree = merkle::Tree::new();
    all.iter().for_each(|l| tree.push(merkle::leaf_hash(l)));
    let a = checkpoint(&svc, &key, expected).await;
    let b = checkpoint(&other, &key, expected).await;
    assert_eq!(
        a.root,
        tree.root(),
        "the checkpoint's root is the leaves' root"
    );
    assert_eq!((b.size, b.root), (a.size, a.root), "instances agree");

    // Inclusion of every leaf, and consistency from every smaller size.
    for index in 0..expected {
        let (status, body) = log_get(
            &other,
            &format!("/log/v1/proof/inclusion?index={index}&size={expected}"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let proof: InclusionProof = serde_json::from_str(&body).unwrap();
        let hashes = assent_protocol::approval_log::hashes_from_hex(&proof.proof).unwrap();
        verify_inclusion(
            &merkle::leaf_hash(&all[index as usize]),
            index,
            expected,
            &hashes,
            &a.root,
        )
        .unwrap_or_else(|e| panic!("leaf {index} should be included: {e}"));
    }
    for old in 1..expected {
        let proof = consistency(&svc, old, expected).await;
        verify_consistency(old, expected, &tree.root_at(old).unwrap(), &a.root, &proof)
            .unwrap_or_else(|e| panic!("{old} -> {expected} should be consistent: {e}"));
    }
}

#[tokio::test]
async fn a_removed_entry_yields_a_checkpoint_inconsistent_with_the_previous_one() {
    let svc = TestService::start().await;
    let key = svc.state.notary.public();
    let (user, device) = svc.enrolled_user("rewrite@example.com").await;
    for _ in 0..4 {
        let (id, _) = svc.backend.request(user, json!({"message": "m"})).await;
        device.approve(id).await;
    }
    let size = svc.state.store.log_size().await.unwrap();
    let seen = checkpoint(&svc, &key, size).await;
    assert_eq!(seen.size, 5);

    // A rogue operator removes entry 2 but keeps the checkpoints: the service notices and signs
    // nothing more.
    rogue::remove_receipt_entry(svc.data(), 2).await;
    let (status, body) = log_get(&svc, "/log/v1/checkpoint").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["error_code"],
        "60113",
        "a rewritten history is refused with its code"
    );
    let (status, _) = log_get(&svc, "/log/v1/proof/consistency?from=1&to=4").await;
    assert_eq!(status, 503, "no proof is served either");

    // The rogue also removes the stored checkpoints; a fresh instance (nothing in memory) then
    // signs the rewritten log. A monitor holding the earlier checkpoint catches the fork.
    rogue::execute(svc.data(), "DELETE FROM log_checkpoints;").await;
    let fresh = svc.another_instance(None).await;
    let (id, _) = fresh
        .backend
        .request(user, json!({"message": "more"}))
        .await;
    let device = device.at(&fresh.base);
    assert_eq!(device.approve(id).await.status, 200);
    let later = checkpoint(&fresh, &key, seen.size).await;
    assert_eq!(later.size, seen.size, "one removed, one appended");
    let proof = consistency(&fresh, seen.size, later.size).await;
    assert_eq!(
        verify_consistency(seen.size, later.size, &seen.root, &later.root, &proof),
        Err(ProofError::RootMismatch),
        "the rewritten log's checkpoint must fail the consistency check against the earlier one"
    );
}

#[tokio::test]
async fn hostile_log_queries_are_refused_with_their_code() {
    let svc = TestService::start().await;
    svc.enrolled_user("q@example.com").await;
    for (path, why) in [
        ("/log/v1/entries?start=0", "end is required"),
        ("/log/v1/entries?start=1&end=1", "an empty range"),
        ("/log/v1/entries?start=0&end=2", "beyond the log"),
        ("/log/v1/entries?start=-1&end=1", "a negative start"),
        (
            "/log/v1/entries?start=0&end=99999999999999999999999",
            "an oversized number",
        ),
        (
            "/log/v1/proof/inclusion?index=1&size=1",
            "index beyond the tree",
        ),
        (
            "/log/v1/proof/inclusion?index=0&size=2",
            "size beyond the log",
        ),
        ("/log/v1/proof/inclusion?size=1", "index is required"),
        ("/log/v1/proof/consistency?from=2&to=1", "from after to"),
        ("/log/v1/proof/consistency?from=0&to=5", "to beyond the log"),
        (
            "/log/v1/checkpoint?min_size=2",
            "a checkpoint larger than the log",
        ),
        ("/log/v1/checkpoint?min_size=x", "not a number"),
    ] {
        let (status, body) = log_get(&svc, path).await;
        assert_eq!(status, 400, "{why} ({path}) should be refused: {body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error_code"],
            "60004",
            "{why}: {body}"
        );
    }
    assert_eq!(
        svc.rows("log_checkpoints").await,
        0,
        "a refused call signs nothing"
    );
}
