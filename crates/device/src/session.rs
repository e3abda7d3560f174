//! [`DeviceSession`]: a running device, for the desktop app and the terminal alike.
//!
//! The session owns what a device does while it runs: one push stream per active account, the
//! set of verified pending requests (with their logos), each account's honest link state and
//! last contact, revocation (the key deleted, the account marked, its requests dropped), the
//! logo cache (bounded, failures retried) and the settings file (written atomically). Every
//! change is sent, in order, as a typed [`SessionEvent`] on one channel ([`SessionEvents`]):
//! the desktop shell forwards them to its UI, tray and notifications; `assent device watch` and
//! the demo's terminal prompt print them. Shells hold no state of their own about streams,
//! requests, logos or settings.
//!
//! Invariants:
//! - a request is in the pending set only after it verified against its account's pinned service
//!   key and was still pending when fetched; it leaves on resolution, decision, or revocation;
//! - at most [`crate::MAX_PENDING_PER_ACCOUNT`] requests per account are in the set (the stream
//!   reports no more), and a burst of arrivals is announced as a few `pending` changes, not one
//!   whole list per request;
//! - at most [`SessionConfig::alerts_per_minute`] arrivals per minute carry `alert: true` (the
//!   shell raises its window and notifies only for those): a flood of requests cannot flood the
//!   person;
//! - an account is revoked only on a [`crate::RevocationProof`] (a notice signed by its pinned
//!   key); a refusal without one is reported once and changes nothing;
//! - a decision the service accepted is reported as accepted, even when the local history could
//!   not be written (that is a separate notice);
//! - an account's link is `connected` only while its stream hears from the service within the
//!   heartbeat window (see [`crate::StreamConfig`]);
//! - settings change in memory only after they were written to disk;
//! - each active account's approval log is checked ([`crate::LogMonitor`]) when its stream starts,
//!   after each reconnect, and every [`SessionConfig::log_poll_interval`], or, once its service
//!   announces the log's signed size on the stream, when that size differs from the checkpoint
//!   held (at most once per that interval) and every [`SessionConfig::log_backstop_interval`];
//!   an idle desktop then makes no call of its own for the log; findings are announced
//!   as the whole open list ([`SessionEvent::LogFindings`]), and a failed check is told once
//!   until a check succeeds again (an unreachable service is not news: the link shows it).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use assent_protocol::decision::{DenyReason, Outcome};
use assent_protocol::enroll::EnrollLink;
use assent_protocol::request::RequestStatus;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::account::{Account, DataDir};
use crate::authenticator::{
    Answer, Authenticator, Decided, InsecureServer, ShownRequest, parse_enrollment,
    preview_enrollment,
};
use crate::clock::{ClockView, ClockWatch};
use crate::error::{Error, ErrorKind, Result};
use crate::logo::{LogoCache, LogoLimits, LogoLookup, LogoScope, fetch_logo};
use crate::monitor::{LogMonitor, MonitorError, MonitorErrorKind};
use crate::revocation::RevocationProof;
use crate::stream::{ConnectionState, PushEvent, RetryHandle};
use crate::view::{
    AccountView, BrandingView, ConnectionView, DecisionView, EnrollOffer, EnrollPreview,
    FindingView, HistoryView, LinkState, RequestView, SessionEvent, SessionSnapshot, Settings,
    accent_color,
};

/// Tuning of a session; the defaults suit the desktop and the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Limits for one logo fetch.
    pub logo_limits: LogoLimits,
    /// How long a failed logo shows the placeholder before it is fetched again (doubling with
    /// each consecutive failure, up to 32 times).
    pub logo_retry_after: Duration,
    /// Logos kept in memory at most (each one fixed-size PNG, see [`crate::LOGO_SIDE`]).
    pub logo_cache_capacity: usize,
    /// New requests per minute that may alert the person (raise the window, notify); the rest
    /// are only added to the list.
    pub alerts_per_minute: usize,
    /// How often each active account's approval log is checked (also at start and after each
    /// reconnect) while its service does not announce the log's size; once it does, the least
    /// time between two checks prompted by an announcement.
    pub log_poll_interval: Duration,
    /// How often the log is checked anyway while its service announces the log's size (never
    /// more often than [`SessionConfig::log_poll_interval`]): a service that stops telling still
    /// gets checked.
    pub log_backstop_interval: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            logo_limits: LogoLimits::default(),
            logo_retry_after: Duration::from_secs(60),
            logo_cache_capacity: 64,
            alerts_per_minute: 6,
            log_poll_interval: Duration::from_secs(60),
            log_backstop_interval: Duration::from_secs(15 * 60),
        }
    }
}

/// Environment variable overriding [`SessionConfig::log_poll_interval`], in seconds (5 to 86400).
pub const LOG_POLL_ENV: &str = "ASSENT_LOG_POLL_SECS";

impl SessionConfig {
    /// The defaults, with the log poll interval from [`LOG_POLL_ENV`] when set.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] when the variable is set to anything but a whole number of
    /// seconds from 5 to 86400.
    pub fn from_env() -> Result<Self> {
        let mut config = SessionConfig::default();
        if let Some(interval) = crate::settings::seconds_from_env(LOG_POLL_ENV, 5..=86_400)? {
            config.log_poll_interval = interval;
        }
        Ok(config)
    }
}

/// A sliding window of the alerts given in the last minute.
#[derive(Debug)]
struct AlertBudget {
    per_minute: usize,
    given: VecDeque<Instant>,
}

impl AlertBudget {
    fn new(per_minute: usize) -> Self {
        AlertBudget {
            per_minute,
            given: VecDeque::new(),
        }
    }

    /// True (and counted) when an alert may be given at `now`.
    fn allow(&mut self, now: Instant) -> bool {
        while self
            .given
            .front()
            .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(60))
        {
            self.given.pop_front();
        }
        if self.given.len() < self.per_minute {
            self.given.push_back(now);
            true
        } else {
            false
        }
    }
}

