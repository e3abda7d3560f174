//! A relying party's callback endpoint that records what arrives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

/// One callback as received.
#[derive(Debug, Clone)]
pub struct ReceivedCallback {
    pub method: String,
    pub query: Option<String>,
    pub signature: String,
    pub nonce: String,
    pub body: Vec<u8>,
}

impl ReceivedCallback {
    /// Its `callback_action` (from the JSON body, or the query of a GET callback).
    pub fn action(&self) -> String {
        if let Some(query) = &self.query {
            return form_urlencoded::parse(query.as_bytes())
                .find(|(k, _)| k == "callback_action")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
        }
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["callback_action"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// An HTTP server that records callbacks and answers with a configurable status.
#[derive(Debug)]
pub struct CallbackReceiver {
    pub url: String,
    pub received: mpsc::UnboundedReceiver<ReceivedCallback>,
    pub answer: Arc<Mutex<u16>>,
    /// `fraud_reported` events that arrived while [`CallbackReceiver::next`] waited for a
    /// request's callback.
    fraud_reports: std::collections::VecDeque<ReceivedCallback>,
}

impl CallbackReceiver {
    pub async fn start() -> CallbackReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/authy/callback", listener.local_addr().unwrap());
        let (tx, received) = mpsc::unbounded_channel();
        let answer = Arc::new(Mutex::new(200u16));
        let status = Arc::clone(&answer);
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let tx = tx.clone();
            let status = *status.lock().unwrap();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
                let header = |name: &str| {
                    parts
                        .headers
                        .get(name)
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default()
                };
                let _ = tx.send(ReceivedCallback {
                    method: parts.method.to_string(),
                    query: parts.uri.query().map(str::to_owned),
                    signature: header("x-authy-signature"),
                    nonce: header("x-authy-signature-nonce"),
                    body,
                });
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        CallbackReceiver {
            url,
            received,
            answer,
            fraud_reports: Default::default(),
        }
    }

    /// The next request callback (`approval_request_status`); `fraud_reported` events that
    /// arrive meanwhile are kept for [`CallbackReceiver::next_fraud_report`].
    pub async fn next(&mut self) -> ReceivedCallback {
        loop {
            let received = self.any().await;
            if received.action() == "fraud_reported" {
                self.fraud_reports.push_back(received);
            } else {
                return received;
            }
        }
    }

    /// The next `fraud_reported` event (request callbacks arriving meanwhile are dropped).
    pub async fn next_fraud_report(&mut self) -> ReceivedCallback {
        if let Some(kept) = self.fraud_reports.pop_front() {
            return kept;
        }
        loop {
            let received = self.any().await;
            if received.action() == "fraud_reported" {
                return received;
            }
        }
    }

    async fn any(&mut self) -> ReceivedCallback {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .expect("a callback arrives")
            .expect("receiver alive")
    }
}
