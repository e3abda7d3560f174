//! Secrets at rest: a stolen database (the files or a dump, without the key-encryption key) holds
//! neither the service signing key nor any callback key, and a service given another key refuses
//! to start rather than mint new secrets. On both engines.

use assent_protocol::callback::CallbackKey;
use assent_server::Service;
use assent_server::admin::Operator;
use assent_server::config::{KekSource, ServiceConfig};
use assent_server::sealed::{Kek, KeyRing, SealError, SecretPurpose};
use assent_server::{OpenError, open_store};
use assent_testkit::{AuthenticatorApp, Engine, Options, TestData, TestService};

/// Everything a thief of the database gets: every file of a SQLite database (main file, WAL,
/// shared memory) or a `pg_dump` of a PostgreSQL one (byte columns as hex).
fn stolen(data: &TestData) -> Vec<u8> {
    match data.engine {
        Engine::Sqlite => {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(data.dir()).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with("assent.db") && !name.ends_with(".kek") {
                    all.extend(std::fs::read(&path).unwrap());
                }
            }
            all
        }
        Engine::Postgres => assent_testkit::postgres::dump(&data.database_url),
    }
}

/// True when `secret` appears in `haystack` raw or as hex (how a dump writes bytes).
fn contains(haystack: &[u8], secret: &[u8]) -> bool {
    let hex = hex::encode(secret);
    haystack.windows(secret.len()).any(|w| w == secret)
        || haystack.windows(hex.len()).any(|w| w == hex.as_bytes())
}

fn config(data: &TestData, kek: KekSource, previous: Vec<KekSource>) -> ServiceConfig {
    let mut config = data.config("127.0.0.1:0".parse().unwrap());
    config.kek = kek;
    config.previous_keks = previous;
    config
}

/// The real key of `data`.
fn real_key(data: &TestData) -> Kek {
    match &data.kek {
        KekSource::Key(key) => key.clone(),
        KekSource::BesideDatabase => Kek::read_file(&data.dir().join("assent.db.kek")).unwrap(),
        KekSource::File(path) => Kek::read_file(path).unwrap(),
    }
}

#[tokio::test]
async fn a_stolen_database_holds_no_usable_secret() {
    let svc = TestService::start().await;
    let service_secret = svc.state.service_key.signing_key().to_bytes();
    let callback_state = CallbackKey::from_api_key(&svc.backend.api_key).to_bytes();
    let public = svc.state.service_key.public();
    let stopped = svc.stop().await;
    let data = &stopped.data;
    let loot = stolen(data);
    assert!(
        loot.len() > 1000,
        "the thief has the data: {} bytes",
        loot.len()
    );
    assert!(
        !contains(&loot, &service_secret),
        "the service signing key must not be in the stolen database"
    );
    assert!(
        !contains(&loot, &callback_state[..32]) && !contains(&loot, &callback_state[32..]),
        "the callback HMAC state must not be in the stolen database"
    );
    // The thief runs a service on the stolen database with a key of their own.
    let thief = Service::open(config(data, KekSource::Key(Kek::generate()), Vec::new())).await;
    match thief {
        Err(OpenError::Seal(SealError::UnknownKey(id, _))) => {
            assert_eq!(
                id,
                real_key(data).id_hex(),
                "the error names the key needed"
            );
        }
        other => panic!("another key must not open the database: {other:?}"),
    }
    // The database is unchanged: the real key still opens it, with the same service key.
    let reopened = Service::open(config(data, data.kek.clone(), Vec::new()))
        .await
        .unwrap();
    assert_eq!(reopened.state().service_key.public(), public);
    reopened.state().store.close().await;
}