/// During a burst of arrivals, the pending list is announced after every this many changes (and
/// once the burst is over), not after each one.
const PENDING_BATCH: usize = 10;

/// Unix milliseconds now (read at the edge; the logic below is given `now`).
fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// One account's link as the person should see it, from its stream's reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    state: LinkState,
    last_contact_at_ms: Option<i64>,
}

impl Link {
    pub(crate) fn new() -> Self {
        Link {
            state: LinkState::Connecting,
            last_contact_at_ms: None,
        }
    }

    fn offline() -> Self {
        Link {
            state: LinkState::Offline,
            last_contact_at_ms: None,
        }
    }

    /// Applies a stream state reported at `now_ms`. An attempt that starts after a failure is
    /// still `reconnecting` (with no next try while it runs): only a synced connection is
    /// `connected`.
    pub(crate) fn on_stream(&mut self, state: &ConnectionState, now_ms: i64) {
        self.state = match (state, &self.state) {
            (ConnectionState::Connecting, LinkState::Reconnecting { attempt, .. }) => {
                LinkState::Reconnecting {
                    attempt: *attempt,
                    next_try_at_ms: None,
                }
            }
            (ConnectionState::Connecting, _) => LinkState::Connecting,
            (ConnectionState::Connected, _) => {
                self.last_contact_at_ms = Some(now_ms);
                LinkState::Connected
            }
            (
                ConnectionState::Reconnecting {
                    attempt,
                    retry_in_ms,
                },
                _,
            ) => LinkState::Reconnecting {
                attempt: *attempt,
                next_try_at_ms: Some(
                    now_ms.saturating_add(i64::try_from(*retry_in_ms).unwrap_or(i64::MAX)),
                ),
            },
            (ConnectionState::Offline, _) => LinkState::Offline,
        };
    }

    /// The service was heard from at `now_ms`.
    pub(crate) fn on_contact(&mut self, now_ms: i64) {
        self.last_contact_at_ms = Some(now_ms);
    }

    fn view(&self, account_id: Uuid) -> ConnectionView {
        ConnectionView {
            account_id,
            state: self.state.clone(),
            last_contact_at_ms: self.last_contact_at_ms,
        }
    }
}

struct Pending {
    shown: ShownRequest,
    view: RequestView,
}

struct State {
    requests: BTreeMap<Uuid, Pending>,
    links: HashMap<Uuid, Link>,
    /// Accounts whose stream should run; a stream task ends itself once its account leaves.
    active: HashSet<Uuid>,
    streams: HashMap<Uuid, JoinHandle<()>>,
    /// Each stream's handle for cutting its back-off short ([`DeviceSession::reconnect_now`]).
    retries: HashMap<Uuid, RetryHandle>,
    /// Requests this device is deciding now, with the status the stream reported meanwhile (the
    /// service announces the decision on the stream before the decision call returns: that is
    /// this device's decision, not someone else's).
    deciding: HashMap<Uuid, Option<Option<RequestStatus>>>,
    logos: LogoCache,
    settings: Settings,
    alerts: AlertBudget,
    /// Accounts already told about (so each is said once until it changes): a refusal without
    /// proof of revocation, a backlog beyond what is shown.
    told_unproven: HashSet<Uuid>,
    told_backlog: HashSet<Uuid>,
    /// Each active account's log monitor task and what wakes it.
    monitors: HashMap<Uuid, MonitorTask>,
    /// Accounts whose failed log check was told (once, until a check succeeds).
    told_monitor: HashSet<Uuid>,
}

/// An account's log monitor task and what wakes it.
struct MonitorTask {
    task: JoinHandle<()>,
    /// Check now: a reconnect, the person's "check now".
    bell: Arc<Notify>,
    /// The service announced a log size other than the last one announced.
    grew: Arc<Notify>,
    /// The last log size the service announced on the current connection (`log` frames), 0
    /// before any. While it is not 0 the monitor checks when told and its timer is only the
    /// backstop; it is cleared on every (re)connect, so a service that stops announcing (an
    /// older instance) is polled again.
    told: Arc<AtomicU64>,
}

struct Inner {
    auth: Authenticator,
    data: DataDir,
    monitor: LogMonitor,
    config: SessionConfig,
    events: mpsc::UnboundedSender<SessionEvent>,
    state: Mutex<State>,
    /// Each account's service clock, as last measured (see [`crate::clock`]).
    clocks: ClockWatch,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        for (_, task) in state.streams.drain() {
            task.abort();
        }
        for (_, monitor) in state.monitors.drain() {
            monitor.task.abort();
        }
    }
}

/// A running device: streams, pending requests, links, logos and settings (see the module
/// docs). Cheap to clone; the streams stop when the last clone is dropped or on
/// [`DeviceSession::shutdown`].
#[derive(Clone)]
pub struct DeviceSession {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for DeviceSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSession")
            .field("data_dir", &self.inner.auth.data_dir())
            .finish_non_exhaustive()
    }
}

/// The session's events, in the order things happened.
///
/// The channel is unbounded on purpose: events are few (a handful per request and per
/// connection change), and a slow consumer must never hold up a stream's heartbeat deadline.
#[derive(Debug)]
pub struct SessionEvents {
    rx: mpsc::UnboundedReceiver<SessionEvent>,
}

impl SessionEvents {
    /// The next event; `None` once the session is gone.
    pub async fn next(&mut self) -> Option<SessionEvent> {
        self.rx.recv().await
    }
}

