//! The service in-process, on real loopback sockets, on either engine.

use std::path::{Path, PathBuf};

use assent_protocol::callback::CallbackMethod;
use assent_server::Service;
use assent_server::admin::AppSpec;
use assent_server::clock::{Clock, unix_now};
use assent_server::config::{KekSource, ServiceConfig};
use assent_server::sealed::Kek;
use assent_server::state::AppState;
use assent_server::store::App;
use tokio::sync::oneshot;

use crate::backend::Backend;
use crate::device::TestDevice;

/// The storage engine a test service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file in a temporary directory (the embedded default).
    Sqlite,
    /// A fresh database in the test PostgreSQL cluster.
    Postgres,
}

impl Engine {
    /// `ASSENT_TEST_DATABASE=postgres` selects PostgreSQL for a whole suite; SQLite otherwise.
    pub fn from_env() -> Engine {
        match std::env::var("ASSENT_TEST_DATABASE").as_deref() {
            Ok("postgres") => Engine::Postgres,
            _ => Engine::Sqlite,
        }
    }
}

/// Where a test service keeps its data: outlives the service, so a test can restart it, or start
/// several instances on it.
#[derive(Debug)]
pub struct TestData {
    /// The engine.
    pub engine: Engine,
    /// The database URL.
    pub database_url: String,
    /// The key-encryption key (kept beside the SQLite file, given directly for PostgreSQL).
    pub kek: KekSource,
    dir: tempfile::TempDir,
}

impl TestData {
    /// Fresh, empty data on `engine`.
    pub async fn new(engine: Engine) -> TestData {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (database_url, kek) = match engine {
            Engine::Sqlite => (
                format!("sqlite://{}", dir.path().join("assent.db").display()),
                KekSource::BesideDatabase,
            ),
            Engine::Postgres => (
                crate::postgres::new_database().await,
                KekSource::Key(Kek::generate()),
            ),
        };
        TestData {
            engine,
            database_url,
            kek,
            dir,
        }
    }

    /// A private directory that lives as long as the data (the SQLite file is in it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A configuration on this data, listening on `listen`.
    pub fn config(&self, listen: std::net::SocketAddr) -> ServiceConfig {
        let mut config = ServiceConfig::new(listen, self.database_url.clone());
        config.kek = self.kek.clone();
        config.database_pool_size = 5;
        config
    }
}

/// Changes the configuration before the service starts.
pub type Configure = Box<dyn FnOnce(&mut ServiceConfig) + Send>;

/// Options for [`TestService::start_with`].
#[derive(Default)]
#[allow(missing_debug_implementations)] // holds a closure
pub struct Options {
    /// The app's callback URL.
    pub callback_url: Option<String>,
    /// Callbacks by GET instead of POST.
    pub callback_get: bool,
    /// Callbacks for expired and cancelled requests too.
    pub callback_expired_cancelled: bool,
    /// The app's push-fatigue and verification settings (default: the service's defaults).
    pub defences: assent_server::defences::AppDefences,
    /// Changes the configuration.
    pub configure: Option<Configure>,
    /// Start on the data (and app) of a stopped service, or as another instance beside a running
    /// one, instead of fresh data.
    pub reuse: Option<Stopped>,
    /// The engine (default: [`Engine::from_env`]).
    pub engine: Option<Engine>,
}

impl Options {
    /// An app that lets a person have any number of requests waiting at once (the relying party
    /// "saying otherwise"), for tests about something else that create several per person.
    pub fn several_pending() -> Options {
        Options {
            defences: assent_server::defences::AppDefences {
                max_pending_per_person: 0,
                ..Default::default()
            },
            ..Options::default()
        }
    }
}

/// What a stopped service leaves: its data and its app, to start again on.
#[derive(Debug)]
pub struct Stopped {
    /// The data.
    pub data: TestData,
    /// The app.
    pub app: App,
    /// Its API key.
    pub api_key: String,
}

/// A running service.
pub struct TestService {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The app's backend client.
    pub backend: Backend,
    /// The app.
    pub app: App,
    /// The service's state (store, hub, configuration).
    pub state: AppState,
    data: Option<TestData>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for TestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestService")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl TestService {
    /// A fresh service with one app ("Acme Bank"), on the suite's engine.
    pub async fn start() -> TestService {
        Self::start_with(Options::default()).await
    }

    /// A fresh service on a clock the test moves ([`Clock::advance`]) instead of waiting.
    pub async fn with_adjustable_clock() -> (TestService, Clock) {
        let clock = Clock::adjustable();
        let service_clock = clock.clone();
        let svc = Self::start_with(Options {
            configure: Some(Box::new(move |c| c.clock = service_clock)),
            ..Options::default()
        })
        .await;
        (svc, clock)
    }

