fn main() {
    // The config lives at the workspace root so `cargo build` from the root needs no Tauri CLI.
    tauri_build::try_build(tauri_build::Attributes::new().config_path("../tauri.conf.json"))
        .expect("tauri-build failed; see the message above");
}
