//! The Authy-compatible backend API: encodings, key locations, responses, error codes, limits.

use std::time::{Duration, Instant};

use assent_protocol::decision::Outcome;
use reqwest::Method;
use serde_json::json;

use assent_testkit::{Options, TestService};

#[tokio::test]
async fn api_key_is_accepted_in_header_query_and_body_and_refused_otherwise() {
    let svc = TestService::start().await;
    let key = svc.backend.api_key.clone();
    let user = svc.backend.create_user("a@example.com").await;

    let (status, body) = svc
        .backend
        .unauthenticated(
            Method::GET,
            &format!("/protected/json/users/{user}/status?api_key={key}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "api_key in the query (npm) must work: {body}");
    let (status, body) = svc
        .backend
        .unauthenticated(
            Method::POST,
            "/protected/json/sdk/registrations",
            Some((
                "application/x-www-form-urlencoded",
                format!("api_key={key}&authy_id={user}"),
            )),
        )
        .await;
    assert_eq!(status, 200, "api_key in a form body must work: {body}");
    let (status, body) = svc
        .backend
        .unauthenticated(
            Method::POST,
            "/protected/json/sdk/registrations",
            Some((
                "application/json",
                json!({"api_key": key, "authy_id": user}).to_string(),
            )),
        )
        .await;
    assert_eq!(status, 200, "api_key in a JSON body must work: {body}");

    for (what, backend) in [
        ("wrong", svc.backend.with_key("wrong-key")),
        ("empty", svc.backend.with_key("")),
    ] {
        let (status, body) = backend
            .get(&format!("/protected/json/users/{user}/status"))
            .await;
        assert_eq!(status, 401, "{what} key must be refused");
        assert_eq!(body["error_code"], "60001");
        assert_eq!(body["message"], "Invalid API key");
        assert_eq!(body["errors"]["message"], "Invalid API key");
        assert_eq!(body["success"], false);
    }
    let (status, body) = svc
        .backend
        .unauthenticated(
            Method::GET,
            &format!("/protected/json/users/{user}/status"),
            None,
        )
        .await;
    assent_testkit::assert_refused!(status, body, 401, "60001", "a missing key must be refused");
}

#[tokio::test]
async fn users_are_created_once_per_phone_and_validated() {
    let svc = TestService::start().await;
    let b = &svc.backend;
    let (status, first) = b
        .post_json("/protected/json/users/new", json!({"user": {"email": "ana@example.com", "cellphone": "555-123-1118", "country_code": "1"}, "send_install_link_via_sms": false}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(first["message"], "User created successfully.");
    assert_eq!(first["success"], true);
    let (_, again) =
        b.post_form("/protected/json/users/new", "user%5Bemail%5D=other%40example.com&user%5Bcellphone%5D=5551231118&user%5Bcountry_code%5D=1").await;
    assert_eq!(
        again["user"]["id"], first["user"]["id"],
        "same cellphone and country code must return the same user"
    );

    let (status, body) = b
        .post_json(
            "/protected/json/users/new",
            json!({"user": {"email": "nope", "cellphone": "1", "country_code": "1"}}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error_code"], "60027");
    assert!(
        body["errors"]["email"].is_string() || body["errors"]["cellphone"].is_string(),
        "errors must name the field: {body}"
    );
    let before = svc.rows("users").await;
    let (status, body) = b
        .post_json("/protected/json/users/new", json!({"user": {}}))
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (400, Some("60027"))
    );
    assert_eq!(
        svc.rows("users").await,
        before,
        "a refused user must not be written"
    );

    let id = first["user"]["id"].as_u64().unwrap();
    let (status, body) = b.get(&format!("/protected/json/users/{id}/status")).await;
    assert_eq!(status, 200);
    assert_eq!(body["message"], "User status.");
    assert_eq!(body["status"]["authy_id"], id);
    assert_eq!(
        body["status"]["registered"], false,
        "no device enrolled yet"
    );
    assert_eq!(body["status"]["phone_number"], "XXX-XXX-1118");
    svc.enroll(id).await;
    let (_, body) = b.get(&format!("/protected/json/users/{id}/status")).await;
    assert_eq!(
        body["status"]["registered"], true,
        "registered once a device is enrolled"
    );
    assert_eq!(body["status"]["devices"], json!(["linux"]));
}

#[tokio::test]
async fn every_delete_spelling_works_and_unknown_users_are_60026() {
    let svc = TestService::start().await;
    let b = &svc.backend;
    for path in [
        "/protected/json/users/{}/delete",
        "/protected/json/users/delete/{}",
        "/protected/json/users/{}/remove",
    ] {
        let user = b.create_user(&format!("{}@example.com", path.len())).await;
        let (status, body) = b
            .post_json(&path.replace("{}", &user.to_string()), json!({}))
            .await;
        assert_eq!(status, 200, "{path} should delete: {body}");
        assert_eq!(body["success"], true);
        let (status, body) = b.get(&format!("/protected/json/users/{user}/status")).await;
        assent_testkit::assert_refused!(status, body, 404, "60026", "a deleted user is gone");
    }
    for path in [
        "/protected/json/users/999999/status",
        "/protected/json/users/abc/status",
    ] {
        let (status, body) = b.get(path).await;
        assent_testkit::assert_refused!(status, body, 404, "60026", "{path}");
    }
}

#[tokio::test]
async fn deleting_a_user_revokes_their_devices_and_cancels_their_requests() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("gone@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "Sign in?"}))
        .await;
    let mut stream = device.connect_synced().await;
    svc.backend
        .post_json(&format!("/protected/json/users/{user}/delete"), json!({}))
        .await;
    assert_eq!(svc.backend.status(id).await["status"], "cancelled");
    let mut saw_revoked = false;
    while let Some(message) = stream.next().await {
        saw_revoked |= matches!(
            message,
            assent_protocol::stream::StreamMessage::Revoked { .. }
        );
    }
    assert!(
        saw_revoked,
        "the deleted user's device must be told it was revoked"
    );
    assert_eq!(
        device
            .call("GET", "/device/v1/requests", Vec::new())
            .await
            .code(),
        "60103"
    );
}

#[tokio::test]
async fn registration_returns_a_token_and_an_enroll_link() {
    let svc = TestService::start().await;
    let user = svc.backend.create_user("r@example.com").await;
    let (status, body) = svc
        .backend
        .post_form(
            "/protected/json/sdk/registrations",
            &format!("authy_id={user}"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    let token = body["registration_token"].as_str().unwrap();
    let link =
        assent_protocol::enroll::EnrollLink::parse(body["enroll_url"].as_str().unwrap()).unwrap();
    assert_eq!(link.token.expose(), token);
    assert_eq!(link.server.as_str().trim_end_matches('/'), svc.base);
    let (status, body) = svc
        .backend
        .post_json("/protected/json/sdk/registrations", json!({}))
        .await;
    assent_testkit::assert_refused!(status, body, 400, "60004", "authy_id is required");
    let (status, body) = svc
        .backend
        .post_json(
            "/protected/json/sdk/registrations",
            json!({"authy_id": 424242}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (404, Some("60026"))
    );
}

#[tokio::test]
async fn approval_requests_accept_every_client_encoding() {
    let svc = TestService::start_with(Options::several_pending()).await;
    let (user, device) = svc.enrolled_user("enc@example.com").await;
    let b = &svc.backend;
    let path = format!("/onetouch/json/users/{user}/approval_requests");

    // Python: JSON with nulls and empty containers.
    let (status, body) = b
        .post_json(&path, json!({"message": "Python login", "seconds_to_expire": null, "details": {"Username": "ana", "IP": "1.2.3.4"}, "hidden_details": {}, "logos": []}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let python = uuid::Uuid::parse_str(body["approval_request"]["uuid"].as_str().unwrap()).unwrap();
    // npm: form with indexed arrays and %20.
    let (status, body) = b
        .post_form(&path, "message=npm%20login&details%5BFrom%5D=Lisbon&logos%5B0%5D%5Bres%5D=default&logos%5B0%5D%5Burl%5D=https%3A%2F%2Fx.example%2Fa.png&seconds_to_expire=300")
        .await;
    assert_eq!(status, 200, "{body}");
    let npm = uuid::Uuid::parse_str(body["approval_request"]["uuid"].as_str().unwrap()).unwrap();
    // Ruby: Rack arrays and +.
    let (status, body) = b
        .post_form(&path, "message=Ruby+login&logos%5B%5D%5Bres%5D=low&logos%5B%5D%5Burl%5D=https%3A%2F%2Fx.example%2Flow.png&logos%5B%5D%5Bres%5D=high&logos%5B%5D%5Burl%5D=https%3A%2F%2Fx.example%2Fhigh.png")
        .await;
    assert_eq!(status, 200, "{body}");
    let ruby = uuid::Uuid::parse_str(body["approval_request"]["uuid"].as_str().unwrap()).unwrap();
    // PHP: parameters in the query string of the POST, and `//` in the path.
    let (status, body) = b
        .post_form(
            &format!(
                "/onetouch/json//users/{user}/approval_requests?message=PHP%20login&details[k]=v"
            ),
            "",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let php = uuid::Uuid::parse_str(body["approval_request"]["uuid"].as_str().unwrap()).unwrap();

    let (python_details, _) = device.details(python).await;
    assert_eq!(python_details.message.message, "Python login");
    assert_eq!(
        python_details
            .message
            .details
            .iter()
            .map(|d| (d.label.as_str(), d.value.as_str()))
            .collect::<Vec<_>>(),
        vec![("Username", "ana"), ("IP", "1.2.3.4")],
        "detail order must be kept"
    );
    assert_eq!(
        python_details.message.expires_at,
        Some(python_details.message.created_at + 86_400),
        "default lifetime is a day"
    );
    assert_eq!(
        python_details.message.app.logos[0].url, "https://acme.example/logo.png",
        "the app logo is the default"
    );
    let (npm_details, _) = device.details(npm).await;
    assert_eq!(npm_details.message.message, "npm login");
    assert_eq!(npm_details.message.app.logos.len(), 1);
    assert_eq!(
        npm_details.message.expires_at,
        Some(npm_details.message.created_at + 300)
    );
    let (ruby_details, _) = device.details(ruby).await;
    assert_eq!(ruby_details.message.message, "Ruby login");
    assert_eq!(
        ruby_details
            .message
            .app
            .logos
            .iter()
            .map(|l| l.url.as_str())
            .collect::<Vec<_>>(),
        vec!["https://x.example/low.png", "https://x.example/high.png"]
    );
    let (php_details, _) = device.details(php).await;
    assert_eq!(php_details.message.message, "PHP login");

    let status = b.status(python).await;
    for field in [
        "_app_name",
        "_app_serial_id",
        "_authy_id",
        "app_id",
        "created_at",
        "notified",
        "processed_at",
        "seconds_to_expire",
        "status",
        "updated_at",
        "uuid",
    ] {
        assert!(
            status.get(field).is_some(),
            "status must carry Authy's `{field}`: {status}"
        );
    }
    assert_eq!(status["status"], "pending");
    assert_eq!(status["seconds_to_expire"], 86_400);
    assert_eq!(status["_app_name"], "Acme Bank");
    assert!(status["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn bad_input_gets_a_stable_code_and_writes_nothing() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("bad@example.com").await;
    let b = &svc.backend;
    let path = format!("/onetouch/json/users/{user}/approval_requests");
    let before = svc.rows("approval_requests").await;

    let unreadable: [(&str, &str, &[u8]); 3] = [
        ("malformed JSON", "application/json", b"{\"message\": "),
        ("a JSON array", "application/json", b"[1]"),
        ("multipart", "multipart/form-data; boundary=x", b"--x--"),
    ];
    for (what, content_type, body) in unreadable {
        let (status, reply) = b.post_raw(&path, content_type, body.to_vec()).await;
        assert_eq!(
            (status.as_u16(), reply["error_code"].as_str()),
            (400, Some("60002")),
            "{what} must be 60002: {reply}"
        );
    }
    let big = "x".repeat(70 * 1024);
    let (status, body) = b.post_json(&path, json!({"message": big})).await;
    assent_testkit::assert_refused!(
        status,
        body,
        413,
        "60108",
        "an oversized body must be refused"
    );

    let refused: Vec<(&str, serde_json::Value, u16, &str)> = vec![
        ("missing message", json!({}), 400, "60004"),
        ("blank message", json!({"message": "   "}), 400, "60004"),
        (
            "message over 200 characters",
            json!({"message": "m".repeat(201)}),
            400,
            "60004",
        ),
        (
            "negative expiry",
            json!({"message": "m", "seconds_to_expire": -1}),
            400,
            "60004",
        ),
        (
            "expiry over 30 days",
            json!({"message": "m", "seconds_to_expire": 40 * 86_400}),
            400,
            "60004",
        ),
        (
            "too many details",
            json!({"message": "m", "details": (0..21).map(|i| (format!("k{i}"), json!("v"))).collect::<serde_json::Map<_, _>>()}),
            400,
            "60004",
        ),
        (
            "detail value too long",
            json!({"message": "m", "details": {"k": "v".repeat(501)}}),
            400,
            "60004",
        ),
        (
            "nested detail",
            json!({"message": "m", "details": {"k": {"x": 1}}}),
            400,
            "60004",
        ),
        (
            "bad logo res",
            json!({"message": "m", "logos": [{"res": "huge", "url": "https://x.example/a.png"}]}),
            400,
            "60004",
        ),
        (
            "logo URL not http",
            json!({"message": "m", "logos": [{"res": "default", "url": "javascript:alert(1)"}]}),
            400,
            "60004",
        ),
        (
            "logo URL too long",
            json!({"message": "m", "logos": [{"res": "default", "url": format!("https://x.example/{}", "a".repeat(2100))}]}),
            400,
            "60004",
        ),
        (
            "quorum zero",
            json!({"message": "m", "quorum": 0}),
            400,
            "60004",
        ),
        (
            "quorum above approvers",
            json!({"message": "m", "quorum": 2}),
            400,
            "60004",
        ),
        (
            "unknown approver",
            json!({"message": "m", "approvers": [987654]}),
            404,
            "60026",
        ),
        (
            "number_matching not a boolean",
            json!({"message": "m", "number_matching": "maybe"}),
            400,
            "60004",
        ),
    ];
    for (what, body, status, code) in refused {
        let (got_status, reply) = b.create_request(user, body).await;
        assert_eq!(
            (got_status.as_u16(), reply["error_code"].as_str()),
            (status, Some(code)),
            "{what}: {reply}"
        );
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what} needs a helpful message"
        );
    }
    let (status, body) = b.create_request(555_555, json!({"message": "m"})).await;
    assent_testkit::assert_refused!(status, body, 404, "60026", "unknown user");
    let lonely = b.create_user("lonely@example.com").await;
    let (status, body) = b.create_request(lonely, json!({"message": "m"})).await;
    assent_testkit::assert_refused!(
        status,
        body,
        400,
        "60050",
        "a user without a device cannot be asked"
    );
    for path in [
        "/onetouch/json/approval_requests/00000000-0000-4000-8000-000000000000",
        "/onetouch/json/approval_requests/not-a-uuid",
    ] {
        let (status, body) = b.get(path).await;
        assent_testkit::assert_refused!(status, body, 404, "60049", "unknown request {path}");
    }
    assert_eq!(
        svc.rows("approval_requests").await,
        before,
        "no refused request may be written"
    );
    assert_eq!(svc.rows("request_approvers").await, 0);
}

#[tokio::test]
async fn pending_requests_per_user_are_capped() {
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| c.limits.max_pending_per_user = 3)),
        ..Options::several_pending()
    })
    .await;
    let (user, device) = svc.enrolled_user("bomb@example.com").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            svc.backend
                .request(user, json!({"message": format!("push {i}")}))
                .await
                .0,
        );
    }
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "one too many"}))
        .await;
    assent_testkit::assert_refused!(
        status,
        body,
        429,
        "60109",
        "push-bombing is refused: {body}"
    );
    assert_eq!(device.approve(ids[0]).await.status, 200);
    let (status, _) = svc
        .backend
        .create_request(user, json!({"message": "room again"}))
        .await;
    assert_eq!(status, 200, "answering a request makes room");
}

#[tokio::test]
async fn status_long_poll_answers_as_soon_as_the_request_is_decided() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("wait@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "Wait for me"}))
        .await;
    let backend = svc.backend.clone();
    let started = Instant::now();
    let poll = tokio::spawn(async move {
        backend
            .get(&format!("/onetouch/json/approval_requests/{id}?wait=30"))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !poll.is_finished(),
        "the long-poll must wait while the request is pending"
    );
    assert_eq!(device.approve(id).await.status, 200);
    let (status, body) = poll.await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(body["approval_request"]["status"], "approved");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the long-poll must answer when the request is decided, not at the end of the wait"
    );

    let (id, _) = svc
        .backend
        .request(
            user,
            json!({"message": "Nobody answers", "seconds_to_expire": 1}),
        )
        .await;
    let (_, body) = svc
        .backend
        .get(&format!("/onetouch/json/approval_requests/{id}?wait=10"))
        .await;
    assert_eq!(
        body["approval_request"]["status"], "expired",
        "the long-poll answers at expiry"
    );
}

#[tokio::test]
async fn cancel_withdraws_a_pending_request_and_tells_the_device() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("cancel@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "Changed my mind"}))
        .await;
    let mut stream = device.connect().await;
    assert_eq!(
        stream.next().await,
        Some(assent_protocol::stream::StreamMessage::Pending { ids: vec![id] })
    );
    let (status, body) = svc
        .backend
        .post_json(
            &format!("/onetouch/json/approval_requests/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approval_request"]["status"], "cancelled");
    assert_eq!(
        stream.next().await,
        Some(assent_protocol::stream::StreamMessage::Resolved {
            id,
            status: assent_protocol::request::RequestStatus::Cancelled
        })
    );
    let (status, body) = svc
        .backend
        .post_json(
            &format!("/onetouch/json/approval_requests/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (409, Some("60079"))
    );
    let reply = device.decide(id, Outcome::Approve, None, None).await;
    assert_eq!(
        reply.code(),
        "60079",
        "a cancelled request takes no decisions"
    );
}

#[tokio::test]
async fn revoking_a_device_through_the_backend_api() {
    let svc = TestService::start().await;
    let (user, device) = svc.enrolled_user("rev@example.com").await;
    let (status, body) = svc
        .backend
        .delete(&format!("/protected/json/sdk/devices/{}", device.id))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = svc
        .backend
        .get(&format!("/protected/json/users/{user}/status"))
        .await;
    assert_eq!(body["status"]["registered"], false);
    let (status, body) = svc
        .backend
        .delete("/protected/json/sdk/devices/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (404, Some("60092"))
    );
}

#[tokio::test]
async fn another_apps_users_and_requests_are_invisible() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("mine@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "Mine"})).await;
    let (_, other) = svc
        .other_app(assent_server::admin::AppSpec {
            name: "Other".into(),
            ..Default::default()
        })
        .await;
    let (status, body) = other
        .get(&format!("/protected/json/users/{user}/status"))
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (404, Some("60026"))
    );
    let (status, body) = other
        .get(&format!("/onetouch/json/approval_requests/{id}"))
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (404, Some("60049"))
    );
}

/// Deeply nested parameter names (`a[][][]…`) used to overflow the parser's stack before the API
/// key was checked. Every nesting shape and place is refused with 60002, with or without a key,
/// and the service stays up.
#[tokio::test]
async fn nested_parameter_names_are_refused_without_credentials_and_the_service_stays_up() {
    let svc = TestService::start().await;
    let before = svc.rows("approval_requests").await;
    let path = "/onetouch/json/users/1/approval_requests";
    for depth in [33, 2_000, 20_000] {
        for shape in ["[]", "[a]", "[0]"] {
            let key = format!("message{}", shape.repeat(depth));
            // In a form body, without any API key: parsed only to look for one.
            let (status, body) = svc
                .backend
                .unauthenticated(
                    Method::POST,
                    path,
                    Some(("application/x-www-form-urlencoded", format!("{key}=1"))),
                )
                .await;
            assent_testkit::assert_refused!(
                status,
                body,
                400,
                "60002",
                "a key nested {depth} deep ({shape}) in a body must be refused: {body}"
            );
            // In the query string of a POST (where Authy's PHP client puts parameters).
            if key.len() < 40_000 {
                let (status, body) = svc
                    .backend
                    .unauthenticated(Method::POST, &format!("{path}?{key}=1"), None)
                    .await;
                assent_testkit::assert_refused!(
                    status,
                    body,
                    400,
                    "60002",
                    "a key nested {depth} deep ({shape}) in a query must be refused: {body}"
                );
            }
            // With a valid key too.
            let (status, body) = svc.backend.post_form(path, &format!("{key}=1")).await;
            assent_testkit::assert_refused!(status, body, 400, "60002", "{body}");
        }
    }
    let deep_json = format!(
        "{{\"message\":{}1{}}}",
        "[".repeat(30_000),
        "]".repeat(30_000)
    );
    let (status, body) = svc
        .backend
        .unauthenticated(Method::POST, path, Some(("application/json", deep_json)))
        .await;
    assent_testkit::assert_refused!(status, body, 400, "60002", "{body}");
    let health = reqwest::get(format!("{}/healthz", svc.base)).await.unwrap();
    assert_eq!(health.status(), 200, "the service must still be up");
    assert_eq!(
        svc.rows("approval_requests").await,
        before,
        "nothing written"
    );
}

/// Numbers anywhere in paths and bodies, however large or malformed, get the API's codes, never
/// a panic or a 500.
#[tokio::test]
async fn numbers_out_of_range_get_the_api_codes() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("ranges@example.com").await;
    for id in [
        "0",
        "-1",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775808",
        "9007199254740992",
        "1e3",
        "99999999999999999999999999999999",
    ] {
        for path in [
            format!("/protected/json/users/{id}/status"),
            format!("/onetouch/json/users/{id}/approval_requests"),
        ] {
            let (status, body) = if path.ends_with("status") {
                svc.backend.get(&path).await
            } else {
                svc.backend.post_json(&path, json!({"message": "m"})).await
            };
            assent_testkit::assert_refused!(
                status,
                body,
                404,
                "60026",
                "user id {id} in {path} names nobody: {body}"
            );
        }
        let (status, body) = svc
            .backend
            .post_json("/protected/json/sdk/registrations", json!({"authy_id": id}))
            .await;
        assert!(
            matches!(body["error_code"].as_str(), Some("60026" | "60004")),
            "authy_id {id}: {status} {body}"
        );
    }
    for (field, value) in [
        ("approvers", json!(["18446744073709551615"])),
        ("approvers", json!([9007199254740992u64])),
        ("approvers", json!([-3])),
        ("quorum", json!(4294967297u64)),
        ("quorum", json!("18446744073709551616")),
        ("seconds_to_expire", json!(18446744073709551615u64)),
        ("seconds_to_expire", json!(1e300)),
        ("seconds_to_expire", json!(-5)),
    ] {
        let (status, body) = svc
            .backend
            .create_request(user, json!({"message": "m", field: value}))
            .await;
        assent_testkit::assert_refused!(
            status,
            body,
            400,
            "60004",
            "{field} = {value} must be a parameter error: {body}"
        );
    }
    let (id, _) = svc.backend.request(user, json!({"message": "wait"})).await;
    let (status, body) = svc
        .backend
        .get(&format!(
            "/onetouch/json/approval_requests/{id}?wait=99999999999999999999999"
        ))
        .await;
    assent_testkit::assert_refused!(status, body, 400, "60004", "{body}");
    let health = reqwest::get(format!("{}/healthz", svc.base)).await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Relying-party text reaches a terminal, a notification and the app: control and bidirectional
/// characters are refused where they enter, naming the field, and nothing is written.
#[tokio::test]
async fn relying_party_text_with_control_or_bidi_characters_is_refused() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("text@example.com").await;
    let before = svc.rows("approval_requests").await;
    for (field, body) in [
        (
            "message",
            json!({"message": "Approve payment to \u{202E}lived"}),
        ),
        ("message", json!({"message": "Sign in\u{1b}[2J"})),
        ("message", json!({"message": "line\u{2028}break"})),
        (
            "details",
            json!({"message": "m", "details": {"Payee": "Bob\u{2066}x"}}),
        ),
        (
            "details",
            json!({"message": "m", "details": {"Pay\nee": "Bob"}}),
        ),
        (
            "hidden_details",
            json!({"message": "m", "hidden_details": {"k": "\u{7}"}}),
        ),
        (
            "requester",
            json!({"message": "m", "requester": {"location": "Lisbon\u{200F}"}}),
        ),
        (
            "requester",
            json!({"message": "m", "requester": {"user_agent": "x\u{0}y"}}),
        ),
    ] {
        let (status, reply) = svc.backend.create_request(user, body.clone()).await;
        assert_eq!(
            (status.as_u16(), reply["error_code"].as_str()),
            (400, Some("60004")),
            "{body} must be refused: {reply}"
        );
        assert!(
            reply["errors"][field].is_string(),
            "the error should name {field}: {reply}"
        );
    }
    assert_eq!(svc.rows("approval_requests").await, before);
    let (status, _) = svc
        .backend
        .create_request(
            user,
            json!({"message": "Überweisung 12.500 € an Jürgen — 日本語 مرحبا"}),
        )
        .await;
    assert_eq!(status, 200, "ordinary text in any script is accepted");
}

