//! Signed updates of the app itself, through `tauri-plugin-updater`.
//!
//! The update server offers a manifest (version, notes, and per platform a download URL and a
//! minisign signature; see docs/releasing.md). The app looks at start and once a day when the
//! `check_for_updates` setting is on, and on the person's "Check now". A newer version is shown
//! in the window and the tray; it is downloaded, verified and installed only when the person
//! clicks, and never while a request is waiting for them: the install is refused before the
//! download and again, after it, if a request arrived meanwhile.
//!
//! Invariants: nothing is written in place of the app unless the downloaded bytes verify
//! against the public key built into the app (the plugin's `install` verifies again); a refused
//! or failed update leaves the running version and its file as they were, and says why with a
//! stable code (`update_signature_invalid`, `update_unavailable`, `update_not_now`,
//! `update_install_failed`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assent_device::ErrorKind;
use assent_device::view::{ErrorView, UpdateState, UpdateView, events};
use tauri::{AppHandle, Emitter as _, Manager as _, Runtime};
use tauri_plugin_updater::UpdaterExt as _;

use crate::desktop::Desktop;

/// How often an automatic check is due.
pub const CHECK_EVERY_SECS: i64 = 24 * 60 * 60;
/// How often the app wakes to see whether a check is due. Wall-clock time is compared, so a
/// computer that slept through the day checks within this long of waking.
const WAKE_EVERY: Duration = Duration::from_secs(15 * 60);

/// What the app knows about updates, and the update found by the last check.
#[derive(Default)]
pub struct Updates {
    view: Mutex<Known>,
    found: Mutex<Option<tauri_plugin_updater::Update>>,
    /// The updater plugin is registered (not on the mock runtime of the command tests).
    plugin: AtomicBool,
}

/// [`UpdateView`] without the running version (which the app's package info gives).
#[derive(Debug, Clone)]
struct Known {
    state: UpdateState,
    last_checked_at: Option<i64>,
    error: Option<ErrorView>,
}

impl Default for Known {
    fn default() -> Self {
        Known {
            state: UpdateState::Idle,
            last_checked_at: None,
            error: None,
        }
    }
}

impl std::fmt::Debug for Updates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Updates")
            .field("view", &*lock(&self.view))
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Whether an automatic check is due at `now` (Unix seconds).
pub fn check_due(enabled: bool, last_checked_at: Option<i64>, now: i64) -> bool {
    enabled && last_checked_at.is_none_or(|last| now - last >= CHECK_EVERY_SECS || now < last)
}

/// Sorts an updater failure into the code the UI switches on, with a message for people.
pub fn classify(error: &tauri_plugin_updater::Error, version: Option<&str>) -> ErrorView {
    use tauri_plugin_updater::Error as E;
    let (code, message) = match error {
        E::Minisign(_)
        | E::Base64(_)
        | E::SignatureUtf8(_)
        | E::SignedVersionMismatch { .. }
        | E::MissingSignedVersion => (
            ErrorKind::UpdateSignatureInvalid,
            format!(
                "the update{} failed its signature check and was not installed ({error})",
                version.map(|v| format!(" to {v}")).unwrap_or_default()
            ),
        ),
        E::Io(_)
        | E::TempDirNotOnSameMountPoint
        | E::PreviousAppNotRestored(_)
        | E::BinaryNotFoundInArchive
        | E::TempDirNotFound
        | E::AuthenticationFailed
        | E::DebInstallFailed
        | E::PackageInstallFailed
        | E::InvalidUpdaterFormat => (
            ErrorKind::UpdateInstallFailed,
            format!("the update could not be installed: {error}"),
        ),
        _ => (
            ErrorKind::UpdateUnavailable,
            format!("no update information could be fetched: {error}"),
        ),
    };
    ErrorView { code, message }
}

/// The version running now: the workspace version the app was built from (tauri.conf.json
/// names none, so Tauri takes the crate's).
pub fn current_version<R: Runtime>(app: &AppHandle<R>) -> String {
    app.package_info().version.to_string()
}

