fn main() {
    // The config lives at the workspace root so `cargo build` from the root needs no Tauri CLI.
    // Our own commands get `allow-*` permissions, so only windows granted them can call them.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "get_state",
        "enroll",
        "preview_enrollment",
        "reconnect_now",
        "remove_account",
        "approve",
        "deny",
        "history",
        "set_settings",
        "update_state",
        "check_update",
        "install_update",
        "code",
        "copy_code",
        "code_digits",
        "set_code_digits",
        "clocks",
        "log_findings",
        "dismiss_finding",
    ]);
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .config_path("../tauri.conf.json")
            .app_manifest(manifest),
    )
    .expect("tauri-build failed; see the message above");
}
