//! Command-layer tests on Tauri's mock runtime, with the app's real configuration and
//! capabilities (so the permission system is exercised too).

mod commands;