impl Updates {
    /// Marks the updater plugin as registered: checks and installs may use it.
    pub fn plugin_registered(&self) {
        self.plugin.store(true, Ordering::SeqCst);
    }

    /// What the UI shows.
    pub fn view<R: Runtime>(&self, app: &AppHandle<R>) -> UpdateView {
        let known = lock(&self.view).clone();
        UpdateView {
            current_version: current_version(app),
            state: known.state,
            last_checked_at: known.last_checked_at,
            error: known.error,
        }
    }

    fn state(&self) -> UpdateState {
        lock(&self.view).state.clone()
    }

    fn change<R: Runtime>(&self, app: &AppHandle<R>, edit: impl FnOnce(&mut Known)) {
        let view = {
            let mut known = lock(&self.view);
            edit(&mut known);
            drop(known);
            self.view(app)
        };
        crate::tray::set_update(
            app,
            match &view.state {
                UpdateState::Available { version, .. } => Some(version.as_str()),
                _ => None,
            },
        );
        if let Err(e) = app.emit(events::UPDATE, &view) {
            tracing::warn!(error = %e, "could not send the update state to the UI");
        }
    }
}

/// Asks the update server whether a newer version exists; answers the state afterwards.
///
/// # Errors
/// `update_unavailable` when the server cannot be asked (the state keeps what it knew).
pub async fn check<R: Runtime>(app: &AppHandle<R>) -> Result<UpdateView, ErrorView> {
    let updates = app.state::<Updates>();
    if !updates.plugin.load(Ordering::SeqCst) {
        return Err(ErrorView {
            code: ErrorKind::UpdateUnavailable,
            message: "this build of Assent has no updater".into(),
        });
    }
    if matches!(updates.state(), UpdateState::Installing { .. }) {
        return Ok(updates.view(app));
    }
    let before = updates.state();
    updates.change(app, |v| v.state = UpdateState::Checking);
    let result = match app.updater() {
        Ok(updater) => updater.check().await,
        Err(e) => Err(e),
    };
    let checked_at = now_secs();
    match result {
        Ok(Some(update)) => {
            let state = UpdateState::Available {
                version: update.version.clone(),
                notes: update.body.clone(),
            };
            tracing::info!(version = %update.version, "an update is available");
            *lock(&updates.found) = Some(update);
            updates.change(app, |v| {
                v.state = state;
                v.last_checked_at = Some(checked_at);
                v.error = None;
            });
            Ok(updates.view(app))
        }
        Ok(None) => {
            *lock(&updates.found) = None;
            updates.change(app, |v| {
                v.state = UpdateState::Idle;
                v.last_checked_at = Some(checked_at);
                v.error = None;
            });
            Ok(updates.view(app))
        }
        Err(e) => {
            let error = classify(&e, None);
            tracing::warn!(error = %e, "update check failed");
            updates.change(app, |v| {
                v.state = before;
                v.error = Some(error.clone());
            });
            Err(error)
        }
    }
}

fn not_now(message: &str) -> ErrorView {
    ErrorView {
        code: ErrorKind::UpdateNotNow,
        message: message.to_owned(),
    }
}

const REQUEST_WAITING: &str =
    "a request is waiting for you: answer it first, then install the update";

