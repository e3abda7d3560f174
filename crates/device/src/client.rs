//! Signed HTTP calls to the device API.
//!
//! Whatever answers at the service's address is not trusted to behave: every answer is read up to
//! [`MAX_ANSWER_BYTES`] and no further (a larger one is refused after the bound, its rest never
//! read), redirects are never followed (a device call goes to its service or nowhere), and an
//! error's message is stripped of unsafe characters and shortened before anyone sees it.
//!
//! Every call carries a fresh `Authorization: Assent-Device ...` header (new timestamp and nonce
//! per attempt). Decisions are retried with the *same signed body* when the network fails
//! mid-flight: the service records a decision once and answers a repeat as a duplicate, so a
//! decision is never lost and never recorded twice.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use assent_protocol::auth::{DeviceAuthorization, new_nonce};
use assent_protocol::decision::DecisionReceipt;
use assent_protocol::enroll::{
    EnrollPreviewRequest, EnrollPreviewResponse, EnrollmentRequest, EnrollmentResponse,
};
use assent_protocol::error::ErrorBody;
use assent_protocol::request::{DeviceRequest, PendingRequests};
use assent_protocol::text::shown;
use futures_util::StreamExt as _;
use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;
use uuid::Uuid;

use crate::account::Account;
use crate::error::{Error, Result};
use crate::key::DeviceKey;

/// Attempts at delivering one decision before giving up.
const DECISION_ATTEMPTS: u32 = 8;

/// The largest answer a device reads from its service. The largest real one (signed request
/// details with every field at its limit) is a few kilobytes.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Longest service error message shown to a person, in characters.
const MAX_MESSAGE_CHARS: usize = 300;

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// One HTTP client per process: connection pools and TLS roots are shared.
pub(crate) fn http() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            // A device call goes to its service or nowhere: a redirect is a protocol error.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("assent-device/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client builds")
    })
}

/// Why one attempt failed; decides whether to retry.
pub(crate) enum Failure {
    /// No answer (connection refused, reset, timed out).
    Transport(String),
    /// An HTTP error status, with the error body when it had one.
    Status(u16, Option<Box<ErrorBody>>),
    /// A 2xx answer that is not what the protocol says (or larger than allowed).
    Garbled(String),
}

impl Failure {
    fn retryable(&self) -> bool {
        matches!(self, Failure::Transport(_)) || matches!(self, Failure::Status(s, _) if *s >= 500)
    }

    pub(crate) fn into_error(self, server: &Url) -> Error {
        match self {
            Failure::Transport(detail) => Error::Network {
                server: server.to_string(),
                detail,
            },
            Failure::Status(_, Some(body)) => Error::Service {
                code: shown(&body.error_code, 16),
                message: shown(&body.message, MAX_MESSAGE_CHARS),
                revocation: body.revocation.map(Box::new),
            },
            Failure::Status(status, None) => {
                Error::Protocol(format!("HTTP {status} without an Assent error body"))
            }
            Failure::Garbled(detail) => Error::Protocol(detail),
        }
    }
}

/// What failed, without the URL (it adds nothing for a person).
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut detail = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        detail.push_str(": ");
        detail.push_str(&inner.to_string());
        source = inner.source();
    }
    detail
}

/// Reads a body up to `limit` bytes; a longer one is refused as soon as the bound is passed (a
/// declared length over it is refused before reading anything), so memory stays flat whatever
/// the service sends.
pub(crate) async fn read_bounded(
    response: reqwest::Response,
    limit: usize,
) -> std::result::Result<Vec<u8>, Failure> {
    let too_large = || Failure::Garbled(format!("the answer is larger than {} KiB", limit / 1024));
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| Failure::Transport(describe(&e)))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn read_answer<T: DeserializeOwned>(
    response: reqwest::Response,
) -> std::result::Result<T, Failure> {
    let status = response.status();
    let bytes = read_bounded(response, MAX_ANSWER_BYTES).await?;
    if status.is_success() {
        serde_json::from_slice(&bytes)
            .map_err(|e| Failure::Garbled(format!("unreadable answer: {e}")))
    } else {
        Err(Failure::Status(
            status.as_u16(),
            ErrorBody::from_answer(&bytes).map(Box::new),
        ))
    }
}

/// Enrolls with a registration token (the one unauthenticated device call).
///
/// # Errors
/// [`Error::Network`], or [`Error::Service`] (for example `60100` for a used token).
pub async fn enroll(server: &Url, request: &EnrollmentRequest) -> Result<EnrollmentResponse> {
    post_unauthenticated(server, "/device/v1/enroll", request).await
}

/// Asks what a registration token would enroll into, without redeeming it (unauthenticated,
/// like [`enroll`]). The answer is as the service sent it: a caller cleans it before showing it.
///
/// # Errors
/// [`Error::Network`], or [`Error::Service`] (`60100` for an unknown, used or expired token, the
/// same as [`enroll`]).
pub async fn preview(
    server: &Url,
    request: &EnrollPreviewRequest,
) -> Result<EnrollPreviewResponse> {
    post_unauthenticated(server, "/device/v1/enroll/preview", request).await
}

