//! The one error type at the HTTP edge: a stable code and a helpful message, never internals.

use std::borrow::Cow;
use std::fmt;

use assent_protocol::error::{ErrorBody, ErrorCode};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// An error answered to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, for a person.
    pub message: Cow<'static, str>,
    /// The parameter at fault and what is wrong with it, when one is.
    pub field: Option<(&'static str, String)>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Names the parameter at fault (`errors.<name> = <problem>` in the body).
    pub fn with_field(mut self, name: &'static str, problem: impl Into<String>) -> Self {
        self.field = Some((name, problem.into()));
        self
    }

    /// A missing or invalid parameter (60004).
    pub fn param(message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(ErrorCode::InvalidParameter, message)
    }

    /// A body that cannot be read (60002).
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::new(ErrorCode::InvalidRequest, message)
    }

    /// An unexpected failure: logged in full here, answered without details.
    pub fn internal(error: &dyn fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        ApiError::new(
            ErrorCode::Internal,
            "Something went wrong inside the service; try again shortly.",
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = ErrorBody::new(self.code, self.message);
        if let Some((name, problem)) = self.field {
            body = body.with_field(name, problem);
        }
        (status, Json(body)).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
