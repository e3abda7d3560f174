//! The storage ceiling: how many approvals per second the store alone sustains for exactly the
//! writes the service makes per approved sign-in (the request with its approver, then the decision
//! with the final status and the callback's outbox row), through the store interface and its
//! domain rules, with no HTTP, no push and no signature work. `assent bench` reports the service's
//! throughput against it, on whichever engine it runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use assent_protocol::crypto::{MessageKind, PublicKey, Signature, digest};
use assent_protocol::decision::Outcome;
use assent_protocol::request::RequestStatus;
use assent_protocol::totp::CodeSeed;
use ed25519_dalek::SigningKey;
use serde_json::Map;
use uuid::Uuid;

use crate::admin::{AppSpec, Operator};
use crate::clock::unix_now;
use crate::keys::{new_registration_token, secret_hash};
use crate::sealed::{KeyRing, SecretPurpose};
use crate::store::{
    DecisionRecord, NewDevice, NewRequest, NewUser, Store, StoreError, StoredRequest,
};

/// Concurrent writers: the service's own writes arrive concurrently too.
const WRITERS: usize = 8;

/// Approvals per second `operator`'s store sustains over `duration`.
///
/// # Errors
/// The store fails.
pub async fn approvals_per_second(
    operator: &Operator,
    duration: Duration,
) -> Result<f64, StoreError> {
    let store = Arc::clone(operator.store());
    let now = unix_now();
    let spec = AppSpec {
        name: "Storage ceiling".into(),
        // A callback URL, so every approval writes its outbox row as the service's do; nothing
        // is delivered (no worker runs here).
        callback_url: Some("https://ceiling.invalid/callback".into()),
        ..AppSpec::default()
    };
    let (app, _) = operator
        .create_app(spec, now)
        .await
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut writers = Vec::with_capacity(WRITERS);
    for w in 0..WRITERS {
        let (store, done, app_id) = (Arc::clone(&store), Arc::clone(&done), app.id.clone());
        let keys = operator.keys().clone();
        writers.push(tokio::spawn(async move {
            let (user, device) = person(store.as_ref(), &keys, &app_id, w, now).await?;
            let canonical = vec![b'x'; 600];
            let request_digest = digest(MessageKind::RequestDetails, &canonical);
            while started.elapsed() < duration {
                let now = unix_now();
                let id = Uuid::new_v4();
                let request = StoredRequest {
                    id,
                    app_id: app_id.clone(),
                    user_id: user,
                    message: "Storage ceiling".into(),
                    details: Map::new(),
                    hidden_details: Map::new(),
                    logos: Vec::new(),
                    requester: None,
                    seconds_to_expire: 300,
                    created_at: now,
                    expires_at: Some(now + 300),
                    quorum: 1,
                    number: None,
                    canonical: canonical.clone(),
                    digest: request_digest,
                    signature: Signature::from_bytes(&[9; 64]),
                    status: RequestStatus::Pending,
                    reason: None,
                    notified: false,
                    processed_at: None,
                    updated_at: now,
                    approvers: vec![user],
                };
                let admitted = store
                    .create_request(
                        NewRequest {
                            request,
                            max_pending_per_user: 10,
                        },
                        now,
                    )
                    .await?;
                if admitted.is_err() {
                    return Err(StoreError::Corrupt(
                        "the ceiling's request was refused".into(),
                    ));
                }
                store
                    .record_decision(
                        DecisionRecord {
                            request_id: id,
                            user_id: user,
                            device_id: device,
                            outcome: Outcome::Approve,
                            reason: None,
                            number: None,
                            signed_at: now,
                            payload: canonical[..200].to_vec(),
                            signature: Signature::from_bytes(&[7; 64]),
                            recorded_at: now,
                        },
                        now,
                    )
                    .await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    for writer in writers {
        writer
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// A person with one enrolled device, through the store as enrollment writes them.
async fn person(
    store: &dyn Store,
    keys: &KeyRing,
    app_id: &str,
    n: usize,
    now: i64,
) -> Result<(u64, Uuid), StoreError> {
    let (user, _) = store
        .create_user(
            NewUser {
                app_id: app_id.to_owned(),
                email: Some(format!(
                    "ceiling{n}-{}@bench.invalid",
                    Uuid::new_v4().simple()
                )),
                cellphone: None,
                country_code: None,
            },
            now,
        )
        .await?;
    let token = new_registration_token();
    store
        .create_registration(app_id, user.id, secret_hash(token.expose()), now + 600, now)
        .await?;
    let key = SigningKey::from_bytes(&[n as u8 + 1; 32]);
    let id = Uuid::new_v4();
    let enrolled = store
        .enroll(
            secret_hash(token.expose()),
            NewDevice {
                id,
                public_key: PublicKey::from_signing_key(&key),
                name: "ceiling".into(),
                platform: "bench".into(),
                sealed_code_seed: keys.seal(
                    CodeSeed::generate().expose(),
                    &SecretPurpose::CodeSeed { device_id: id },
                ),
            },
            now,
        )
        .await?
        .map_err(|_| StoreError::Corrupt("the ceiling's enrollment was refused".into()))?;
    Ok((user.id, enrolled.device.id))
}
