//! The one storage interface the rest of the service talks to.
//!
//! [`Store`] is implemented for SQLite ([`sqlite::SqliteStore`]); a PostgreSQL implementation
//! sits beside it with its own migrations. The store is a boundary: domain rules (how a decision
//! resolves a request, whether a request may be created, what a callback carries) live in
//! engine-neutral code ([`crate::resolution`], [`crate::admission`], [`crate::outbox`]); an engine
//! loads what a rule needs inside its transaction, calls the rule, and writes what it decided.
//!
//! Invariants every engine keeps on its own, under concurrent writers (several processes or
//! instances), not because one engine happens to have a single writer:
//! - every method that changes more than one row runs in one transaction, so a failure leaves
//!   nothing half-written;
//! - every state a write depends on (a device not revoked, a person not deleted, the votes already
//!   cast, the pending count of each approver) is read inside the transaction that writes, under a
//!   lock that a conflicting writer must also take;
//! - callers pass `now` in; no store method reads the clock.

mod authenticator_rows;
mod log_rows;
pub mod postgres;
mod rows;
pub mod sqlite;

use std::collections::BTreeMap;

use assent_protocol::callback::CallbackMethod;
use assent_protocol::crypto::{PublicKey, Signature};
use assent_protocol::decision::{DenyReason, Outcome, VerificationMethod};
use assent_protocol::request::{Logo, RequestStatus, RequesterContext, TypedCode};
use async_trait::async_trait;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::defences::{AppDefences, Guard};
use crate::notary::Notary;
use crate::resolution::Refusal;
use crate::sealed::SecretPurpose;

/// A storage failure. Only `Database` and `Corrupt` are unexpected; the rest are outcomes the
/// API turns into error codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed (connection, I/O, constraint the caller did not anticipate).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value could not be read back (a bug or a hand-edited database).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// A relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// Integer id (Authy `_app_serial_id`, callbacks' `customer_uuid`).
    pub serial_id: u64,
    /// 24 lower-case hex characters (Authy `app_id`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Default logo for its requests.
    pub logo_url: Option<String>,
    /// `#rrggbb`.
    pub accent_color: Option<String>,
    /// Where callbacks go; none configured means none are sent.
    pub callback_url: Option<String>,
    /// POST JSON or GET query.
    pub callback_method: CallbackMethod,
    /// Also call back when a request expires or is cancelled (off by default: Authy backends
    /// expect only approved and denied).
    pub callback_expired_cancelled: bool,
    /// Signs callbacks: the precomputed HMAC state of the API key, sealed with the
    /// key-encryption key (see [`crate::sealed`]).
    pub sealed_callback_key: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// Push-fatigue and verification settings.
    pub defences: AppDefences,
}

/// What `create_app` writes.
#[derive(Debug, Clone)]
pub struct NewApp {
    /// See [`App::id`].
    pub id: String,
    /// See [`App::name`].
    pub name: String,
    /// See [`App::logo_url`].
    pub logo_url: Option<String>,
    /// See [`App::accent_color`].
    pub accent_color: Option<String>,
    /// See [`App::callback_url`].
    pub callback_url: Option<String>,
    /// See [`App::callback_method`].
    pub callback_method: CallbackMethod,
    /// See [`App::callback_expired_cancelled`].
    pub callback_expired_cancelled: bool,
    /// SHA-256 of the API key.
    pub api_key_hash: [u8; 32],
    /// See [`App::sealed_callback_key`].
    pub sealed_callback_key: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
    /// See [`App::defences`].
    pub defences: AppDefences,
}

/// A person, as one app knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `authy_id`.
    pub id: u64,
    /// The app the user belongs to.
    pub app_id: String,
    /// E-mail.
    pub email: Option<String>,
    /// Phone number, digits only.
    pub cellphone: Option<String>,
    /// Country calling code, digits only.
    pub country_code: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// The display name the relying party gave (`user[name]`), if any.
    pub name: Option<String>,
}

