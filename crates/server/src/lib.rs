//! The Assent service: the Authy OneTouch-compatible backend API, the device API and the push
//! stream, over one [`store::Store`].
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use assent_server::{Service, config::ServiceConfig};
//! let config = ServiceConfig::new("127.0.0.1:8080".parse()?, "sqlite:///tmp/assent.db");
//! let service = Service::open(config).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! service.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod admission;
pub mod approval_log;
mod backend;
mod body;
pub mod ceiling;
pub mod clock;
pub mod config;
pub mod defences;
mod device;
pub mod error;
mod expiry;
pub mod fanout;
mod http;
pub mod hub;
pub mod keys;
mod log_api;
pub mod metrics;
pub mod notary;
pub mod outbox;
pub mod qr;
pub mod rate;
pub mod receipts;
pub mod resolution;
pub mod sealed;
mod segment;
mod stall;
pub mod state;
pub mod store;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{KekSource, ServiceConfig};
use crate::device::OriginalTarget;
use crate::error::ApiError;
use crate::fanout::{FanOut, LocalFanOut, PgFanOut};
use crate::hub::PushHub;
use crate::keys::ServiceKey;
use crate::notary::Notary;
use crate::outbox::CallbackWorker;
use crate::rate::RateLimits;
use crate::sealed::{Kek, KeyRing, SealError, SecretPurpose};
use crate::state::{AppState, Shared};
use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};

pub use crate::backend::API_KEY_HEADER;

/// A configured service, ready to serve.
#[derive(Debug)]
pub struct Service {
    state: AppState,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database could not be opened, migrated or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key-encryption key is missing or wrong, or a sealed secret does not open.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// The configuration cannot work.
    #[error("{0}")]
    Config(String),
    /// A secret is stored in plain form.
    #[error(
        "the database holds a secret in plain form: written before secrets were sealed, or by someone without the key-encryption key. If this database is from a version before sealing, run `assent kek seal-plain` once; otherwise restore it from a backup"
    )]
    PlainSecret,
}

/// True for a PostgreSQL URL.
pub fn is_postgres_url(database_url: &str) -> bool {
    database_url.starts_with("postgres:") || database_url.starts_with("postgresql:")
}

/// The file a SQLite URL (`sqlite://path`, `sqlite:path?...` or a plain path) points at.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .unwrap_or(database_url);
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Opens the store behind `database_url` (SQLite: `sqlite://path` or a plain path; PostgreSQL:
/// `postgres://...`) with a small pool, for operator commands and tools.
///
/// # Errors
/// The database cannot be opened or migrated.
pub async fn open_store(database_url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(open_engine(database_url, 4).await?.0)
}

/// The store and the fan-out for `database_url`: SQLite with this instance's hub alone, or
/// PostgreSQL with `NOTIFY`/`LISTEN` between instances (pool of `pool_size` connections).
async fn open_engine(
    database_url: &str,
    pool_size: u32,
) -> Result<(Arc<dyn Store>, Arc<dyn FanOut>), StoreError> {
    if is_postgres_url(database_url) {
        let store = PgStore::open(database_url, pool_size).await?;
        let fanout = Arc::new(PgFanOut::new(store.pool().clone()));
        Ok((Arc::new(store), fanout))
    } else {
        Ok((
            Arc::new(SqliteStore::open(database_url).await?),
            Arc::new(LocalFanOut),
        ))
    }
}

async fn kek_from(
    source: &KekSource,
    database_url: &str,
    store: Option<&dyn Store>,
) -> Result<Kek, OpenError> {
    match source {
        KekSource::Key(key) => Ok(key.clone()),
        KekSource::File(path) => Ok(Kek::read_file(path)?),
        KekSource::BesideDatabase => {
            let path = beside_database(database_url)?;
            let Some(store) = store.filter(|_| !path.exists()) else {
                return Ok(Kek::read_file(&path)?);
            };
            // A missing key file is created only for a database that has sealed nothing yet; for
            // one that has, a new key would open nothing, so say what is missing instead.
            if let Some(sealed) = store
                .sealed_secrets()
                .await?
                .iter()
                .find_map(|s| KeyRing::sealed_with(&s.value))
            {
                return Err(OpenError::Config(format!(
                    "the database's secrets are sealed with key-encryption key {sealed}, but {} is missing: restore it (or pass --kek-file)",
                    path.display()
                )));
            }
            tracing::info!(path = %path.display(), "creating the key-encryption key beside the database");
            Ok(Kek::create_file(&path)?)
        }
    }
}

/// The key file kept beside a SQLite database by default: `<database file>.kek`.
///
/// # Errors
/// [`OpenError::Config`] when the database is not a SQLite file.
pub fn beside_database(database_url: &str) -> Result<PathBuf, OpenError> {
    match sqlite_path(database_url) {
        Some(db) if !is_postgres_url(database_url) => {
            let mut name = db.file_name().unwrap_or_default().to_os_string();
            name.push(".kek");
            Ok(db.with_file_name(name))
        }
        _ => Err(OpenError::Config(
            "this database needs a key-encryption key: pass --kek-file, set ASSENT_KEK, or give the systemd credential assent.kek".into(),
        )),
    }
}

/// The key ring `config` names, creating the default key file beside a SQLite database that has
/// sealed nothing yet.
///
/// # Errors
/// A key cannot be read, or the default key file is missing for a database that needs it.
pub async fn key_ring(config: &ServiceConfig, store: &dyn Store) -> Result<KeyRing, OpenError> {
    let current = kek_from(&config.kek, &config.database_url, Some(store)).await?;
    let mut previous = Vec::new();
    for source in &config.previous_keks {
        previous.push(kek_from(source, &config.database_url, None).await?);
    }
    Ok(KeyRing::new(current, previous))
}

/// What to do with a secret stored in plain form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainSecrets {
    /// Refuse to go on: a plain secret is either from a database written before secrets were
    /// sealed, or was written by someone without the key-encryption key (who would then have
    /// chosen the service's signing key). Only an operator can tell which.
    Refuse,
    /// Seal them (`assent kek seal-plain`: the operator says the database is from before sealing).
    Seal,
}

