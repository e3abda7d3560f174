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

/// Shows (creating it when needed), unminimises and focuses the main window: the person asked
/// for it (the tray, a notification's Open, a second launch, a deep link). Safe to call from any
/// thread: the work is done on the main thread, where GTK wants windows created.
pub fn show_main<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    if let Err(e) = app.run_on_main_thread(move || show_now(&handle, Focus::Take)) {
        tracing::error!(error = %e, "cannot reach the main thread to show the window");
    }
}

/// Shows the main window for a request that just arrived, without taking the keyboard from the
/// application the person is typing in: the window is mapped (created when needed) without
/// focus and asks for attention instead (the X11 urgency hint: a flashing taskbar entry). Safe
/// to call from any thread.
pub fn show_for_request<R: Runtime>(app: &AppHandle<R>) {
    let handle = app.clone();
    if let Err(e) = app.run_on_main_thread(move || show_now(&handle, Focus::Leave)) {
        tracing::error!(error = %e, "cannot reach the main thread to show the window");
    }
}

/// Whether showing the window takes the keyboard focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Focus {
    /// The person asked for the window: it comes forward with the focus.
    Take,
    /// Something arrived: the focus stays where the person put it.
    Leave,
}

fn show_now<R: Runtime>(app: &AppHandle<R>, focus: Focus) {
    let window = match app.get_webview_window(MAIN) {
        Some(window) => window,
        None => {
            let Some(config) = app.config().app.windows.iter().find(|w| w.label == MAIN) else {
                return tracing::error!("no main window in the configuration");
            };
            // For `Leave`, created hidden and unfocused: tao maps a window built with
            // `focused(false)` with GTK's accept-focus off (WM_HINTS input = False) until its
            // first frame, and it is shown below only after GTK's focus-on-map is off too.
            // `Take` keeps the configuration (shown at once): tao focuses only a window GTK
            // already reports visible.
            let built = WebviewWindowBuilder::from_config(app, config).and_then(|builder| {
                let builder = builder.theme(crate::theme::current());
                match focus {
                    Focus::Take => builder,
                    Focus::Leave => builder.focused(false).visible(false),
                }
                .build()
            });
            match built {
                Ok(window) => {
                    render_without_gpu(&window);
                    window
                }
                Err(e) => return tracing::error!(error = %e, "cannot create the main window"),
            }
        }
    };
    set_focus_on_map(&window, focus == Focus::Take);
    let _ = window.show();
    match focus {
        Focus::Take => {
            let _ = window.unminimize();
            let _ = window.set_focus();
            let _ = window.request_user_attention(None);
        }
        // Not unminimised either: a window manager activates a window it deiconifies.
        Focus::Leave => {
            let _ = window.request_user_attention(Some(tauri::UserAttentionType::Informational));
        }
    }
}

/// GTK's focus-on-map flag: off, the window is mapped with `_NET_WM_USER_TIME` 0, which tells an
/// EWMH window manager not to focus it (GTK itself never sets the X input focus on map; only
/// `present`, which `set_focus` calls, does, by `_NET_ACTIVE_WINDOW` or, with no window manager,
/// `XSetInputFocus`).
#[cfg(target_os = "linux")]
fn set_focus_on_map<R: Runtime>(window: &tauri::WebviewWindow<R>, on: bool) {
    use gtk::prelude::GtkWindowExt as _;
    match window.gtk_window() {
        Ok(gtk_window) => gtk_window.set_focus_on_map(on),
        Err(e) => tracing::warn!(error = %e, "cannot reach the GTK window"),
    }
}

#[cfg(not(target_os = "linux"))]
fn set_focus_on_map<R: Runtime>(_window: &tauri::WebviewWindow<R>, _on: bool) {}

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
