//! Secrets at rest: a stolen database (the files, without the key-encryption key) holds neither
//! the service signing key nor any callback key, and a service given another key refuses to
//! start rather than mint new secrets.

use std::path::Path;

use assent_protocol::callback::CallbackKey;
use assent_server::Service;
use assent_server::admin::Operator;
use assent_server::config::{KekSource, ServiceConfig};
use assent_server::sealed::{Kek, KeyRing, SealError, SecretPurpose};
use assent_server::{OpenError, open_store};

use crate::support::{Options, TestService};

/// Every file of the SQLite database (main file, WAL, shared memory), concatenated.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("assent.db") {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn config(dir: &Path, kek: KekSource, previous: Vec<KekSource>) -> ServiceConfig {
    let mut config = ServiceConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        format!("sqlite://{}", dir.join("assent.db").display()),
    );
    config.kek = kek;
    config.previous_keks = previous;
    config
}

#[tokio::test]
async fn a_stolen_database_holds_no_usable_secret() {
    let svc = TestService::start().await;
    let service_secret = svc.state.service_key.signing_key().to_bytes();
    let callback_state = CallbackKey::from_api_key(&svc.backend.api_key).to_bytes();
    let public = svc.state.service_key.public();
    let (dir, _app, _key, tmp) = svc.stop().await;
    let stolen = database_bytes(&dir);
    assert!(!stolen.is_empty());
    assert!(
        !contains(&stolen, &service_secret),
        "the service signing key must not be in the database files"
    );
    assert!(
        !contains(&stolen, &callback_state[..32]) && !contains(&stolen, &callback_state[32..]),
        "the callback HMAC state must not be in the database files"
    );
    // The thief runs a service on the stolen database with a key of their own.
    let thief = Service::open(config(&dir, KekSource::Key(Kek::generate()), Vec::new())).await;
    match thief {
        Err(OpenError::Seal(SealError::UnknownKey(id, _))) => {
            let real = Kek::read_file(&dir.join("assent.db.kek")).unwrap();
            assert_eq!(id, real.id_hex(), "the error names the key that is needed");
        }
        other => panic!("another key must not open the database: {other:?}"),
    }
    // The database is unchanged: the real key still opens it, with the same service key.
    let reopened = Service::open(config(&dir, KekSource::BesideDatabase, Vec::new()))
        .await
        .unwrap();
    assert_eq!(reopened.state().service_key.public(), public);
    drop(tmp);
}

#[tokio::test]
async fn a_sealed_secret_moved_to_another_row_does_not_open() {
    let svc = TestService::start().await;
    let (other, _) = svc
        .state
        .operator()
        .create_app(
            assent_server::admin::AppSpec {
                name: "Other".into(),
                ..Default::default()
            },
            assent_server::clock::unix_now(),
        )
        .await
        .unwrap();
    let secrets = svc.state.store.sealed_secrets().await.unwrap();
    let mine = secrets
        .iter()
        .find(|s| {
            s.purpose
                == SecretPurpose::CallbackKey {
                    app_id: svc.app.id.clone(),
                }
        })
        .unwrap()
        .clone();
    let theirs = secrets
        .iter()
        .find(|s| {
            s.purpose
                == SecretPurpose::CallbackKey {
                    app_id: other.id.clone(),
                }
        })
        .unwrap()
        .clone();
    // A rogue writer copies one app's sealed callback key over another's.
    assert_eq!(
        svc.state
            .store
            .reseal_secrets(vec![(theirs, mine.value.clone())])
            .await
            .unwrap(),
        1
    );
    let (dir, _app, _key, tmp) = svc.stop().await;
    let opened = Service::open(config(&dir, KekSource::BesideDatabase, Vec::new())).await;
    assert!(
        matches!(opened, Err(OpenError::Seal(SealError::Tampered))),
        "a sealed value opens only where it was sealed: {opened:?}"
    );
    drop(tmp);
}

