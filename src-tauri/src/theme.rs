//! The window follows the desktop's light or dark preference (the XDG settings portal's
//! `org.freedesktop.appearance` `color-scheme`) without a timer.
//!
//! Tauri's `dbus` feature does this inside tao with a thread that wakes every 5 s to poll its
//! D-Bus connection, for the life of the app: 12 of the 35 wake-ups a minute the app made idling
//! in the tray before this module (docs/benchmarks.md). That feature is off (`tauri` without default features, in
//! the workspace `Cargo.toml`). Here one thread blocks on the session bus for the portal's
//! `SettingChanged` signal with a one-day timeout, so it wakes only when the setting changes (or
//! once a day); it keeps the latest preference for the window, which is created each time it is
//! shown, and re-themes a window that is open when the setting changes.
//!
//! No portal (a bare X session, the tests' Xvfb): the preference stays unknown and the window
//! keeps GTK's own theme, as tao does then.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tauri::{AppHandle, Manager as _, Runtime, Theme};

/// The portal's last answer: 0 unknown, else `color-scheme` + 1 (1 no preference, 2 dark,
/// 3 light).
static SCHEME: AtomicU8 = AtomicU8::new(0);

const PORTAL: &str = "org.freedesktop.portal.Desktop";
const PORTAL_PATH: &str = "/org/freedesktop/portal/desktop";
const SETTINGS: &str = "org.freedesktop.portal.Settings";
const NAMESPACE: &str = "org.freedesktop.appearance";
const KEY: &str = "color-scheme";

/// The theme for a window created now: `None` (GTK's own) until the portal has answered.
pub fn current() -> Option<Theme> {
    theme_of(SCHEME.load(Ordering::Relaxed))
}

/// The portal's `color-scheme` (0 no preference, 1 prefer dark, 2 prefer light) as a window
/// theme; no preference is light, as tao reads it.
fn theme_of(stored: u8) -> Option<Theme> {
    match stored {
        0 => None,
        2 => Some(Theme::Dark),
        _ => Some(Theme::Light),
    }
}

fn store(color_scheme: u32) -> Option<Theme> {
    // A value the portal may define later reads as no preference.
    let stored = u8::try_from(color_scheme)
        .ok()
        .filter(|s| *s <= 2)
        .unwrap_or(0)
        + 1;
    SCHEME.store(stored, Ordering::Relaxed);
    theme_of(stored)
}

/// Starts the thread that reads the preference and follows its changes. Logs and returns when
/// there is no session bus.
#[cfg(target_os = "linux")]
pub fn follow<R: Runtime>(app: AppHandle<R>) {
    let spawned = std::thread::Builder::new()
        .name("theme-portal".into())
        .spawn(move || {
            if let Err(e) = listen(&app) {
                tracing::debug!(error = %e, "not following the desktop's color scheme");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the color-scheme listener");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn follow<R: Runtime>(_app: AppHandle<R>) {}

#[cfg(target_os = "linux")]
fn listen<R: Runtime>(app: &AppHandle<R>) -> Result<(), dbus::Error> {
    use dbus::arg::Variant;
    use dbus::blocking::Connection;
    use dbus::message::MatchRule;

    let conn = Connection::new_session()?;
    // Subscribe before reading, so a change in between is not lost.
    let changed = app.clone();
    conn.add_match(
        MatchRule::new_signal(SETTINGS, "SettingChanged"),
        move |(): (), _, msg| {
            let mut args = msg.iter_init();
            if let (Ok(NAMESPACE), Ok(KEY), Ok(value)) = (
                args.read::<&str>(),
                args.read::<&str>(),
                args.read::<Variant<u32>>(),
            ) {
                apply(&changed, store(value.0));
            }
            true
        },
    )?;
    let read: Result<(Variant<Variant<u32>>,), _> = conn
        .with_proxy(PORTAL, PORTAL_PATH, Duration::from_secs(2))
        .method_call(SETTINGS, "Read", (NAMESPACE, KEY));
    match read {
        Ok((value,)) => apply(app, store(value.0.0)),
        // No portal: changes may still be announced if one starts later.
        Err(e) => tracing::debug!(error = %e, "no color scheme from the settings portal"),
    }
    loop {
        // Blocks until a message arrives; the timeout only bounds the wait (libdbus takes an
        // i32 of milliseconds, so not forever).
        conn.process(Duration::from_secs(86_400))?;
    }
}

/// Re-themes the open windows, if there are any (on the main thread, where GTK wants it).
fn apply<R: Runtime>(app: &AppHandle<R>, theme: Option<Theme>) {
    let handle = app.clone();
    let _ = app.run_on_main_thread(move || {
        for window in handle.webview_windows().values() {
            if let Err(e) = window.set_theme(theme) {
                tracing::warn!(error = %e, "cannot re-theme the window");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portals_color_schemes_map_to_window_themes() {
        assert_eq!(theme_of(0), None, "no answer yet keeps GTK's theme");
        assert_eq!(
            theme_of(1),
            Some(Theme::Light),
            "no preference reads as light"
        );
        assert_eq!(theme_of(2), Some(Theme::Dark), "1 is prefer-dark");
        assert_eq!(theme_of(3), Some(Theme::Light), "2 is prefer-light");
        assert_eq!(
            store(7),
            Some(Theme::Light),
            "an unknown value is no preference"
        );
    }
}
