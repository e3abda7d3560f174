//! Logos: oversized, wrong type, slow and unreachable all end in an error (the UI's placeholder),
//! within the time limit.

use std::time::{Duration, Instant};

use assent_device::{LogoError, LogoLimits, fetch_logo};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

/// Times `/flaky.png` was asked for; it fails (HTTP 503) the first time, then serves the PNG.
pub static FLAKY_HITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Serves one canned answer per path; `/slow` never answers in time.
pub async fn server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
                let (status, content_type, body): (&str, &str, Vec<u8>) = match path.as_str() {
                    "/logo.png" => ("200 OK", "image/png", PNG.to_vec()),
                    "/flaky.png" => {
                        if FLAKY_HITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                            ("503 Service Unavailable", "text/plain", b"later".to_vec())
                        } else {
                            ("200 OK", "image/png", PNG.to_vec())
                        }
                    }
                    "/huge.png" => (
                        "200 OK",
                        "image/png",
                        [PNG, &vec![0u8; 400 * 1024]].concat(),
                    ),
                    "/page.html" => ("200 OK", "text/html", b"<html>hi</html>".to_vec()),
                    "/lying.png" => ("200 OK", "image/png", b"GIF89a-not-a-png".to_vec()),
                    "/vector.svg" => (
                        "200 OK",
                        "image/svg+xml",
                        b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
                    ),
                    "/slow.png" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        ("200 OK", "image/png", PNG.to_vec())
                    }
                    _ => ("404 Not Found", "text/plain", b"no".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    base
}

#[tokio::test]
async fn a_good_logo_becomes_a_data_url() {
    let base = server().await;
    let logo = fetch_logo(&format!("{base}/logo.png"), LogoLimits::default())
        .await
        .unwrap();
    assert_eq!(logo.mime, "image/png");
    assert!(
        logo.data_url()
            .starts_with("data:image/png;base64,iVBORw0KGgo")
    );
}

#[tokio::test]
async fn bad_logos_are_refused_quickly() {
    let base = server().await;
    let limits = LogoLimits {
        max_bytes: 64 * 1024,
        timeout: Duration::from_secs(1),
    };
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cases = [
        (format!("{base}/huge.png"), "oversized"),
        (format!("{base}/page.html"), "wrong type"),
        (format!("{base}/lying.png"), "declared PNG, actually GIF"),
        (format!("{base}/vector.svg"), "SVG"),
        (format!("{base}/slow.png"), "slow"),
        (format!("{base}/missing.png"), "404"),
        (format!("http://127.0.0.1:{closed}/logo.png"), "unreachable"),
        ("javascript:alert(1)".to_owned(), "not http"),
    ];
    for (url, what) in cases {
        let started = Instant::now();
        let result = fetch_logo(&url, limits).await;
        let elapsed = started.elapsed();
        let expected = match what {
            "oversized" => matches!(result, Err(LogoError::TooLarge(_))),
            "wrong type" | "declared PNG, actually GIF" | "SVG" => {
                matches!(result, Err(LogoError::NotAnImage(_)))
            }
            "slow" => matches!(result, Err(LogoError::Timeout)),
            "404" => matches!(result, Err(LogoError::Status(404))),
            "unreachable" => matches!(result, Err(LogoError::Unreachable(_))),
            _ => matches!(result, Err(LogoError::BadUrl)),
        };
        assert!(expected, "{what}: unexpected {result:?}");
        assert!(
            elapsed < Duration::from_secs(3),
            "{what} must end within the time limit, took {elapsed:?}"
        );
    }
}