/// Checks that every stored secret opens with `ring`, re-sealing with the current key whatever a
/// previous key sealed (and, when `plain` says so, whatever is stored in plain form). Returns how
/// many were re-sealed.
///
/// # Errors
/// A secret was sealed with a key the ring does not have, does not open, or is plain and `plain`
/// is [`PlainSecrets::Refuse`].
pub async fn reseal_secrets(
    store: &dyn Store,
    ring: &KeyRing,
    plain: PlainSecrets,
) -> Result<u64, OpenError> {
    let mut changes = Vec::new();
    for secret in store.sealed_secrets().await? {
        let plain_len = match secret.purpose {
            SecretPurpose::ServiceKey => 32,
            SecretPurpose::CallbackKey { .. } => 64,
            SecretPurpose::CodeSeed { .. } | SecretPurpose::AuthenticatorAppSeed { .. } => {
                assent_protocol::totp::SEED_LEN
            }
        };
        let plain = if KeyRing::is_sealed(&secret.value) {
            let opened = ring.open(&secret.value, &secret.purpose)?;
            if KeyRing::sealed_with(&secret.value).as_deref() == Some(&ring.current().id_hex()) {
                continue;
            }
            opened
        } else if secret.value.len() == plain_len && plain == PlainSecrets::Seal {
            zeroize::Zeroizing::new(secret.value.clone())
        } else if secret.value.len() == plain_len {
            return Err(OpenError::PlainSecret);
        } else {
            return Err(SealError::Tampered.into());
        };
        let sealed = ring.seal(&plain, &secret.purpose);
        changes.push((secret, sealed));
    }
    if changes.is_empty() {
        return Ok(0);
    }
    Ok(store.reseal_secrets(changes).await?)
}

/// The deployment's service key, stored sealed: the stored one, or (on an empty database) a new
/// one stored now.
///
/// # Errors
/// The database fails, or the stored key does not open with `ring`.
pub async fn load_service_key(
    store: &dyn Store,
    ring: &KeyRing,
    now: i64,
) -> Result<ServiceKey, OpenError> {
    let candidate = ring.seal(&ServiceKey::candidate(), &SecretPurpose::ServiceKey);
    let sealed = store.service_key(candidate, now).await?;
    let secret = ring.open_array::<32>(&sealed, &SecretPurpose::ServiceKey)?;
    Ok(ServiceKey::from_secret(&secret))
}

impl Service {
    /// Opens the database, runs migrations, loads the key-encryption key, and loads (or creates)
    /// the service key.
    ///
    /// # Errors
    /// The database cannot be opened, migrated or read; the key-encryption key is missing or is
    /// not the one the database's secrets were sealed with.
    pub async fn open(config: ServiceConfig) -> Result<Self, OpenError> {
        let (store, fanout) = open_engine(&config.database_url, config.database_pool_size).await?;
        let ring = key_ring(&config, store.as_ref()).await?;
        let has_key = store
            .sealed_secrets()
            .await?
            .iter()
            .any(|s| s.purpose == SecretPurpose::ServiceKey);
        if !has_key
            && store
                .row_counts()
                .await?
                .get("devices")
                .is_some_and(|n| *n > 0)
        {
            return Err(OpenError::Config(
                "the service key is missing from a database with enrolled devices: restore it from a backup (a new key would make every device refuse this service)".into(),
            ));
        }
        let resealed = reseal_secrets(store.as_ref(), &ring, PlainSecrets::Refuse).await?;
        if resealed > 0 {
            tracing::info!(resealed, key = %ring.current().id_hex(), "sealed stored secrets with the current key-encryption key");
        }
        // The first instance on an empty database stores its candidate; every other one (and every
        // later start) gets the stored key.
        let service_key = load_service_key(store.as_ref(), &ring, config.clock.now()).await?;
        let notary = Notary::new(&service_key, config.issue_receipts);
        let backfilled = store
            .backfill_enrollment_records(&notary, config.clock.now())
            .await?;
        if backfilled > 0 {
            tracing::warn!(
                devices = backfilled,
                "signed enrollment records for devices that had none (enrolled before the approval log existed, or written into the database behind the service's back) and published them in the approval log"
            );
        }
        let log = approval_log::ApprovalLog::new();
        match log.load(store.as_ref()).await {
            Ok(size) => tracing::info!(size, origin = notary.origin(), "approval log loaded"),
            Err(approval_log::LogError::Store(e)) => return Err(e.into()),
            // Logged loudly by the log itself; the service still answers, but signs nothing more.
            Err(e) => {
                tracing::error!(error = %e, "the approval log does not match its checkpoints")
            }
        }
        let rates = RateLimits::new(&config.connections);
        let state = AppState::new(Shared {
            store,
            hub: Arc::new(PushHub::new(
                config.connections.max_streams_per_device,
                config.connections.max_streams,
            )),
            fanout,
            service_key,
            notary,
            log,
            keys: ring,
            rates,
            metrics: Arc::new(metrics::Metrics::default()),
            config,
            outbox_wake: Arc::new(Notify::new()),
            expiry_wake: Arc::new(Notify::new()),
            shutdown: CancellationToken::new(),
        });
        Ok(Service { state })
    }