/// The person a device is enrolled for, as the relying party registered them, for the device to
/// show ("Approving signs ana@example.com in"): their e-mail; `None` when it gave none (a phone
/// number alone is not shown: it is not how a person names their account).
pub fn account_name(user: &User) -> Option<String> {
    user.email.clone().filter(|email| !email.is_empty())
}

/// What `create_user` writes.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The app.
    pub app_id: String,
    /// E-mail.
    pub email: Option<String>,
    /// Phone number, digits only.
    pub cellphone: Option<String>,
    /// Country calling code, digits only.
    pub country_code: Option<String>,
    /// Display name (checked plain text). Kept only when the person is new: creating an
    /// existing person again changes nothing.
    pub name: Option<String>,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Device UUID.
    pub id: Uuid,
    /// Integer alias (callbacks' `device_uuid`).
    pub alias: u64,
    /// The app it was enrolled through.
    pub app_id: String,
    /// The person it approves for.
    pub user_id: u64,
    /// Verifies its signatures.
    pub public_key: PublicKey,
    /// Name the person gave it.
    pub name: String,
    /// Platform.
    pub platform: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub last_seen_at: i64,
    /// Unix seconds, once revoked.
    pub revoked_at: Option<i64>,
    /// Source address of its last authenticated call, when known.
    pub last_address: Option<String>,
}

/// What enrollment writes.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// New UUID.
    pub id: Uuid,
    /// The device's key.
    pub public_key: PublicKey,
    /// Name.
    pub name: String,
    /// Platform.
    pub platform: String,
    /// The device's one-time code seed, sealed for [`SecretPurpose::CodeSeed`] of `id`.
    pub sealed_code_seed: Vec<u8>,
}

/// What became of an accepted one-time code's use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeUse {
    /// First use of this device's code for this step: recorded, and the person's failures reset.
    Accepted,
    /// This device's code for this step was already used.
    Replayed,
    /// The device was revoked (or its person deleted) since its seed was read.
    DeviceGone,
}

/// A calendar month (UTC) for [`Store::app_stats`]: Unix seconds, `start` included, `end` not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthSpan {
    /// Midnight UTC of the month's first day.
    pub start: i64,
    /// Midnight UTC of the next month's first day.
    pub end: i64,
}

/// What [`Store::app_stats`] counts in one month, from the rows themselves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthCounts {
    /// People created in the month (deleted since or not).
    pub users: u64,
    /// Approval requests created in the month.
    pub approval_requests: u64,
    /// Approval requests approved in the month (by when they were approved).
    pub approvals: u64,
    /// One-time codes accepted in the month.
    pub codes_accepted: u64,
}

/// When repeated wrong codes lock a person's verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeLockout {
    /// Failures counted within one window before the lock-out.
    pub max_failures: u32,
    /// The window failures are counted in, in seconds from the first one.
    pub window_secs: i64,
    /// How long the lock-out lasts, in seconds.
    pub lock_secs: i64,
}

/// The result of a successful enrollment.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// The new device.
    pub device: Device,
    /// Its app.
    pub app: App,
}

