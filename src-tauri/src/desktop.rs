//! The desktop's live state: one push stream per account, the verified pending requests with
//! their logos, connection states and settings. Everything device-side is done by
//! `assent_device`; this module only keeps the UI, tray and notifications in step with it.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use assent_device::{
    Account, Authenticator, ConnectionState, Error, LogoLimits, PushEvent, SecretStore,
    ShownRequest, fetch_logo,
};
use assent_protocol::decision::DenyReason;
use assent_protocol::enroll::{EnrollLink, check_token_shape, parse_server_url};
use assent_protocol::request::RequestStatus;
use assent_protocol::secret::SecretString;
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter as _, Manager as _, Runtime};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::view::{
    AccountView, ConnectionView, DecisionView, HistoryView, NoticeView, RequestView, ResolvedView,
    SettingsView, StateView, events,
};

/// Settings kept in the data directory (no secrets).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
struct StoredSettings {
    notifications_paused: bool,
}

struct Entry {
    shown: ShownRequest,
    view: RequestView,
}

#[derive(Default)]
struct State {
    requests: BTreeMap<Uuid, Entry>,
    connections: HashMap<Uuid, ConnectionState>,
    streams: HashMap<Uuid, tauri::async_runtime::JoinHandle<()>>,
    logos: HashMap<String, Option<String>>,
    settings: StoredSettings,
    enroll_link: Option<String>,
}

/// The desktop's state, managed by Tauri.
pub struct Desktop {
    auth: Authenticator,
    settings_path: PathBuf,
    state: Mutex<State>,
    logo_limits: LogoLimits,
}

impl std::fmt::Debug for Desktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desktop")
            .field("data_dir", &self.auth.data_dir())
            .finish_non_exhaustive()
    }
}

/// The device name this desktop enrolls under.
fn device_name() -> String {
    format!("{} (desktop)", assent_device::host_name())
}

/// Reads what a person pasted: an `assent://enroll` link, or a bare token with a server URL.
///
/// # Errors
/// [`Error::InvalidLink`] explaining what is wrong.
pub fn parse_enrollment(input: &str, server: Option<&str>) -> Result<EnrollLink, Error> {
    let input = input.trim();
    if input.starts_with("assent:") {
        return EnrollLink::parse(input).map_err(|e| Error::InvalidLink(e.to_string()));
    }
    let Some(server) = server.map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(Error::InvalidLink(
            "paste the whole assent://enroll link, or give the service URL with the token".into(),
        ));
    };
    check_token_shape(input).map_err(|e| Error::InvalidLink(e.to_string()))?;
    let server = parse_server_url(server).map_err(|e| Error::InvalidLink(e.to_string()))?;
    Ok(EnrollLink {
        server,
        token: SecretString::new(input),
    })
}

impl Desktop {
    /// Opens the data directory with `secrets` holding the keys.
    ///
    /// # Errors
    /// The data directory cannot be used.
    pub fn open(data_dir: PathBuf, secrets: Arc<dyn SecretStore>) -> Result<Self, Error> {
        let settings_path = data_dir.join("desktop-settings.json");
        let settings = std::fs::read(&settings_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Desktop {
            auth: Authenticator::open(data_dir, secrets)?,
            settings_path,
            state: Mutex::new(State {
                settings,
                ..State::default()
            }),
            logo_limits: LogoLimits::default(),
        })
    }

    /// The device SDK.
    pub fn auth(&self) -> &Authenticator {
        &self.auth
    }

    /// Starts a stream for every active account.
    pub async fn start<R: Runtime>(&self, app: &AppHandle<R>) {
        match self.auth.accounts() {
            Ok(accounts) => {
                for account in accounts.iter().filter(|a| a.is_active()) {
                    self.start_stream(app, account).await;
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read accounts"),
        }
        self.refresh_tray(app).await;
    }

    async fn start_stream<R: Runtime>(&self, app: &AppHandle<R>, account: &Account) {
        let mut stream = match self.auth.stream(account).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::error!(account = %account.id, error = %e, "cannot start the push stream");
                self.notice(app, e.code(), &e.to_string());
                return;
            }
        };
        let handle = app.clone();
        let task = tauri::async_runtime::spawn(async move {
            while let Some(event) = stream.next().await {
                let desktop = handle.state::<Desktop>();
                desktop.on_event(&handle, event).await;
            }
        });
        if let Some(old) = self.state.lock().await.streams.insert(account.id, task) {
            old.abort();
        }
    }

