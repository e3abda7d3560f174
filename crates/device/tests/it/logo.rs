//! Logos: a request the approver's machine makes for a relying party. Oversized, wrong type,
//! slow, unreachable and undecodable all end in an error (the UI's placeholder); no address but a
//! public one is ever contacted, on any redirect hop; no credential, cookie or referrer is sent;
//! and what comes out is always a fixed-size PNG written here.

use std::time::Duration;

use assent_device::{LOGO_SIDE, LogoError, LogoLimits, LogoScope, fetch_logo};
use assent_testkit::{LogoAnswer, LogoServer, dimension_bomb};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A real 96x96 PNG (the sample relying party's logo).
const ACME_LOGO: &[u8] = include_bytes!("../../../../examples/acme-bank/static/logo.png");

/// Times `/flaky.png` was asked for; it fails (HTTP 503) the first time, then serves the PNG.
pub static FLAKY_HITS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Tests serve logos from loopback and their service is on loopback too: the one case where a
/// loopback logo is allowed (never for a redirect).
const LOCAL: LogoScope = LogoScope::LoopbackToo;

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
                    "/logo.png" => ("200 OK", "image/png", ACME_LOGO.to_vec()),
                    "/flaky.png" => {
                        if FLAKY_HITS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                            ("503 Service Unavailable", "text/plain", b"later".to_vec())
                        } else {
                            ("200 OK", "image/png", ACME_LOGO.to_vec())
                        }
                    }
                    "/huge.png" => (
                        "200 OK",
                        "image/png",
                        [ACME_LOGO, &vec![0u8; 400 * 1024]].concat(),
                    ),
                    "/page.html" => ("200 OK", "text/html", b"<html>hi</html>".to_vec()),
                    "/lying.png" => ("200 OK", "image/png", b"GIF89a-not-a-png".to_vec()),
                    "/broken.png" => (
                        "200 OK",
                        "image/png",
                        ACME_LOGO[..ACME_LOGO.len() / 2].to_vec(),
                    ),
                    "/vector.svg" => (
                        "200 OK",
                        "image/svg+xml",
                        b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
                    ),
                    "/slow.png" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        ("200 OK", "image/png", ACME_LOGO.to_vec())
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

/// Width and height from a PNG's header (after checking it is a PNG).
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "what is handed over is a PNG"
    );
    let field = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (field(16), field(20))
}

#[tokio::test]
async fn a_good_logo_becomes_a_fixed_size_png_written_here() {
    let base = server().await;
    let logo = fetch_logo(&format!("{base}/logo.png"), LogoLimits::default(), LOCAL)
        .await
        .unwrap();
    assert_eq!(logo.source_mime, "image/png");
    assert_ne!(
        logo.png, ACME_LOGO,
        "the relying party's bytes are never handed over as they came"
    );
    assert_eq!(png_size(&logo.png), (LOGO_SIDE, LOGO_SIDE));
    assert!(
        logo.data_url()
            .starts_with("data:image/png;base64,iVBORw0KGgo")
    );
}

#[tokio::test]
async fn bad_logos_are_refused() {
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
        (format!("{base}/broken.png"), "truncated"),
        (format!("{base}/vector.svg"), "SVG"),
        (format!("{base}/slow.png"), "slow"),
        (format!("{base}/missing.png"), "404"),
        (format!("http://127.0.0.1:{closed}/logo.png"), "unreachable"),
        ("javascript:alert(1)".to_owned(), "not http"),
    ];
    for (url, what) in cases {
        let result = fetch_logo(&url, limits, LOCAL).await;
        let expected = match what {
            "oversized" => matches!(result, Err(LogoError::TooLarge(_))),
            "wrong type" | "declared PNG, actually GIF" | "SVG" | "truncated" => {
                matches!(result, Err(LogoError::NotAnImage(_)))
            }
            "slow" => matches!(result, Err(LogoError::Timeout)),
            "404" => matches!(result, Err(LogoError::Status(404))),
            "unreachable" => matches!(result, Err(LogoError::Unreachable(_))),
            _ => matches!(result, Err(LogoError::BadUrl)),
        };
        assert!(expected, "{what}: unexpected {result:?}");
    }
}

#[tokio::test]
async fn a_dimension_bomb_is_refused_from_its_header() {
    let bomb = dimension_bomb(20_000);
    assert!(
        bomb.len() < LogoLimits::default().max_bytes,
        "a 20000x20000 PNG of {} bytes, small enough to pass the size limit",
        bomb.len()
    );
    let server = LogoServer::start(vec![(
        "/bomb.png",
        LogoAnswer::Image("image/png", bomb.clone()),
    )])
    .await;
    let result = fetch_logo(
        &format!("{}/bomb.png", server.base),
        LogoLimits::default(),
        LOCAL,
    )
    .await;
    assert!(
        matches!(&result, Err(LogoError::NotAnImage(why)) if why.contains("20000")),
        "refused for its dimensions: {result:?}"
    );
    assert_eq!(
        assent_device::normalize_logo(&bomb),
        Err(assent_device::PictureError::TooManyPixels {
            width: 20_000,
            height: 20_000
        })
    );
}