/// Downloads, verifies and installs the update the last check found, then restarts the app
/// into it. Refused while a request waits for the person.
///
/// # Errors
/// `update_not_now` (a request is waiting, or there is no update to install);
/// `update_unavailable` (the download failed); `update_signature_invalid` (the download does not
/// verify: nothing was installed); `update_install_failed`. The running app is unchanged.
pub async fn install<R: Runtime>(app: &AppHandle<R>) -> Result<(), ErrorView> {
    let desktop = app.state::<Desktop>();
    let updates = app.state::<Updates>();
    if !desktop.session.pending().is_empty() {
        return Err(not_now(REQUEST_WAITING));
    }
    let Some(update) = lock(&updates.found).clone() else {
        return Err(not_now(
            "there is no update to install: check for updates first",
        ));
    };
    if matches!(updates.state(), UpdateState::Installing { .. }) {
        return Err(not_now("the update is already being installed"));
    }
    let version = update.version.clone();
    let available = updates.state();
    updates.change(app, |v| {
        v.state = UpdateState::Installing {
            version: version.clone(),
        };
        v.error = None;
    });
    let failed = |error: ErrorView| {
        tracing::warn!(code = %error.code, message = %error.message, "update not installed");
        updates.change(app, |v| {
            v.state = available.clone();
            v.error = Some(error.clone());
        });
        Err(error)
    };
    tracing::info!(%version, "downloading the update");
    let bytes = match update.download(|_, _| {}, || {}).await {
        Ok(bytes) => bytes,
        Err(e) => return failed(classify(&e, Some(&version))),
    };
    // A request may have arrived during the download: the person answers it first.
    if !desktop.session.pending().is_empty() {
        return failed(not_now(REQUEST_WAITING));
    }
    if let Err(e) = update.install(&bytes) {
        return failed(classify(&e, Some(&version)));
    }
    tracing::info!(%version, "update installed; restarting");
    release_instance(app);
    app.request_restart();
    Ok(())
}

/// Checks at start and whenever a day has passed since the last check, while the setting is on.
pub fn schedule<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let enabled = app.state::<Desktop>().session.settings().check_for_updates;
            let last = lock(&app.state::<Updates>().view).last_checked_at;
            if check_due(enabled, last, now_secs()) {
                // A failure is in the state (and the UI); the next wake tries again after a day.
                if check(&app).await.is_err() {
                    let at = now_secs();
                    app.state::<Updates>()
                        .change(&app, |v| v.last_checked_at = Some(at));
                }
            }
            tokio::time::sleep(WAKE_EVERY).await;
        }
    });
}

/// Where this instance's single-instance socket is (Linux), so a restart into an update can
/// release it before the new version starts.
#[cfg(target_os = "linux")]
#[derive(Debug)]
pub(crate) struct InstanceSocket(pub(crate) std::path::PathBuf);

/// Stops being the running instance, so the process a restart starts becomes it instead of
/// handing its arguments back to this one (which is about to exit).
fn release_instance<R: Runtime>(app: &AppHandle<R>) {
    #[cfg(target_os = "linux")]
    if let Some(socket) = app.try_state::<InstanceSocket>() {
        let _ = std::fs::remove_file(&socket.0);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = app;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_due_at_start_then_daily_and_never_when_off() {
        let day = CHECK_EVERY_SECS;
        assert!(check_due(true, None, 1_000), "the first check is at start");
        assert!(
            !check_due(false, None, 1_000),
            "no check when the setting is off"
        );
        assert!(
            !check_due(true, Some(1_000), 1_000 + day - 1),
            "not again within a day"
        );
        assert!(
            check_due(true, Some(1_000), 1_000 + day),
            "again once a day has passed"
        );
        assert!(
            check_due(true, Some(1_000), 10),
            "a clock set back past the last check does not stop checks for good"
        );
    }

    #[test]
    fn a_signature_that_does_not_verify_is_its_own_code() {
        let forged = tauri_plugin_updater::Error::SignedVersionMismatch {
            signed: "0.1.0".into(),
            announced: "9.9.9".into(),
        };
        let view = classify(&forged, Some("9.9.9"));
        assert_eq!(view.code, ErrorKind::UpdateSignatureInvalid);
        assert!(
            view.message.contains("not installed"),
            "the message says nothing was installed: {}",
            view.message
        );
        let network = tauri_plugin_updater::Error::Network("refused".into());
        assert_eq!(
            classify(&network, None).code,
            ErrorKind::UpdateUnavailable,
            "an unreachable server is not a signature problem"
        );
    }
}