    fn notice<R: Runtime>(&self, app: &AppHandle<R>, code: &str, message: &str) {
        let _ = app.emit(
            events::NOTICE,
            NoticeView {
                code: code.into(),
                message: message.into(),
            },
        );
    }

    async fn logo(&self, url: Option<&str>) -> Option<String> {
        let url = url?;
        if let Some(cached) = self.state.lock().await.logos.get(url) {
            return cached.clone();
        }
        let fetched = match fetch_logo(url, self.logo_limits).await {
            Ok(image) => Some(image.data_url()),
            Err(e) => {
                tracing::info!(%url, error = %e, "logo refused; showing the placeholder");
                None
            }
        };
        self.state
            .lock()
            .await
            .logos
            .insert(url.to_owned(), fetched.clone());
        fetched
    }

    /// Handles one stream event.
    pub async fn on_event<R: Runtime>(&self, app: &AppHandle<R>, event: PushEvent) {
        match event {
            PushEvent::Connection { account, state } => {
                self.state
                    .lock()
                    .await
                    .connections
                    .insert(account, state.clone());
                let _ = app.emit(
                    events::CONNECTION,
                    ConnectionView {
                        account_id: account,
                        state,
                    },
                );
            }
            PushEvent::RequestArrived { account, id } => self.arrived(app, account, id).await,
            PushEvent::RequestResolved { id, status, .. } => {
                if self.state.lock().await.requests.remove(&id).is_some() {
                    let _ = app.emit(
                        events::RESOLVED,
                        ResolvedView {
                            id,
                            status,
                            decided_here: false,
                        },
                    );
                    self.pending_changed(app).await;
                }
            }
            PushEvent::Revoked { account } => {
                if let Err(e) = self.auth.mark_revoked(account, crate::unix_now()).await {
                    tracing::error!(error = %e, "recording a revocation failed");
                }
                let mut state = self.state.lock().await;
                let gone: Vec<Uuid> = state
                    .requests
                    .values()
                    .filter(|e| e.shown.account_id == account)
                    .map(|e| e.view.id)
                    .collect();
                for id in &gone {
                    state.requests.remove(id);
                }
                state.streams.remove(&account);
                state.connections.insert(account, ConnectionState::Offline);
                drop(state);
                for id in gone {
                    let _ = app.emit(
                        events::RESOLVED,
                        ResolvedView {
                            id,
                            status: None,
                            decided_here: false,
                        },
                    );
                }
                self.notice(
                    app,
                    "revoked",
                    "An account was revoked by its service; its key was deleted.",
                );
                self.accounts_changed(app).await;
                self.pending_changed(app).await;
            }
        }
    }

    async fn arrived<R: Runtime>(&self, app: &AppHandle<R>, account_id: Uuid, id: Uuid) {
        let account = match self.auth.account(account_id) {
            Ok(account) => account,
            Err(e) => return tracing::error!(error = %e, "event for an unknown account"),
        };
        let shown = match self.auth.request(&account, id).await {
            Ok(shown) if shown.status == RequestStatus::Pending => shown,
            Ok(_) => return,
            Err(e) => {
                // A request that does not verify is dropped and reported, never displayed.
                tracing::warn!(request = %id, error = %e, "request not shown");
                self.notice(app, e.code(), &e.to_string());
                if e.code() == "revoked" {
                    self.accounts_changed(app).await;
                }
                return;
            }
        };
        let logo = self
            .logo(shown.details.app.best_logo().map(|l| l.url.as_str()))
            .await;
        let view = RequestView::new(&shown, logo);
        let paused = {
            let mut state = self.state.lock().await;
            if state.requests.contains_key(&id) {
                return;
            }
            state.requests.insert(
                id,
                Entry {
                    shown,
                    view: view.clone(),
                },
            );
            state.settings.notifications_paused
        };
        self.pending_changed(app).await;
        crate::window::show_main(app);
        if !paused {
            crate::notify::request_arrived(app, &view);
        }
    }

