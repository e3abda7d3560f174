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
mod backend;
mod body;
pub mod clock;
pub mod config;
mod device;
pub mod error;
mod expiry;
pub mod hub;
pub mod keys;
mod metrics;
pub mod outbox;
pub mod params;
pub mod resolution;
pub mod state;
pub mod store;

use std::future::Future;
use std::sync::Arc;

use assent_protocol::error::ErrorCode;
use axum::extract::Request;
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Router, ServiceExt as _};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tower::Layer as _;

use crate::config::ServiceConfig;
use crate::device::OriginalTarget;
use crate::error::ApiError;
use crate::hub::PushHub;
use crate::keys::ServiceKey;
use crate::outbox::CallbackWorker;
use crate::state::{AppState, Shared};
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};

pub use crate::backend::API_KEY_HEADER;

/// A configured service, ready to serve.
#[derive(Debug)]
pub struct Service {
    state: AppState,
    sqlite: SqliteStore,
}

/// Opens the store behind `database_url` (SQLite: `sqlite://path` or a plain path).
///
/// # Errors
/// The database cannot be opened or migrated.
pub async fn open_store(database_url: &str) -> Result<SqliteStore, StoreError> {
    if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        return Err(StoreError::Corrupt(
            "PostgreSQL is not supported by this build yet; use SQLite".into(),
        ));
    }
    SqliteStore::open(database_url).await
}

impl Service {
    /// Opens the database, runs migrations and loads (or creates) the service key.
    ///
    /// # Errors
    /// The database cannot be opened, migrated or read.
    pub async fn open(config: ServiceConfig) -> Result<Self, StoreError> {
        let sqlite = open_store(&config.database_url).await?;
        let store: Arc<dyn Store> = Arc::new(sqlite.clone());
        let secret = store
            .service_key(ServiceKey::candidate(), clock::unix_now())
            .await?;
        let state = AppState::new(Shared {
            store,
            hub: Arc::new(PushHub::default()),
            config,
            service_key: ServiceKey::from_secret(&secret),
            outbox_wake: Arc::new(Notify::new()),
            expiry_wake: Arc::new(Notify::new()),
            shutdown: CancellationToken::new(),
        });
        Ok(Service { state, sqlite })
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
        let worker = CallbackWorker::new(
            Arc::clone(&state.store),
            Arc::clone(&state.outbox_wake),
            state.config.callback_timeout,
            state.config.callback_give_up_secs,
        );
        let outbox = tokio::spawn(worker.run(token.clone()));
        let expiry = tokio::spawn(expiry::run(state.clone()));
        let app = axum::middleware::from_fn(keep_original_target)
            .layer(tower::util::MapRequestLayer::new(collapse_slashes).layer(self.router()));
        tracing::info!(listen = %listener.local_addr()?, public_url = %state.config.public_url, "assent service listening");
        let stop = token.clone();
        let served = axum::serve(listener, app.into_make_service())
            .with_graceful_shutdown(async move {
                tokio::select! {
                    () = shutdown => {}
                    () = stop.cancelled() => {}
                }
                stop.cancel();
            })
            .await;
        token.cancel();
        let _ = outbox.await;
        let _ = expiry.await;
        self.sqlite.close().await;
        tracing::info!("assent service stopped");
        served
    }
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

async fn healthz() -> &'static str {
    "ok\n"
}

async fn unknown_route() -> impl IntoResponse {
    let mut error = ApiError::bad_request("Unknown endpoint: check the URL and method.");
    error.code = ErrorCode::InvalidRequest;
    (axum::http::StatusCode::NOT_FOUND, error)
}

/// The whole HTTP surface for `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(backend::routes())
        .merge(device::routes())
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics))
        .fallback(unknown_route)
        .with_state(state)
}
