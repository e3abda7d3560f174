//! Callbacks: signed exactly as Authy's, GET and POST, retried until delivered, kept across
//! restarts.

use assent_protocol::callback::{self, CallbackKey};
use assent_protocol::decision::{DenyReason, Outcome};
use serde_json::json;

use assent_testkit::{CallbackReceiver, Options, TestService, eventually};

#[tokio::test]
async fn get_callbacks_carry_the_payload_in_the_query_and_verify() {
    let mut callbacks = CallbackReceiver::start().await;
    let svc = TestService::start_with(Options {
        callback_url: Some(callbacks.url.clone()),
        callback_get: true,
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("get@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "GET me", "details": {"Amount": "$1 000", "To": "ACME/Corp"}, "logos": [{"res": "default", "url": "https://x.example/a b.png"}]}))
        .await;
    device
        .decide(id, Outcome::Deny, Some(DenyReason::NotMe), None)
        .await;
    let received = callbacks.next().await;
    assert_eq!(received.method, "GET");
    assert!(received.body.is_empty());
    let query = received.query.expect("a GET callback carries a query");
    let key = CallbackKey::from_api_key(&svc.backend.api_key);
    callback::verify_get(
        &key,
        &received.nonce,
        &callbacks.url,
        &query,
        &received.signature,
    )
    .expect("GET callback verifies");
    assert!(query.contains("status=denied"));
    assert!(query.contains("approval_request%5Btransaction%5D%5Breason%5D=not_me"));
}

#[tokio::test]
async fn callbacks_are_retried_until_delivered() {
    let mut callbacks = CallbackReceiver::start().await;
    *callbacks.answer.lock().unwrap() = 503;
    let svc = TestService::start_with(Options {
        callback_url: Some(callbacks.url.clone()),
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("retry@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "retry"})).await;
    device.approve(id).await;
    let first = callbacks.next().await;
    let second = callbacks.next().await;
    assert_eq!(first.body, second.body, "the same payload is retried");
    *callbacks.answer.lock().unwrap() = 200;
    let delivered = callbacks.next().await;
    let key = CallbackKey::from_api_key(&svc.backend.api_key);
    callback::verify_post(
        &key,
        &delivered.nonce,
        &callbacks.url,
        &delivered.body,
        &delivered.signature,
    )
    .unwrap();
    let store = svc.state.store.clone();
    eventually("the outbox is empty", || {
        let store = store.clone();
        async move { store.metrics().await.unwrap().callback_backlog == 0 }
    })
    .await;
    assert!(
        callbacks.received.try_recv().is_err(),
        "nothing is sent after delivery"
    );
}

#[tokio::test]
async fn an_undelivered_callback_survives_a_restart() {
    let mut callbacks = CallbackReceiver::start().await;
    *callbacks.answer.lock().unwrap() = 500;
    let svc = TestService::start_with(Options {
        callback_url: Some(callbacks.url.clone()),
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("restart@example.com").await;
    let (id, _) = svc
        .backend
        .request(user, json!({"message": "durable"}))
        .await;
    device.approve(id).await;
    callbacks.next().await;
    *callbacks.answer.lock().unwrap() = 200;
    let svc = svc.restart().await;
    let delivered = loop {
        let received = callbacks.next().await;
        if *callbacks.answer.lock().unwrap() == 200 {
            break received;
        }
    };
    let payload: serde_json::Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(payload["uuid"], id.to_string());
    assert_eq!(svc.backend.status(id).await["status"], "approved");
}

#[tokio::test]
async fn rotating_the_key_changes_the_callback_signature_key() {
    let mut callbacks = CallbackReceiver::start().await;
    let svc = TestService::start_with(Options {
        callback_url: Some(callbacks.url.clone()),
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("rot@example.com").await;
    let new_key = svc.state.operator().rotate_key(&svc.app.id).await.unwrap();
    let (status, _) = svc
        .backend
        .get(&format!("/protected/json/users/{user}/status"))
        .await;
    assert_eq!(status, 401, "the old key stops working at once");
    let backend = svc.backend.with_key(new_key.expose());
    let (id, _) = backend.request(user, json!({"message": "rotated"})).await;
    device.approve(id).await;
    let received = callbacks.next().await;
    callback::verify_post(
        &CallbackKey::from_api_key(new_key.expose()),
        &received.nonce,
        &callbacks.url,
        &received.body,
        &received.signature,
    )
    .expect("callbacks are signed with the new key");
}

/// One relying party whose endpoint hangs must not delay another's callbacks: deliveries are
/// bounded per app and never wait for each other.
#[tokio::test]
async fn a_hanging_endpoint_does_not_delay_another_apps_callbacks() {
    // Accepts connections and never answers.
    let hanging = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}/hook", hanging.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            sockets.push(socket);
        }
    });
    let svc = TestService::start_with(Options {
        callback_url: Some(hanging_url),
        configure: Some(Box::new(|c| {
            c.callback_timeout = std::time::Duration::from_secs(60);
        })),
        ..Options::default()
    })
    .await;
    for i in 0..12 {
        let (user, device) = svc.enrolled_user(&format!("slow{i}@example.com")).await;
        let (id, _) = svc.backend.request(user, json!({"message": "slow"})).await;
        assert_eq!(device.approve(id).await.status, 200);
    }
    let mut callbacks = CallbackReceiver::start().await;
    let (other, backend) = svc
        .other_app(assent_server::admin::AppSpec {
            name: "Prompt Co".into(),
            callback_url: Some(callbacks.url.clone()),
            ..Default::default()
        })
        .await;
    let user = backend.create_user("prompt@example.com").await;
    let token = backend.registration(user).await;
    let device = assent_testkit::TestDevice::enroll(&svc.base, &token, "d").await;
    let (id, _) = backend.request(user, json!({"message": "fast"})).await;
    assert_eq!(device.approve(id).await.status, 200);
    let delivered = callbacks.next().await;
    let payload: serde_json::Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(payload["uuid"], id.to_string());
    assert_eq!(payload["approval_request"]["app_id"], other.id);
    assert!(
        svc.state.store.metrics().await.unwrap().callback_backlog >= 12,
        "the hanging app's callbacks are all still waiting, so the other's was not behind them"
    );
    held.abort();
}

/// A callback URL may carry the relying party's own secrets (a user name and password, a token in
/// the path or the query): none of them reaches the stored delivery error.
#[tokio::test]
async fn secrets_in_a_callback_url_never_reach_the_stored_error() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let svc = TestService::start_with(Options {
        callback_url: Some(format!(
            "http://hookuser:s3cretpass@127.0.0.1:{closed}/hooks/p4thsecret?token=t0psecret"
        )),
        ..Options::default()
    })
    .await;
    let (user, device) = svc.enrolled_user("secret-url@example.com").await;
    let (id, _) = svc.backend.request(user, json!({"message": "m"})).await;
    device.approve(id).await;
    let store = svc.state.store.clone();
    eventually("the first attempt failed and was recorded", || {
        let store = store.clone();
        async move { store.callback_last_error(1).await.unwrap().is_some() }
    })
    .await;
    let error = svc
        .state
        .store
        .callback_last_error(1)
        .await
        .unwrap()
        .unwrap();
    assert!(
        error.contains(&format!("http://127.0.0.1:{closed}/")),
        "the error says where: {error}"
    );
    for secret in ["hookuser", "s3cretpass", "t0psecret", "p4thsecret"] {
        assert!(
            !error.contains(secret),
            "{secret} must not be in the stored error: {error}"
        );
    }
}
