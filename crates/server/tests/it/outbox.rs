//! Callbacks: signed exactly as Authy's, GET and POST, retried until delivered, kept across
//! restarts.

use assent_protocol::callback::{self, CallbackKey};
use assent_protocol::decision::{DenyReason, Outcome};
use serde_json::json;

use crate::support::{CallbackReceiver, Options, TestService, eventually};

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
    let (dir, app, key, tmp) = svc.stop().await;
    *callbacks.answer.lock().unwrap() = 200;
    let svc = TestService::start_with(Options {
        reuse: Some((dir, app, key)),
        ..Options::default()
    })
    .await;
    let delivered = loop {
        let received = callbacks.next().await;
        if *callbacks.answer.lock().unwrap() == 200 {
            break received;
        }
    };
    let payload: serde_json::Value = serde_json::from_slice(&delivered.body).unwrap();
    assert_eq!(payload["uuid"], id.to_string());
    assert_eq!(svc.backend.status(id).await["status"], "approved");
    drop(tmp);
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
    let new_key = assent_server::admin::rotate_key(svc.state.store.as_ref(), &svc.app.id)
        .await
        .unwrap();
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
