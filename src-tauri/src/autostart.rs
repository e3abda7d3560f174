//! Start at login, through the autostart plugin (absent on the mock runtime in tests, where it
//! reads as off and cannot be turned on).

use tauri::{AppHandle, Manager as _, Runtime};

/// Whether start-at-login is on.
pub fn enabled<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<tauri_plugin_autostart::AutoLaunchManager>()
        .and_then(|m| m.is_enabled().ok())
        .unwrap_or(false)
}

/// Turns start-at-login on or off.
///
/// # Errors
/// A message for people when the platform refuses, or when there is no autostart here.
pub fn set<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<(), String> {
    let Some(manager) = app.try_state::<tauri_plugin_autostart::AutoLaunchManager>() else {
        return if on {
            Err("start at login is not available here".into())
        } else {
            Ok(())
        };
    };
    if manager.is_enabled().unwrap_or(false) == on {
        return Ok(());
    }
    let result = if on {
        manager.enable()
    } else {
        manager.disable()
    };
    result.map_err(|e| format!("could not change start at login: {e}"))
}
