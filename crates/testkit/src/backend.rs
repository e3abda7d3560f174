//! A relying party's side: the backend API with an API key.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// The relying party's side.
#[derive(Debug, Clone)]
pub struct Backend {
    pub base: String,
    pub api_key: String,
    http: reqwest::Client,
}

impl Backend {
    pub fn new(base: &str, api_key: &str) -> Self {
        Backend {
            base: base.to_owned(),
            api_key: api_key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub fn with_key(&self, api_key: &str) -> Self {
        Backend::new(&self.base, api_key)
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let (status, body, _) = self.send_for_retry(builder).await;
        (status, body)
    }

    /// The answer with its `Retry-After` seconds, if any.
    async fn send_for_retry(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> (StatusCode, Value, Option<u64>) {
        let response = builder.send().await.expect("service reachable");
        let status = response.status();
        let retry = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().parse().expect("Retry-After is seconds"));
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        (status, body, retry)
    }

    fn json_post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header("X-Authy-API-Key", &self.api_key)
            .json(body)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.json_post(path, &body)).await
    }

    pub async fn post_form(&self, path: &str, form: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("X-Authy-API-Key", &self.api_key)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form.to_owned()),
        )
        .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("X-Authy-API-Key", &self.api_key)
                .header("Content-Type", content_type)
                .body(body),
        )
        .await
    }

    /// A call with no API key header (the key, if any, is in `path`'s query or the body).
    pub async fn unauthenticated(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
    ) -> (StatusCode, Value) {
        let mut builder = self.http.request(method, format!("{}{path}", self.base));
        if let Some((content_type, body)) = body {
            builder = builder.header("Content-Type", content_type).body(body);
        }
        self.send(builder).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .header("X-Authy-API-Key", &self.api_key),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(
            self.http
                .delete(format!("{}{path}", self.base))
                .header("X-Authy-API-Key", &self.api_key),
        )
        .await
    }

    pub async fn create_user(&self, email: &str) -> u64 {
        let (status, body) = self
            .post_json(
                "/protected/json/users/new",
                json!({"user": {"email": email}, "send_install_link_via_sms": false}),
            )
            .await;
        assert_eq!(status, 200, "creating a user should succeed: {body}");
        body["user"]["id"].as_u64().unwrap()
    }

    pub async fn registration(&self, user: u64) -> String {
        let (status, body) = self
            .post_json(
                "/protected/json/sdk/registrations",
                json!({"authy_id": user}),
            )
            .await;
        assert_eq!(status, 200, "a registration token should be issued: {body}");
        body["registration_token"].as_str().unwrap().to_owned()
    }

    pub async fn create_request(&self, user: u64, body: Value) -> (StatusCode, Value) {
        self.post_json(
            &format!("/onetouch/json/users/{user}/approval_requests"),
            body,
        )
        .await
    }

    /// Creates a request and returns the answer with its `Retry-After` seconds, if any.
    pub async fn create_request_retry(
        &self,
        user: u64,
        body: Value,
    ) -> (StatusCode, Value, Option<u64>) {
        let path = format!("/onetouch/json/users/{user}/approval_requests");
        self.send_for_retry(self.json_post(&path, &body)).await
    }

    /// Creates a request that must succeed; returns its uuid (and number, when asked for).
    pub async fn request(&self, user: u64, body: Value) -> (Uuid, Option<u32>) {
        let (status, reply) = self.create_request(user, body).await;
        assert_eq!(status, 200, "creating the request should succeed: {reply}");
        let uuid = Uuid::parse_str(reply["approval_request"]["uuid"].as_str().unwrap()).unwrap();
        (
            uuid,
            reply["approval_request"]["number"]
                .as_u64()
                .map(|n| n as u32),
        )
    }

    /// The receipt of request `id`: the answer's status and its exact bytes.
    pub async fn receipt(&self, id: Uuid) -> (StatusCode, Vec<u8>) {
        let response = self
            .http
            .get(format!(
                "{}/protected/json/approval_requests/{id}/receipt",
                self.base
            ))
            .header("X-Authy-API-Key", &self.api_key)
            .send()
            .await
            .expect("service reachable");
        let status = response.status();
        (status, response.bytes().await.unwrap().to_vec())
    }

    pub async fn status(&self, id: Uuid) -> Value {
        let (status, body) = self
            .get(&format!("/onetouch/json/approval_requests/{id}"))
            .await;
        assert_eq!(status, 200, "status should be readable: {body}");
        body["approval_request"].clone()
    }
}
