//! `/healthz` and `/metrics`.

use serde_json::json;

use crate::support::TestService;

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
    svc.backend
        .request(user, json!({"message": "count me"}))
        .await;
    let text = http
        .get(format!("{}/metrics", svc.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let i = &svc.state.config.instance;
    for line in [
        format!("assent_connected_devices{{instance=\"{i}\"}} 1"),
        format!("assent_stream_connections{{instance=\"{i}\"}} 1"),
        format!("assent_requests{{instance=\"{i}\",status=\"pending\"}} 1"),
        format!("assent_requests{{instance=\"{i}\",status=\"approved\"}} 0"),
        format!("assent_callback_backlog{{instance=\"{i}\"}} 0"),
        format!("assent_pushes_total{{instance=\"{i}\"}} 1"),
        format!("assent_push_latency_seconds_count{{instance=\"{i}\"}} 1"),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "/metrics should have the line {line}:\n{text}"
        );
    }
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
