//! The IPC commands. Each is a thin call into [`crate::desktop::Desktop`] (and so into
//! `assent_device`), returning `{code, message}` on failure; the UI switches on `code`.

use assent_protocol::decision::DenyReason;
use serde::Serialize;
use tauri::{AppHandle, Runtime, State};
use uuid::Uuid;

use crate::desktop::Desktop;
use crate::view::{AccountView, DecisionView, HistoryView, SettingsView, StateView};

/// Every command's error: a stable code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// Stable code (`network`, `keychain_unavailable`, `not_pending`, ...).
    pub code: String,
    /// What happened, for a person.
    pub message: String,
}

impl From<assent_device::Error> for CommandError {
    fn from(e: assent_device::Error) -> Self {
        CommandError {
            code: e.code().to_owned(),
            message: e.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, CommandError>;

/// Everything the UI shows at start.
#[tauri::command(rename_all = "snake_case")]
pub async fn get_state<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
) -> Result<StateView> {
    Ok(desktop.snapshot(&app).await?)
}

/// Enrolls this desktop from a pasted link (or a token with `server`).
#[tauri::command(rename_all = "snake_case")]
pub async fn enroll<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    link: String,
    server: Option<String>,
) -> Result<AccountView> {
    Ok(desktop.enroll(&app, &link, server.as_deref()).await?)
}

/// Removes an account: revokes this device at its service and deletes its key.
#[tauri::command(rename_all = "snake_case")]
pub async fn remove_account<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    account_id: Uuid,
) -> Result<()> {
    Ok(desktop.remove_account(&app, account_id).await?)
}

/// Approves a pending request, with the number picked when number matching asks for one.
#[tauri::command(rename_all = "snake_case")]
pub async fn approve<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    id: Uuid,
    number: Option<u32>,
) -> Result<DecisionView> {
    Ok(desktop.approve(&app, id, number).await?)
}

/// Denies a pending request; `reason` is `not_me` ("This wasn't me") or `cancelled`.
#[tauri::command(rename_all = "snake_case")]
pub async fn deny<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    id: Uuid,
    reason: String,
) -> Result<DecisionView> {
    let reason = match reason.as_str() {
        "not_me" => DenyReason::NotMe,
        "cancelled" => DenyReason::Cancelled,
        other => {
            return Err(CommandError {
                code: "invalid_argument".into(),
                message: format!("unknown deny reason {other:?}: use not_me or cancelled"),
            });
        }
    };
    Ok(desktop.deny(&app, id, reason).await?)
}

/// Past decisions, newest first.
#[tauri::command(rename_all = "snake_case")]
pub async fn history(desktop: State<'_, Desktop>) -> Result<Vec<HistoryView>> {
    Ok(desktop.history()?)
}

/// Changes settings; answers with the settings now in effect.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_settings<R: Runtime>(
    app: AppHandle<R>,
    desktop: State<'_, Desktop>,
    settings: SettingsView,
) -> Result<SettingsView> {
    crate::set_autostart(&app, settings.autostart).map_err(|message| CommandError {
        code: "autostart_failed".into(),
        message,
    })?;
    desktop
        .set_notifications_paused(&app, settings.notifications_paused)
        .await;
    Ok(SettingsView {
        autostart: crate::autostart_enabled(&app),
        notifications_paused: desktop.notifications_paused().await,
    })
}
