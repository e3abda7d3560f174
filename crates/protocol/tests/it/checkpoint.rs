use assent_protocol::checkpoint::{Checkpoint, CheckpointError, origin_for};
use assent_protocol::crypto::PublicKey;

fn vector_note() -> (String, PublicKey) {
    let vectors = crate::vectors("receipts.json");
    (
        vectors["log"]["checkpoint"].as_str().unwrap().to_owned(),
        PublicKey::from_b64(vectors["service_public_key"].as_str().unwrap()).unwrap(),
    )
}

#[test]
fn forged_checkpoints_are_refused() {
    let (note, key) = vector_note();
    let checkpoint = Checkpoint::open(&note, &key).unwrap();
    assert_eq!(checkpoint.origin, origin_for(&key));
    let grown = note.replacen(
        &format!("\n{}\n", checkpoint.size),
        &format!("\n{}\n", checkpoint.size + 1),
        1,
    );
    assert_eq!(
        Checkpoint::open(&grown, &key),
        Err(CheckpointError::BadSignature),
        "a changed tree size keeps no valid signature"
    );
    let other = PublicKey::from_b64(
        crate::vectors("receipts.json")["other_service_public_key"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        Checkpoint::open(&note, &other),
        Err(CheckpointError::NotSigned),
        "another deployment finds no signature by its key"
    );
    let renamed = note.replace(&checkpoint.origin, "example.com/log");
    assert_eq!(
        Checkpoint::open(&renamed, &key),
        Err(CheckpointError::NotSigned),
        "a signature line under another key name is not this service's"
    );
    let unsigned = note.split("\n\n").next().unwrap().to_owned() + "\n\n";
    assert!(matches!(
        Checkpoint::open(&unsigned, &key),
        Err(CheckpointError::NotANote(_))
    ));
}