impl DeviceSession {
    /// A session over `auth`'s data directory and keychain. Reads the settings; when the settings
    /// file cannot be read, the defaults are used (the file is left as it is until a setting
    /// changes) and the first event is a `storage_error` notice. Starts nothing: call
    /// [`DeviceSession::start`] inside a Tokio runtime.
    ///
    /// # Errors
    /// [`Error::Storage`] when the data directory cannot be used.
    pub fn open(auth: Authenticator, config: SessionConfig) -> Result<(Self, SessionEvents)> {
        let data = DataDir::open(auth.data_dir())?;
        let (tx, rx) = mpsc::unbounded_channel();
        let settings = match data.settings() {
            Ok(settings) => settings.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %e, "settings unreadable; using the defaults");
                let _ = tx.send(SessionEvent::Notice {
                    code: e.kind(),
                    message: format!("{e}; the default settings are used until you change one"),
                });
                Settings::default()
            }
        };
        let state = State {
            requests: BTreeMap::new(),
            links: HashMap::new(),
            active: HashSet::new(),
            streams: HashMap::new(),
            retries: HashMap::new(),
            deciding: HashMap::new(),
            logos: LogoCache::new(config.logo_cache_capacity, config.logo_retry_after),
            settings,
            alerts: AlertBudget::new(config.alerts_per_minute),
            told_unproven: HashSet::new(),
            told_backlog: HashSet::new(),
            monitors: HashMap::new(),
            told_monitor: HashSet::new(),
        };
        let monitor = LogMonitor::open(auth.data_dir())?;
        let session = DeviceSession {
            inner: Arc::new(Inner {
                auth,
                data,
                monitor,
                config,
                events: tx,
                state: Mutex::new(state),
                clocks: ClockWatch::default(),
            }),
        };
        Ok((session, SessionEvents { rx }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across an await or a call that can panic mid-update.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, event: SessionEvent) {
        // Nobody listening is fine: a shell may drop its receiver when it quits.
        let _ = self.inner.events.send(event);
    }

    fn notice(&self, e: &Error) {
        self.emit(SessionEvent::Notice {
            code: e.kind(),
            message: e.to_string(),
        });
    }

    /// The device operations underneath (enrollment links, keys, history).
    pub fn authenticator(&self) -> &Authenticator {
        &self.inner.auth
    }

    /// Starts a stream for every active account. Accounts whose key cannot be loaded are shown
    /// offline, with a notice saying why.
    ///
    /// # Errors
    /// [`Error::Storage`] when the account file cannot be read.
    pub async fn start(&self) -> Result<()> {
        for account in self
            .inner
            .auth
            .accounts()?
            .into_iter()
            .filter(Account::is_active)
        {
            self.start_stream(&account).await;
        }
        Ok(())
    }

    async fn start_stream(&self, account: &Account) {
        let stream = match self.inner.auth.stream(account).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::error!(account = %account.id, error = %e, "cannot start the push stream");
                self.set_link(account.id, Link::offline());
                self.notice(&e);
                return;
            }
        };
        {
            let mut state = self.state();
            state.active.insert(account.id);
            state.links.insert(account.id, Link::new());
        }
        self.emit_link(account.id);
        self.state()
            .retries
            .insert(account.id, stream.retry_handle());
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let account_id = account.id;
        let task = tokio::spawn(async move {
            let mut stream = stream;
            while let Some(event) = stream.next().await {
                let Some(inner) = weak.upgrade() else { return };
                let session = DeviceSession { inner };
                if !session.state().active.contains(&account_id) {
                    return;
                }
                // A burst (a `pending` list of fifty) is handled as a few changes, not fifty:
                // the list is announced every few arrivals and when the burst is over.
                let mut changes = usize::from(session.on_push(event).await);
                while let Some(event) = stream.try_next() {
                    if !session.state().active.contains(&account_id) {
                        return;
                    }
                    changes += usize::from(session.on_push(event).await);
                    if changes >= PENDING_BATCH {
                        session.emit_pending();
                        changes = 0;
                    }
                }
                if changes > 0 {
                    session.emit_pending();
                }
            }
        });
        if let Some(old) = self.state().streams.insert(account.id, task) {
            old.abort();
        }
        self.start_monitor(account.id);
    }

    /// Starts checking `account_id`'s approval log: now, whenever its bell rings (a reconnect,
    /// "check now"), and then either every [`SessionConfig::log_poll_interval`] or, once the
    /// service announces its log's signed size on the stream, when that size differs from the
    /// checkpoint held (at most once per interval) and every
    /// [`SessionConfig::log_backstop_interval`]. A failed check is retried after the poll
    /// interval either way (the service will not announce the same size again). The task ends
    /// once the account is no longer active or the session is gone.
    fn start_monitor(&self, account_id: Uuid) {
        let bell = Arc::new(Notify::new());
        let grew = Arc::new(Notify::new());
        let told = Arc::new(AtomicU64::new(0));
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let config = self.inner.config;
        let task = tokio::spawn({
            let (bell, grew, told) = (bell.clone(), grew.clone(), told.clone());
            async move {
                let mut check = true;
                let mut checked_fine = true;
                let mut checked = tokio::time::Instant::now();
                loop {
                    if check {
                        let Some(inner) = weak.upgrade() else { return };
                        let session = DeviceSession { inner };
                        if !session.state().active.contains(&account_id) {
                            return;
                        }
                        checked_fine = session.check_log(account_id).await;
                        checked = tokio::time::Instant::now();
                    }
                    let backstop = config.log_backstop_interval.max(config.log_poll_interval);
                    let announced = || told.load(Ordering::Relaxed) != 0;
                    let timer = if checked_fine && announced() {
                        backstop
                    } else {
                        config.log_poll_interval
                    };
                    check = tokio::select! {
                        // The service may have started announcing while this waited (its first
                        // heartbeat comes after the check at start): then the backstop decides,
                        // and the next turn of the loop waits for it.
                        () = tokio::time::sleep_until(checked + timer) => {
                            timer == backstop || !checked_fine || !announced()
                        }
                        () = bell.notified() => true,
                        () = async {
                            grew.notified().await;
                            tokio::time::sleep_until(checked + config.log_poll_interval).await;
                        } => {
                            // The held checkpoint is read here, at most once per interval, not
                            // per frame: frames cost the service nothing to send.
                            let Some(inner) = weak.upgrade() else { return };
                            let held = DeviceSession { inner }.log_checkpoint_size(account_id);
                            held != Some(told.load(Ordering::Relaxed))
                        }
                    };
                }
            }
        });
        let monitor = MonitorTask {
            task,
            bell,
            grew,
            told,
        };
        if let Some(old) = self.state().monitors.insert(account_id, monitor) {
            old.task.abort();
        }
    }

    /// The size of the log checkpoint the monitor holds for an account, when it holds one.
    fn log_checkpoint_size(&self, account_id: Uuid) -> Option<u64> {
        let account = self.inner.auth.account(account_id).ok()?;
        self.inner.monitor.checkpoint_size(&account).ok().flatten()
    }

    /// The service announced its log's signed size: the monitor checks when it differs from the
    /// checkpoint it holds (larger: new entries; smaller: a log rolled back, which a check
    /// reports as a fork). The size is only a hint (an unsigned number on the stream): a service
    /// that lies in it delays a check until the backstop, and cannot make the monitor accept
    /// anything, since every check verifies what it fetches. Nothing is read here: a service
    /// flooding `log` frames costs the device a compare and at most one wake-up per poll
    /// interval.
    fn log_signed(&self, account_id: Uuid, size: u64) {
        let state = self.state();
        let Some(monitor) = state.monitors.get(&account_id) else {
            return;
        };
        if monitor.told.swap(size, Ordering::Relaxed) != size {
            monitor.grew.notify_one();
        }
    }

    /// One check of an account's approval log; a new finding announces the open list.
    /// False when the check failed.
    async fn check_log(&self, account_id: Uuid) -> bool {
        let Ok(account) = self.inner.auth.account(account_id) else {
            return false;
        };
        match self.inner.monitor.poll(&account, unix_ms() / 1000).await {
            Ok(report) => {
                self.state().told_monitor.remove(&account_id);
                if !report.new.is_empty() {
                    tracing::warn!(account = %account_id, found = report.new.len(), "the approval log shows something about this person");
                    self.emit_findings();
                }
                true
            }
            Err(e) => {
                tracing::warn!(account = %account_id, error = %e, "approval log check failed");
                if e.kind() != MonitorErrorKind::Network
                    && self.state().told_monitor.insert(account_id)
                {
                    self.emit(SessionEvent::Notice {
                        code: e.error_kind(),
                        message: format!(
                            "the approval log of {} could not be checked: {e}",
                            account.app.name
                        ),
                    });
                }
                false
            }
        }
    }

    /// Checks `account_id`'s approval log now (the desktop's and tests' "check now").
    pub fn check_log_now(&self, account_id: Uuid) {
        if let Some(monitor) = self.state().monitors.get(&account_id) {
            monitor.bell.notify_one();
        }
    }

    /// Every account's open approval-log findings, oldest first.
    ///
    /// # Errors
    /// [`Error::Storage`] when the account file or a monitor's state file cannot be read.
    pub fn log_findings(&self) -> Result<Vec<FindingView>> {
        let mut all = Vec::new();
        for account in self.inner.auth.accounts()? {
            all.extend(
                self.inner
                    .monitor
                    .findings(&account)
                    .map_err(MonitorError::into_error)?,
            );
        }
        all.sort_by_key(|f| f.found_at);
        Ok(all)
    }

    /// Dismisses a finding ("I know this device"): stored, so it is never shown again. Returns
    /// (and announces) the open findings.
    ///
    /// # Errors
    /// [`Error::UnknownAccount`]; [`Error::Storage`].
    pub fn dismiss_finding(&self, account_id: Uuid, id: &str) -> Result<Vec<FindingView>> {
        let account = self.inner.auth.account(account_id)?;
        self.inner
            .monitor
            .dismiss(&account, id)
            .map_err(MonitorError::into_error)?;
        let findings = self.log_findings()?;
        self.emit(SessionEvent::LogFindings {
            findings: findings.clone(),
        });
        Ok(findings)
    }

    fn emit_findings(&self) {
        match self.log_findings() {
            Ok(findings) => self.emit(SessionEvent::LogFindings { findings }),
            Err(e) => self.notice(&e),
        }
    }

    /// Stops an account's log monitor.
    fn stop_monitor(state: &mut State, account: Uuid) {
        if let Some(monitor) = state.monitors.remove(&account) {
            monitor.task.abort();
        }
    }

    fn set_link(&self, account: Uuid, link: Link) {
        self.state().links.insert(account, link);
        self.emit_link(account);
    }

    fn emit_link(&self, account: Uuid) {
        let view = self.state().links.get(&account).map(|l| l.view(account));
        if let Some(connection) = view {
            self.emit(SessionEvent::Connection { connection });
        }
    }

    /// Applies one stream event; true when the pending list changed (the caller announces it).
    async fn on_push(&self, event: PushEvent) -> bool {
        let now = unix_ms();
        match event {
            PushEvent::Connection { account, state } => {
                if state == ConnectionState::Connected {
                    let mut s = self.state();
                    s.told_unproven.remove(&account);
                    if let Some(monitor) = s.monitors.get(&account) {
                        // After each (re)connect, check the log too; whether this connection's
                        // service announces its log, its first heartbeat will tell.
                        monitor.told.store(0, Ordering::Relaxed);
                        monitor.bell.notify_one();
                    }
                }
                self.state()
                    .links
                    .entry(account)
                    .or_insert_with(Link::new)
                    .on_stream(&state, now);
                self.emit_link(account);
                false
            }
            PushEvent::Contact { account } => {
                self.state()
                    .links
                    .entry(account)
                    .or_insert_with(Link::new)
                    .on_contact(now);
                self.emit_link(account);
                false
            }
            PushEvent::LogSigned { account, size } => {
                self.log_signed(account, size);
                false
            }
            PushEvent::ServiceClock {
                account,
                offset_secs,
            } => {
                self.service_clock(account, offset_secs, now);
                false
            }
            PushEvent::RequestArrived { account, id } => self.arrived(account, id).await,
            PushEvent::RequestAnswered { account, id } => self.refresh(account, id).await,
            PushEvent::RequestResolved {
                account,
                id,
                status: None,
            } if self.answered_here(id) => {
                // Left the service's list because this person answered, maybe not because it
                // ended (the list holds only requests still waiting for them): ask.
                self.refresh(account, id).await
            }
            PushEvent::RequestResolved { id, status, .. } => {
                let removed = {
                    let mut state = self.state();
                    match state.deciding.get_mut(&id) {
                        Some(seen) => {
                            *seen = Some(status);
                            false
                        }
                        None => state.requests.remove(&id).is_some(),
                    }
                };
                if removed {
                    self.emit(SessionEvent::Resolved {
                        id,
                        status,
                        decided_here: false,
                    });
                }
                removed
            }
            PushEvent::Revoked { proof, .. } => {
                self.apply_revocation(&proof).await;
                false
            }
            PushEvent::RevocationUnproven { account } => {
                self.unproven_refusal(account).await;
                false
            }
            PushEvent::Backlog { account, waiting } => {
                let first = {
                    let mut state = self.state();
                    if waiting == 0 {
                        state.told_backlog.remove(&account);
                        false
                    } else {
                        state.told_backlog.insert(account)
                    }
                };
                if first {
                    self.emit(SessionEvent::Notice {
                        code: ErrorKind::TooManyRequests,
                        message: format!(
                            "more requests are waiting than this device shows at once ({} shown, {waiting} more); they appear as earlier ones are answered",
                            crate::MAX_PENDING_PER_ACCOUNT
                        ),
                    });
                }
                false
            }
        }
    }

    /// An account's service told its time: reported when it is news (see [`ClockWatch`]).
    fn service_clock(&self, account_id: Uuid, offset_secs: i64, now_ms: i64) {
        let Ok(account) = self.inner.auth.account(account_id) else {
            return;
        };
        let measured = ClockView::new(account_id, account.host(), offset_secs, now_ms);
        if let Some(clock) = self.inner.clocks.observe(measured) {
            // Logged when it is news, not at every retry while it lasts.
            if clock.skewed {
                tracing::warn!(account = %account_id, offset_secs, "this computer's clock is off from the service's; one-time codes will be refused");
            }
            self.emit(SessionEvent::Clock { clock });
        }
    }

    /// Each account's service clock as last measured, by account id: what a UI shows at start.
    pub fn clocks(&self) -> Vec<ClockView> {
        self.inner.clocks.all()
    }

    /// The stream was refused as revoked or unknown without proof: ask the service over a
    /// signed call (whose answer, unlike a WebSocket refusal, is read whole); apply a verified
    /// revocation, and otherwise say so once and keep the key.
    async fn unproven_refusal(&self, account_id: Uuid) {
        let Ok(account) = self.inner.auth.account(account_id) else {
            return;
        };
        match self.inner.auth.check_standing(&account).await {
            Err(e) if e.kind() == ErrorKind::Revoked => self.revoked(account_id).await,
            Ok(()) => {}
            Err(e) => {
                if self.state().told_unproven.insert(account_id) {
                    let e = if e.kind() == ErrorKind::RevocationUnproven {
                        e
                    } else {
                        Error::RevocationUnproven {
                            account: account.app.name.clone(),
                        }
                    };
                    self.notice(&e);
                }
            }
        }
    }

    /// Adds a newly announced request once it verified; true when it was added.
    async fn arrived(&self, account_id: Uuid, id: Uuid) -> bool {
        let account = match self.inner.auth.account(account_id) {
            Ok(account) => account,
            Err(e) => {
                tracing::error!(error = %e, "an event for an unknown account");
                return false;
            }
        };
        let shown = match self.inner.auth.request(&account, id).await {
            Ok(shown) if shown.status == RequestStatus::Pending => shown,
            Ok(_) => return false,
            Err(e) => {
                // A request that does not verify is dropped and reported, never shown.
                tracing::warn!(request = %id, error = %e, "request not shown");
                if e.kind() == ErrorKind::Revoked {
                    // The revocation verified (the authenticator applied it): clear up here
                    // (which tells the person).
                    self.revoked(account_id).await;
                } else {
                    self.notice(&e);
                }
                return false;
            }
        };
        let logo = self
            .logo(
                shown.details.app.best_logo().map(|l| l.url.as_str()),
                LogoScope::for_service(&account.server),
            )
            .await;
        let view = RequestView::new(&shown, logo);
        let alert = {
            let mut state = self.state();
            if state.requests.contains_key(&id) || !state.active.contains(&account_id) {
                return false;
            }
            state.requests.insert(
                id,
                Pending {
                    shown,
                    view: view.clone(),
                },
            );
            state.alerts.allow(Instant::now())
        };
        self.emit(SessionEvent::Arrived {
            request: Box::new(view),
            alert,
        });
        true
    }

    /// True when this person has answered pending request `id` (it waits on others).
    fn answered_here(&self, id: Uuid) -> bool {
        self.state()
            .requests
            .get(&id)
            .is_some_and(|p| p.shown.my_answer().is_some())
    }

    /// Fetches a shown request again (an approver answered it): updates its view while it still
    /// waits, removes it once it ended. True when the pending list changed.
    async fn refresh(&self, account_id: Uuid, id: Uuid) -> bool {
        let Some(logo) = self
            .state()
            .requests
            .get(&id)
            .map(|p| p.view.app.logo.clone())
        else {
            return false;
        };
        let Ok(account) = self.inner.auth.account(account_id) else {
            return false;
        };
        let (status, fetched) = match self.inner.auth.request(&account, id).await {
            Ok(shown) => (Some(shown.status), Some(shown)),
            Err(e) if e.kind().ends_the_request() => (None, None),
            Err(e) => {
                tracing::warn!(request = %id, error = %e, "could not fetch an answered request again; keeping what is shown");
                return false;
            }
        };
        let ended = {
            let mut state = self.state();
            if state.deciding.contains_key(&id) {
                // Being decided here: the decision's answer updates it.
                return false;
            }
            match fetched {
                Some(shown) if shown.status == RequestStatus::Pending => {
                    let Some(pending) = state.requests.get_mut(&id) else {
                        return false;
                    };
                    let view = RequestView::new(&shown, logo);
                    if pending.view == view {
                        return false;
                    }
                    *pending = Pending { shown, view };
                    false
                }
                _ => state.requests.remove(&id).is_some(),
            }
        };
        if ended {
            self.emit(SessionEvent::Resolved {
                id,
                status: status.filter(|s| s.is_final()),
                decided_here: false,
            });
        }
        true
    }

    /// Applies a verified revocation notice.
    async fn apply_revocation(&self, proof: &RevocationProof) {
        if let Err(e) = self.inner.auth.mark_revoked(proof).await {
            tracing::error!(error = %e, "recording a revocation failed");
        }
        self.revoked(proof.account_id()).await;
    }

    /// After a verified revocation was applied (key deleted, account marked): its requests leave
    /// the pending set, its stream stops and its link goes offline.
    async fn revoked(&self, account: Uuid) {
        let gone: Vec<Uuid> = {
            let mut state = self.state();
            let gone: Vec<Uuid> = state
                .requests
                .iter()
                .filter(|(_, p)| p.shown.account_id == account)
                .map(|(id, _)| *id)
                .collect();
            for id in &gone {
                state.requests.remove(id);
            }
            // The stream task may be the caller: it ends itself once its account is inactive.
            state.active.remove(&account);
            state.streams.remove(&account);
            state.retries.remove(&account);
            Self::stop_monitor(&mut state, account);
            gone
        };
        self.inner.clocks.forget(account);
        self.set_link(account, Link::offline());
        for id in gone {
            self.emit(SessionEvent::Resolved {
                id,
                status: None,
                decided_here: false,
            });
        }
        self.notice(&Error::Revoked {
            account: self
                .inner
                .auth
                .account(account)
                .map(|a| a.app.name)
                .unwrap_or_else(|_| account.to_string()),
        });
        self.emit_accounts().await;
        self.emit_pending();
    }

    async fn logo(&self, url: Option<&str>, scope: LogoScope) -> Option<String> {
        let url = url?;
        match self.state().logos.lookup(url, Instant::now()) {
            LogoLookup::Ready(data) => return Some(data),
            LogoLookup::Placeholder => return None,
            LogoLookup::Fetch => {}
        }
        let fetched = fetch_logo(url, self.inner.config.logo_limits, scope).await;
        if let Err(e) = &fetched {
            tracing::info!(%url, error = %e, "logo refused; showing the placeholder for now");
        }
        self.state().logos.store(url, fetched, Instant::now())
    }

    /// The pending requests, oldest first.
    pub fn pending(&self) -> Vec<RequestView> {
        let state = self.state();
        let mut views: Vec<RequestView> = state.requests.values().map(|p| p.view.clone()).collect();
        views.sort_by_key(|v| (v.created_at, v.id));
        views
    }

    /// A pending request as verified (for shells that print more than the view).
    pub fn pending_request(&self, id: Uuid) -> Option<ShownRequest> {
        self.state().requests.get(&id).map(|p| p.shown.clone())
    }

    /// Announces the whole pending list (after a change, or a burst of them).
    fn emit_pending(&self) {
        self.emit(SessionEvent::Pending {
            requests: self.pending(),
        });
    }

    /// Every account (active and revoked) with its logo.
    ///
    /// # Errors
    /// [`Error::Storage`] when the account file cannot be read.
    pub async fn accounts(&self) -> Result<Vec<AccountView>> {
        let mut views = Vec::new();
        for account in self.inner.auth.accounts()? {
            let logo = self
                .logo(
                    account.app.best_logo().map(|l| l.url.as_str()),
                    LogoScope::for_service(&account.server),
                )
                .await;
            views.push(AccountView::new(&account, logo));
        }
        Ok(views)
    }

    async fn emit_accounts(&self) {
        match self.accounts().await {
            Ok(accounts) => self.emit(SessionEvent::Accounts { accounts }),
            Err(e) => {
                tracing::error!(error = %e, "cannot read accounts");
                self.notice(&e);
            }
        }
    }

    /// Each account's link, by account.
    pub fn connections(&self) -> Vec<ConnectionView> {
        let state = self.state();
        let mut views: Vec<ConnectionView> = state
            .links
            .iter()
            .map(|(id, link)| link.view(*id))
            .collect();
        views.sort_by_key(|v| v.account_id);
        views
    }

    /// Everything the session holds now.
    ///
    /// # Errors
    /// [`Error::Storage`] when the account file cannot be read.
    pub async fn snapshot(&self) -> Result<SessionSnapshot> {
        Ok(SessionSnapshot {
            accounts: self.accounts().await?,
            pending: self.pending(),
            connections: self.connections(),
            settings: self.settings(),
        })
    }

    /// Reads an `assent://enroll` link that arrived from outside (a deep link, another launch)
    /// into what a person must see before confirming it: the host as parsed here, whole, and
    /// whether the connection would be insecure. Nothing is contacted or written.
    ///
    /// # Errors
    /// [`Error::InvalidLink`] for anything but a well-formed enrollment link (a repeated or
    /// unknown parameter, a user part in the server address, ...).
    pub fn offer(&self, link: &str) -> Result<EnrollOffer> {
        let parsed = EnrollLink::parse(link).map_err(|e| Error::InvalidLink(e.to_string()))?;
        Ok(EnrollOffer::new(link.trim(), &parsed))
    }

    /// What a pasted link (or a token with `server`) would enroll into, asked of its service
    /// without redeeming the token: the app (name cleaned, logo fetched and checked like any
    /// logo), the account, the host as parsed here, the warnings, and the phrase computed here
    /// from the link. Nothing is written.
    ///
    /// A plain-`http` service off this machine needs `insecure` to be [`InsecureServer::Accept`]
    /// (the preview call carries the token, as enrolling does).
    ///
    /// # Errors
    /// [`Error::InvalidLink`] (nothing contacted), then as [`preview_enrollment`].
    pub async fn preview_enrollment(
        &self,
        input: &str,
        server: Option<&str>,
        insecure: InsecureServer,
    ) -> Result<EnrollPreview> {
        let link = parse_enrollment(input, server)?;
        let answer = preview_enrollment(&link, insecure).await?;
        let logo = self
            .logo(
                answer.app.best_logo().map(|l| l.url.as_str()),
                LogoScope::for_service(&link.server),
            )
            .await;
        let given = input.trim();
        Ok(EnrollPreview {
            link: if given.starts_with("assent:") {
                given.to_owned()
            } else {
                link.render()
            },
            host: link.host(),
            server: link.server.to_string(),
            insecure: link.is_insecure(),
            bare_ip: link.is_bare_ip(),
            app: BrandingView {
                name: answer.app.name,
                accent_color: accent_color(answer.app.accent_color.as_deref()),
                logo,
            },
            account_name: answer.account_name,
            phrase: link.phrase(),
        })
    }

    /// Enrolls this device from a pasted link (or a token with `server`) and starts its stream.
    /// A plain-`http` service off this machine needs `insecure` to be
    /// [`InsecureServer::Accept`] (a person answered a clear warning).
    ///
    /// # Errors
    /// [`Error::InvalidLink`] (nothing contacted or written), then as
    /// [`Authenticator::enroll`].
    pub async fn enroll(
        &self,
        input: &str,
        server: Option<&str>,
        insecure: InsecureServer,
        device_name: &str,
        platform: &str,
    ) -> Result<AccountView> {
        let link = parse_enrollment(input, server)?;
        let account = self
            .inner
            .auth
            .enroll(&link, device_name, platform, insecure)
            .await?;
        self.start_stream(&account).await;
        self.emit_accounts().await;
        let logo = self
            .logo(
                account.app.best_logo().map(|l| l.url.as_str()),
                LogoScope::for_service(&account.server),
            )
            .await;
        Ok(AccountView::new(&account, logo))
    }

    /// Removes an account: revokes this device at its service, deletes its key, stops its
    /// stream and drops its requests.
    ///
    /// # Errors
    /// As [`Authenticator::remove`]; on error nothing changes here.
    pub async fn remove_account(&self, id: Uuid) -> Result<()> {
        self.inner.auth.remove(id).await?;
        {
            let mut state = self.state();
            state.active.remove(&id);
            if let Some(task) = state.streams.remove(&id) {
                task.abort();
            }
            state.retries.remove(&id);
            state.links.remove(&id);
            Self::stop_monitor(&mut state, id);
            state.requests.retain(|_, p| p.shown.account_id != id);
        }
        self.inner.clocks.forget(id);
        self.emit_accounts().await;
        self.emit_pending();
        Ok(())
    }

    /// The request to decide, marked as being decided here.
    fn start_deciding(&self, id: Uuid) -> Result<ShownRequest> {
        let mut state = self.state();
        let shown = state
            .requests
            .get(&id)
            .map(|p| p.shown.clone())
            .ok_or(Error::UnknownRequest(id))?;
        state.deciding.insert(id, None);
        Ok(shown)
    }

    /// Approves a pending request, signing exactly what was verified and shown, with the number
    /// picked or the code typed when this person must give one.
    ///
    /// # Errors
    /// [`Error::UnknownRequest`] when it is not pending here; [`Error::InvalidNumber`] for an
    /// answer that cannot be right (nothing sent, the request stays); then as
    /// [`Authenticator::approve`]: a wrong code with tries left (`wrong_code`) leaves the request
    /// pending here, the last one (`wrong_number`) ends it.
    pub async fn approve(&self, id: Uuid, answer: Option<Answer>) -> Result<DecisionView> {
        let shown = self.start_deciding(id)?;
        if let Err(e) = shown.check_answer(answer.as_ref()) {
            // Nothing was sent: the request stays as it was.
            self.state().deciding.remove(&id);
            return Err(e);
        }
        let result = self
            .inner
            .auth
            .approve(&shown, answer.as_ref(), unix_ms() / 1000)
            .await;
        self.after_decision(&shown, Outcome::Approve, result).await
    }

    /// Denies a pending request with a reason. After [`DenyReason::NotMe`] the view carries
    /// `frozen_until` when the service froze new requests from that app to this person.
    ///
    /// # Errors
    /// As [`DeviceSession::approve`].
    pub async fn deny(&self, id: Uuid, reason: DenyReason) -> Result<DecisionView> {
        let shown = self.start_deciding(id)?;
        let result = self.inner.auth.deny(&shown, reason, unix_ms() / 1000).await;
        self.after_decision(&shown, Outcome::Deny, result).await
    }

    async fn after_decision(
        &self,
        shown: &ShownRequest,
        outcome: Outcome,
        result: Result<Decided>,
    ) -> Result<DecisionView> {
        let id = shown.details.id;
        let kind = result.as_ref().err().map(Error::kind);
        let seen_on_stream = self.state().deciding.remove(&id).flatten();
        if kind == Some(ErrorKind::Revoked) {
            // Verified and applied by the authenticator; clear up here.
            self.revoked(shown.account_id).await;
        } else {
            // Decided here, or ended (decided elsewhere, expired, wrong number), or reported
            // resolved by the stream while the call failed: it leaves the list either way.
            let (leaves, status) = match &result {
                Ok(decided) => (true, Some(decided.receipt.status)),
                Err(_) if kind.is_some_and(ErrorKind::ends_the_request) => {
                    (true, seen_on_stream.flatten())
                }
                Err(_) => (seen_on_stream.is_some(), seen_on_stream.flatten()),
            };
            // A receipt still `pending` (more approvers needed) keeps the request here, with this
            // person's answer, under "waiting on others" until it resolves.
            let waits_on_others = matches!(&result, Ok(d) if d.receipt.status == RequestStatus::Pending)
                && seen_on_stream.is_none();
            if waits_on_others {
                let updated = {
                    let mut state = self.state();
                    match state.requests.get_mut(&id) {
                        Some(pending) => {
                            pending.shown.record_my_answer(outcome);
                            pending.view =
                                RequestView::new(&pending.shown, pending.view.app.logo.clone());
                            true
                        }
                        None => false,
                    }
                };
                if updated {
                    self.emit_pending();
                }
            } else if leaves && self.state().requests.remove(&id).is_some() {
                self.emit(SessionEvent::Resolved {
                    id,
                    status,
                    decided_here: result.is_ok(),
                });
                self.emit_pending();
            }
        }
        let decided = result?;
        if let Some(e) = &decided.history_error {
            self.emit(SessionEvent::Notice {
                code: e.kind(),
                message: format!(
                    "your answer was accepted by the service, but it could not be added to this computer's history: {e}"
                ),
            });
        }
        Ok(DecisionView {
            id,
            status: decided.receipt.status,
            frozen_until: decided.receipt.frozen_until,
        })
    }

    /// Past decisions, newest first.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub fn history(&self) -> Result<Vec<HistoryView>> {
        Ok(self
            .inner
            .auth
            .history()?
            .iter()
            .rev()
            .map(HistoryView::from)
            .collect())
    }

    /// The settings in effect.
    pub fn settings(&self) -> Settings {
        self.state().settings
    }

    /// Changes the settings: written to disk first (atomically), then applied and announced.
    ///
    /// # Errors
    /// [`Error::Storage`]; the settings in effect are then unchanged.
    pub fn set_settings(&self, settings: Settings) -> Result<Settings> {
        self.inner.data.save_settings(settings)?;
        self.state().settings = settings;
        self.emit(SessionEvent::Settings { settings });
        Ok(settings)
    }

    /// Makes every account's stream (or `account`'s alone) that is waiting to reconnect try again
    /// at once instead of waiting out its back-off: the person pressed "Retry now". Streams that
    /// are connected or connecting are left alone; an unknown or inactive account is ignored.
    pub fn reconnect_now(&self, account: Option<Uuid>) {
        let state = self.state();
        for (id, retry) in &state.retries {
            if state.active.contains(id) && account.is_none_or(|wanted| wanted == *id) {
                retry.retry_now();
            }
        }
    }

    /// Stops every stream. The session still answers queries; nothing reconnects.
    pub fn shutdown(&self) {
        let mut state = self.state();
        state.active.clear();
        for (_, task) in state.streams.drain() {
            task.abort();
        }
        for (_, monitor) in state.monitors.drain() {
            monitor.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_are_limited_per_minute_and_come_back() {
        let start = Instant::now();
        let mut budget = AlertBudget::new(3);
        let given: Vec<bool> = (0..5)
            .map(|i| budget.allow(start + Duration::from_millis(i)))
            .collect();
        assert_eq!(
            given,
            [true, true, true, false, false],
            "three alerts a minute, the rest only listed"
        );
        assert!(
            !budget.allow(start + Duration::from_secs(59)),
            "still within the minute"
        );
        assert!(
            budget.allow(start + Duration::from_secs(60)),
            "a minute after the first, one more may alert"
        );
    }

    #[test]
    fn a_link_is_connected_only_once_synced_and_reconnecting_after_a_loss() {
        let mut link = Link::new();
        assert_eq!(link.state, LinkState::Connecting);
        link.on_stream(&ConnectionState::Connecting, 1_000);
        assert_eq!(
            link.state,
            LinkState::Connecting,
            "the first attempt is connecting"
        );
        link.on_stream(&ConnectionState::Connected, 2_000);
        assert_eq!(link.state, LinkState::Connected);
        assert_eq!(link.last_contact_at_ms, Some(2_000));
        link.on_contact(9_000);
        assert_eq!(link.last_contact_at_ms, Some(9_000));
        link.on_stream(
            &ConnectionState::Reconnecting {
                attempt: 1,
                retry_in_ms: 500,
            },
            70_000,
        );
        assert_eq!(
            link.state,
            LinkState::Reconnecting {
                attempt: 1,
                next_try_at_ms: Some(70_500)
            },
            "the next try is an absolute time"
        );
        assert_eq!(
            link.last_contact_at_ms,
            Some(9_000),
            "the last contact is kept"
        );
        link.on_stream(&ConnectionState::Connecting, 70_500);
        assert_eq!(
            link.state,
            LinkState::Reconnecting {
                attempt: 1,
                next_try_at_ms: None
            },
            "an attempt after a loss is still reconnecting, never connected or connecting"
        );
        link.on_stream(&ConnectionState::Offline, 80_000);
        assert_eq!(link.state, LinkState::Offline);
    }
}
