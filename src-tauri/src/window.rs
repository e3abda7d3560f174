//! The main window: shown on demand, hidden (not closed) when the person closes it.

use tauri::{AppHandle, Manager as _, Runtime};

/// The main window's label (the capability grants the app's commands to it only).
pub const MAIN: &str = "main";

/// Shows, unminimises and focuses the main window.
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}