/// An "internal admin" endpoint on this machine: records every request it gets.
async fn internal_admin() -> LogoServer {
    LogoServer::start(vec![(
        "/internal-admin?action=factory-reset",
        LogoAnswer::Image("image/png", ACME_LOGO.to_vec()),
    )])
    .await
}

#[tokio::test]
async fn a_redirect_to_loopback_or_any_private_address_is_never_followed() {
    let admin = internal_admin().await;
    let target = format!(
        "127.0.0.1:{}/internal-admin?action=factory-reset",
        admin.port
    );
    let locations = [
        format!("http://{target}"),
        format!(
            "http://localhost:{}/internal-admin?action=factory-reset",
            admin.port
        ),
        format!(
            "http://[::ffff:127.0.0.1]:{}/internal-admin?action=factory-reset",
            admin.port
        ),
        format!(
            "http://2130706433:{}/internal-admin?action=factory-reset",
            admin.port
        ),
        format!(
            "http://0.0.0.0:{}/internal-admin?action=factory-reset",
            admin.port
        ),
        format!(
            "http://[::1]:{}/internal-admin?action=factory-reset",
            admin.port
        ),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://10.0.0.1/admin".to_owned(),
        "http://192.168.1.1/admin".to_owned(),
        "/internal-admin?action=factory-reset".to_owned(),
    ];
    let answers: Vec<(String, LogoAnswer)> = locations
        .iter()
        .enumerate()
        .map(|(i, to)| (format!("/hop{i}.png"), LogoAnswer::Redirect(to.clone())))
        .collect();
    let server = LogoServer::start(
        answers
            .iter()
            .map(|(path, answer)| (path.as_str(), answer.clone()))
            .collect(),
    )
    .await;
    for (i, location) in locations.iter().enumerate() {
        for scope in [LogoScope::LoopbackToo, LogoScope::PublicOnly] {
            let url = format!("{}/hop{i}.png", server.base);
            let result = fetch_logo(&url, LogoLimits::default(), scope).await;
            match scope {
                LogoScope::LoopbackToo => assert!(
                    matches!(result, Err(LogoError::Refused(_))),
                    "a redirect to {location} is refused even for a service on loopback: {result:?}"
                ),
                LogoScope::PublicOnly => assert!(
                    matches!(result, Err(LogoError::Refused(_))),
                    "for a public service even the loopback logo server is refused: {result:?}"
                ),
            }
        }
    }
    assert!(
        admin.hits().is_empty(),
        "the internal admin endpoint was never called: {:?}",
        admin.hits()
    );
    let asked: Vec<String> = server.hits().into_iter().map(|h| h.line).collect();
    assert_eq!(
        asked.len(),
        locations.len(),
        "each first hop was fetched once (the loopback scope), never a redirect: {asked:?}"
    );
}

#[tokio::test]
async fn a_public_service_never_reaches_this_machine_even_by_name() {
    let server = LogoServer::start(vec![(
        "/logo.png",
        LogoAnswer::Image("image/png", ACME_LOGO.to_vec()),
    )])
    .await;
    for url in [
        format!("{}/logo.png", server.base),
        format!("http://localhost:{}/logo.png", server.port),
        format!("http://LOCALHOST.:{}/logo.png", server.port),
    ] {
        let result = fetch_logo(&url, LogoLimits::default(), LogoScope::PublicOnly).await;
        assert!(
            matches!(result, Err(LogoError::Refused(_))),
            "{url} is refused after resolving: {result:?}"
        );
    }
    assert!(
        server.hits().is_empty(),
        "nothing was sent: {:?}",
        server.hits()
    );
}

#[tokio::test]
async fn no_credentials_cookies_or_referrer_are_sent() {
    let server = LogoServer::start(vec![(
        "/logo.png",
        LogoAnswer::Image("image/png", ACME_LOGO.to_vec()),
    )])
    .await;
    let with_credentials = format!("http://user:secret@127.0.0.1:{}/logo.png", server.port);
    assert_eq!(
        fetch_logo(&with_credentials, LogoLimits::default(), LOCAL).await,
        Err(LogoError::BadUrl),
        "a logo URL with credentials is refused before any request"
    );
    assert!(server.hits().is_empty());
    for _ in 0..2 {
        fetch_logo(
            &format!("{}/logo.png", server.base),
            LogoLimits::default(),
            LOCAL,
        )
        .await
        .unwrap();
    }
    let hits = server.hits();
    assert_eq!(hits.len(), 2);
    for hit in &hits {
        for header in ["cookie", "authorization", "referer", "proxy-authorization"] {
            assert!(
                hit.headers.iter().all(|(name, _)| name != header),
                "no {header} header is sent (the server set a cookie first): {:?}",
                hit.headers
            );
        }
    }
}