/// A logo URL is fetched by the person's computer; one on loopback, link-local or a private
/// network (or carrying credentials) is refused at creation.
#[tokio::test]
async fn logo_urls_on_private_networks_are_refused() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("logos@example.com").await;
    let before = svc.rows("approval_requests").await;
    for url in [
        "http://127.0.0.1:9/internal-admin?action=factory-reset",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.7/logo.png",
        "http://192.168.1.1/logo.png",
        "http://[::1]/logo.png",
        "http://[fd00::1]/logo.png",
        "http://localhost/logo.png",
        "http://printer.local/logo.png",
        "http://2130706433/logo.png",
        "https://user:password@cdn.example.com/logo.png",
        "file:///etc/passwd",
        "http://[64:ff9b::7f00:1]/logo.png",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://[2002:7f00:1::]/logo.png",
        "http://[::ffff:0:a9fe:a9fe]/logo.png",
        "http://[2001::1]/logo.png",
        "http://localhost.localdomain/logo.png",
        "http://router.home.arpa/logo.png",
        "http://nas.lan/logo.png",
    ] {
        let (status, reply) = svc
            .backend
            .create_request(
                user,
                json!({"message": "m", "logos": [{"res": "default", "url": url}]}),
            )
            .await;
        assert_eq!(
            (status.as_u16(), reply["error_code"].as_str()),
            (400, Some("60004")),
            "logo {url} must be refused: {reply}"
        );
    }
    assert_eq!(svc.rows("approval_requests").await, before);
    let (status, reply) = svc
        .backend
        .create_request(
            user,
            json!({"message": "m", "logos": [{"res": "default", "url": "https://cdn.acme.example/logo.png"}]}),
        )
        .await;
    assert_eq!(status, 200, "{reply}");
}

