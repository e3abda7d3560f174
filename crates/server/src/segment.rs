//! Path parameters read without refusing before authentication.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

/// A route's one path parameter, as text; empty when it is not valid UTF-8 (`%FF`).
///
/// axum's own `Path<String>` refuses such a segment with a plain-text 400 before any other
/// extractor runs, so before the caller is authenticated and outside the API's error shape. This
/// never refuses: handlers read it after the call was authenticated and answer an unusable
/// parameter as "not found" for their route, like any other id that names nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        Ok(Segment(
            Path::<String>::from_request_parts(parts, state)
                .await
                .map(|Path(text)| text)
                .unwrap_or_default(),
        ))
    }
}
