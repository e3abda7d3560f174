//! The one error type at the HTTP edge: a stable code and a helpful message, never internals.

use std::borrow::Cow;
use std::fmt;

use assent_protocol::error::{ErrorBody, ErrorCode};
use assent_protocol::params::ParamsError;
use assent_protocol::revocation::RevocationNotice;
use assent_protocol::signed::Signed;
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
    pub field: Option<(Cow<'static, str>, String)>,
    /// Seconds until a retry can succeed (`Retry-After`), for rate limits and back-offs.
    pub retry_after: Option<u64>,
    /// The signed notice a revoked device verifies before forgetting its key (60103 only; boxed
    /// so that every `Result<_, ApiError>` stays small).
    pub revocation: Option<Box<Signed<RevocationNotice>>>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            revocation: None,
        }
    }

    /// 60103 for a revoked device, with the service-signed notice that lets the device believe
    /// it (an error code alone never makes a device delete its key).
    pub fn device_revoked(notice: Signed<RevocationNotice>) -> Self {
        let mut error = ApiError::new(
            ErrorCode::DeviceRevoked,
            "This device has been revoked; enroll it again to use it.",
        );
        error.revocation = Some(Box::new(notice));
        error
    }

    /// Names the parameter at fault (`errors.<name> = <problem>` in the body).
    pub fn with_field(
        mut self,
        name: impl Into<Cow<'static, str>>,
        problem: impl Into<String>,
    ) -> Self {
        self.field = Some((name.into(), problem.into()));
        self
    }

    /// Says when a retry can succeed.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
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

impl From<ParamsError> for ApiError {
    fn from(e: ParamsError) -> Self {
        let field = e
            .field
            .map(|name| (Cow::Owned(name), "is invalid".to_owned()));
        ApiError {
            code: e.code,
            message: e.message,
            field,
            retry_after: None,
            revocation: None,
        }
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
        if let Some(notice) = self.revocation {
            body = body.with_revocation(*notice);
        }
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        // Read by the metrics middleware (refusals by code); never sent.
        response.extensions_mut().insert(self.code);
        response
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