/// POSTs `body` as JSON to `path` without a device signature (the enrollment calls, made before
/// the service knows this device) and reads the answer as any other.
async fn post_unauthenticated<B: serde::Serialize, T: DeserializeOwned>(
    server: &Url,
    path: &str,
    body: &B,
) -> Result<T> {
    let answer = async {
        let response = http()
            .post(endpoint(server, path))
            .json(body)
            .send()
            .await
            .map_err(|e| Failure::Transport(describe(&e)))?;
        read_answer(response).await
    };
    answer.await.map_err(|f| f.into_error(server))
}

/// `server` + `path`, keeping any path prefix the service URL has.
pub(crate) fn endpoint(server: &Url, path: &str) -> Url {
    let mut url = server.clone();
    let prefix = url.path().trim_end_matches('/').to_owned();
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    url.set_path(&format!("{prefix}{path}"));
    url.set_query(query);
    url
}

/// The request target (path and query) of `url`, exactly as it is sent and signed.
pub(crate) fn target(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Signed device calls for one account.
#[derive(Debug, Clone)]
pub struct DeviceClient {
    server: Url,
    device_id: Uuid,
    key: DeviceKey,
}

impl DeviceClient {
    /// A client for `account`, signing with `key`.
    pub fn new(account: &Account, key: DeviceKey) -> Self {
        DeviceClient {
            server: account.server.clone(),
            device_id: account.device_id,
            key,
        }
    }

    /// The `Authorization` header value for a call made now.
    pub(crate) fn authorization(&self, method: &str, target: &str, body: &[u8]) -> String {
        DeviceAuthorization::sign(
            self.key.signing_key(),
            self.device_id,
            method,
            target,
            body,
            unix_now(),
            new_nonce(),
        )
        .render()
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &[u8],
    ) -> std::result::Result<T, Failure> {
        let url = endpoint(&self.server, path);
        let header = self.authorization(method.as_str(), &target(&url), body);
        let mut request = http()
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, header);
        if !body.is_empty() {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Transport(describe(&e)))?;
        read_answer(response).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &[u8],
    ) -> Result<T> {
        self.attempt(method, path, body)
            .await
            .map_err(|f| f.into_error(&self.server))
    }

    /// Ids of requests waiting for this device's person.
    ///
    /// # Errors
    /// [`Error::Network`], [`Error::Service`].
    pub async fn pending(&self) -> Result<Vec<Uuid>> {
        Ok(self
            .call::<PendingRequests>(Method::GET, "/device/v1/requests", &[])
            .await?
            .ids)
    }

    /// A request as the service sent it. **Unverified**: use
    /// [`crate::Authenticator::request`], which checks the service signature.
    ///
    /// # Errors
    /// [`Error::Network`], [`Error::Service`].
    pub async fn request(&self, id: Uuid) -> Result<DeviceRequest> {
        self.call(Method::GET, &format!("/device/v1/requests/{id}"), &[])
            .await
    }

    /// Submits a signed decision body, retrying the same body on network failures and 5xx
    /// answers with backoff (0.5 s doubling, 8 attempts).
    ///
    /// # Errors
    /// The last failure when every attempt failed, or the service's refusal.
    pub async fn decide(&self, id: Uuid, body: &[u8]) -> Result<DecisionReceipt> {
        let path = format!("/device/v1/requests/{id}/decision");
        let mut delay = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            match self
                .attempt::<DecisionReceipt>(Method::POST, &path, body)
                .await
            {
                Ok(receipt) => return Ok(receipt),
                Err(failure) if failure.retryable() && attempt < DECISION_ATTEMPTS => {
                    tracing::warn!(request = %id, attempt, "decision not confirmed; retrying the same signed decision");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(8));
                    attempt += 1;
                }
                Err(failure) => return Err(failure.into_error(&self.server)),
            }
        }
    }

    /// Revokes this device at the service.
    ///
    /// # Errors
    /// [`Error::Network`], [`Error::Service`].
    pub async fn remove(&self) -> Result<()> {
        self.call::<serde_json::Value>(Method::DELETE, "/device/v1/device", &[])
            .await
            .map(|_| ())
    }

    /// The service URL.
    pub fn server(&self) -> &Url {
        &self.server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_path_prefix_and_query() {
        let server = Url::parse("https://auth.example.com/assent/").unwrap();
        let url = endpoint(&server, "/device/v1/requests?status=pending");
        assert_eq!(
            url.as_str(),
            "https://auth.example.com/assent/device/v1/requests?status=pending"
        );
        assert_eq!(target(&url), "/assent/device/v1/requests?status=pending");
        let bare = endpoint(
            &Url::parse("http://127.0.0.1:7070").unwrap(),
            "/device/v1/stream",
        );
        assert_eq!(target(&bare), "/device/v1/stream");
    }
}
