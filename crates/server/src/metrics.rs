//! `GET /metrics` in the Prometheus text exposition format.

use std::fmt::Write as _;

use assent_protocol::request::RequestStatus;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::state::AppState;

/// Renders the metrics.
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let counts = state.store.metrics().await?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP assent_connected_devices Devices with an open push stream on this instance."
    );
    let _ = writeln!(out, "# TYPE assent_connected_devices gauge");
    let _ = writeln!(out, "assent_connected_devices {}", state.hub.connected());
    let _ = writeln!(
        out,
        "# HELP assent_requests Approval requests by stored status."
    );
    let _ = writeln!(out, "# TYPE assent_requests gauge");
    for status in RequestStatus::ALL {
        let n = counts
            .requests_by_status
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(out, "assent_requests{{status=\"{status}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP assent_callback_backlog Callbacks waiting to be delivered."
    );
    let _ = writeln!(out, "# TYPE assent_callback_backlog gauge");
    let _ = writeln!(out, "assent_callback_backlog {}", counts.callback_backlog);
    Ok((
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    ))
}
