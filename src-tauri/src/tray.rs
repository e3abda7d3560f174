//! The tray icon: the pending count, and a menu (open, pause notifications, quit).

use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager as _, Runtime};

const TRAY: &str = "main";

/// Menu items updated as state changes.
struct TrayItems<R: Runtime> {
    open: MenuItem<R>,
    pause: CheckMenuItem<R>,
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
        &[&open, &pause, &PredefinedMenuItem::separator(app)?, &quit],
    )?;
    let icon = tauri::image::Image::from_bytes(include_bytes!("../../icons/tray.png"))?;
    TrayIconBuilder::with_id(TRAY)
        .icon(icon)
        .tooltip("Assent")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => crate::window::show_main(app),
            "pause" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    let desktop = app.state::<crate::desktop::Desktop>();
                    let paused = !desktop.notifications_paused().await;
                    desktop.set_notifications_paused(&app, paused).await;
                });
            }
            "quit" => app.exit(0),
            _ => {}
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
    app.manage(TrayItems { open, pause });
    Ok(())
}

/// Shows the pending count on the icon and in the menu.
pub fn set_pending<R: Runtime>(app: &AppHandle<R>, count: usize) {
    let label = match count {
        0 => "Assent: nothing waiting".to_owned(),
        1 => "Assent: 1 request waiting".to_owned(),
        n => format!("Assent: {n} requests waiting"),
    };
    if let Some(tray) = app.tray_by_id(TRAY) {
        let _ = tray.set_tooltip(Some(&label));
        let _ = tray.set_title((count > 0).then(|| count.to_string()));
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

/// Reflects the pause setting in the menu.
pub fn set_paused<R: Runtime>(app: &AppHandle<R>, paused: bool) {
    if let Some(items) = app.try_state::<TrayItems<R>>() {
        let _ = items.pause.set_checked(paused);
    }
}
