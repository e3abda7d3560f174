//! The Assent desktop authenticator: a thin Tauri shell over `assent-device`.

/// Builds and runs the app until it quits.
pub fn run() {
    tauri::Builder::default()
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("the desktop app failed to start");
}
