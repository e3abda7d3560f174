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

/// An HTTP server that records callbacks and answers with a configurable status.
#[derive(Debug)]
pub struct CallbackReceiver {
    pub url: String,
    pub received: mpsc::UnboundedReceiver<ReceivedCallback>,
    pub answer: Arc<Mutex<u16>>,
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
        }
    }

    pub async fn next(&mut self) -> ReceivedCallback {
        tokio::time::timeout(Duration::from_secs(20), self.received.recv())
            .await
            .expect("a callback arrives")
            .expect("receiver alive")
    }
}
