//! Call budgets per API key and per source address, over real sockets.

use serde_json::json;

use assent_server::config::Rate;

use assent_testkit::{Options, TestService};

#[tokio::test]
async fn an_api_key_over_its_budget_gets_429_with_retry_after_and_others_do_not() {
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| {
            c.connections.per_api_key = Some(Rate {
                per_second: 0.5,
                burst: 3.0,
            });
        })),
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        let (status, _) = svc.backend.get("/protected/json/users/1/status").await;
        assert_eq!(status, 404, "within the burst, calls are answered");
    }
    let response = reqwest::Client::new()
        .get(format!("{}/protected/json/users/1/status", svc.base))
        .header("X-Authy-API-Key", &svc.backend.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=2).contains(&retry),
        "at 0.5/s the next call is ~2 s away, not {retry}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "60111");
    let (_, other) = svc
        .other_app(assent_server::admin::AppSpec {
            name: "Other".into(),
            ..Default::default()
        })
        .await;
    let (status, _) = other.get("/protected/json/users/1/status").await;
    assert_eq!(status, 404, "another app has its own budget");
}

#[tokio::test]
async fn one_address_flooding_enrollment_gets_429() {
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| {
            c.connections.per_source = Some(Rate {
                per_second: 0.5,
                burst: 2.0,
            });
        })),
        ..Options::default()
    })
    .await;
    let http = reqwest::Client::new();
    let mut codes = Vec::new();
    for _ in 0..3 {
        let response = http
            .post(format!("{}/device/v1/enroll", svc.base))
            .json(&json!({"token": "x"}))
            .send()
            .await
            .unwrap();
        codes.push(response.status().as_u16());
    }
    assert_eq!(
        codes,
        vec![400, 400, 429],
        "the third call in a burst of two is refused"
    );
}

#[tokio::test]
async fn previews_share_the_enrollment_budget_of_an_address() {
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| {
            c.connections.per_source = Some(Rate {
                per_second: 0.5,
                burst: 2.0,
            });
        })),
        ..Options::default()
    })
    .await;
    let http = reqwest::Client::new();
    let mut codes = Vec::new();
    for path in ["enroll/preview", "enroll", "enroll/preview"] {
        let response = http
            .post(format!("{}/device/v1/{path}", svc.base))
            .json(&json!({"token": "abcdefghijklmnopqrstu"}))
            .send()
            .await
            .unwrap();
        codes.push(response.status().as_u16());
    }
    assert_eq!(
        codes,
        vec![400, 400, 429],
        "guessing tokens by preview is limited like guessing them by enrollment"
    );
}
