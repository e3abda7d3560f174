//! Relying-party logos, fetched by Rust so the desktop web view loads nothing remote and decodes
//! nothing foreign.
//!
//! A logo is a request the approver's machine makes for someone else, to an address a relying
//! party (through the service) chose. So:
//!
//! - the URL must be http(s) without a user name or password; no cookie, credential, referrer or
//!   proxy is ever used;
//! - every address a host resolves to is checked *before* connecting, on every redirect hop
//!   (at most [`MAX_REDIRECTS`]), and the connection goes to the checked address (the resolver
//!   that checks is the one that connects, so a name cannot resolve twice to different answers).
//!   Loopback, private, link-local, shared, multicast and other non-public addresses are refused
//!   ([`assent_protocol::net::is_public_ip`]). One exception, for demos and tests on one machine:
//!   when the account's own service is on loopback ([`LogoScope::for_service`]), the logo's first
//!   address may be loopback too; a redirect never may;
//! - the answer must arrive within the time limit and be at most `max_bytes`, be declared as PNG,
//!   JPEG, GIF or WebP and start with that format's signature;
//! - it is then decoded and re-encoded here at a fixed size ([`picture`]): what reaches a user
//!   interface is always a PNG this crate wrote.
//!
//! Anything else is an error; the UI then shows a placeholder.

pub mod picture;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use assent_protocol::net::{is_loopback_host, is_public_ip};
use base64::Engine as _;
use futures_util::StreamExt as _;
use url::{Host, Url};

pub use picture::LOGO_SIDE;

/// Redirects followed at most for one logo.
pub const MAX_REDIRECTS: usize = 3;

/// Limits for one logo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogoLimits {
    /// Largest accepted download, in bytes.
    pub max_bytes: usize,
    /// Longest the whole fetch (every hop, and decoding) may take.
    pub timeout: Duration,
}

impl Default for LogoLimits {
    fn default() -> Self {
        LogoLimits {
            max_bytes: 256 * 1024,
            timeout: Duration::from_secs(3),
        }
    }
}

/// Which addresses a logo may be fetched from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoScope {
    /// Public addresses only: every real deployment.
    PublicOnly,
    /// Public addresses, and loopback for the first hop (never for a redirect): only for an
    /// account whose service is itself on loopback (the demo, tests on one machine).
    LoopbackToo,
}

impl LogoScope {
    /// The scope for logos of an account on `server`: loopback is allowed only when the service
    /// itself is on loopback.
    pub fn for_service(server: &Url) -> Self {
        if server.host().is_some_and(|h| is_loopback_host(&h)) {
            LogoScope::LoopbackToo
        } else {
            LogoScope::PublicOnly
        }
    }

    fn allows(self, ip: IpAddr, hop: usize) -> bool {
        is_public_ip(ip) || (self == LogoScope::LoopbackToo && hop == 0 && ip.is_loopback())
    }
}

/// A checked logo, re-encoded: always a [`LOGO_SIDE`]-pixel square PNG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoImage {
    /// The format the relying party sent (`image/png`, `image/jpeg`, `image/gif`, `image/webp`).
    pub source_mime: &'static str,
    /// The PNG this crate encoded.
    pub png: Vec<u8>,
}

impl LogoImage {
    /// A `data:` URL the web view can show without a network request.
    pub fn data_url(&self) -> String {
        format!(
            "data:image/png;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&self.png)
        )
    }
}

/// Why a logo was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogoError {
    /// Not an http(s) URL, or one with a user name or password.
    #[error("logo URL is not an http(s) address without credentials")]
    BadUrl,
    /// The address (after resolving, on any hop) is not one a logo may come from.
    #[error("logo address {0} is not public; not fetched")]
    Refused(String),
    /// More redirects than [`MAX_REDIRECTS`], or a redirect without a usable `Location`.
    #[error("logo redirected too often or nowhere")]
    Redirects,
    /// Could not connect or the connection broke.
    #[error("logo could not be fetched: {0}")]
    Unreachable(String),
    /// Did not arrive in time.
    #[error("logo took longer than the time limit")]
    Timeout,
    /// Answered with an error status.
    #[error("logo server answered HTTP {0}")]
    Status(u16),
    /// Larger than the size limit.
    #[error("logo is larger than {0} bytes")]
    TooLarge(usize),
    /// Not one of the accepted image formats (declared or actual), or not decodable within the
    /// bounds (see [`picture`]).
    #[error("logo is not an acceptable PNG, JPEG, GIF or WebP image ({0})")]
    NotAnImage(String),
}

/// The accepted format of `bytes` (its MIME type), from its signature.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    picture::sniff(bytes).map(|(_, mime)| mime)
}

/// A resolver that refuses names resolving to any address outside the scope: the client using
/// it connects only to addresses that were checked.
#[derive(Debug)]
struct CheckedResolver {
    scope: LogoScope,
    hop: usize,
}