    /// A service as `options` say.
    pub async fn start_with(options: Options) -> TestService {
        let (data, app) = match options.reuse {
            Some(stopped) => (stopped.data, Some((stopped.app, stopped.api_key))),
            None => (
                TestData::new(options.engine.unwrap_or_else(Engine::from_env)).await,
                None,
            ),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = data.config(addr);
        if let Some(configure) = options.configure {
            configure(&mut config);
        }
        let service = Service::open(config).await.expect("service opens");
        let state = service.state().clone();
        let (app, api_key) = match app {
            Some(app) => app,
            None => {
                let spec = AppSpec {
                    name: "Acme Bank".into(),
                    logo_url: Some("https://acme.example/logo.png".into()),
                    accent_color: Some("#0b5fff".into()),
                    callback_url: options.callback_url,
                    callback_method: if options.callback_get {
                        CallbackMethod::Get
                    } else {
                        CallbackMethod::Post
                    },
                    callback_expired_cancelled: options.callback_expired_cancelled,
                    allow_local_logo: false,
                    defences: options.defences,
                };
                let (app, key) = state.operator().create_app(spec, unix_now()).await.unwrap();
                (app, key.expose().to_owned())
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service.serve(listener, async move {
            let _ = stopped.await;
        }));
        let base = format!("http://{addr}");
        TestService {
            backend: Backend::new(&base, &api_key),
            base,
            app,
            state,
            data: Some(data),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Another instance on the same data and app (for several instances on one PostgreSQL
    /// database), configured by `configure`.
    pub async fn another_instance(&self, configure: Option<Configure>) -> TestService {
        let data = self.data();
        let shared = TestData {
            engine: data.engine,
            database_url: data.database_url.clone(),
            kek: data.kek.clone(),
            dir: tempfile::tempdir().unwrap(),
        };
        Self::start_with(Options {
            reuse: Some(Stopped {
                data: shared,
                app: self.app.clone(),
                api_key: self.backend.api_key.clone(),
            }),
            configure,
            ..Options::default()
        })
        .await
    }

    /// The service's data.
    pub fn data(&self) -> &TestData {
        self.data.as_ref().expect("running")
    }

    /// The engine it runs on.
    pub fn engine(&self) -> Engine {
        self.data().engine
    }

    /// The directory of a SQLite service's database file.
    pub fn sqlite_dir(&self) -> PathBuf {
        assert_eq!(self.engine(), Engine::Sqlite, "only SQLite keeps a file");
        self.data().dir().to_path_buf()
    }

    /// Stops the service gracefully; returns what is needed to start it again on the same data.
    pub async fn stop(mut self) -> Stopped {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
        Stopped {
            data: self.data.take().unwrap(),
            app: self.app.clone(),
            api_key: self.backend.api_key.clone(),
        }
    }

    /// Stops the service gracefully and starts it again on the same data, app and key, with
    /// default options (a restart: the tree, keys and log are rebuilt from the database).
    pub async fn restart(self) -> TestService {
        let stopped = self.stop().await;
        Self::start_with(Options {
            reuse: Some(stopped),
            ..Options::default()
        })
        .await
    }

    /// Another relying party on this service, created by the operator as `spec` says: its app
    /// and a backend client holding its API key.
    pub async fn other_app(&self, spec: AppSpec) -> (App, Backend) {
        let (app, key) = self
            .state
            .operator()
            .create_app(spec, unix_now())
            .await
            .expect("the operator creates the app");
        let backend = self.backend.with_key(key.expose());
        (app, backend)
    }

    /// A user with one enrolled device.
    pub async fn enrolled_user(&self, email: &str) -> (u64, TestDevice) {
        let user = self.backend.create_user(email).await;
        let device = self.enroll(user).await;
        (user, device)
    }

    /// Rows in `table` now (for "nothing was written" checks), through the store interface.
    pub async fn rows(&self, table: &str) -> i64 {
        let counts = self.state.store.row_counts().await.expect("row counts");
        *counts
            .get(table)
            .unwrap_or_else(|| panic!("no table {table} in {counts:?}")) as i64
    }

    /// Enrolls a new protocol-level device for `user`.
    pub async fn enroll(&self, user: u64) -> TestDevice {
        let token = self.backend.registration(user).await;
        // On the service's clock, so a test that moves it keeps its devices' calls in the skew.
        TestDevice::enroll(&self.base, &token, "test device")
            .await
            .on_clock(&self.state.config.clock)
    }
}
