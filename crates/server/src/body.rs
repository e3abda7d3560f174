//! Reading request bodies with the size limit and the project's error codes.

use std::time::Duration;

use assent_protocol::error::ErrorCode;
use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;

use crate::error::ApiError;

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("The request body is larger than {limit} bytes."),
    )
}

/// Reads the whole body within `timeout`, refusing more than `limit` bytes with 60108 before
/// reading them when the length is declared. The deadline covers the whole body, not each chunk,
/// so a client trickling a byte at a time cannot hold the call open.
///
/// # Errors
/// 60108 when too large; 60002 when the body cannot be read or does not arrive in time.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            ApiError::bad_request(format!(
                "The request body did not arrive within {} seconds.",
                timeout.as_secs()
            ))
        })?;
    read.map_err(|e| {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return too_large(limit);
            }
            source = err.source();
        }
        ApiError::bad_request("The request body could not be read.")
    })
}

/// [`read_body`] with the service's configured size limit and deadline.
///
/// # Errors
/// As [`read_body`].
pub async fn read_call_body(
    state: &crate::state::AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    read_body(
        headers,
        body,
        state.config.limits.max_body_bytes,
        state.config.connections.body_timeout,
    )
    .await
}
