//! One-time codes in the desktop: the commands the window's code cards call, the code-length
//! setting, the service clocks the window warns about, and the copy the tray's "Copy code for
//! ..." lines do (the lines themselves are the tray's).
//! Each is a thin call into the device session (`assent_device::DeviceSession::code`, `clocks`);
//! the code itself goes to the screen or the clipboard, never to a log, notification or title.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use assent_device::DeviceSession;
use assent_device::view::{ClockView, CodeView, ErrorView};
use tauri::State;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::clipboard::CodeClipboard;
use crate::desktop::Desktop;

type Result<T> = std::result::Result<T, ErrorView>;

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

/// Copies `account_id`'s current code to the clipboard; answers the seconds until it is cleared.
pub(crate) async fn copy(
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