/// The error a [`CheckedResolver`] fails with (found again in the error's source chain).
#[derive(Debug)]
struct RefusedAddress(IpAddr);

impl std::fmt::Display for RefusedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not a public address", self.0)
    }
}

impl std::error::Error for RefusedAddress {}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let (scope, hop) = (self.scope, self.hop);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            // Every address must pass: a name with one public and one private address could
            // otherwise be connected to the private one.
            if let Some(bad) = addrs.iter().find(|a| !scope.allows(a.ip(), hop)) {
                return Err(
                    Box::new(RefusedAddress(bad.ip())) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The client for one (scope, hop) pair: no redirects followed by reqwest (we follow them, and
/// check each), no proxy (it would resolve names where we cannot check them), no cookies, no
/// referrer.
fn client(scope: LogoScope, hop: usize) -> &'static reqwest::Client {
    static CLIENTS: OnceLock<[reqwest::Client; 3]> = OnceLock::new();
    let build = |scope: LogoScope, hop: usize| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver { scope, hop }))
            .user_agent(concat!("assent-device/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client builds")
    };
    let clients = CLIENTS.get_or_init(|| {
        [
            build(LogoScope::PublicOnly, 1),
            build(LogoScope::LoopbackToo, 0),
            build(LogoScope::PublicOnly, 0),
        ]
    });
    match (scope, hop) {
        (LogoScope::LoopbackToo, 0) => &clients[1],
        (LogoScope::PublicOnly, 0) => &clients[2],
        _ => &clients[0],
    }
}

/// Checks one hop's URL before any connection: scheme, credentials, and an IP-literal host
/// (names are checked by the resolver, after resolving).
fn check_hop(url: &Url, scope: LogoScope, hop: usize) -> Result<(), LogoError> {
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(LogoError::BadUrl);
    }
    let ip = match url.host() {
        None => return Err(LogoError::BadUrl),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        // A name for this machine is refused by its form (it may not even resolve, or resolve
        // differently later); any other name is checked by the resolver.
        Some(host @ Host::Domain(name)) if is_loopback_host(&host) => {
            return if scope.allows(IpAddr::from([127, 0, 0, 1]), hop) {
                Ok(())
            } else {
                Err(LogoError::Refused(name.to_owned()))
            };
        }
        Some(Host::Domain(_)) => return Ok(()),
    };
    if scope.allows(ip, hop) {
        Ok(())
    } else {
        Err(LogoError::Refused(ip.to_string()))
    }
}

fn transport_error(e: reqwest::Error) -> LogoError {
    let mut source = std::error::Error::source(&e);
    while let Some(inner) = source {
        if let Some(refused) = inner.downcast_ref::<RefusedAddress>() {
            return LogoError::Refused(refused.0.to_string());
        }
        source = inner.source();
    }
    LogoError::Unreachable(e.without_url().to_string())
}

/// Fetches, checks and re-encodes a logo. `scope` comes from the account's service
/// ([`LogoScope::for_service`]).
///
/// # Errors
/// A [`LogoError`] saying why it was refused.
pub async fn fetch_logo(
    url: &str,
    limits: LogoLimits,
    scope: LogoScope,
) -> Result<LogoImage, LogoError> {
    let parsed = Url::parse(url).map_err(|_| LogoError::BadUrl)?;
    tokio::time::timeout(limits.timeout, fetch(parsed, limits.max_bytes, scope))
        .await
        .map_err(|_| LogoError::Timeout)?
}

async fn fetch(mut url: Url, max_bytes: usize, scope: LogoScope) -> Result<LogoImage, LogoError> {
    let mut hop = 0;
    let response = loop {
        check_hop(&url, scope, hop)?;
        let response = client(scope, hop)
            .get(url.clone())
            .send()
            .await
            .map_err(transport_error)?;
        if !response.status().is_redirection() {
            break response;
        }
        hop += 1;
        if hop > MAX_REDIRECTS {
            return Err(LogoError::Redirects);
        }
        url = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|location| url.join(location).ok())
            .ok_or(LogoError::Redirects)?;
    };
    if !response.status().is_success() {
        return Err(LogoError::Status(response.status().as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|n| n > max_bytes as u64)
    {
        return Err(LogoError::TooLarge(max_bytes));
    }
    let declared = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let declared = match declared.as_str() {
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" => declared,
        "image/jpg" => "image/jpeg".to_owned(),
        other => {
            return Err(LogoError::NotAnImage(format!(
                "declared as {:?}",
                other.chars().take(40).collect::<String>()
            )));
        }
    };
    let mut bytes = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| LogoError::Unreachable(e.without_url().to_string()))?;
        if bytes.len() + chunk.len() > max_bytes {
            return Err(LogoError::TooLarge(max_bytes));
        }
        bytes.extend_from_slice(&chunk);
    }
    let actual = match sniff(&bytes) {
        Some(actual) if actual == declared => actual,
        Some(actual) => {
            return Err(LogoError::NotAnImage(format!(
                "declared as {declared} but is {actual}"
            )));
        }
        None => {
            return Err(LogoError::NotAnImage(format!(
                "declared as {declared} but is not an image"
            )));
        }
    };
    // Decoding is CPU work (bounded by `picture`'s limits): off the async threads.
    let png = tokio::task::spawn_blocking(move || picture::normalize(&bytes))
        .await
        .map_err(|e| LogoError::NotAnImage(format!("decoding failed: {e}")))?
        .map_err(|e| LogoError::NotAnImage(e.to_string()))?;
    Ok(LogoImage {
        source_mime: actual,
        png,
    })
}

