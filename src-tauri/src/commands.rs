//! The IPC commands. Each is a thin call into the device session, answering
//! `{code, message}` ([`ErrorView`]) on failure; the UI switches on `code`.

use assent_device::view::{
    AccountView, DecisionView, EnrollPreview, ErrorView, HistoryView, Settings, SettingsView,
    StateView, UpdateView,
};
use assent_device::{Answer, ErrorKind, InsecureServer};
use assent_protocol::decision::DenyReason;
use tauri::{AppHandle, Runtime, State};

use crate::updates::Updates;
use uuid::Uuid;

use crate::desktop::{Desktop, device_name};

type Result<T> = std::result::Result<T, ErrorView>;

/// Everything the UI shows at start. A deep link waiting for confirmation is handed over once.
#[tauri::command(rename_all = "snake_case")]
pub async fn get_state<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
) -> Result<StateView> {
    let snapshot = desktop.session.snapshot().await?;
    Ok(StateView::new(
        snapshot,
        crate::autostart::enabled(&app),
        desktop.take_offered_link(),
    ))
}

/// Enrolls this desktop from a pasted link (or a token with `server`). `allow_insecure` is true
/// only after the person accepted the UI's warning about a plain-`http` service; without it
/// (false or absent) such a service is refused with `insecure_server` (nothing contacted).
#[tauri::command(rename_all = "snake_case")]
pub async fn enroll(
    desktop: State<'_, Desktop>,
    link: String,
    server: Option<String>,
    allow_insecure: Option<bool>,
) -> Result<AccountView> {
    let insecure = if allow_insecure == Some(true) {
        InsecureServer::Accept
    } else {
        InsecureServer::Refuse
    };
    let account = desktop
        .session
        .enroll(
            &link,
            server.as_deref(),
            insecure,
            &device_name(),
            std::env::consts::OS,
        )
        .await?;
    desktop.take_offered_link();
    Ok(account)
}

/// What a pasted or offered link (or a token with `server`) would enroll into, asked of its
/// service without redeeming the token; the phrase is computed here from the link. Errors as for
/// [`enroll`] (`invalid_link` with nothing contacted, `token_invalid`, `network`, ...). As for
/// [`enroll`], a plain-`http` service off this machine is refused with `insecure_server` (nothing
/// contacted: the call carries the token) unless `allow_insecure` is true.
#[tauri::command(rename_all = "snake_case")]
pub async fn preview_enrollment(
    desktop: State<'_, Desktop>,
    link: String,
    server: Option<String>,
    allow_insecure: Option<bool>,
) -> Result<EnrollPreview> {
    let insecure = if allow_insecure == Some(true) {
        InsecureServer::Accept
    } else {
        InsecureServer::Refuse
    };
    Ok(desktop
        .session
        .preview_enrollment(&link, server.as_deref(), insecure)
        .await?)
}

/// "Retry now": every account's stream (or `account_id`'s) that is waiting to reconnect tries
/// again at once.
#[tauri::command(rename_all = "snake_case")]
pub async fn reconnect_now(desktop: State<'_, Desktop>, account_id: Option<Uuid>) -> Result<()> {
    desktop.session.reconnect_now(account_id);
    Ok(())
}

/// Removes an account: revokes this device at its service and deletes its key.
#[tauri::command(rename_all = "snake_case")]
pub async fn remove_account(desktop: State<'_, Desktop>, account_id: Uuid) -> Result<()> {
    Ok(desktop.session.remove_account(account_id).await?)
}

/// Approves a pending request, with the number picked or the code typed when number matching
/// asks for one (`{"number": 27}` or `{"code": "0427"}`).
#[tauri::command(rename_all = "snake_case")]
pub async fn approve(
    desktop: State<'_, Desktop>,
    id: Uuid,
    answer: Option<Answer>,
) -> Result<DecisionView> {
    Ok(desktop.session.approve(id, answer).await?)
}

/// Denies a pending request; `reason` is `not_me` ("This wasn't me") or `cancelled`.
#[tauri::command(rename_all = "snake_case")]
pub async fn deny(desktop: State<'_, Desktop>, id: Uuid, reason: String) -> Result<DecisionView> {
    let reason: DenyReason = serde_json::from_value(serde_json::Value::String(reason.clone()))
        .map_err(|_| ErrorView {
            code: ErrorKind::InvalidArgument,
            message: format!("unknown deny reason {reason:?}: use not_me or cancelled"),
        })?;
    Ok(desktop.session.deny(id, reason).await?)
}

/// Past decisions, newest first.
#[tauri::command(rename_all = "snake_case")]
pub async fn history(desktop: State<'_, Desktop>) -> Result<Vec<HistoryView>> {
    Ok(desktop.session.history()?)
}

/// Changes settings; answers with the settings now in effect.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_settings<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    settings: SettingsView,
) -> Result<SettingsView> {
    crate::autostart::set(&app, settings.autostart).map_err(|message| ErrorView {
        code: ErrorKind::AutostartFailed,
        message,
    })?;
    let before = desktop.session.settings();
    let applied = desktop.session.set_settings(Settings {
        notifications_paused: settings.notifications_paused,
        check_for_updates: settings.check_for_updates,
        verify_every_approval: settings.verify_every_approval,
        ..before
    })?;
    if applied.check_for_updates && !before.check_for_updates {
        // Turned on: look now rather than at the next daily wake.
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let _ = crate::updates::check(&app).await;
        });
    }
    Ok(SettingsView {
        autostart: crate::autostart::enabled(&app),
        notifications_paused: applied.notifications_paused,
        check_for_updates: applied.check_for_updates,
        verify_every_approval: applied.verify_every_approval,
    })
}

/// What the app knows about updates, with the running version (the About line).
#[tauri::command(rename_all = "snake_case")]
pub async fn update_state<R: Runtime>(
    app: AppHandle<R>,
    updates: State<'_, Updates>,
) -> Result<UpdateView> {
    Ok(updates.view(&app))
}

/// Asks the update server now ("Check now").
#[tauri::command(rename_all = "snake_case")]
pub async fn check_update<R: Runtime>(app: AppHandle<R>) -> Result<UpdateView> {
    crate::updates::check(&app).await
}

/// Installs the update found and restarts into it: only on the person's click, and refused with
/// `update_not_now` while a request is waiting for them.
#[tauri::command(rename_all = "snake_case")]
pub async fn install_update<R: Runtime>(app: AppHandle<R>) -> Result<()> {
    crate::updates::install(&app).await
}
