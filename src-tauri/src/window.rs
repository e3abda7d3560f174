//! The main window. It exists only while it is shown: closing it destroys the web view (and lets
//! WebKit's web process exit), so the app waiting in the tray costs little memory; showing it
//! creates it again from the configuration, and the UI re-reads the state it needs.
//!
//! On Linux the web view renders without GPU compositing: a few cards of text need none, and
//! WebKitGTK's accelerated compositing (a GL context in the app and in the web process: software
//! GL, with LLVM, on machines without a GPU) costs about 65 MiB, a fifth of the app's memory with
//! its window shown (docs/benchmarks.md). Under WebDriver (`TAURI_WEBVIEW_AUTOMATION`, set by
//! tauri-driver) Tauri's default is kept: WebKit's automation waits for composited frames, and
//! its clicks never return without them. `tests/desktop` runs the app as people do, and clicks in
//! it.

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
                Ok(window) => {
                    render_without_gpu(&window);
                    window
                }
                Err(e) => return tracing::error!(error = %e, "cannot create the main window"),
            }
        }
    };
    let _ = window.show();
    let _ = window.unminimize();
    let _ = window.set_focus();
}

/// Turns WebKitGTK's accelerated compositing off for `window`'s web view, unless WebDriver drives
/// the app (see the module docs).
#[cfg(target_os = "linux")]
fn render_without_gpu<R: Runtime>(window: &tauri::WebviewWindow<R>) {
    if std::env::var("TAURI_WEBVIEW_AUTOMATION").as_deref() == Ok("true") {
        return;
    }
    let set = window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt as _, WebViewExt as _};
        if let Some(settings) = webview.inner().settings() {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    if let Err(e) = set {
        tracing::warn!(error = %e, "cannot reach the web view's settings");
    }
}

#[cfg(not(target_os = "linux"))]
fn render_without_gpu<R: Runtime>(_window: &tauri::WebviewWindow<R>) {}