    /// The pending requests, oldest first.
    pub async fn pending(&self) -> Vec<RequestView> {
        let state = self.state.lock().await;
        let mut views: Vec<RequestView> = state.requests.values().map(|e| e.view.clone()).collect();
        views.sort_by_key(|v| (v.created_at, v.id));
        views
    }

    async fn pending_changed<R: Runtime>(&self, app: &AppHandle<R>) {
        let _ = app.emit(events::PENDING, self.pending().await);
        self.refresh_tray(app).await;
    }

    async fn refresh_tray<R: Runtime>(&self, app: &AppHandle<R>) {
        let count = self.state.lock().await.requests.len();
        crate::tray::set_pending(app, count);
    }

    /// Accounts with their logos.
    ///
    /// # Errors
    /// The account file cannot be read.
    pub async fn accounts(&self) -> Result<Vec<AccountView>, Error> {
        let mut views = Vec::new();
        for account in self.auth.accounts()? {
            let logo = self
                .logo(account.app.best_logo().map(|l| l.url.as_str()))
                .await;
            views.push(AccountView::new(&account, logo));
        }
        Ok(views)
    }

    async fn accounts_changed<R: Runtime>(&self, app: &AppHandle<R>) {
        match self.accounts().await {
            Ok(accounts) => {
                let _ = app.emit(events::ACCOUNTS, accounts);
            }
            Err(e) => tracing::error!(error = %e, "cannot read accounts"),
        }
    }

    /// Everything the UI needs at start. A deep link waiting for confirmation is handed over once.
    ///
    /// # Errors
    /// The account file cannot be read.
    pub async fn snapshot<R: Runtime>(&self, app: &AppHandle<R>) -> Result<StateView, Error> {
        let accounts = self.accounts().await?;
        let pending = self.pending().await;
        let mut state = self.state.lock().await;
        let connections = state
            .connections
            .iter()
            .map(|(a, s)| ConnectionView {
                account_id: *a,
                state: s.clone(),
            })
            .collect();
        Ok(StateView {
            accounts,
            pending,
            connections,
            settings: SettingsView {
                autostart: crate::autostart_enabled(app),
                notifications_paused: state.settings.notifications_paused,
            },
            enroll_link: state.enroll_link.take(),
        })
    }

    /// Remembers a deep link and tells the UI.
    pub async fn offer_enroll_link<R: Runtime>(&self, app: &AppHandle<R>, link: String) {
        self.state.lock().await.enroll_link = Some(link.clone());
        crate::window::show_main(app);
        let _ = app.emit(events::ENROLL_LINK, link);
    }

