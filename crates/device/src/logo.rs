//! Relying-party logos, fetched by Rust so the desktop web view loads nothing remote.
//!
//! A logo is accepted only when it arrives within the time limit, is no larger than the size
//! limit, is declared as PNG, JPEG, GIF or WebP, and its first bytes are that format's signature
//! (the declared type alone is not trusted). SVG is refused: it can carry scripts and external
//! references. Anything else is an error; the UI then shows a placeholder.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::StreamExt as _;

/// Limits for one logo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogoLimits {
    /// Largest accepted image, in bytes.
    pub max_bytes: usize,
    /// Longest the whole fetch may take.
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

/// A fetched, checked image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoImage {
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub mime: &'static str,
    /// The image bytes.
    pub bytes: Vec<u8>,
}

impl LogoImage {
    /// A `data:` URL the web view can show without a network request.
    pub fn data_url(&self) -> String {
        format!(
            "data:{};base64,{}",
            self.mime,
            base64::engine::general_purpose::STANDARD.encode(&self.bytes)
        )
    }
}

/// Why a logo was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LogoError {
    /// Not an http(s) URL.
    #[error("logo URL is not http(s)")]
    BadUrl,
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
    /// Not one of the accepted image formats (declared or actual).
    #[error("logo is not a PNG, JPEG, GIF or WebP image ({0})")]
    NotAnImage(String),
}

/// The accepted format of `bytes`, from its signature.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!("assent-device/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("HTTP client builds")
    })
}

/// Fetches and checks a logo.
///
/// # Errors
/// A [`LogoError`] saying why it was refused.
pub async fn fetch_logo(url: &str, limits: LogoLimits) -> Result<LogoImage, LogoError> {
    let parsed = url::Url::parse(url).map_err(|_| LogoError::BadUrl)?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(LogoError::BadUrl);
    }
    tokio::time::timeout(limits.timeout, fetch(parsed, limits.max_bytes))
        .await
        .map_err(|_| LogoError::Timeout)?
}

async fn fetch(url: url::Url, max_bytes: usize) -> Result<LogoImage, LogoError> {
    let response = client()
        .get(url)
        .send()
        .await
        .map_err(|e| LogoError::Unreachable(e.without_url().to_string()))?;
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
        other => return Err(LogoError::NotAnImage(format!("declared as {other:?}"))),
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
    match sniff(&bytes) {
        Some(actual) if actual == declared => Ok(LogoImage {
            mime: actual,
            bytes,
        }),
        Some(actual) => Err(LogoError::NotAnImage(format!(
            "declared as {declared} but is {actual}"
        ))),
        None => Err(LogoError::NotAnImage(format!(
            "declared as {declared} but is not an image"
        ))),
    }
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
            mime: "image/png",
            bytes: b"\x89PNG\r\n\x1a\n".to_vec(),
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
    fn data_url() {
        let logo = LogoImage {
            mime: "image/png",
            bytes: vec![1, 2, 3],
        };
        assert_eq!(logo.data_url(), "data:image/png;base64,AQID");
    }
}