#[tokio::test]
async fn a_sealed_secret_moved_to_another_row_does_not_open() {
    let svc = TestService::start().await;
    let (other, _) = svc
        .other_app(assent_server::admin::AppSpec {
            name: "Other".into(),
            ..Default::default()
        })
        .await;
    let secrets = svc.state.store.sealed_secrets().await.unwrap();
    let find = |app_id: &str| {
        secrets
            .iter()
            .find(|s| {
                s.purpose
                    == SecretPurpose::CallbackKey {
                        app_id: app_id.to_owned(),
                    }
            })
            .unwrap()
            .clone()
    };
    let (mine, theirs) = (find(&svc.app.id), find(&other.id));
    // A rogue writer copies one app's sealed callback key over another's.
    assert_eq!(
        svc.state
            .store
            .reseal_secrets(vec![(theirs, mine.value.clone())])
            .await
            .unwrap(),
        1
    );
    let stopped = svc.stop().await;
    let opened = Service::open(config(&stopped.data, stopped.data.kek.clone(), Vec::new())).await;
    assert!(
        matches!(opened, Err(OpenError::Seal(SealError::Tampered))),
        "a sealed value opens only where it was sealed: {opened:?}"
    );
}

#[tokio::test]
async fn rotating_the_key_encryption_key_keeps_every_secret() {
    let svc = TestService::start_with(Options::default()).await;
    let public = svc.state.service_key.public();
    let api_key = svc.backend.api_key.clone();
    let stopped = svc.stop().await;
    let data = &stopped.data;
    let old = data.kek.clone();
    let new_path = data.dir().join("new.kek");
    let new = Kek::create_file(&new_path).unwrap();
    // Every instance runs with the new key current and the old one previous; then the operator
    // re-seals everything.
    let operator = Operator::open(&config(
        data,
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
    let svc = Service::open(config(data, KekSource::File(new_path), Vec::new()))
        .await
        .unwrap();
    assert_eq!(svc.state().service_key.public(), public);
    let app = svc.state().store.list_apps().await.unwrap().remove(0);
    let key = assent_server::admin::callback_key(&svc.state().keys, &app).unwrap();
    assert_eq!(
        key.to_bytes(),
        CallbackKey::from_api_key(&api_key).to_bytes()
    );
    svc.state().store.close().await;
    assert!(
        Service::open(config(data, old, Vec::new())).await.is_err(),
        "the old key alone no longer opens the database"
    );
}

/// A database writer without the key-encryption key can put a plain 32-byte seed where the sealed
/// service key was: the service must refuse it rather than seal it (which would let the writer
/// choose the key every new device pins). Only the operator, who knows the database predates
/// sealing, seals plain secrets (`assent kek seal-plain`).
#[tokio::test]
async fn a_plain_secret_is_refused_until_the_operator_seals_it() {
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
    // Stored as a database from before sealing would hold it (or as a writer would put it).
    svc.state
        .store
        .reseal_secrets(vec![(sealed, plain.clone())])
        .await
        .unwrap();
    let stopped = svc.stop().await;
    let data = &stopped.data;
    open_store(&data.database_url).await.unwrap().close().await;
    let refused = Service::open(config(data, data.kek.clone(), Vec::new())).await;
    assert!(
        matches!(refused, Err(OpenError::PlainSecret)),
        "the service must not seal a plain secret by itself: {refused:?}"
    );
    let refused = Operator::open(&config(data, data.kek.clone(), Vec::new())).await;
    assert!(matches!(refused, Err(OpenError::PlainSecret)));
    // The operator vouches that the database predates sealing.
    let operator = Operator::open_with(
        &config(data, data.kek.clone(), Vec::new()),
        assent_server::PlainSecrets::Seal,
    )
    .await
    .unwrap();
    assert_eq!(operator.reseal().await.unwrap(), 1);
    operator.store().close().await;
    let svc = Service::open(config(data, data.kek.clone(), Vec::new()))
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
    if data.engine == Engine::Sqlite {
        // Not true of PostgreSQL's files until VACUUM: old row versions stay on disk.
        for entry in std::fs::read_dir(data.dir()).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !contains(&bytes, &plain),
                "no plain copy may be left in {}",
                path.display()
            );
        }
    }
    assert!(
        !contains(&stolen(data), &plain),
        "no plain copy in what a thief reads"
    );
}