#[tokio::test]
async fn rotating_the_key_encryption_key_keeps_every_secret() {
    let svc = TestService::start_with(Options::default()).await;
    let public = svc.state.service_key.public();
    let api_key = svc.backend.api_key.clone();
    let (dir, _app, _key, tmp) = svc.stop().await;
    let old = KekSource::File(dir.join("assent.db.kek"));
    let new_path = dir.join("new.kek");
    let new = Kek::create_file(&new_path).unwrap();
    // Every instance runs with the new key current and the old one previous; then the operator
    // re-seals everything.
    let operator = Operator::open(&config(
        &dir,
        KekSource::File(new_path.clone()),
        vec![old.clone()],
    ))
    .await
    .unwrap();
    assert_eq!(operator.current_key_id(), new.id_hex());
    assert_eq!(
        operator.reseal().await.unwrap(),
        2,
        "the service key and the app's callback key were re-sealed"
    );
    for secret in operator.store().sealed_secrets().await.unwrap() {
        assert_eq!(
            KeyRing::sealed_with(&secret.value),
            Some(new.id_hex()),
            "{:?} is sealed with the new key",
            secret.purpose
        );
    }
    operator.store().close().await;
    // The old key can go: the new one alone opens everything, with the same identities.
    let svc = Service::open(config(&dir, KekSource::File(new_path), Vec::new()))
        .await
        .unwrap();
    assert_eq!(svc.state().service_key.public(), public);
    let app = svc.state().store.list_apps().await.unwrap().remove(0);
    let key = assent_server::admin::callback_key(&svc.state().keys, &app).unwrap();
    assert_eq!(
        key.to_bytes(),
        CallbackKey::from_api_key(&api_key).to_bytes()
    );
    drop(svc);
    assert!(
        Service::open(config(&dir, old, Vec::new())).await.is_err(),
        "the old key alone no longer opens the database"
    );
    drop(tmp);
}

#[tokio::test]
async fn secrets_stored_in_plain_form_are_sealed_on_start() {
    let svc = TestService::start().await;
    let public = svc.state.service_key.public();
    let plain = svc.state.service_key.signing_key().to_bytes().to_vec();
    let sealed = svc
        .state
        .store
        .sealed_secrets()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.purpose == SecretPurpose::ServiceKey)
        .unwrap();
    // A database written before secrets were sealed holds the raw key.
    svc.state
        .store
        .reseal_secrets(vec![(sealed, plain.clone())])
        .await
        .unwrap();
    let (dir, _app, _key, tmp) = svc.stop().await;
    let store = open_store(&format!("sqlite://{}", dir.join("assent.db").display()))
        .await
        .unwrap();
    store.close().await;
    let svc = Service::open(config(&dir, KekSource::BesideDatabase, Vec::new()))
        .await
        .unwrap();
    assert_eq!(
        svc.state().service_key.public(),
        public,
        "the same key, now sealed"
    );
    let stored = svc
        .state()
        .store
        .sealed_secrets()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.purpose == SecretPurpose::ServiceKey)
        .unwrap();
    assert!(KeyRing::is_sealed(&stored.value));
    svc.state().store.close().await;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let at = bytes.windows(plain.len()).position(|w| w == plain);
        assert!(
            at.is_none(),
            "no plain copy may be left in {} ({} bytes, at {:?}, page {:?})",
            path.display(),
            bytes.len(),
            at,
            at.map(|a| a / 4096 + 1)
        );
    }
    drop(tmp);
}

#[tokio::test]
async fn a_missing_key_file_is_reported_not_replaced() {
    let svc = TestService::start().await;
    let (dir, _app, _key, tmp) = svc.stop().await;
    let path = dir.join("assent.db.kek");
    let id = Kek::read_file(&path).unwrap().id_hex();
    std::fs::remove_file(&path).unwrap();
    match Service::open(config(&dir, KekSource::BesideDatabase, Vec::new())).await {
        Err(OpenError::Config(message)) => {
            assert!(
                message.contains(&id),
                "the message names the key needed: {message}"
            );
            assert!(message.contains("missing"), "{message}");
        }
        other => panic!("a missing key must be reported: {other:?}"),
    }
    assert!(
        !path.exists(),
        "no new key may be made up for a database that has secrets"
    );
    drop(tmp);
}