    /// Enrolls this desktop and starts its stream.
    ///
    /// # Errors
    /// As [`Authenticator::enroll`], or [`Error::InvalidLink`].
    pub async fn enroll<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        input: &str,
        server: Option<&str>,
    ) -> Result<AccountView, Error> {
        let link = parse_enrollment(input, server)?;
        let account = self
            .auth
            .enroll(&link, &device_name(), std::env::consts::OS)
            .await?;
        self.state.lock().await.enroll_link = None;
        self.start_stream(app, &account).await;
        self.accounts_changed(app).await;
        let logo = self
            .logo(account.app.best_logo().map(|l| l.url.as_str()))
            .await;
        Ok(AccountView::new(&account, logo))
    }

    /// Removes an account (revokes the device at the service, deletes its key).
    ///
    /// # Errors
    /// As [`Authenticator::remove`].
    pub async fn remove_account<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        id: Uuid,
    ) -> Result<(), Error> {
        self.auth.remove(id).await?;
        let mut state = self.state.lock().await;
        if let Some(task) = state.streams.remove(&id) {
            task.abort();
        }
        state.connections.remove(&id);
        state.requests.retain(|_, e| e.shown.account_id != id);
        drop(state);
        self.accounts_changed(app).await;
        self.pending_changed(app).await;
        Ok(())
    }

    async fn shown(&self, id: Uuid) -> Result<ShownRequest, Error> {
        self.state
            .lock()
            .await
            .requests
            .get(&id)
            .map(|e| e.shown.clone())
            .ok_or(Error::UnknownRequest(id))
    }

    /// Approves a shown request (signing exactly what was verified and shown).
    ///
    /// # Errors
    /// As [`Authenticator::approve`]; [`Error::UnknownRequest`] when it is not pending here.
    pub async fn approve<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        id: Uuid,
        number: Option<u32>,
    ) -> Result<DecisionView, Error> {
        let shown = self.shown(id).await?;
        let result = self.auth.approve(&shown, number, crate::unix_now()).await;
        self.after_decision(app, id, result).await
    }

    /// Denies a shown request.
    ///
    /// # Errors
    /// As [`Authenticator::deny`].
    pub async fn deny<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        id: Uuid,
        reason: DenyReason,
    ) -> Result<DecisionView, Error> {
        let shown = self.shown(id).await?;
        let result = self.auth.deny(&shown, reason, crate::unix_now()).await;
        self.after_decision(app, id, result).await
    }

    async fn after_decision<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        id: Uuid,
        result: Result<assent_protocol::decision::DecisionReceipt, Error>,
    ) -> Result<DecisionView, Error> {
        let (remove, status) = match &result {
            Ok(receipt) => (true, Some(receipt.status)),
            Err(e)
                if matches!(
                    e.code(),
                    "not_pending" | "request_not_found" | "wrong_number" | "revoked"
                ) =>
            {
                (true, None)
            }
            Err(_) => (false, None),
        };
        if remove && self.state.lock().await.requests.remove(&id).is_some() {
            let _ = app.emit(
                events::RESOLVED,
                ResolvedView {
                    id,
                    status,
                    decided_here: result.is_ok(),
                },
            );
            self.pending_changed(app).await;
        }
        result.map(|receipt| DecisionView {
            id,
            status: receipt.status,
        })
    }

    /// Past decisions, newest first.
    ///
    /// # Errors
    /// The history file cannot be read.
    pub fn history(&self) -> Result<Vec<HistoryView>, Error> {
        Ok(self
            .auth
            .history()?
            .iter()
            .rev()
            .map(HistoryView::from)
            .collect())
    }

    /// Pauses or resumes notifications (persisted).
    pub async fn set_notifications_paused<R: Runtime>(&self, app: &AppHandle<R>, paused: bool) {
        let mut state = self.state.lock().await;
        state.settings.notifications_paused = paused;
        if let Ok(bytes) = serde_json::to_vec(&state.settings) {
            if let Some(dir) = self.settings_path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::write(&self.settings_path, bytes) {
                tracing::warn!(error = %e, "could not save settings");
            }
        }
        drop(state);
        crate::tray::set_paused(app, paused);
    }

    /// Whether notifications are paused.
    pub async fn notifications_paused(&self) -> bool {
        self.state.lock().await.settings.notifications_paused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_input_is_a_link_or_a_token_with_a_server() {
        let link = parse_enrollment(
            " assent://enroll?server=http%3A%2F%2Fh%3A1&token=abcdefghijklmnopqrstuvwxyz ",
            None,
        )
        .unwrap();
        assert_eq!(link.server.as_str(), "http://h:1/");
        let token = parse_enrollment(
            "abcdefghijklmnopqrstuvwxyz",
            Some("https://auth.example.com"),
        )
        .unwrap();
        assert_eq!(token.token.expose(), "abcdefghijklmnopqrstuvwxyz");
        for (input, server) in [
            ("abcdefghijklmnopqrstuvwxyz", None),
            ("short", Some("https://a.b")),
            ("abcdefghijklmnopqrstuvwxyz", Some("ftp://x")),
        ] {
            assert_eq!(
                parse_enrollment(input, server).unwrap_err().code(),
                "invalid_link",
                "{input} {server:?}"
            );
        }
    }
}
