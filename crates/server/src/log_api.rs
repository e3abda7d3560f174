//! The approval log over HTTP, for anyone (relying parties checking receipts, devices monitoring
//! their person's entries, auditors): the latest checkpoint, the entries, inclusion and
//! consistency proofs. No key is needed; calls are budgeted per source address. The wire types
//! are in `assent_protocol::approval_log`.

use assent_protocol::approval_log::{
    CHECKPOINT_PATH, CONSISTENCY_PATH, ConsistencyProof, ENTRIES_PATH, INCLUSION_PATH,
    InclusionProof, LogEntries, LogLeaf, MAX_ENTRIES_PER_PAGE, hashes_hex,
};
use assent_protocol::crypto::b64url;
use assent_protocol::error::ErrorCode;
use assent_protocol::merkle::ProofError;
use assent_protocol::params::Params;
use axum::extract::{FromRequestParts, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::approval_log::LogError;
use crate::backend::{call_source, rate_limited};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A call to the log API: within its source's budget, with its query parameters.
#[derive(Debug)]
pub struct LogCall {
    params: Params,
}

impl FromRequestParts<AppState> for LogCall {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        state
            .rates
            .check_source(call_source(state, parts), std::time::Instant::now())
            .map_err(|wait| rate_limited(wait, "address"))?;
        Ok(LogCall {
            params: Params::parse(parts.uri.query(), None, b"")?,
        })
    }
}

impl LogCall {
    fn required(&self, name: &'static str) -> Result<u64, ApiError> {
        self.params.unsigned(name)?.ok_or_else(|| {
            ApiError::param(format!("{name} is required.")).with_field(name, "is required")
        })
    }
}

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Store(e) => ApiError::internal(&e),
            LogError::Inconsistent { .. } => ApiError::new(
                ErrorCode::LogInconsistent,
                "The approval log's history in the database does not match a checkpoint this service signed: it was rewritten. Nothing more is signed until an operator restores it.",
            ),
            LogError::Proof(e) => out_of_range(&e),
        }
    }
}

fn out_of_range(e: &ProofError) -> ApiError {
    ApiError::param(format!("{e}."))
}

/// `GET /log/v1/checkpoint[?min_size=N]`: the signed note, as text.
async fn checkpoint(State(state): State<AppState>, call: LogCall) -> ApiResult<impl IntoResponse> {
    let min_size = call.params.unsigned("min_size")?.unwrap_or(0);
    let checkpoint = state
        .log
        .checkpoint(state.store.as_ref(), &state.notary, min_size, state.now())
        .await?;
    Ok((
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        checkpoint.note,
    ))
}

/// `GET /log/v1/entries?start=S&end=E`.
async fn entries(State(state): State<AppState>, call: LogCall) -> ApiResult<Json<LogEntries>> {
    let start = call.required("start")?;
    let end = call.required("end")?;
    let size = state.store.log_size().await?;
    if start >= end || end > size || end - start > MAX_ENTRIES_PER_PAGE {
        return Err(ApiError::param(format!(
            "Ask for 1 to {MAX_ENTRIES_PER_PAGE} entries with start < end <= {size} (the log's size)."
        )));
    }
    let leaves = state.store.log_leaves(start, end).await?;
    if leaves.len() as u64 != end - start {
        return Err(ApiError::internal(&format!(
            "the approval log has a gap between {start} and {end}"
        )));
    }
    Ok(Json(LogEntries {
        entries: (start..)
            .zip(leaves)
            .map(|(index, leaf)| LogLeaf {
                index,
                leaf: b64url(&leaf),
            })
            .collect(),
    }))
}

/// `GET /log/v1/proof/inclusion?index=I&size=N`.
async fn inclusion(
    State(state): State<AppState>,
    call: LogCall,
) -> ApiResult<Json<InclusionProof>> {
    let index = call.required("index")?;
    let size = call.required("size")?;
    let proof = state
        .log
        .inclusion_proof(state.store.as_ref(), index, size)
        .await?;
    Ok(Json(InclusionProof {
        index,
        size,
        proof: hashes_hex(&proof),
    }))
}

/// `GET /log/v1/proof/consistency?from=M&to=N`.
async fn consistency(
    State(state): State<AppState>,
    call: LogCall,
) -> ApiResult<Json<ConsistencyProof>> {
    let from = call.required("from")?;
    let to = call.required("to")?;
    let proof = state
        .log
        .consistency_proof(state.store.as_ref(), from, to)
        .await?;
    Ok(Json(ConsistencyProof {
        from,
        to,
        proof: hashes_hex(&proof),
    }))
}

/// The log routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(CHECKPOINT_PATH, get(checkpoint))
        .route(ENTRIES_PATH, get(entries))
        .route(INCLUSION_PATH, get(inclusion))
        .route(CONSISTENCY_PATH, get(consistency))
}
