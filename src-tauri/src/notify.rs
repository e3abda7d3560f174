//! One native notification per new request, through `notify-rust`. Clicking it (or its Open
//! action) brings the request forward.

use tauri::{AppHandle, Emitter as _, Runtime};

use assent_device::view::{RequestView, events};

/// Shows the notification for a new request (on its own thread: waiting for a click blocks).
pub fn request_arrived<R: Runtime>(app: &AppHandle<R>, request: &RequestView) {
    let app = app.clone();
    let id = request.id;
    let summary = request.app.name.clone();
    let body = request.message.clone();
    std::thread::spawn(move || {
        let mut notification = notify_rust::Notification::new();
        notification
            .appname("Assent")
            .summary(&summary)
            .body(&body)
            .icon("dialog-password");
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            notification
                .action("default", "Open")
                .action("open", "Open")
                .hint(notify_rust::Hint::Category("im".into()));
            match notification.show() {
                Ok(handle) => handle.wait_for_action(|action| {
                    if action == "default" || action == "open" {
                        crate::window::show_main(&app);
                        let _ = app.emit(events::OPEN_REQUEST, id);
                    }
                }),
                Err(e) => tracing::warn!(error = %e, "no notification daemon answered"),
            }
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            let _ = (&app, id);
            if let Err(e) = notification.show() {
                tracing::warn!(error = %e, "could not show a notification");
            }
        }
    });
}
