//! The approval-log monitor's findings, as IPC commands: thin calls into the device session
//! (async, as every command here, so they run off the main thread).

use assent_device::view::{ErrorView, FindingView};
use tauri::State;
use uuid::Uuid;

use crate::desktop::Desktop;

/// Every account's open findings ("a device you may not know", a fork, ...), oldest first.
#[tauri::command(rename_all = "snake_case")]
pub async fn log_findings(desktop: State<'_, Desktop>) -> Result<Vec<FindingView>, ErrorView> {
    Ok(desktop.session.log_findings()?)
}

/// "I know this device": dismisses a finding for good. Answers the findings still open.
#[tauri::command(rename_all = "snake_case")]
pub async fn dismiss_finding(
    desktop: State<'_, Desktop>,
    account_id: Uuid,
    finding_id: String,
) -> Result<Vec<FindingView>, ErrorView> {
    Ok(desktop.session.dismiss_finding(account_id, &finding_id)?)
}
