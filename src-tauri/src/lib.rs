//! The Assent desktop authenticator: a thin Tauri shell over `assent-device`.
//!
//! The device session (`assent_device::DeviceSession`) does the work: one push stream per
//! enrolled account, the verified pending requests, revocation, logos and settings. This crate
//! is the glue around it: the IPC commands, the tray, native notifications, the window and deep
//! links. It lives in the tray, shows a native notification per new request, and a window with
//! the request's branding, details and Approve / Deny. The
//! window is destroyed on close (the web view's memory is returned) and recreated when needed; the
//! app keeps running in the tray, where Quit is. Deep links (`assent://enroll?...`) reach the
//! running instance through the single-instance plugin and are confirmed in the UI before anything
//! is enrolled.

mod autostart;
pub mod clipboard;
pub mod codes;
pub mod commands;
pub mod desktop;
mod events;
pub mod findings;
mod notify;
#[cfg(target_os = "linux")]
mod scheme_handler;
#[cfg(target_os = "linux")]
mod single_instance;
mod theme;
mod tray;
pub mod updates;
pub mod window;

use std::sync::Arc;

use assent_device::{DEFAULT_KEYCHAIN_SERVICE, DataDir, Keychain, StreamConfig};
use tauri::{AppHandle, Manager as _, RunEvent, Runtime, WindowEvent};

use crate::desktop::Desktop;

/// The commands and window behaviour, without plugins: what the command tests run on Tauri's
/// mock runtime.
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder
        .invoke_handler(tauri::generate_handler![
            commands::get_state,
            commands::enroll,
            commands::preview_enrollment,
            commands::reconnect_now,
            commands::remove_account,
            commands::approve,
            commands::deny,
            commands::history,
            commands::set_settings,
            commands::update_state,
            commands::check_update,
            commands::install_update,
            codes::code,
            codes::copy_code,
            codes::code_digits,
            codes::set_code_digits,
            codes::clocks,
            findings::log_findings,
            findings::dismiss_finding,
        ])
        .manage(updates::Updates::default())
        .manage(Arc::new(clipboard::CodeClipboard::system()))
        .manage(notify::Shown::default())
        .on_window_event(|window, event| {
            // Focused: the request for attention (a new request's urgency hint) is answered.
            if let WindowEvent::Focused(true) = event {
                let _ = window.request_user_attention(None);
            }
            if let WindowEvent::Destroyed = event {
                // Closing the window destroys its web view; the app keeps running in the tray
                // (see `RunEvent::ExitRequested` in `run`) so no request is missed.
                tracing::debug!(
                    window = window.label(),
                    "window closed; still running in the tray"
                );
            }
        })
}

/// `assent:` links among command-line arguments (how deep links arrive on Linux and Windows,
/// and how `assent demo` hands the app its link). Each is parsed (and refused when malformed) by
/// the device session before anything is shown; at most a few are taken from one launch.
fn enroll_links(args: &[String]) -> Vec<String> {
    args.iter()
        .filter(|a| a.starts_with("assent:"))
        .take(4)
        .cloned()
        .collect()
}

fn offer_links<R: Runtime>(app: &AppHandle<R>, links: Vec<String>) {
    for link in links {
        app.state::<Desktop>().offer_enroll_link(app, &link);
    }
}

/// Another launch of the app: bring the window forward and offer any enrollment link it carried.
fn another_launch<R: Runtime>(app: &AppHandle<R>, args: &[String]) {
    crate::window::show_main(app);
    offer_links(app, enroll_links(args));
}

fn data_dir() -> std::path::PathBuf {
    std::env::var_os("ASSENT_DATA_DIR")
        .map(std::path::PathBuf::from)
        .or_else(DataDir::default_path)
        .expect("no home directory: set ASSENT_DATA_DIR")
}

/// One instance per data directory: the default directory gets the app's identifier; another
/// directory (a second profile, a test) is a separate identity and may run beside it. Linux uses
/// it as the socket name, other platforms as the single-instance plugin's id.
fn instance_id(data_dir: &std::path::Path) -> String {
    const IDENTIFIER: &str = "dev.assent.desktop";
    if DataDir::default_path().as_deref() == Some(data_dir) {
        return IDENTIFIER.to_owned();
    }
    // FNV-1a: a short, stable D-Bus-safe name for the path (not a security boundary).
    let hash = data_dir
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("{IDENTIFIER}.p{hash:016x}")
}

/// True when a system package (.deb, .rpm) installed this binary: the bundler marks the binary
/// it packages with its bundle type.
#[cfg(any(target_os = "linux", all(debug_assertions, windows)))]
fn installed_by_a_package() -> bool {
    use tauri::utils::{config::BundleType, platform::bundle_type};
    matches!(bundle_type(), Some(BundleType::Deb | BundleType::Rpm))
}

