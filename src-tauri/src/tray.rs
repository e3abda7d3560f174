//! The tray icon: the icon itself (a badge on it while something waits: `icons/tray-pending.png`,
//! drawn by `scripts/tray-pending-icon`), the pending count (the icon's label and tooltip), a line per account saying whether it is
//! connected, reconnecting (and when the next try is) or offline, and a menu (open, pause
//! notifications, copy each account's one-time code (the copy is `codes`'), quit). It reads the session;
//! it keeps no state of its own.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use assent_device::view::{LinkState, shown_text};
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager as _, Runtime};
use uuid::Uuid;

use crate::clipboard::CodeClipboard;
use crate::desktop::Desktop;

const TRAY: &str = "main";

/// The icon while nothing waits.
const IDLE_ICON: &[u8] = include_bytes!("../../icons/tray.png");
/// The icon while a request waits: the same with a badge (a ringed mark, not a colour alone).
const PENDING_ICON: &[u8] = include_bytes!("../../icons/tray-pending.png");

/// Menu items updated as the session changes.
struct TrayItems<R: Runtime> {
    menu: Menu<R>,
    open: MenuItem<R>,
    pause: CheckMenuItem<R>,
    /// One disabled line per account, after "Open", with the texts they show.
    links: Mutex<Vec<(String, MenuItem<R>)>>,
    /// "Update available: X", first in the menu while an update is offered.
    update: Mutex<Option<MenuItem<R>>>,
    /// Whether the icon shown is the pending one (it is replaced only when this changes: each
    /// replacement is a new file for the panel to read).
    pending_icon: Mutex<bool>,
}

/// Creates the tray icon.
///
/// # Errors
/// When the platform has no tray support at all.
pub fn create<R: Runtime>(app: &AppHandle<R>, paused: bool) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Assent", true, None::<&str>)?;
    let pause = CheckMenuItem::with_id(
        app,
        "pause",
        "Pause notifications",
        true,
        paused,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(app, "quit", "Quit Assent", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &open,
            &PredefinedMenuItem::separator(app)?,
            &pause,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let icon = tauri::image::Image::from_bytes(IDLE_ICON)?;
    TrayIconBuilder::with_id(TRAY)
        .icon(icon)
        .tooltip("Assent")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            // The window shows the update and its Install button: installing takes a click there.
            "open" | "update" => crate::window::show_main(app),
            "pause" => {
                let session = &app.state::<Desktop>().session;
                let mut settings = session.settings();
                settings.notifications_paused = !settings.notifications_paused;
                if let Err(e) = session.set_settings(settings) {
                    tracing::error!(error = %e, "could not save the pause setting");
                    set_paused(app, !settings.notifications_paused);
                }
            }
            "quit" => app.exit(0),
            other => {
                on_code_line(app, other);
            }
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                crate::window::show_main(tray.app_handle());
            }
        })
        .build(app)?;
    app.manage(TrayItems {
        menu,
        open,
        pause,
        links: Mutex::new(Vec::new()),
        update: Mutex::new(None),
        pending_icon: Mutex::new(false),
    });
    refresh_links(app);
    refresh_code_lines(app);
    Ok(())
}

/// The tray's menu, once the tray exists.
pub fn menu<R: Runtime>(app: &AppHandle<R>) -> Option<Menu<R>> {
    app.try_state::<TrayItems<R>>()
        .map(|items| items.menu.clone())
}

/// The tooltip for `count` requests waiting.
fn pending_label(count: usize) -> String {
    match count {
        0 => "Assent: nothing waiting".to_owned(),
        1 => "Assent: 1 request waiting".to_owned(),
        n => format!("Assent: {n} requests waiting"),
    }
}

/// Shows whether something waits on the icon itself (the badged icon), the count on its label
/// and tooltip, and in the menu.
pub fn set_pending<R: Runtime>(app: &AppHandle<R>, count: usize) {
    if let Some(tray) = app.tray_by_id(TRAY) {
        let _ = tray.set_tooltip(Some(&pending_label(count)));
        let _ = tray.set_title((count > 0).then(|| count.to_string()));
        if let Some(items) = app.try_state::<TrayItems<R>>() {
            let mut shown = items.pending_icon.lock().unwrap_or_else(|p| p.into_inner());
            if *shown != (count > 0) {
                let bytes = if count > 0 { PENDING_ICON } else { IDLE_ICON };
                match tauri::image::Image::from_bytes(bytes).and_then(|i| tray.set_icon(Some(i))) {
                    Ok(()) => *shown = count > 0,
                    Err(e) => tracing::warn!(error = %e, "cannot change the tray icon"),
                }
            }
        }
    }
    if let Some(items) = app.try_state::<TrayItems<R>>() {
        let text = if count == 0 {
            "Open Assent".to_owned()
        } else {
            format!("Open Assent ({count} waiting)")
        };
        let _ = items.open.set_text(text);
    }
}

