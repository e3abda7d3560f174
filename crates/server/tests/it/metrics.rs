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
    assert!(text.contains("assent_connected_devices 1"), "{text}");
    assert!(
        text.contains("assent_requests{status=\"pending\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("assent_requests{status=\"approved\"} 0"),
        "{text}"
    );
    assert!(text.contains("assent_callback_backlog 0"), "{text}");
}

#[tokio::test]
async fn unknown_routes_use_the_error_shape() {
    let svc = TestService::start().await;
    let (status, body) = svc.backend.get("/no/such/endpoint").await;
    assert_eq!(status, 404);
    assert_eq!(body["success"], false);
    assert_eq!(body["error_code"], "60002");
}
