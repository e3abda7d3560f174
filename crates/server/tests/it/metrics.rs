//! `/healthz` and `/metrics`.

use serde_json::json;

use assent_testkit::{TestService, eventually};

#[tokio::test]
async fn metrics_report_connections_requests_and_backlog() {
    let svc = TestService::start().await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(format!("{}/healthz", svc.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok\n"
    );
    let (user, device) = svc.enrolled_user("m@example.com").await;
    let mut stream = device.connect().await;
    stream.next().await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "count me"}))
        .await;
    // With several instances the push travels through the database's notifications: wait for it.
    assert_eq!(
        stream.next().await,
        Some(assent_protocol::stream::StreamMessage::Request { id })
    );
    let i = svc.state.config.instance.clone();
    let expected = [
        format!("assent_connected_devices{{instance=\"{i}\"}} 1"),
        format!("assent_stream_connections{{instance=\"{i}\"}} 1"),
        format!("assent_requests{{instance=\"{i}\",status=\"pending\"}} 1"),
        format!("assent_requests{{instance=\"{i}\",status=\"approved\"}} 0"),
        format!("assent_callback_backlog{{instance=\"{i}\"}} 0"),
        format!("assent_pushes_total{{instance=\"{i}\"}} 1"),
        format!("assent_push_latency_seconds_count{{instance=\"{i}\"}} 1"),
    ];
    // The counters are updated as the push is queued, which may be a moment after it was sent.
    let url = format!("{}/metrics", svc.base);
    eventually(
        "/metrics shows the stream, the request and its push",
        || {
            let (http, url, expected) = (http.clone(), url.clone(), expected.clone());
            async move {
                let text = http.get(&url).send().await.unwrap().text().await.unwrap();
                expected.iter().all(|line| text.lines().any(|l| l == line))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn refusals_are_counted_by_route_and_code() {
    let svc = TestService::start().await;
    let bad = svc.backend.with_key("wrong");
    for _ in 0..2 {
        let (status, _) = bad.get("/protected/json/users/1/status").await;
        assert_eq!(status, 401);
    }
    let text = reqwest::get(format!("{}/metrics", svc.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = format!(
        "assent_refusals_total{{instance=\"{}\",route=\"/protected/json/users/{{id}}/status\",code=\"60001\"}} 2",
        svc.state.config.instance
    );
    assert!(
        text.lines().any(|l| l == line),
        "two refused calls should be counted under their route and code:\n{text}"
    );
}

#[tokio::test]
async fn unknown_routes_use_the_error_shape() {
    let svc = TestService::start().await;
    let (status, body) = svc.backend.get("/no/such/endpoint").await;
    assert_eq!(status, 404);
    assert_eq!(body["success"], false);
    assert_eq!(body["error_code"], "60002");
}
