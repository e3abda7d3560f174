//! One-time codes in the desktop: the commands the window's code cards call, the code-length
//! setting, the service clocks the window warns about, and the tray's "Copy code for ..." lines.
//! Each is a thin call into the device session (`assent_device::DeviceSession::code`, `clocks`);
//! the code itself goes to the screen or the clipboard, never to a log, notification or title.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use assent_device::DeviceSession;
use assent_device::view::{ClockView, CodeView, ErrorView, shown_text};
use tauri::menu::MenuItem;
use tauri::{AppHandle, Manager as _, Runtime, State};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::clipboard::CodeClipboard;
use crate::desktop::Desktop;

type Result<T> = std::result::Result<T, ErrorView>;

/// The prefix of the tray's copy lines' ids (followed by the account id).
const COPY_ID: &str = "copy-code:";

/// This computer's clock: codes always follow it, never a service's (see
/// `assent_device::clock`).
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The current code of an account, with the seconds its step has left.
#[tauri::command(rename_all = "snake_case")]
pub async fn code(desktop: State<'_, Desktop>, account_id: Uuid) -> Result<CodeView> {
    Ok(desktop.session.code(account_id, unix_now()).await?)
}

/// Copies an account's current code to the clipboard; answers the seconds after which it is
/// cleared from there (if it still holds the code then).
#[tauri::command(rename_all = "snake_case")]
pub async fn copy_code(
    desktop: State<'_, Desktop>,
    clipboard: State<'_, Arc<CodeClipboard>>,
    account_id: Uuid,
) -> Result<u64> {
    copy(&desktop.session, &clipboard, account_id).await
}

async fn copy(
    session: &DeviceSession,
    clipboard: &Arc<CodeClipboard>,
    account_id: Uuid,
) -> Result<u64> {
    let code = session.code(account_id, unix_now()).await?;
    clipboard.copy(Zeroizing::new(code.code)).await?;
    Ok(clipboard.clear_after().as_secs())
}

/// The code length in effect (6, 7 or 8).
#[tauri::command(rename_all = "snake_case")]
pub async fn code_digits(desktop: State<'_, Desktop>) -> Result<u8> {
    Ok(desktop.session.code_digits())
}

/// Sets the code length; refused with `invalid_setting` outside 6 to 8 (nothing written).
#[tauri::command(rename_all = "snake_case")]
pub async fn set_code_digits(desktop: State<'_, Desktop>, digits: u8) -> Result<u8> {
    Ok(desktop.session.set_code_digits(digits)?)
}

/// Each account's service clock as last measured: the window warns while one is `skewed`.
#[tauri::command(rename_all = "snake_case")]
pub async fn clocks(desktop: State<'_, Desktop>) -> Result<Vec<ClockView>> {
    Ok(desktop.session.clocks())
}

/// The tray's copy lines shown now, with their texts.
struct CopyItems<R: Runtime>(Mutex<Vec<(String, MenuItem<R>)>>);

/// Shows one "Copy code for <app>" line per active account in the tray menu (after "Pause
/// notifications"), when they changed.
pub fn refresh_tray<R: Runtime>(app: &AppHandle<R>) {
    let Some(menu) = crate::tray::menu(app) else {
        return;
    };
    let wanted: Vec<(String, String)> = app
        .state::<Desktop>()
        .session
        .authenticator()
        .accounts()
        .unwrap_or_default()
        .iter()
        .filter(|a| a.is_active())
        .map(|a| {
            (
                format!("{COPY_ID}{}", a.id),
                format!("Copy code for {}", shown_text(&a.app.name)),
            )
        })
        .collect();
    if app.try_state::<CopyItems<R>>().is_none() {
        app.manage(CopyItems::<R>(Mutex::new(Vec::new())));
    }
    let items = app.state::<CopyItems<R>>();
    let mut shown = items.0.lock().unwrap_or_else(|p| p.into_inner());
    let texts: Vec<String> = wanted
        .iter()
        .map(|(id, text)| format!("{id} {text}"))
        .collect();
    if shown.iter().map(|(t, _)| t).eq(texts.iter()) {
        return;
    }
    for (_, item) in shown.drain(..) {
        let _ = menu.remove(&item);
    }
    for ((id, text), key) in wanted.into_iter().zip(texts) {
        // Before the last separator and "Quit".
        let at = menu
            .items()
            .map_or(0, |items| items.len().saturating_sub(2));
        match MenuItem::with_id(app, &id, &text, true, None::<&str>) {
            Ok(item) => {
                let _ = menu.insert(&item, at);
                shown.push((key, item));
            }
            Err(e) => tracing::warn!(error = %e, "cannot add a tray line"),
        }
    }
}

/// Handles a tray menu click; true when it was a copy line.
pub fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str) -> bool {
    let Some(account) = id
        .strip_prefix(COPY_ID)
        .and_then(|a| Uuid::try_parse(a).ok())
    else {
        return false;
    };
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let session = app.state::<Desktop>().session.clone();
        let clipboard = Arc::clone(&app.state::<Arc<CodeClipboard>>());
        if let Err(e) = copy(&session, &clipboard, account).await {
            tracing::warn!(account = %account, code = %e.code, error = %e.message, "copying a code from the tray failed");
        }
    });
    true
}