/// The anti-push-bombing cap counts what reaches a person's devices: naming someone as an approver
/// counts against them, so it cannot be used to bypass the cap.
#[tokio::test]
async fn the_pending_cap_counts_requests_waiting_for_each_approver() {
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| c.limits.max_pending_per_user = 3)),
        ..Options::default()
    })
    .await;
    let (target, _) = svc.enrolled_user("target@example.com").await;
    let mut starters = Vec::new();
    for i in 0..4 {
        starters.push(
            svc.enrolled_user(&format!("starter{i}@example.com"))
                .await
                .0,
        );
    }
    for starter in &starters[..3] {
        svc.backend
            .request(
                *starter,
                json!({"message": "approve this", "approvers": [target], "quorum": 1}),
            )
            .await;
    }
    let before = svc.rows("approval_requests").await;
    let (status, body) = svc
        .backend
        .create_request(
            starters[3],
            json!({"message": "one more for the target", "approvers": [target], "quorum": 1}),
        )
        .await;
    assent_testkit::assert_refused!(
        status,
        body,
        429,
        "60109",
        "three requests already wait for the target: {body}"
    );
    let (status, body) = svc
        .backend
        .create_request(target, json!({"message": "the target's own"}))
        .await;
    assent_testkit::assert_refused!(
        status,
        body,
        429,
        "60109",
        "requests naming someone count like their own: {body}"
    );
    assert_eq!(
        svc.rows("approval_requests").await,
        before,
        "nothing written"
    );
}