/// Deleting the service key from a database with devices would make the next start mint a new one
/// that no device trusts: the service refuses and says what is missing.
#[tokio::test]
async fn a_missing_service_key_is_refused_when_devices_exist() {
    let svc = TestService::start().await;
    svc.enrolled_user("pinned@example.com").await;
    let sealed = svc
        .state
        .store
        .sealed_secrets()
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.purpose == SecretPurpose::ServiceKey)
        .unwrap();
    let _ = sealed;
    let stopped = svc.stop().await;
    let data = &stopped.data;
    assent_testkit::rogue::execute(data, "DELETE FROM service_keys").await;
    match Service::open(config(data, data.kek.clone(), Vec::new())).await {
        Err(OpenError::Config(message)) => {
            assert!(message.contains("service key is missing"), "{message}");
        }
        other => panic!("a missing service key must not be replaced: {other:?}"),
    }
    let counts = open_store(&data.database_url)
        .await
        .unwrap()
        .row_counts()
        .await
        .unwrap();
    assert_eq!(counts["service_keys"], 0, "no key was made up");
}

#[tokio::test]
async fn a_missing_key_file_is_reported_not_replaced() {
    let svc = TestService::start_with(Options {
        engine: Some(Engine::Sqlite),
        ..Options::default()
    })
    .await;
    let stopped = svc.stop().await;
    let data = &stopped.data;
    let path = data.dir().join("assent.db.kek");
    let id = Kek::read_file(&path).unwrap().id_hex();
    std::fs::remove_file(&path).unwrap();
    match Service::open(config(data, KekSource::BesideDatabase, Vec::new())).await {
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
}

#[tokio::test]
async fn a_postgres_database_needs_a_key_given_explicitly() {
    let data = TestData::new(Engine::Postgres).await;
    match Service::open(config(&data, KekSource::BesideDatabase, Vec::new())).await {
        Err(OpenError::Config(message)) => assert!(message.contains("--kek-file"), "{message}"),
        other => panic!("PostgreSQL has no place beside it for a key: {other:?}"),
    }
}

/// A device's one-time code seed, and a person's seed for another authenticator app, are stored
/// sealed: a thief of the database (files or dump) finds no copy of them, raw, hex, base64url or
/// base32; nor does any other file of a SQLite service's data directory hold one.
#[tokio::test]
async fn a_stolen_database_holds_no_code_seed() {
    let svc = TestService::start().await;
    let (user, first) = svc.enrolled_user("seed@example.com").await;
    let (_, second) = svc.enrolled_user("seed2@example.com").await;
    let (status, reply) = svc
        .backend
        .post_json(
            &format!("/protected/json/users/{user}/secret"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
    let other_app = AuthenticatorApp::scan(reply["qr_code"].as_str().unwrap());
    let seeds = [
        *first.enrollment.code_seed.expose(),
        *second.enrollment.code_seed.expose(),
        other_app.seed_bytes(),
    ];
    let stored = svc
        .state
        .store
        .sealed_secrets()
        .await
        .unwrap()
        .into_iter()
        .filter(|s| {
            matches!(
                s.purpose,
                SecretPurpose::CodeSeed { .. } | SecretPurpose::AuthenticatorAppSeed { .. }
            )
        })
        .count();
    assert_eq!(
        stored, 3,
        "each enrolled device and the other app have a stored seed"
    );
    let stopped = svc.stop().await;
    let mut loot = stolen(&stopped.data);
    if stopped.data.engine == Engine::Sqlite {
        for entry in std::fs::read_dir(stopped.data.dir()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                loot.extend(std::fs::read(&path).unwrap());
            }
        }
    }
    for seed in seeds {
        assert!(
            !contains(&loot, &seed),
            "a code seed must not be in the stolen database"
        );
        assert!(
            !contains(&loot, assent_protocol::crypto::b64url(&seed).as_bytes()),
            "nor its text form"
        );
        let base32 = assent_protocol::totp::CodeSeed::from_bytes(seed).to_base32();
        assert!(
            !contains(&loot, base32.as_bytes()),
            "nor its base32 form (the otpauth URI's)"
        );
    }
}

/// A rogue writer copying one device's sealed seed onto another device's row (to make a seed it
/// knows a victim's) gets a service that refuses to start, not a working code.
#[tokio::test]
async fn a_code_seed_moved_to_another_device_does_not_open() {
    let svc = TestService::start().await;
    let (_, mine) = svc.enrolled_user("mine@example.com").await;
    let (_, theirs) = svc.enrolled_user("theirs@example.com").await;
    let secrets = svc.state.store.sealed_secrets().await.unwrap();
    let find = |device_id| {
        secrets
            .iter()
            .find(|s| s.purpose == SecretPurpose::CodeSeed { device_id })
            .unwrap()
            .clone()
    };
    let (my_seed, their_seed) = (find(mine.id), find(theirs.id));
    assert_eq!(
        svc.state
            .store
            .reseal_secrets(vec![(their_seed, my_seed.value.clone())])
            .await
            .unwrap(),
        1
    );
    let stopped = svc.stop().await;
    let opened = Service::open(config(&stopped.data, stopped.data.kek.clone(), Vec::new())).await;
    assert!(
        matches!(opened, Err(OpenError::Seal(SealError::Tampered))),
        "a sealed seed opens only for its own device: {opened:?}"
    );
}

/// Rotating the key-encryption key re-seals every device's seed too, and the codes still verify
/// with only the new key.
#[tokio::test]
async fn rotating_the_key_encryption_key_keeps_code_seeds() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("rotate@example.com").await;
    let stopped = svc.stop().await;
    let data = &stopped.data;
    let new_path = data.dir().join("new.kek");
    let new = Kek::create_file(&new_path).unwrap();
    let operator = Operator::open(&config(
        data,
        KekSource::File(new_path.clone()),
        vec![data.kek.clone()],
    ))
    .await
    .unwrap();
    assert_eq!(
        operator.reseal().await.unwrap(),
        3,
        "the service key, the callback key and the device's seed were re-sealed"
    );
    for secret in operator.store().sealed_secrets().await.unwrap() {
        assert_eq!(KeyRing::sealed_with(&secret.value), Some(new.id_hex()));
    }
    operator.store().close().await;
    let mut reuse = stopped;
    reuse.data.kek = KekSource::File(new_path);
    let svc = TestService::start_with(Options {
        reuse: Some(reuse),
        ..Options::default()
    })
    .await;
    let (status, body) = svc
        .backend
        .get(&format!(
            "/protected/json/verify/{}/{user}",
            device.code_at(assent_server::clock::unix_now())
        ))
        .await;
    assert_eq!(
        status, 200,
        "the re-sealed seed still verifies codes: {body}"
    );
}

/// A plain 20-byte seed where a sealed one belongs (written by someone without the key) is
/// refused at start like every other plain secret.
#[tokio::test]
async fn a_plain_code_seed_is_refused() {
    let svc = TestService::start().await;
    let (_, device) = svc.enrolled_user("plain@example.com").await;
    let sealed = svc
        .state
        .store
        .sealed_secrets()
        .await
        .unwrap()
        .into_iter()
        .find(|s| {
            s.purpose
                == SecretPurpose::CodeSeed {
                    device_id: device.id,
                }
        })
        .unwrap();
    svc.state
        .store
        .reseal_secrets(vec![(sealed, vec![7u8; 20])])
        .await
        .unwrap();
    let stopped = svc.stop().await;
    let refused = Service::open(config(&stopped.data, stopped.data.kek.clone(), Vec::new())).await;
    assert!(
        matches!(refused, Err(OpenError::PlainSecret)),
        "a plain seed must not be sealed by the service itself: {refused:?}"
    );
}
