//! The accept loop's limits, attacked over real sockets: unfinished headers, trickled bodies,
//! idle connections and too many connections from one address.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use assent_testkit::{Options, PROMPTLY, TestService, authority, parse_answer};

fn quick_timeouts() -> Options {
    Options {
        configure: Some(Box::new(|c| {
            c.connections.header_timeout = Duration::from_secs(1);
            c.connections.body_timeout = Duration::from_secs(1);
            c.connections.max_connections_per_source = 8;
        })),
        ..Options::default()
    }
}

/// Connects from a given loopback address (Linux routes all of 127/8 to loopback).
async fn connect_from(source: [u8; 4], base: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("any 127.x address can be bound");
    socket
        .connect(authority(base).parse().unwrap())
        .await
        .unwrap()
}

/// Reads until the service closes the connection; what it sent before.
async fn until_closed(socket: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    tokio::time::timeout(PROMPTLY, socket.read_to_end(&mut seen))
        .await
        .expect("the service must close the connection by itself")
        .ok();
    seen
}

#[tokio::test]
async fn unfinished_headers_are_dropped_after_the_header_timeout() {
    let svc = TestService::start_with(quick_timeouts()).await;
    let mut socket = TcpStream::connect(authority(&svc.base)).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    // Trickle a byte now and then, as slowloris does; the deadline covers the whole head.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if socket.write_all(b"a").await.is_err() {
            break;
        }
    }
    let seen = until_closed(&mut socket).await;
    assert!(
        !String::from_utf8_lossy(&seen).contains("200 OK"),
        "an unfinished request must never be served"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let svc = TestService::start_with(quick_timeouts()).await;
    let mut socket = TcpStream::connect(authority(&svc.base)).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let seen = until_closed(&mut socket).await;
    assert!(
        String::from_utf8_lossy(&seen).contains("200 OK"),
        "the request itself is served before the idle connection is closed"
    );
}

#[tokio::test]
async fn a_trickled_body_is_refused_at_the_body_deadline() {
    let svc = TestService::start_with(quick_timeouts()).await;
    let mut socket = TcpStream::connect(authority(&svc.base)).await.unwrap();
    socket
        .write_all(
            format!(
                "POST /protected/json/users/new HTTP/1.1\r\nHost: x\r\nX-Authy-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 200\r\nConnection: close\r\n\r\n{{",
                svc.backend.api_key
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..30 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if socket.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(3), trickle).await;
    let seen = until_closed(&mut socket).await;
    let (status, body) = parse_answer(&seen);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("\"60002\""), "{body}");
    assert_eq!(svc.rows("users").await, 0, "nothing written");
}

#[tokio::test]
async fn connections_over_the_per_source_cap_are_closed_and_others_served() {
    let svc = TestService::start_with(quick_timeouts()).await;
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut socket = connect_from([127, 0, 0, 7], &svc.base).await;
        socket
            .write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .unwrap();
        held.push(socket);
    }
    // Give the service a moment to account the eight before the ninth arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ninth = connect_from([127, 0, 0, 7], &svc.base).await;
    let _ = ninth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let seen = until_closed(&mut ninth).await;
    assert!(
        seen.is_empty(),
        "a ninth connection from the same address is closed unanswered: {:?}",
        String::from_utf8_lossy(&seen)
    );
    let mut other = connect_from([127, 0, 0, 8], &svc.base).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (status, _) = parse_answer(&until_closed(&mut other).await);
    assert_eq!(status, 200, "another address is still served");
    let metrics = reqwest::get(format!("{}/metrics", svc.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("limit=\"max_connections_per_source\"} 1"),
        "the refusal is counted: {metrics}"
    );
    drop(held);
}

/// A client that pipelines requests and never reads the answers is dropped once the service's
/// writes stop making progress, instead of holding its connection for ever.
#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_dropped() {
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| {
            c.connections.write_timeout = Duration::from_secs(2);
            // So that only the write timeout can end the connection within the test's wait.
            c.connections.header_timeout = Duration::from_secs(60);
        })),
        ..Options::default()
    })
    .await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket
        .connect(authority(&svc.base).parse().unwrap())
        .await
        .unwrap();
    // Far more answer bytes than the socket buffers hold on both sides: write until our own
    // writes block (the service stopped reading because its answers are not read).
    let request = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".repeat(500);
    let deadline = tokio::time::Instant::now() + PROMPTLY;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the service should stop reading a client that does not read"
        );
        match tokio::time::timeout(Duration::from_millis(500), stream.write_all(&request)).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) | Err(_) => break,
        }
    }
    // Now read nothing for twice the write timeout: the service's writes make no progress.
    tokio::time::sleep(Duration::from_secs(4)).await;
    // It must have closed: reading yields what it wrote before, then the end (or a reset).
    // Were it still open, each read would let it write more and this would never end.
    let mut buffer = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(PROMPTLY, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the service must drop a connection whose answers are never read"
    );
    assert_eq!(
        reqwest::get(format!("{}/healthz", svc.base))
            .await
            .unwrap()
            .status(),
        200
    );
}

/// A non-UTF-8 path parameter is answered in the API's error shape, after authentication.
#[tokio::test]
async fn a_path_parameter_that_is_not_text_is_answered_after_authentication() {
    let svc = TestService::start().await;
    for path in [
        "/protected/json/users/%FF/status",
        "/onetouch/json/approval_requests/%FF%FE",
    ] {
        let (status, body) = svc
            .backend
            .unauthenticated(reqwest::Method::GET, path, None)
            .await;
        assent_testkit::assert_refused!(
            status,
            body,
            401,
            "60001",
            "without a key the caller learns only that: {body}"
        );
        let (status, body) = svc.backend.get(path).await;
        assert!(
            body["error_code"] == "60026" || body["error_code"] == "60049",
            "{path}: {status} {body}"
        );
    }
}
