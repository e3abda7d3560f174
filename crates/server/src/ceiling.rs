//! The storage ceiling: how many approvals per second the store alone sustains for exactly the
//! writes the service makes per approved sign-in (the request with its approver; then the decision
//! with the final status, the receipt and its approval-log leaf, and the callback's outbox row),
//! through the store interface and its domain rules, with no HTTP and no push. The requests and
//! decisions are really signed (receipts are issued only over data that verifies), before the
//! clock starts. `assent bench` reports the service's throughput against it, on whichever engine
//! it runs, with receipts and without.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use assent_protocol::canonical::{canonicalize, to_canonical_bytes};
use assent_protocol::crypto::{self, MessageKind, PublicKey};
use assent_protocol::decision::{DECISION_VERSION, Decision, Outcome};
use assent_protocol::request::{
    AppBranding, REQUEST_DETAILS_VERSION, RequestDetails, RequestStatus,
};
use assent_protocol::signed::Signed;
use assent_protocol::totp::CodeSeed;
use ed25519_dalek::SigningKey;
use serde_json::Map;
use uuid::Uuid;

use crate::admin::{AppSpec, Operator};
use crate::clock::unix_now;
use crate::keys::{ServiceKey, new_registration_token, secret_hash};
use crate::notary::Notary;
use crate::sealed::{KeyRing, SecretPurpose};
use crate::store::{
    App, DecisionRecord, NewDevice, NewRequest, NewUser, Store, StoreError, StoredRequest,
};

/// Concurrent writers: the service's own writes arrive concurrently too.
const WRITERS: usize = 8;
/// Approvals prepared (signed) per writer before the clock starts.
const PREPARED_PER_WRITER: usize = 2_500;

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// Approvals per second `operator`'s store sustains over `duration` (or until the prepared
/// approvals run out), issuing receipts or not.
///
/// # Errors
/// The store fails.
pub async fn approvals_per_second(
    operator: &Operator,
    duration: Duration,
    issue_receipts: bool,
) -> Result<f64, StoreError> {
    let store = Arc::clone(operator.store());
    let service_key = operator.service_key().await.map_err(failed)?;
    let notary = Arc::new(Notary::new(&service_key, issue_receipts));
    let now = unix_now();
    let spec = AppSpec {
        name: "Storage ceiling".into(),
        // A callback URL, so every approval writes its outbox row as the service's do; nothing
        // is delivered (no worker runs here).
        callback_url: Some("https://ceiling.invalid/callback".into()),
        ..AppSpec::default()
    };
    let (app, _) = operator.create_app(spec, now).await.map_err(failed)?;
    let mut prepared = Vec::with_capacity(WRITERS);
    for w in 0..WRITERS {
        let (user, device, key) =
            person(store.as_ref(), operator.keys(), &app.id, w, &notary, now).await?;
        let approvals = (0..PREPARED_PER_WRITER)
            .map(|_| approval(&app, user, device, &key, &service_key, now))
            .collect::<Result<Vec<_>, _>>()?;
        prepared.push(approvals);
    }
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut writers = Vec::with_capacity(WRITERS);
    for approvals in prepared {
        let (store, done, notary) = (Arc::clone(&store), Arc::clone(&done), Arc::clone(&notary));
        writers.push(tokio::spawn(async move {
            for (request, decision) in approvals {
                if started.elapsed() >= duration {
                    break;
                }
                let admitted = store
                    .create_request(
                        NewRequest {
                            request,
                            max_pending_per_user: 10,
                            // The person-guard reads run (their cost is part of a create); the
                            // limit itself would only refuse the load this measures.
                            defences: crate::defences::AppDefences::default(),
                            allow_concurrent: true,
                        },
                        now,
                    )
                    .await?;
                if admitted.is_err() {
                    return Err(failed("the ceiling's request was refused"));
                }
                store.record_decision(decision, &notary, now).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    for writer in writers {
        writer.await.map_err(failed)??;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// One approval, signed as the service and the device would sign it.
fn approval(
    app: &App,
    user: u64,
    device: Uuid,
    key: &SigningKey,
    service: &ServiceKey,
    now: i64,
) -> Result<(StoredRequest, DecisionRecord), StoreError> {
    let id = Uuid::new_v4();
    let details = RequestDetails {
        v: REQUEST_DETAILS_VERSION,
        id,
        app: AppBranding {
            id: app.id.clone(),
            name: app.name.clone(),
            accent_color: None,
            logos: Vec::new(),
        },
        user_id: user,
        message: "Storage ceiling".into(),
        details: Vec::new(),
        requester: None,
        created_at: now,
        expires_at: Some(now + 300),
        number_matching: None,
        user_verification: None,
        facts: None,
        kind: None,
        action_label: None,
        people: Vec::new(),
        approvers: vec![user],
        quorum: 1,
    };
    let canonical = to_canonical_bytes(&details).map_err(failed)?;
    let digest = crypto::digest(MessageKind::RequestDetails, &canonical);
    let request = StoredRequest {
        id,
        app_id: app.id.clone(),
        user_id: user,
        message: details.message.clone(),
        details: Map::new(),
        hidden_details: Map::new(),
        logos: Vec::new(),
        requester: None,
        seconds_to_expire: 300,
        created_at: now,
        expires_at: details.expires_at,
        quorum: 1,
        number: None,
        typed_code: None,
        code_attempts: 0,
        user_verification: false,
        signature: crypto::sign_canonical(
            service.signing_key(),
            MessageKind::RequestDetails,
            &canonical,
        ),
        canonical,
        digest,
        status: RequestStatus::Pending,
        reason: None,
        notified: false,
        processed_at: None,
        updated_at: now,
        approvers: vec![user],
    };
    let decision = Decision {
        v: DECISION_VERSION,
        request_id: id,
        request_digest: hex::encode(digest),
        device_id: device,
        outcome: Outcome::Approve,
        reason: None,
        number: None,
        code: None,
        verification: None,
        signed_at: now,
    };
    let signed = Signed::sign(&decision, key).map_err(failed)?;
    let record = DecisionRecord {
        request_id: id,
        user_id: user,
        device_id: device,
        outcome: Outcome::Approve,
        reason: None,
        number: None,
        code: None,
        verification: None,
        signed_at: now,
        payload: canonicalize(signed.payload()).map_err(failed)?,
        signature: *signed.signature(),
        recorded_at: now,
    };
    Ok((request, record))
}

/// A person with one enrolled device, through the store as enrollment writes them.
async fn person(
    store: &dyn Store,
    keys: &KeyRing,
    app_id: &str,
    n: usize,
    notary: &Notary,
    now: i64,
) -> Result<(u64, Uuid, SigningKey), StoreError> {
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
                name: None,
            },
            now,
        )
        .await?;
    let token = new_registration_token();
    store
        .create_registration(app_id, user.id, secret_hash(token.expose()), now + 600, now)
        .await?;
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
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
            notary,
            now,
        )
        .await?
        .map_err(|_| failed("the ceiling's enrollment was refused"))?;
    Ok((user.id, enrolled.device.id, key))
}