/// What [`LogoCache::lookup`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoLookup {
    /// The logo, as a `data:` URL.
    Ready(String),
    /// A recent fetch failed; show the placeholder until the retry time.
    Placeholder,
    /// Not cached, or a failure whose retry time has come: fetch it and [`LogoCache::store`].
    Fetch,
}

#[derive(Debug, Clone)]
enum Slot {
    Ready(String),
    Failed { failures: u32, retry_at: Instant },
}

/// Logos by URL, at most `capacity` of them (the least recently used goes first). A failed fetch
/// is remembered only until its retry time (`retry_after`, doubling with each consecutive
/// failure up to 32 times it), so a logo server that was down at start is tried again instead
/// of leaving the placeholder until restart. Pure bookkeeping: the caller fetches and passes
/// `now`.
#[derive(Debug)]
pub struct LogoCache {
    slots: HashMap<String, Slot>,
    order: VecDeque<String>,
    capacity: usize,
    retry_after: Duration,
}

impl LogoCache {
    /// A cache of at most `capacity` logos (at least one) retrying failures after `retry_after`.
    pub fn new(capacity: usize, retry_after: Duration) -> Self {
        LogoCache {
            slots: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            retry_after,
        }
    }

    /// Number of logos (and remembered failures) held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Bytes of `data:` URLs held: at most `capacity` logos of one fixed size each.
    pub fn bytes(&self) -> usize {
        self.slots
            .values()
            .map(|slot| match slot {
                Slot::Ready(data) => data.len(),
                Slot::Failed { .. } => 0,
            })
            .sum()
    }

    fn touch(&mut self, url: &str) {
        if let Some(at) = self.order.iter().position(|u| u == url) {
            let url = self.order.remove(at).expect("position is in range");
            self.order.push_back(url);
        }
    }

    /// What to do for `url` at `now`.
    pub fn lookup(&mut self, url: &str, now: Instant) -> LogoLookup {
        let found = match self.slots.get(url) {
            None => return LogoLookup::Fetch,
            Some(Slot::Ready(data)) => LogoLookup::Ready(data.clone()),
            Some(Slot::Failed { retry_at, .. }) if now >= *retry_at => LogoLookup::Fetch,
            Some(Slot::Failed { .. }) => LogoLookup::Placeholder,
        };
        self.touch(url);
        found
    }