/// Shows "Update available: VERSION" first in the menu while an update is offered (`None`
/// removes it). Choosing it opens the window, where the person installs it.
pub fn set_update<R: Runtime>(app: &AppHandle<R>, version: Option<&str>) {
    let Some(items) = app.try_state::<TrayItems<R>>() else {
        return;
    };
    let mut shown = items.update.lock().unwrap_or_else(|p| p.into_inner());
    let text = version.map(|v| format!("Update available: {v}"));
    match (shown.as_ref(), text) {
        (Some(item), Some(text)) => {
            let _ = item.set_text(text);
        }
        (None, Some(text)) => match MenuItem::with_id(app, "update", &text, true, None::<&str>) {
            Ok(item) => {
                let _ = items.menu.insert(&item, 0);
                *shown = Some(item);
            }
            Err(e) => tracing::warn!(error = %e, "cannot add the update line to the tray"),
        },
        (Some(item), None) => {
            let _ = items.menu.remove(item);
            *shown = None;
        }
        (None, None) => {}
    }
}

/// Reflects the pause setting in the menu.
pub fn set_paused<R: Runtime>(app: &AppHandle<R>, paused: bool) {
    if let Some(items) = app.try_state::<TrayItems<R>>() {
        let _ = items.pause.set_checked(paused);
    }
}

/// "Acme Bank: reconnecting, next try in 4 s" and the like, for each account.
fn link_lines<R: Runtime>(app: &AppHandle<R>) -> Vec<String> {
    let session = &app.state::<Desktop>().session;
    let Ok(accounts) = session.authenticator().accounts() else {
        return Vec::new();
    };
    let connections = session.connections();
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    accounts
        .iter()
        .map(|account| {
            let state = connections
                .iter()
                .find(|c| c.account_id == account.id)
                .map(|c| &c.state);
            let status = match state {
                _ if !account.is_active() => "revoked".to_owned(),
                Some(LinkState::Connected) => "connected".to_owned(),
                None | Some(LinkState::Connecting) => "connecting…".to_owned(),
                Some(LinkState::Reconnecting {
                    next_try_at_ms: Some(at),
                    ..
                }) => format!(
                    "reconnecting, next try in {} s",
                    ((at - now_ms).max(0) + 999) / 1000
                ),
                Some(LinkState::Reconnecting { .. }) => "reconnecting now".to_owned(),
                Some(LinkState::Offline) => "offline".to_owned(),
            };
            format!("{}: {status}", account.app.name)
        })
        .collect()
}

/// Updates the per-account lines when what they say has changed.
pub fn refresh_links<R: Runtime>(app: &AppHandle<R>) {
    let Some(items) = app.try_state::<TrayItems<R>>() else {
        return;
    };
    let wanted = link_lines(app);
    let mut shown = items.links.lock().unwrap_or_else(|p| p.into_inner());
    if shown.iter().map(|(text, _)| text).eq(wanted.iter()) {
        return;
    }
    for (_, item) in shown.drain(..) {
        let _ = items.menu.remove(&item);
    }
    // After "Open", which follows the update line when there is one.
    let first = 1 + usize::from(items.update.lock().is_ok_and(|u| u.is_some()));
    for (at, text) in wanted.into_iter().enumerate() {
        match MenuItem::new(app, &text, false, None::<&str>) {
            Ok(item) => {
                let _ = items.menu.insert(&item, first + at);
                shown.push((text, item));
            }
            Err(e) => tracing::warn!(error = %e, "cannot add a tray line"),
        }
    }
}

/// The prefix of the tray's copy lines' ids (followed by the account id).
const COPY_ID: &str = "copy-code:";

/// The tray's copy lines shown now, with their texts.
struct CopyItems<R: Runtime>(Mutex<Vec<(String, MenuItem<R>)>>);

/// Shows one "Copy code for <app>" line per active account in the tray menu (after "Pause
/// notifications"), when they changed.
pub fn refresh_code_lines<R: Runtime>(app: &AppHandle<R>) {
    let Some(menu) = menu(app) else {
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
fn on_code_line<R: Runtime>(app: &AppHandle<R>, id: &str) -> bool {
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
        if let Err(e) = crate::codes::copy(&session, &clipboard, account).await {
            tracing::warn!(account = %account, code = %e.code, error = %e.message, "copying a code from the tray failed");
        }
    });
    true
}
