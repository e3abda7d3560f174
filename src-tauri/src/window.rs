//! The main window. It exists only while it is shown: closing it destroys the web view (and lets
//! WebKit's web process exit), so the app waiting in the tray costs little memory; showing it
//! creates it again from the configuration, and the UI re-reads the state it needs.

use tauri::{AppHandle, Manager as _, Runtime, WebviewWindowBuilder};

/// The main window's label (the capability grants the app's commands to it only).
pub const MAIN: &str = "main";

/// Shows (creating it when needed), unminimises and focuses the main window. Safe to call from
/// any thread: the work is done on the main thread, where GTK wants windows created.
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    if let Err(e) = app.run_on_main_thread(move || show_now(&handle)) {
        tracing::error!(error = %e, "cannot reach the main thread to show the window");
    }
}

fn show_now<R: Runtime>(app: &AppHandle<R>) {
    let window = match app.get_webview_window(MAIN) {
        Some(window) => window,
        None => {
            let Some(config) = app.config().app.windows.iter().find(|w| w.label == MAIN) else {
                return tracing::error!("no main window in the configuration");
            };
            match WebviewWindowBuilder::from_config(app, config).and_then(|builder| builder.build())
            {
                Ok(window) => window,
                Err(e) => return tracing::error!(error = %e, "cannot create the main window"),
            }
        }
    };
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
}