/// A request whose person is deleted between the handler's checks and the write is refused
/// (the check runs again inside the writing transaction), and nothing is left pending.
#[tokio::test]
async fn a_request_created_while_its_person_is_deleted_is_refused() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("deleted@example.com").await;
    let before = svc.rows("approval_requests").await;
    let pause = svc.state.config.pause_points.arm("create.before_write");
    let backend = svc.backend.clone();
    let create = tokio::spawn(async move {
        backend
            .create_request(user, json!({"message": "racing a deletion"}))
            .await
    });
    pause.arrived().await;
    let (status, _) = svc
        .backend
        .post_json(&format!("/protected/json/users/{user}/delete"), json!({}))
        .await;
    assert_eq!(status, 200);
    pause.release();
    let (status, body) = create.await.unwrap();
    assent_testkit::assert_refused!(
        status,
        body,
        404,
        "60026",
        "the person no longer exists when the request would be written: {body}"
    );
    assert_eq!(svc.rows("approval_requests").await, before);
}

/// The same person created by concurrent calls is one user.
#[tokio::test]
async fn the_same_person_created_concurrently_is_one_user() {
    let svc = TestService::start().await;
    let mut calls = Vec::new();
    for _ in 0..20 {
        let backend = svc.backend.clone();
        calls.push(tokio::spawn(async move {
            backend.create_user("twice@example.com").await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for call in calls {
        ids.insert(call.await.unwrap());
    }
    assert_eq!(ids.len(), 1, "one person, one id: {ids:?}");
}

/// Found by the `backend_params` fuzz target: a form pair without a name (`=v`) used to panic the
/// parameter parser. It is ignored, and the call is judged on the rest.
#[tokio::test]
async fn a_parameter_without_a_name_is_not_an_internal_error() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("noname@example.com").await;
    let (status, body) = svc
        .backend
        .unauthenticated(
            Method::POST,
            "/onetouch/json/users/1/approval_requests?message=from+qls[vaipk]&=_key=k",
            None,
        )
        .await;
    assent_testkit::assert_refused!(status, body, 401, "60001", "{body}");
    let (status, body) = svc
        .backend
        .post_form(
            &format!("/onetouch/json/users/{user}/approval_requests"),
            "=x&message=Sign+in&&=",
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The pending cap holds under concurrent writers: 20 creations at once for one person with a cap
/// of 10 admit exactly 10.
#[tokio::test]
async fn the_pending_cap_holds_under_20_concurrent_creates() {
    let svc = TestService::start_with(Options::several_pending()).await;
    let (user, _device) = svc.enrolled_user("crowd@example.com").await;
    let mut calls = Vec::new();
    for i in 0..20 {
        let backend = svc.backend.clone();
        calls.push(tokio::spawn(async move {
            backend
                .create_request(user, json!({"message": format!("push {i}")}))
                .await
        }));
    }
    let mut admitted = 0;
    for call in calls {
        let (status, body) = call.await.unwrap();
        match status.as_u16() {
            200 => admitted += 1,
            429 => assert_eq!(body["error_code"], "60109", "{body}"),
            other => panic!("a creation is admitted or refused by the cap, not {other}: {body}"),
        }
    }
    assert_eq!(admitted, 10, "exactly the cap is admitted");
    assert_eq!(svc.rows("approval_requests").await, 10);
}

/// Two instances on one database creating the same person at once make one user.
#[tokio::test]
async fn the_same_person_created_by_two_instances_at_once_is_one_user() {
    let first = TestService::start().await;
    let second = first.another_instance(None).await;
    for round in 0..10 {
        let email = format!("both{round}@example.com");
        let (a, b) = tokio::join!(
            first.backend.create_user(&email),
            second.backend.create_user(&email)
        );
        assert_eq!(a, b, "one person, one id, whichever instance answered");
    }
    assert_eq!(first.rows("users").await, 10);
}

/// Person ids and device aliases are random: one relying party learns nothing about another's
/// sign-ups or enrollments from them.
#[tokio::test]
async fn ids_say_nothing_about_other_apps() {
    let svc = TestService::start().await;
    let (_, other) = svc
        .other_app(assent_server::admin::AppSpec {
            name: "Other".into(),
            ..Default::default()
        })
        .await;
    let mine = svc.backend.create_user("a@example.com").await;
    let theirs = other.create_user("b@example.com").await;
    let mine_again = svc.backend.create_user("c@example.com").await;
    for id in [mine, theirs, mine_again] {
        assert!(
            id > 1_000_000,
            "ids are drawn from a large space, not counted: {id}"
        );
        assert!(id < (1 << 53), "ids stay exact in JSON: {id}");
    }
    assert!(
        mine_again.abs_diff(mine) > 1 && theirs.abs_diff(mine) > 1,
        "consecutive ids would count another app's people: {mine} {theirs} {mine_again}"
    );
    let device = svc.enroll(mine).await;
    assert!(
        device.enrollment.device_alias > 1_000_000,
        "device aliases are random too: {}",
        device.enrollment.device_alias
    );
}

#[tokio::test]
async fn a_request_expires_when_the_service_clock_passes_its_deadline() {
    // The service reads time only from its clock: moving it an hour on expires an hour-long
    // request at once (and the sleeping expiry sweeper notices), with no real waiting.
    let clock = assent_server::clock::Clock::adjustable();
    let service_clock = clock.clone();
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(move |c| c.clock = service_clock)),
        ..Options::default()
    })
    .await;
    let (user, _device) = svc.enrolled_user("clock@example.com").await;
    let (id, _) = svc
        .backend
        .request(
            user,
            json!({"message": "An hour to answer", "seconds_to_expire": 3600}),
        )
        .await;
    let path = format!("/onetouch/json/approval_requests/{id}");
    let (_, body) = svc.backend.get(&path).await;
    assert_eq!(body["approval_request"]["status"], "pending");

    clock.advance(3601);
    let (_, body) = svc.backend.get(&format!("{path}?wait=10")).await;
    assert_eq!(
        body["approval_request"]["status"], "expired",
        "a request whose deadline the service clock has passed must be expired"
    );
}

#[tokio::test]
async fn app_details_answer_in_authys_shape_and_phone_channels_say_they_do_not_exist() {
    let svc = TestService::start().await;
    let (status, body) = svc.backend.get("/protected/json/app/details").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["app"]["name"], svc.app.name.as_str());
    assert_eq!(body["app"]["app_id"], svc.app.serial_id);
    assert_eq!(body["app"]["sms_enabled"], false);
    let user = svc.backend.create_user("phone@example.com").await;
    for (method, path) in [
        ("GET", format!("/protected/json/sms/{user}")),
        ("GET", format!("/protected/json/call/{user}")),
        (
            "POST",
            "/protected/json/phones/verification/start".to_owned(),
        ),
        (
            "GET",
            "/protected/json/phones/verification/check".to_owned(),
        ),
        ("GET", "/protected/json/phones/info".to_owned()),
    ] {
        let (status, body) = if method == "GET" {
            svc.backend.get(&path).await
        } else {
            svc.backend.post_json(&path, json!({})).await
        };
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert_eq!(
            body["error_code"], "60115",
            "{method} {path} says it is unsupported"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("does not send SMS"),
            "the message says so plainly: {body}"
        );
    }
    let (status, body) = svc
        .backend
        .with_key("wrong")
        .get(&format!("/protected/json/sms/{user}"))
        .await;
    assent_testkit::assert_refused!(status, body, 401, "60001", "the key is checked first");
}

/// `GET /protected/json/app/stats` counts, per calendar month, the app's people, its approval
/// requests and approvals, and the one-time codes accepted, from the rows themselves; a new month
/// starts at zero and the old one keeps its counts.
#[tokio::test]
async fn app_stats_count_people_requests_approvals_and_codes_per_month() {
    let (svc, clock) = TestService::with_adjustable_clock().await;
    // The middle of a step, so the device's code below stays valid while it is used.
    crate::codes::mid_step(&clock);
    let (user, device) = svc.enrolled_user("stats@example.com").await;
    let gone = svc.backend.create_user("gone@example.com").await;
    svc.backend.create_user("third@example.com").await;
    let (status, _) = svc
        .backend
        .post_json(&format!("/protected/json/users/{gone}/delete"), json!({}))
        .await;
    assert_eq!(status, 200);
    let (approved, _) = svc
        .backend
        .request(user, json!({"message": "Log in"}))
        .await;
    svc.backend
        .request(user, json!({"message": "Pay", "allow_concurrent": true}))
        .await;
    assert_eq!(device.approve(approved).await.status, 200);
    let (status, body) = svc
        .backend
        .get(&format!(
            "/protected/json/verify/{}/{user}",
            device.code_at(clock.now())
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = svc
        .backend
        .get(&format!("/protected/json/verify/000000/{user}"))
        .await;
    assert_ne!(status, 200, "a wrong code is not counted: {body}");

    let (status, body) = svc.backend.get("/protected/json/app/stats").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Monthly statistics.");
    assert_eq!(body["app_id"], svc.app.serial_id);
    assert_eq!(body["total_users"], 2, "deleted people are not counted now");
    let months = body["stats"].as_array().unwrap();
    assert_eq!(body["count"], months.len());
    let month = months.last().unwrap();
    let now = time::OffsetDateTime::from_unix_timestamp(clock.now()).unwrap();
    assert_eq!(month["month"], now.month().to_string());
    assert_eq!(month["year"], now.year());
    assert_eq!(
        month["users_count"], 3,
        "people created this month: {month}"
    );
    assert_eq!(month["approval_requests_count"], 2);
    assert_eq!(month["approvals_count"], 1);
    assert_eq!(month["codes_accepted_count"], 1);
    assert_eq!(month["auths_count"], 2, "one approval and one code");
    assert_eq!(month["sms_count"], 0);
    assert_eq!(month["calls_count"], 0);
    assert!(month["api_calls_count"].is_null(), "not counted: {month}");

    clock.advance(32 * 86_400);
    let (_, body) = svc.backend.get("/protected/json/app/stats").await;
    let months = body["stats"].as_array().unwrap();
    let before = months
        .iter()
        .find(|m| m["month"] == now.month().to_string() && m["year"] == now.year())
        .unwrap_or_else(|| panic!("the earlier month is still listed: {body}"));
    let current = months.last().unwrap();
    assert_eq!(before["users_count"], 3, "last month keeps its counts");
    assert_eq!(before["auths_count"], 2);
    for field in [
        "users_count",
        "auths_count",
        "approval_requests_count",
        "codes_accepted_count",
    ] {
        assert_eq!(current[field], 0, "a new month starts at zero: {current}");
    }
    let (status, body) = svc
        .backend
        .with_key("wrong")
        .get("/protected/json/app/stats")
        .await;
    assert_eq!(
        (status.as_u16(), body["error_code"].as_str()),
        (401, Some("60001"))
    );
}

#[tokio::test]
async fn kind_and_action_label_are_checked_and_nothing_is_written_for_bad_ones() {
    let svc = TestService::start().await;
    let (user, _device) = svc.enrolled_user("kind@example.com").await;
    let before = svc.rows("approval_requests").await;
    let refused: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "an unknown kind",
            json!({"message": "m", "kind": "login"}),
            "kind",
        ),
        (
            "a kind in another case",
            json!({"message": "m", "kind": "SIGN_IN"}),
            "kind",
        ),
        (
            "a kind that is not text",
            json!({"message": "m", "kind": 1}),
            "kind",
        ),
        (
            "a label of 33 characters",
            json!({"message": "m", "kind": "action", "action_label": "x".repeat(33)}),
            "action_label",
        ),
        (
            "a blank label",
            json!({"message": "m", "action_label": "   "}),
            "action_label",
        ),
        (
            "a label with a bidi override",
            json!({"message": "m", "action_label": "Release \u{202E}005,21$"}),
            "action_label",
        ),
        (
            "a label with a control character",
            json!({"message": "m", "action_label": "Pay\u{1b}[2J"}),
            "action_label",
        ),
    ];
    for (what, body, field) in refused {
        let (status, reply) = svc.backend.create_request(user, body).await;
        assert_eq!(
            (status.as_u16(), reply["error_code"].as_str()),
            (400, Some("60004")),
            "{what} must be refused with 60004: {reply}"
        );
        assert!(
            reply["message"]
                .as_str()
                .unwrap_or_default()
                .contains(field),
            "{what}: the message must name {field}: {reply}"
        );
    }
    assert_eq!(
        svc.rows("approval_requests").await,
        before,
        "a refused request writes nothing"
    );

    let (id, _) = svc
        .backend
        .request(
            user,
            json!({"message": "Wire $12,500 to ACME Corp?", "kind": "action", "action_label": format!("Release {}", "$".repeat(24))}),
        )
        .await;
    let device = svc.enroll(user).await;
    let (details, _) = device.details(id).await;
    assert_eq!(
        details.message.kind,
        Some(assent_protocol::request::RequestKind::Action)
    );
    assert_eq!(
        details
            .message
            .action_label
            .as_deref()
            .map(|l| l.chars().count()),
        Some(32),
        "a label of exactly 32 characters is accepted and signed"
    );
}

#[tokio::test]
async fn a_sign_in_without_an_expiry_lives_five_minutes_and_other_requests_keep_the_default() {
    let (svc, clock) = TestService::with_adjustable_clock().await;
    let (user, device) = svc.enrolled_user("short@example.com").await;
    let b = &svc.backend;
    let (sign_in, _) = b
        .request(
            user,
            json!({"message": "Sign in?", "kind": "sign_in", "allow_concurrent": true}),
        )
        .await;
    let (long_sign_in, _) = b
        .request(
            user,
            json!({"message": "Sign in?", "kind": "sign_in", "seconds_to_expire": 3600, "allow_concurrent": true}),
        )
        .await;
    let (action, _) = b
        .request(
            user,
            json!({"message": "Wire?", "kind": "action", "allow_concurrent": true}),
        )
        .await;
    let (plain, _) = b
        .request(
            user,
            json!({"message": "Old client", "allow_concurrent": true}),
        )
        .await;
    // Measured from each request's own creation: the test clock runs with real time, so a
    // second can pass between two requests.
    let lifetime = |id| {
        let device = &device;
        async move {
            let message = device.details(id).await.0.message;
            message.expires_at.map(|at| at - message.created_at)
        }
    };
    assert_eq!(
        lifetime(sign_in).await,
        Some(300),
        "a sign-in without seconds_to_expire lives 300 s"
    );
    assert_eq!(
        lifetime(long_sign_in).await,
        Some(3600),
        "a sign-in with seconds_to_expire keeps it"
    );
    assert_eq!(
        lifetime(action).await,
        Some(86_400),
        "an action keeps the day"
    );
    assert_eq!(lifetime(plain).await, Some(86_400), "no kind keeps the day");
    assert_eq!(b.status(sign_in).await["seconds_to_expire"], 300);

    clock.advance(301);
    let (_, body) = b
        .get(&format!(
            "/onetouch/json/approval_requests/{sign_in}?wait=10"
        ))
        .await;
    assert_eq!(
        body["approval_request"]["status"], "expired",
        "the sign-in expires once the service clock passes 300 s"
    );
    assert_eq!(b.status(action).await["status"], "pending");
}

#[tokio::test]
async fn a_request_signs_the_names_of_its_people_as_registered() {
    let svc = TestService::start().await;
    let (ana, _ana_device) = svc.enrolled_user("ana@acme.example").await;
    let (bo, bo_device) = svc.enrolled_user("bo@acme.example").await;
    // Registered with a phone number only: no name to sign, and never the number.
    let (status, body) = svc
        .backend
        .post_json(
            "/protected/json/users/new",
            json!({"user": {"cellphone": "555-123-4567", "country_code": "1"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let cy = body["user"]["id"].as_u64().unwrap();
    let _cy_device = svc.enroll(cy).await;
    // A display name (`user[name]`) is preferred to the e-mail.
    let (status, body) = svc
        .backend
        .post_json(
            "/protected/json/users/new",
            json!({"user": {"email": "dee@acme.example", "name": "  Dee Costa "}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let dee = body["user"]["id"].as_u64().unwrap();
    let dee_device = svc.enroll(dee).await;
    assert_eq!(
        dee_device.enrollment.account_name.as_deref(),
        Some("Dee Costa"),
        "the enrollment answer names the account by its display name"
    );

    let (id, _) = svc
        .backend
        .request(
            bo,
            json!({"message": "Wire?", "approvers": [ana, cy, dee], "quorum": 2}),
        )
        .await;
    let (details, raw) = bo_device.details(id).await;
    let people: Vec<(u64, &str)> = details
        .message
        .people
        .iter()
        .map(|p| (p.user_id, p.name.as_str()))
        .collect();
    let mut want = vec![
        (ana, "ana@acme.example"),
        (bo, "bo@acme.example"),
        (dee, "Dee Costa"),
    ];
    want.sort_unstable();
    assert_eq!(
        people, want,
        "the initiator and approvers are named by e-mail, ascending; a phone-only person is left out"
    );
    // Seven digits of the number, in either spelling: four would occur by chance among the
    // random ids and timestamps of the request (about one run in 150).
    let text = raw.to_string();
    assert!(
        !text.contains("123-4567") && !text.contains("1234567"),
        "no phone number reaches a device: {raw}"
    );
    assert_eq!(details.message.name_of(cy), None);
    assert_eq!(details.message.check_people_and_label(), Ok(()));
}

#[tokio::test]
async fn a_display_name_is_bounded_plain_text_and_a_bad_one_writes_nothing() {
    let svc = TestService::start().await;
    let before = svc.rows("users").await;
    for (what, name) in [
        ("over 100 characters", "n".repeat(101)),
        ("a bidi override", "Ana \u{202E}amiL".to_owned()),
        ("an escape sequence", "Ana\u{1b}[2J".to_owned()),
        ("a zero-width space", "Ana\u{200B}Lima".to_owned()),
    ] {
        let (status, body) = svc
            .backend
            .post_json(
                "/protected/json/users/new",
                json!({"user": {"email": "ana@acme.example", "name": name}}),
            )
            .await;
        assert_eq!(
            (status.as_u16(), body["error_code"].as_str()),
            (400, Some("60027")),
            "a name with {what} must be refused as an invalid user: {body}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("name"),
            "{body}"
        );
    }
    assert_eq!(svc.rows("users").await, before, "nothing written");
    let (status, body) = svc
        .backend
        .post_form(
            "/protected/json/users/new",
            "user%5Bemail%5D=ana%40acme.example&user%5Bname%5D=Ana%20Lima",
        )
        .await;
    assert_eq!(status, 200, "the form spelling user[name] works: {body}");
}

/// Past capacity (here: working on more than one call), a new approval request is refused at
/// once with 60121 and `Retry-After`, and nothing is written; calls about a request already sent
/// (its status, the device's fetch and decision) are still answered, and once the backlog clears
/// new requests are taken again. What is not work does not count: a client that never finishes
/// sending its body, and a status long-poll waiting for a person.
#[tokio::test]
async fn past_capacity_new_requests_are_refused_and_sent_ones_keep_moving() {
    use tokio::io::AsyncWriteExt as _;
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| c.connections.shed_new_requests_above = 1)),
        ..Options::several_pending()
    })
    .await;
    let (user, device) = svc.enrolled_user("rush@example.com").await;
    let (sent, _) = svc
        .backend
        .request(user, json!({"message": "sent before the rush"}))
        .await;

    // A sender that stalls mid-body (an attacker's cheapest way to hold calls open) and a
    // long-poll waiting on the request: neither is work, so a new request is still taken.
    let mut stalled = tokio::net::TcpStream::connect(svc.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stalled
        .write_all(
            format!(
                "POST /onetouch/json/users/{user}/approval_requests HTTP/1.1\r\nHost: x\r\n\
                 Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{{\"message\": \"sl"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let waiters = svc.state.hub.resolution_waiters();
    let backend = svc.backend.clone();
    let long_poll = tokio::spawn(async move {
        backend
            .get(&format!("/onetouch/json/approval_requests/{sent}?wait=10"))
            .await
    });
    // Until the long-poll waits (subscribed, and no longer counted as work).
    let deadline = Instant::now() + Duration::from_secs(10);
    while svc.state.hub.resolution_waiters() <= waiters || svc.state.metrics.calls_working() > 0 {
        assert!(
            Instant::now() < deadline,
            "the long-poll should be waiting by now"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, body) = svc
        .backend
        .create_request(
            user,
            json!({"message": "beside a slow sender and a long-poll"}),
        )
        .await;
    assert_eq!(
        status, 200,
        "a stalled body and a waiting long-poll must not make the service refuse work: {body}"
    );
    drop(stalled);

    // One create held at its write: two calls in flight with the next one.
    let pause = svc.state.config.pause_points.arm("create.before_write");
    let backend = svc.backend.clone();
    let held = tokio::spawn(async move {
        backend
            .create_request(user, json!({"message": "held at its write"}))
            .await
    });
    pause.arrived().await;
    let before = svc.rows("approval_requests").await;
    let (status, body, retry_after) = svc
        .backend
        .create_request_retry(user, json!({"message": "one too many"}))
        .await;
    assent_testkit::assert_refused!(
        status,
        body,
        503,
        "60121",
        "a new request past capacity is refused: {body}"
    );
    assert_eq!(
        retry_after,
        Some(1),
        "the refusal says when to retry: {body}"
    );
    assert_eq!(
        svc.rows("approval_requests").await,
        before,
        "nothing is written for a refused request"
    );
    assert_eq!(
        svc.backend.status(sent).await["status"],
        "pending",
        "a status poll is answered while new requests are refused"
    );
    assert_eq!(
        device.approve(sent).await.status,
        200,
        "the device's fetch and decision of a request already sent are answered"
    );

    pause.release();
    let (status, body) = held.await.unwrap();
    assert_eq!(status, 200, "the held request is created: {body}");
    let (status, body) = long_poll.await.unwrap();
    assert_eq!(
        (status.as_u16(), body["approval_request"]["status"].as_str()),
        (200, Some("approved")),
        "the long-poll answers when the request it waited on was approved: {body}"
    );
    let (status, body) = svc
        .backend
        .create_request(user, json!({"message": "after the rush"}))
        .await;
    assert_eq!(
        status, 200,
        "with the backlog cleared new requests are taken: {body}"
    );
}
