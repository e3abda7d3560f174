//! Relying-party logos, fetched by Rust so the desktop web view loads nothing remote.
//!
//! A logo is accepted only when it arrives within the time limit, is no larger than the size
//! limit, is declared as PNG, JPEG, GIF or WebP, and its first bytes are that format's signature
//! (the declared type alone is not trusted). SVG is refused: it can carry scripts and external
//! references. Anything else is an error; the UI then shows a placeholder.

use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