    /// Records the result of fetching `url` at `now`; returns the `data:` URL to show, if any.
    pub fn store(
        &mut self,
        url: &str,
        fetched: Result<LogoImage, LogoError>,
        now: Instant,
    ) -> Option<String> {
        let (slot, shown) = match fetched {
            Ok(image) => {
                let data = image.data_url();
                (Slot::Ready(data.clone()), Some(data))
            }
            Err(_) => {
                let failures = match self.slots.get(url) {
                    Some(Slot::Failed { failures, .. }) => failures.saturating_add(1),
                    _ => 1,
                };
                let factor = 1u32 << (failures - 1).min(5);
                (
                    Slot::Failed {
                        failures,
                        retry_at: now + self.retry_after * factor,
                    },
                    None,
                )
            }
        };
        if self.slots.insert(url.to_owned(), slot).is_some() {
            self.touch(url);
        } else {
            self.order.push_back(url.to_owned());
            while self.slots.len() > self.capacity {
                let Some(oldest) = self.order.pop_front() else {
                    break;
                };
                self.slots.remove(&oldest);
            }
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png() -> LogoImage {
        LogoImage {
            source_mime: "image/png",
            png: b"\x89PNG\r\n\x1a\n".to_vec(),
        }
    }

    #[test]
    fn a_failed_logo_is_retried_after_its_delay_and_the_delay_grows() {
        let start = Instant::now();
        let mut cache = LogoCache::new(8, Duration::from_secs(60));
        let url = "https://acme.example/logo.png";
        assert_eq!(cache.lookup(url, start), LogoLookup::Fetch);
        assert_eq!(cache.store(url, Err(LogoError::Status(503)), start), None);
        assert_eq!(
            cache.lookup(url, start + Duration::from_secs(59)),
            LogoLookup::Placeholder,
            "no refetch storm before the retry time"
        );
        let retry = start + Duration::from_secs(60);
        assert_eq!(
            cache.lookup(url, retry),
            LogoLookup::Fetch,
            "retried once its time has come"
        );
        cache.store(url, Err(LogoError::Timeout), retry);
        assert_eq!(
            cache.lookup(url, retry + Duration::from_secs(119)),
            LogoLookup::Placeholder,
            "a second failure waits twice as long"
        );
        let later = retry + Duration::from_secs(120);
        assert_eq!(cache.lookup(url, later), LogoLookup::Fetch);
        let shown = cache.store(url, Ok(png()), later);
        assert!(
            shown
                .as_deref()
                .is_some_and(|d| d.starts_with("data:image/png;base64,"))
        );
        assert_eq!(cache.lookup(url, later), LogoLookup::Ready(shown.unwrap()));
    }

    #[test]
    fn the_retry_delay_is_capped() {
        let start = Instant::now();
        let mut cache = LogoCache::new(8, Duration::from_secs(1));
        for _ in 0..40 {
            cache.store("u", Err(LogoError::BadUrl), start);
        }
        assert_eq!(
            cache.lookup("u", start + Duration::from_secs(32)),
            LogoLookup::Fetch,
            "at most 32 times the delay"
        );
    }

    #[test]
    fn the_cache_is_bounded_and_drops_the_least_recently_used() {
        let now = Instant::now();
        let mut cache = LogoCache::new(3, Duration::from_secs(60));
        for url in ["a", "b", "c"] {
            cache.store(url, Ok(png()), now);
        }
        assert!(
            matches!(cache.lookup("a", now), LogoLookup::Ready(_)),
            "a is used again"
        );
        cache.store("d", Ok(png()), now);
        assert_eq!(cache.len(), 3, "never more than the capacity");
        assert_eq!(
            cache.lookup("b", now),
            LogoLookup::Fetch,
            "b was the least recently used"
        );
        assert!(matches!(cache.lookup("a", now), LogoLookup::Ready(_)));
        assert!(matches!(cache.lookup("d", now), LogoLookup::Ready(_)));
        for i in 0..100 {
            cache.store(&format!("u{i}"), Err(LogoError::BadUrl), now);
        }
        assert_eq!(cache.len(), 3, "failures count against the bound too");
    }

    #[test]
    fn sniffs_the_accepted_formats_only() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a...."), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<svg xmlns="), None, "SVG is refused");
        assert_eq!(sniff(b"<html>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn data_url_is_always_the_png_written_here() {
        let logo = LogoImage {
            source_mime: "image/gif",
            png: vec![1, 2, 3],
        };
        assert_eq!(logo.data_url(), "data:image/png;base64,AQID");
    }

    #[test]
    fn hops_are_checked_before_connecting() {
        let public = LogoScope::PublicOnly;
        let local = LogoScope::LoopbackToo;
        let url = |u: &str| Url::parse(u).unwrap();
        for bad in [
            "http://127.0.0.1/x",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://10.0.0.1/x",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/x",
            "http://224.0.0.1/x",
            "http://2130706433/x",
        ] {
            assert!(
                matches!(check_hop(&url(bad), public, 0), Err(LogoError::Refused(_))),
                "{bad} is refused for a public service"
            );
        }
        assert_eq!(check_hop(&url("http://127.0.0.1:9/x"), local, 0), Ok(()));
        assert!(
            matches!(
                check_hop(&url("http://127.0.0.1:9/x"), local, 1),
                Err(LogoError::Refused(_))
            ),
            "a redirect to loopback is refused even for a service on loopback"
        );
        assert!(
            matches!(
                check_hop(&url("http://10.0.0.1/x"), local, 0),
                Err(LogoError::Refused(_))
            ),
            "loopback services still may not reach private addresses"
        );
        for bad in [
            "https://user:pw@cdn.acme.example/logo.png",
            "https://token@cdn.acme.example/logo.png",
            "ftp://cdn.acme.example/logo.png",
            "file:///etc/passwd",
        ] {
            assert_eq!(
                check_hop(&url(bad), public, 0),
                Err(LogoError::BadUrl),
                "{bad}"
            );
        }
        assert_eq!(
            check_hop(&url("https://cdn.acme.example/logo.png"), public, 2),
            Ok(()),
            "names are checked by the resolver"
        );
        assert_eq!(
            LogoScope::for_service(&url("http://127.0.0.1:7070")),
            LogoScope::LoopbackToo
        );
        assert_eq!(
            LogoScope::for_service(&url("https://auth.acme.example")),
            LogoScope::PublicOnly
        );
    }
}
