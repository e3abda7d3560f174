//! Forwards the session's events: every one to the UI (as `assent://session`), and the parts
//! the desktop itself shows to the tray, the window and notifications.

use assent_device::SessionEvents;
use assent_device::view::{SessionEvent, events};
use tauri::{AppHandle, Emitter as _, Manager as _, Runtime};

use crate::desktop::Desktop;

/// Runs until the session ends.
pub fn forward<R: Runtime>(app: AppHandle<R>, mut session_events: SessionEvents) {
    tauri::async_runtime::spawn(async move {
        while let Some(event) = session_events.next().await {
            match &event {
                // Only arrivals the session lets alert (a few a minute) show the window and
                // notify: a flood of requests is listed, not thrown at the person. The window
                // never takes the keyboard from what the person is typing in: it asks for
                // attention instead.
                SessionEvent::Arrived { alert: false, .. } => {}
                SessionEvent::Arrived {
                    request,
                    alert: true,
                } => {
                    crate::window::show_for_request(&app);
                    let paused = app
                        .state::<Desktop>()
                        .session
                        .settings()
                        .notifications_paused;
                    if !paused {
                        crate::notify::request_arrived(&app, request);
                    }
                }
                SessionEvent::Pending { requests } => {
                    // A request this device already answered waits on other approvers: nothing
                    // is asked of the person any more, so it neither keeps a notification nor
                    // counts on the tray.
                    let unanswered: Vec<_> =
                        requests.iter().filter(|r| r.my_answer.is_none()).collect();
                    crate::notify::withdraw_all_but(&app, &unanswered);
                    crate::tray::set_pending(&app, unanswered.len());
                }
                // Answered here or elsewhere, resolved, cancelled, expired: its notification
                // goes.
                SessionEvent::Resolved { id, .. } => crate::notify::withdraw(&app, *id),
                SessionEvent::Settings { settings } => {
                    crate::tray::set_paused(&app, settings.notifications_paused);
                }
                SessionEvent::Connection { .. } => crate::tray::refresh_links(&app),
                SessionEvent::Accounts { .. } => {
                    crate::tray::refresh_links(&app);
                    crate::tray::refresh_code_lines(&app);
                }
                // The window shows the clock warning and the log's findings; nothing else does.
                SessionEvent::Notice { .. }
                | SessionEvent::Clock { .. }
                | SessionEvent::LogFindings { .. } => {}
            }
            if let Err(e) = app.emit(events::SESSION, &event) {
                tracing::warn!(error = %e, "could not send an event to the UI");
            }
        }
    });
}
