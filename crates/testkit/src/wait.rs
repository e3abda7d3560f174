//! Waiting for what should happen promptly, and raw HTTP for calls a client library would not send.

use std::time::Duration;

/// How long a test waits for something that should happen promptly.
pub const PROMPTLY: Duration = Duration::from_secs(10);

/// Polls `check` until it returns true.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The `host:port` of a base URL.
pub fn authority(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// The status and body of a raw HTTP answer (the last one, after any `100 Continue`).
pub fn parse_answer(answer: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(answer).into_owned();
    let last = text
        .rfind("HTTP/1.1 ")
        .unwrap_or_else(|| panic!("no HTTP answer in {text:?}"));
    let text = &text[last..];
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}