/// An approval request as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRequest {
    /// UUID.
    pub id: Uuid,
    /// Owning app.
    pub app_id: String,
    /// The user it is for (initiator).
    pub user_id: u64,
    /// The question.
    pub message: String,
    /// Shown details, in order.
    pub details: Map<String, Value>,
    /// Hidden details (callback only).
    pub hidden_details: Map<String, Value>,
    /// Logos given at creation.
    pub logos: Vec<Logo>,
    /// Requester context.
    pub requester: Option<RequesterContext>,
    /// As given (0 = never).
    pub seconds_to_expire: u64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` = never.
    pub expires_at: Option<i64>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Number-matching number, when asked for in pick mode.
    pub number: Option<u32>,
    /// Typed number matching: the code's salted hash (the code itself is not stored).
    pub typed_code: Option<TypedCode>,
    /// Wrong codes typed so far.
    pub code_attempts: u32,
    /// Approvals must name a user-verification method.
    pub user_verification: bool,
    /// Canonical request-details bytes (what devices are shown).
    pub canonical: Vec<u8>,
    /// Digest of `canonical` (kind request-details).
    pub digest: [u8; 32],
    /// Service signature over `canonical`.
    pub signature: Signature,
    /// Stored status (see [`StoredRequest::status_at`] for the status at a given time).
    pub status: RequestStatus,
    /// Deny reason once denied.
    pub reason: Option<String>,
    /// True once a device was told.
    pub notified: bool,
    /// Unix seconds of the final state.
    pub processed_at: Option<i64>,
    /// Unix seconds.
    pub updated_at: i64,
    /// Approver user ids, ascending (includes `user_id`).
    pub approvers: Vec<u64>,
}

impl StoredRequest {
    /// The status at `now`: a pending request past its deadline is expired even before the
    /// expiry sweeper has written it.
    pub fn status_at(&self, now: i64) -> RequestStatus {
        match (self.status, self.expires_at) {
            (RequestStatus::Pending, Some(at)) if now >= at => RequestStatus::Expired,
            (status, _) => status,
        }
    }
}

/// What `create_request` writes.
#[derive(Debug, Clone)]
pub struct NewRequest {
    /// The request, with status pending.
    pub request: StoredRequest,
    /// Refuse (without writing) when an approver already has this many requests waiting for
    /// them.
    pub max_pending_per_user: u32,
    /// The app's push-fatigue defences, applied to the request's person
    /// ([`crate::defences::admit`]).
    pub defences: AppDefences,
    /// The relying party asked to skip the one-pending-request limit.
    pub allow_concurrent: bool,
}

/// One approver as the admission rule sees them, read inside the creating transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApproverLoad {
    /// The person.
    pub user_id: u64,
    /// False when they do not exist (in this app) or were deleted.
    pub active: bool,
    /// Their active (not revoked) devices.
    pub devices: u32,
    /// Requests pending now that wait for them (what reaches their devices).
    pub waiting: u32,
}

/// A recorded decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRecord {
    /// The request.
    pub request_id: Uuid,
    /// The deciding person.
    pub user_id: u64,
    /// The deciding device.
    pub device_id: Uuid,
    /// Approve or deny.
    pub outcome: Outcome,
    /// Deny reason.
    pub reason: Option<DenyReason>,
    /// Number picked (pick mode).
    pub number: Option<u32>,
    /// Code typed (typed mode).
    pub code: Option<String>,
    /// How the device verified the person (`None`: the decision did not say).
    pub verification: Option<VerificationMethod>,
    /// When the device signed, Unix seconds.
    pub signed_at: i64,
    /// Canonical decision bytes, as signed.
    pub payload: Vec<u8>,
    /// The device's signature.
    pub signature: Signature,
    /// Unix seconds.
    pub recorded_at: i64,
}

/// What recording a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionResult {
    /// Written. `resolved` when it moved the request to a final state.
    Recorded {
        /// Status after the decision.
        status: RequestStatus,
        /// True when this decision made the request final.
        resolved: bool,
        /// Set when this decision was a "this wasn't me" that froze its person: until when.
        frozen_until: Option<i64>,
    },
    /// The same decision was already recorded; nothing written.
    Duplicate {
        /// Current status.
        status: RequestStatus,
    },
    /// Refused; `expired_now` when refusing also moved the request to `expired`.
    Refused {
        /// Why.
        refusal: Refusal,
        /// True when the request was found past its deadline and marked expired.
        expired_now: bool,
    },
}

/// A callback waiting in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    /// Row id.
    pub id: i64,
    /// The app (its URL, method and key are read at delivery time).
    pub app_id: String,
    /// The request.
    pub request_id: Uuid,
    /// The JSON payload.
    pub payload: Value,
    /// Unix seconds.
    pub created_at: i64,
    /// Attempts made so far.
    pub attempts: u32,
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreMetrics {
    /// Requests by stored status.
    pub requests_by_status: Vec<(RequestStatus, u64)>,
    /// Callbacks neither delivered nor abandoned.
    pub callback_backlog: u64,
}

/// A request that expired, with who to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredRequest {
    /// The request.
    pub id: Uuid,
    /// Its approvers.
    pub approvers: Vec<u64>,
}

/// Why a registration token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Unknown, used, expired, or its user was deleted.
    Invalid,
}

/// Why a request was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateRefusal {
    /// This approver does not exist (any more).
    UnknownUser(u64),
    /// Fewer approvers than the quorum have an active device.
    TooFewDevices {
        /// Approvers with a device.
        enrolled: u32,
        /// The quorum.
        quorum: u32,
    },
    /// This approver already has too many requests waiting.
    TooManyPending(u64),
    /// A push-fatigue defence holds for this approver (the initiator or another).
    Guarded(u64, Guard),
}

/// Everything a decision is judged against, read inside the recording transaction.
#[derive(Debug, Clone)]
pub struct DecisionContext {
    /// The request, as stored now.
    pub request: StoredRequest,
    /// Decisions already recorded for it.
    pub recorded: Vec<DecisionRecord>,
    /// The deciding device, as stored now (revocation included).
    pub device: Device,
    /// False when the deciding person was deleted.
    pub person_active: bool,
    /// False when the deciding device has no service-signed enrollment record (a device row
    /// written behind the service's back): it cannot decide.
    pub device_enrolled: bool,
    /// The request's app (callback URL and method).
    pub app: App,
}

/// A device's enrollment record as stored: its canonical bytes and the service's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEnrollment {
    /// The device.
    pub device_id: Uuid,
    /// Canonical JSON of the [`assent_protocol::receipt::EnrollmentRecord`].
    pub record: Vec<u8>,
    /// The service's signature over it.
    pub signature: Signature,
}

/// A signed checkpoint of the approval log, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Leaves in the tree.
    pub size: u64,
    /// The tree's root.
    pub root: [u8; 32],
    /// The signed note.
    pub note: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A request's receipt as stored: countersigned, without its inclusion proof (added when it is
/// handed out, against the checkpoint of that moment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// Its entry's index in the approval log.
    pub log_index: u64,
    /// The receipt's canonical JSON.
    pub receipt: Vec<u8>,
}

/// What a decision changes, decided by [`crate::resolution::judge`] and written by the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionEffects {
    /// What to answer.
    pub result: DecisionResult,
    /// Write the decision row.
    pub record: bool,
    /// Move the request to this final status (with this deny reason).
    pub finalize: Option<(RequestStatus, Option<String>)>,
    /// Write this callback payload to the outbox.
    pub callback: Option<Value>,
    /// Count a wrong typed code on the request.
    pub count_wrong_code: bool,
    /// Write this `fraud_reported` payload to the outbox too (a "this wasn't me").
    pub fraud_report: Option<Value>,
}

/// A sealed secret as stored, for re-sealing under a new key-encryption key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// What it is for (and so, where it is stored).
    pub purpose: SecretPurpose,
    /// The stored bytes (sealed, or a legacy plaintext value from before sealing).
    pub value: Vec<u8>,
}

/// Storage for the service. See the module documentation.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Returns the deployment's sealed service key, storing `candidate` (sealed) on first use.
    /// Several instances racing here all end up with the same stored key.
    async fn service_key(&self, candidate: Vec<u8>, now: i64) -> Result<Vec<u8>, StoreError>;
    /// Every sealed secret (the service key, every app's callback key, every device's code seed
    /// and every person's authenticator-app seed).
    async fn sealed_secrets(&self) -> Result<Vec<SealedSecret>, StoreError>;
    /// Replaces sealed secrets, each only if it still holds the `old` value (compare and swap),
    /// in one transaction. Returns how many were replaced.
    async fn reseal_secrets(
        &self,
        changes: Vec<(SealedSecret, Vec<u8>)>,
    ) -> Result<u64, StoreError>;

    /// Writes a new app.
    async fn create_app(&self, app: NewApp) -> Result<App, StoreError>;
    /// Every app, oldest first.
    async fn list_apps(&self) -> Result<Vec<App>, StoreError>;
    /// The app whose API key hashes to `hash`.
    async fn app_by_key_hash(&self, hash: &[u8; 32]) -> Result<Option<App>, StoreError>;
    /// The app with this id.
    async fn app(&self, id: &str) -> Result<Option<App>, StoreError>;
    /// Replaces an app's API key (hash and callback key). False when there is no such app.
    async fn rotate_app_key(
        &self,
        id: &str,
        hash: [u8; 32],
        sealed_callback_key: Vec<u8>,
    ) -> Result<bool, StoreError>;

    /// Creates a user, or returns the existing one with the same phone (country code and number)
    /// or, without a phone, the same e-mail. The flag is true when a user was created.
    async fn create_user(&self, user: NewUser, now: i64) -> Result<(User, bool), StoreError>;
    /// A live user of `app_id`.
    async fn user(&self, app_id: &str, id: u64) -> Result<Option<User>, StoreError>;
    /// Deletes a user: revokes their devices, deletes their authenticator-app seed and cancels
    /// their pending requests (with the opt-in
    /// callback in the outbox, as [`Store::cancel_request`]). Returns the revoked devices and
    /// cancelled requests, or `None` when there is no such user.
    async fn delete_user(
        &self,
        app_id: &str,
        id: u64,
        now: i64,
    ) -> Result<Option<(Vec<Device>, Vec<ExpiredRequest>)>, StoreError>;

    /// Stores a registration token (hashed).
    async fn create_registration(
        &self,
        app_id: &str,
        user_id: u64,
        token_hash: [u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError>;
    /// The app and user a registration token enrolls for, when it is unused and unexpired at
    /// `now`; `None` otherwise (unknown, used and expired alike). Reads only: the token stays
    /// valid.
    async fn registration_owner(
        &self,
        token_hash: [u8; 32],
        now: i64,
    ) -> Result<Option<(String, u64)>, StoreError>;
    /// Consumes a registration token and enrolls a device, atomically, with the device's
    /// enrollment record signed by `notary` and appended to the approval log in the same
    /// transaction.
    async fn enroll(
        &self,
        token_hash: [u8; 32],
        device: NewDevice,
        notary: &Notary,
        now: i64,
    ) -> Result<Result<Enrollment, TokenRefusal>, StoreError>;
    /// Signs an enrollment record for every device that has none (enrolled before the approval
    /// log existed, or written behind the service's back: either way the log then shows it) and
    /// appends each to the log, in one transaction. Returns how many.
    async fn backfill_enrollment_records(
        &self,
        notary: &Notary,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// A device by id, revoked or not.
    async fn device(&self, id: Uuid) -> Result<Option<Device>, StoreError>;
    /// Active devices of these users.
    async fn active_devices(&self, user_ids: &[u64]) -> Result<Vec<Device>, StoreError>;
    /// Revokes a device of `app_id` (any app when `None`). Returns it, or `None` when unknown.
    /// Revoking a revoked device returns it unchanged. Takes the same person lock as request
    /// creation, so a request is never admitted on the strength of a device being revoked.
    async fn revoke_device(
        &self,
        app_id: Option<&str>,
        id: Uuid,
        now: i64,
    ) -> Result<Option<Device>, StoreError>;
    /// Active devices of `user_id` with their sealed code seeds (devices enrolled before codes
    /// existed have none and are left out).
    async fn code_seeds(&self, user_id: u64) -> Result<Vec<(Device, Vec<u8>)>, StoreError>;
    /// When `user_id`'s code verification is locked at `now`, until when.
    async fn code_locked_until(&self, user_id: u64, now: i64) -> Result<Option<i64>, StoreError>;
    /// Records the use of `device_id`'s code for time step `step`, once: the (device, step)
    /// primary key refuses a second use even when two instances verify the same code at once.
    /// Checks inside the transaction that the device is still active, so a revocation stops its
    /// codes at once. Forgets the device's uses older than `step - 2` (they can no longer match).
    async fn use_code(&self, device_id: Uuid, step: i64, now: i64) -> Result<CodeUse, StoreError>;
    /// Stores `user_id`'s sealed seed for another authenticator app, replacing an earlier one
    /// and forgetting its used codes, in one transaction that holds the person's row (so a
    /// deletion either comes first and nothing is written, or after and removes it). False when
    /// the person is not a live user of `app_id`.
    async fn replace_authenticator_seed(
        &self,
        app_id: &str,
        user_id: u64,
        sealed: Vec<u8>,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// `user_id`'s sealed seed for another authenticator app, if they have one and are live.
    async fn authenticator_seed(&self, user_id: u64) -> Result<Option<Vec<u8>>, StoreError>;
    /// As [`Store::use_code`], for `user_id`'s other authenticator app: records the use of the
    /// code of step `step` once (the (person, step) primary key decides), checking inside the
    /// transaction that the person is live and that `sealed` is still their seed (a seed replaced
    /// or deleted meanwhile answers [`CodeUse::DeviceGone`]).
    async fn use_authenticator_code(
        &self,
        user_id: u64,
        sealed: &[u8],
        step: i64,
        now: i64,
    ) -> Result<CodeUse, StoreError>;
    /// Counts for `GET /protected/json/app/stats`: the app's live people now, and per month of
    /// `months`, what [`MonthCounts`] says.
    async fn app_stats(
        &self,
        app_id: &str,
        months: &[MonthSpan],
    ) -> Result<(u64, Vec<MonthCounts>), StoreError>;
    /// Counts a failed verification for `user_id` (one atomic upsert) and returns until when the
    /// person is locked out, when this failure locks them.
    async fn code_failed(
        &self,
        user_id: u64,
        now: i64,
        lockout: CodeLockout,
    ) -> Result<Option<i64>, StoreError>;

    /// Records a device nonce; false when it was already seen (a replay).
    async fn record_nonce(
        &self,
        device_id: Uuid,
        nonce: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Forgets nonces seen before `before`, and updates `last_seen_at` bookkeeping.
    async fn prune_nonces(&self, before: i64) -> Result<u64, StoreError>;
    /// Marks a device as seen now, from `address` (the source of its authenticated call).
    async fn touch_device(
        &self,
        id: Uuid,
        now: i64,
        address: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Requests created for `user_id` at or after `since`.
    async fn requests_since(&self, user_id: u64, since: i64) -> Result<u32, StoreError>;
    /// Replaces an app's push-fatigue and verification settings. False when there is no such app.
    async fn set_app_defences(
        &self,
        app_id: &str,
        defences: &AppDefences,
    ) -> Result<bool, StoreError>;
    /// Lifts a person's freeze and back-off: every decision they have made so far stops counting
    /// (the lift is pinned to their latest decision, not to a clock, so an operator machine's
    /// clock cannot widen or narrow it). False when the person does not exist.
    async fn lift_person_guards(&self, user_id: u64) -> Result<bool, StoreError>;

    /// Writes a new pending request and its approvers when [`crate::admission::admit`] accepts
    /// it, judged on the approvers as they are inside the transaction (each approver's row is
    /// locked, so concurrent creations and deletions for the same person are serialised).
    async fn create_request(
        &self,
        request: NewRequest,
        now: i64,
    ) -> Result<Result<(), CreateRefusal>, StoreError>;
    /// A request (of `app_id` when given).
    async fn request(
        &self,
        app_id: Option<&str>,
        id: Uuid,
    ) -> Result<Option<StoredRequest>, StoreError>;
    /// Decisions recorded for a request.
    async fn decisions(&self, request_id: Uuid) -> Result<Vec<DecisionRecord>, StoreError>;
    /// Ids of requests pending at `now` that wait for `user_id` (an approver who has not decided).
    async fn pending_for_user(&self, user_id: u64, now: i64) -> Result<Vec<Uuid>, StoreError>;
    /// Marks that a device was told about a request.
    async fn mark_notified(&self, id: Uuid) -> Result<(), StoreError>;
    /// Judges a decision with [`crate::resolution::judge`] against the request, its votes, the
    /// device and the person as they are inside the transaction (the request row is locked, so
    /// concurrent decisions are serialised), and writes what it decided: the decision, the final
    /// status, the receipt (issued by `notary`, see [`crate::receipts`]) and its approval-log
    /// leaf, and the callback in the outbox, atomically. Stored data that does not verify (a
    /// decision written behind the service's back) fails the transaction: no receipt is ever
    /// countersigned over it.
    async fn record_decision(
        &self,
        decision: DecisionRecord,
        notary: &Notary,
        now: i64,
    ) -> Result<DecisionResult, StoreError>;
    /// Cancels a pending request of `app_id`. `Ok(None)` when unknown; the status it had when
    /// it was not pending. When the app asked for callbacks on expiry and cancellation, its
    /// callback is written to the outbox in the same transaction.
    async fn cancel_request(
        &self,
        app_id: &str,
        id: Uuid,
        now: i64,
    ) -> Result<Option<Result<StoredRequest, RequestStatus>>, StoreError>;
    /// Marks every pending request past its deadline as expired (with the opt-in callback in
    /// the outbox, as [`Store::cancel_request`]).
    async fn expire_due(&self, now: i64) -> Result<Vec<ExpiredRequest>, StoreError>;
    /// The earliest deadline of a pending request.
    async fn next_expiry(&self) -> Result<Option<i64>, StoreError>;

    /// Apps with callbacks due at `now` and not claimed by anyone.
    async fn apps_with_due_callbacks(&self, now: i64) -> Result<Vec<String>, StoreError>;
    /// Claims up to `limit` of `app_id`'s due callbacks, oldest first, for `owner` until
    /// `lease_until`. A claim whose lease has ended can be claimed again (its owner died or hung),
    /// so delivery is at least once. No two live claims cover the same callback.
    async fn claim_callbacks(
        &self,
        app_id: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError>;
    /// Releases every claim `owner` holds (an instance shutting down gracefully hands its
    /// unfinished attempts to whoever comes next, without waiting for the leases to end).
    async fn release_callback_claims(&self, owner: &str) -> Result<u64, StoreError>;
    /// When the next undelivered, unclaimed callback is due (or a claim ends).
    async fn next_callback_due(&self) -> Result<Option<i64>, StoreError>;
    /// Marks a callback delivered and releases its claim.
    async fn callback_delivered(&self, id: i64, now: i64) -> Result<(), StoreError>;
    /// Records a failed attempt and releases the claim; `next_attempt_at = None` abandons it.
    async fn callback_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError>;
    /// The last recorded delivery error of a callback, for operators (never carries secrets).
    async fn callback_last_error(&self, id: i64) -> Result<Option<String>, StoreError>;

    /// Leaves in the approval log.
    async fn log_size(&self) -> Result<u64, StoreError>;
    /// Leaves `start..end` of the approval log (as many as exist), in order.
    async fn log_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// The stored checkpoint of the largest tree.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;
    /// Stores a checkpoint unless one of its size is stored already (another instance signed
    /// it first); returns the one stored for that size.
    async fn save_checkpoint(
        &self,
        checkpoint: StoredCheckpoint,
    ) -> Result<StoredCheckpoint, StoreError>;
    /// A request's receipt.
    async fn receipt(&self, request_id: Uuid) -> Result<Option<StoredReceipt>, StoreError>;

    /// Counts for `/metrics`.
    async fn metrics(&self) -> Result<StoreMetrics, StoreError>;
    /// Rows per table, for tests and operators checking that a refusal wrote nothing.
    async fn row_counts(&self) -> Result<BTreeMap<String, u64>, StoreError>;
    /// Answers when the database does (for readiness).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Closes connections, waiting for queries in flight.
    async fn close(&self);
}