    /// The shared state (tests and the CLI read the store and hub through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The HTTP routes.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then stops background work, closes every
    /// push stream with "service restarting" and closes the database.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let token = state.shutdown.clone();
        let worker = CallbackWorker::new(&state);
        let outbox = tokio::spawn(worker.run(token.clone()));
        let expiry = tokio::spawn(expiry::run(state.clone()));
        let checkpoints = tokio::spawn(approval_log::run(
            state.clone(),
            state.config.checkpoint_interval,
        ));
        let changes = tokio::spawn(Arc::clone(&state.fanout).run(state.clone()));
        tracing::info!(listen = %listener.local_addr()?, public_url = %state.config.public_url, instance = %state.config.instance, "assent service listening");
        let stop = token.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown => {}
                () = stop.cancelled() => {}
            }
            stop.cancel();
        });
        let served = http::serve(
            listener,
            app(self.router()),
            state.config.connections.clone(),
            Arc::clone(&state.metrics),
            token.clone(),
        )
        .await;
        token.cancel();
        let _ = outbox.await;
        let _ = expiry.await;
        let _ = checkpoints.await;
        let _ = changes.await;
        state.store.close().await;
        tracing::info!("assent service stopped");
        served
    }
}

/// The router wrapped in what every call passes through, outermost first: the original target
/// kept for device signatures, `//` collapsed before routing, and (inside the router) panics
/// turned into a 60199 answer instead of a dropped connection.
fn app(
    router: Router,
) -> impl tower::Service<
    Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    use tower::Layer as _;
    let router = router.layer(tower_http::catch_panic::CatchPanicLayer::custom(
        |_: Box<dyn std::any::Any + Send + 'static>| {
            ApiError::internal(&"a handler panicked").into_response()
        },
    ));
    let collapsed = tower::util::MapRequestLayer::new(collapse_slashes).layer(router);
    axum::middleware::from_fn(keep_original_target).layer(collapsed)
}

/// Remembers the request target as sent, before [`collapse_slashes`] rewrites it, because device
/// signatures cover the target exactly as the device sent it.
async fn keep_original_target(
    mut req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let target = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    req.extensions_mut().insert(OriginalTarget(target));
    next.run(req).await
}

/// Authy clients build URLs as `base + path` and sometimes produce `//`; route them anyway.
fn collapse_slashes(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.contains("//") {
        let mut collapsed = String::with_capacity(path.len());
        for ch in path.chars() {
            if !(ch == '/' && collapsed.ends_with('/')) {
                collapsed.push(ch);
            }
        }
        let target = match req.uri().query() {
            Some(q) => format!("{collapsed}?{q}"),
            None => collapsed,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = target.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// Liveness: the process is up and serving HTTP.
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers and changes from other instances can arrive. A balancer
/// sends traffic only to a ready instance.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = state.store.ping().await.is_ok();
    let listener = state.fanout.is_connected();
    let status = if database && listener {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({
            "ready": database && listener,
            "database": database,
            "listener": listener,
            "instance": state.config.instance,
        })),
    )
}

async fn unknown_route() -> impl IntoResponse {
    let error = ApiError::bad_request("Unknown endpoint: check the URL and method.");
    (axum::http::StatusCode::NOT_FOUND, error)
}

async fn wrong_method() -> impl IntoResponse {
    let error = ApiError::bad_request("This endpoint does not take that method.");
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, error)
}

/// The whole HTTP surface for `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(backend::routes())
        .merge(device::routes())
        .merge(log_api::routes())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::observe,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            clock::date_header,
        ))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|req: &Request| {
                // The matched route, never the URI: a query may carry an API key.
                let route = req
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map_or("(unknown route)", |p| p.as_str());
                tracing::info_span!("call", method = %req.method(), route)
            }),
        )
        .with_state(state)
}