/// Makes the handler the deep-link plugin registered runnable by every `xdg-open` (see
/// `scheme_handler`); a failure only costs links from browsers, so it is logged.
#[cfg(target_os = "linux")]
fn unquote_handler_exec<R: Runtime>(app: &tauri::App<R>) {
    let Some(binary) = tauri::utils::platform::current_exe()
        .ok()
        .and_then(|b| b.file_name().map(|n| n.to_string_lossy().into_owned()))
    else {
        return;
    };
    let Ok(data) = app.path().data_dir() else {
        return;
    };
    let entry = data
        .join("applications")
        .join(format!("{binary}-handler.desktop"));
    if let Err(e) = scheme_handler::unquote_exec(&entry) {
        tracing::warn!(error = %e, path = %entry.display(), "could not rewrite the assent:// handler");
    }
}

/// Builds and runs the app until it quits.
pub fn run() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ASSENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tao=warn,wry=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    let streams = match StreamConfig::from_env() {
        Ok(streams) => streams,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let args: Vec<String> = std::env::args().collect();

    let hidden = args.iter().any(|a| a == "--hidden");
    let data_dir = data_dir();
    // A second launch hands its arguments (deep links) to the running instance and exits.
    #[cfg(target_os = "linux")]
    let socket = single_instance::socket_path(&instance_id(&data_dir), &data_dir);
    #[cfg(target_os = "linux")]
    let listener = match single_instance::claim(&socket, &args) {
        Ok(single_instance::Claim::Handed) => return,
        Ok(single_instance::Claim::Primary(listener)) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot check for a running instance; starting anyway");
            None
        }
    };
    let builder = tauri::Builder::default();
    #[cfg(not(target_os = "linux"))]
    let builder = builder.plugin(
        tauri_plugin_single_instance::Builder::new()
            .dbus_id(instance_id(&data_dir))
            .callback(|app, argv, _cwd| another_launch(app, &argv))
            .build(),
    );
    let builder = builder
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec!["--hidden"]),
        ));
    let app = with_commands(builder)
        .setup(move |app| {
            let handle = app.handle().clone();
            tracing::info!(
                version = %updates::current_version(&handle),
                "Assent desktop starting"
            );
            let (desktop, session_events) = Desktop::open(
                data_dir.clone(),
                Arc::new(Keychain::from_env_or(DEFAULT_KEYCHAIN_SERVICE)),
                streams,
            )?;
            #[cfg(target_os = "linux")]
            if let Some(listener) = listener {
                single_instance::serve(listener, handle.clone(), another_launch);
                app.manage(updates::InstanceSocket(socket));
            }
            let paused = desktop.session.settings().notifications_paused;
            app.manage(desktop);
            events::forward(handle.clone(), session_events);
            theme::follow(handle.clone());
            if let Err(e) = tray::create(&handle, paused) {
                tracing::warn!(error = %e, "no tray icon on this desktop");
            }
            {
                use tauri_plugin_deep_link::DeepLinkExt as _;
                // A .deb or .rpm installs a .desktop file declaring x-scheme-handler/assent, so
                // the installed app writes nothing at start; an AppImage or a development build
                // has no installed .desktop file and registers itself for the person.
                #[cfg(any(target_os = "linux", all(debug_assertions, windows)))]
                if !installed_by_a_package() {
                    if let Err(e) = app.deep_link().register_all() {
                        tracing::warn!(error = %e, "could not register the assent:// scheme");
                    }
                    #[cfg(target_os = "linux")]
                    unquote_handler_exec(app);
                }
                let links_handle = handle.clone();
                app.deep_link().on_open_url(move |event| {
                    offer_links(
                        &links_handle,
                        event
                            .urls()
                            .iter()
                            .map(|u| u.to_string())
                            .filter(|u| u.starts_with("assent:"))
                            .take(4)
                            .collect(),
                    );
                });
            }
            offer_links(&handle, enroll_links(&args));
            // Only a bundled app updates itself: an unbundled build (cargo run, the tests' debug
            // binary) has nothing an update could replace safely, and stays off the network.
            if tauri::utils::platform::bundle_type().is_some() {
                handle.state::<updates::Updates>().plugin_registered();
                updates::schedule(handle.clone());
            }
            if !hidden {
                window::show_main(&handle);
            }
            tauri::async_runtime::spawn(async move {
                if let Err(e) = handle.state::<Desktop>().session.start().await {
                    tracing::error!(error = %e, "cannot start the accounts' streams");
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!("../tauri.conf.json"))
        .expect("the desktop app failed to start");
    app.run(|_app, event| {
        if let RunEvent::ExitRequested {
            api, code: None, ..
        } = event
        {
            // Closing the last window must not quit: the app lives in the tray; Quit is there.
            api.prevent_exit();
        }
    });
}
