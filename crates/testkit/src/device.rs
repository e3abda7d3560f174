//! A device speaking the protocol directly: enrollment, signed calls, the push stream. It can
//! also misbehave on purpose (any header, any body).

use assent_protocol::auth::{DeviceAuthorization, new_nonce};
use assent_protocol::crypto::PublicKey;
use assent_protocol::decision::{Decision, DenyReason, Outcome};
use assent_protocol::enroll::{EnrollmentRequest, EnrollmentResponse};
use assent_protocol::request::{DeviceRequest, RequestDetails};
use assent_protocol::secret::SecretString;
use assent_protocol::signed::{Signed, Verified};
use assent_protocol::stream::StreamMessage;
use assent_protocol::{SigningKey, Uuid};
use assent_server::clock::Clock;
use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::wait::PROMPTLY;

/// A device speaking the protocol directly.
#[derive(Debug)]
pub struct TestDevice {
    pub key: SigningKey,
    pub id: Uuid,
    pub user_id: u64,
    pub service_key: PublicKey,
    pub enrollment: EnrollmentResponse,
    pub base: String,
    http: reqwest::Client,
    /// Where its timestamps come from: the system clock, or a test's adjustable service clock
    /// ([`TestDevice::on_clock`]) so that its calls stay within the allowed skew.
    clock: Clock,
}

/// What a device call returned.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error_code"].as_str().unwrap_or("")
    }
}

impl TestDevice {
    pub async fn enroll(base: &str, token: &str, name: &str) -> TestDevice {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let request =
            EnrollmentRequest::new(SecretString::new(token), &key, name.into(), "linux".into());
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/device/v1/enroll"))
            .json(&request)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "enrollment should succeed: {}",
            response.text().await.unwrap()
        );
        let enrollment: EnrollmentResponse = response.json().await.unwrap();
        TestDevice {
            key,
            id: enrollment.device_id,
            user_id: enrollment.user_id,
            service_key: enrollment.service_public_key,
            enrollment,
            base: base.to_owned(),
            http,
            clock: Clock::system(),
        }
    }

    /// The same device calling another instance at `base` (instances share one database).
    pub fn at(&self, base: &str) -> TestDevice {
        TestDevice {
            key: self.key.clone(),
            id: self.id,
            user_id: self.user_id,
            service_key: self.service_key,
            enrollment: self.enrollment.clone(),
            base: base.to_owned(),
            http: self.http.clone(),
            clock: self.clock.clone(),
        }
    }

    /// The same device, its timestamps read from `clock` (a test's adjustable service clock).
    pub fn on_clock(mut self, clock: &Clock) -> TestDevice {
        self.clock = clock.clone();
        self
    }

    /// The device's 6-digit one-time code at Unix time `now`, from the seed its enrollment gave.
    pub fn code_at(&self, now: i64) -> String {
        self.enrollment
            .code_seed
            .code_at(now, assent_protocol::totp::Digits::default())
            .as_str()
            .to_owned()
    }

    /// The `Authorization` header for a call.
    pub fn auth(&self, method: &str, target: &str, body: &[u8], ts: i64) -> String {
        DeviceAuthorization::sign(&self.key, self.id, method, target, body, ts, new_nonce())
            .render()
    }

    /// Sends a call with a given header (possibly a wrong one, on purpose).
    pub async fn call_with(
        &self,
        method: &str,
        target: &str,
        body: Vec<u8>,
        header: &str,
    ) -> Reply {
        let response = self
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}{target}", self.base),
            )
            .header("Authorization", header)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        Reply { status, body }
    }

    /// Sends a correctly signed call.
    pub async fn call(&self, method: &str, target: &str, body: Vec<u8>) -> Reply {
        let header = self.auth(method, target, &body, self.clock.now());
        self.call_with(method, target, body, &header).await
    }

    pub async fn details(&self, id: Uuid) -> (Verified<RequestDetails>, Value) {
        let reply = self
            .call("GET", &format!("/device/v1/requests/{id}"), Vec::new())
            .await;
        assert_eq!(
            reply.status, 200,
            "details should be readable: {:?}",
            reply.body
        );
        let envelope: DeviceRequest = serde_json::from_value(reply.body.clone()).unwrap();
        let verified = envelope
            .request
            .verify(&self.service_key)
            .expect("details are signed by the pinned service key");
        (verified, reply.body)
    }

    /// The decision this device would sign over `details` now: change its fields, then
    /// [`TestDevice::sign`] it.
    pub fn draft(&self, details: &Verified<RequestDetails>, outcome: Outcome) -> Decision {
        Decision {
            v: 1,
            request_id: details.message.id,
            request_digest: hex::encode(details.digest),
            device_id: self.id,
            outcome,
            reason: None,
            number: None,
            code: None,
            verification: None,
            signed_at: self.clock.now(),
        }
    }

    /// A signed decision body.
    pub fn sign(&self, decision: &Decision) -> Vec<u8> {
        serde_json::to_vec(&Signed::sign(decision, &self.key).unwrap()).unwrap()
    }

    /// A signed decision body over `details`.
    pub fn decision(
        &self,
        details: &Verified<RequestDetails>,
        outcome: Outcome,
        reason: Option<DenyReason>,
        number: Option<u32>,
    ) -> Vec<u8> {
        self.sign(&Decision {
            reason,
            number,
            ..self.draft(details, outcome)
        })
    }

    pub async fn decide_body(&self, id: Uuid, body: Vec<u8>) -> Reply {
        self.call("POST", &format!("/device/v1/requests/{id}/decision"), body)
            .await
    }

    pub async fn decide(
        &self,
        id: Uuid,
        outcome: Outcome,
        reason: Option<DenyReason>,
        number: Option<u32>,
    ) -> Reply {
        let (details, _) = self.details(id).await;
        let body = self.decision(&details, outcome, reason, number);
        self.decide_body(id, body).await
    }

    pub async fn approve(&self, id: Uuid) -> Reply {
        self.decide(id, Outcome::Approve, None, None).await
    }

    /// Connects and consumes the `pending` catch-up every connection starts with.
    pub async fn connect_synced(&self) -> DeviceStream {
        let mut stream = self.connect().await;
        assert!(
            matches!(stream.next().await, Some(StreamMessage::Pending { .. })),
            "a stream starts with the pending catch-up"
        );
        stream
    }

    pub async fn connect(&self) -> DeviceStream {
        self.try_connect().await.expect("stream connects")
    }

    /// Opens the push stream over a socket with a tiny receive buffer, for tests of a device that
    /// stops reading (the service's writes then block almost at once).
    pub async fn connect_starved(&self) -> DeviceStream {
        let target = "/device/v1/stream";
        let url = format!("{}{target}", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Authorization",
            self.auth("GET", target, b"", self.clock.now())
                .parse()
                .unwrap(),
        );
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(2048).unwrap();
        let addr = self.base.trim_start_matches("http://").parse().unwrap();
        let stream = socket.connect(addr).await.unwrap();
        let (socket, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
            .await
            .expect("stream connects");
        DeviceStream { socket }
    }

    /// Opens the push stream, or says why it could not.
    pub async fn try_connect(&self) -> Result<DeviceStream, tokio_tungstenite::tungstenite::Error> {
        let target = "/device/v1/stream";
        let url = format!("{}{target}", self.base.replace("http://", "ws://"));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Authorization",
            self.auth("GET", target, b"", self.clock.now())
                .parse()
                .unwrap(),
        );
        let (socket, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(DeviceStream { socket })
    }
}

/// A device's open push stream.
#[derive(Debug)]
pub struct DeviceStream {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl DeviceStream {
    /// The next non-heartbeat message, or `None` when the stream closed.
    ///
    /// # Panics
    /// When nothing arrives within [`PROMPTLY`].
    pub async fn next(&mut self) -> Option<StreamMessage> {
        self.next_within(PROMPTLY)
            .await
            .expect("a stream message arrives promptly")
    }

    /// The next non-heartbeat message within `wait`: `Ok(None)` when the stream closed, `Err`
    /// when nothing but heartbeats arrived in time.
    pub async fn next_within(
        &mut self,
        wait: std::time::Duration,
    ) -> Result<Option<StreamMessage>, tokio::time::error::Elapsed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_frame_within(left).await? {
                Some(StreamMessage::Heartbeat { .. } | StreamMessage::Log { .. }) => continue,
                message => return Ok(message),
            }
        }
    }

    /// The next message of any kind, heartbeats and `log` included, within `wait`: `Ok(None)`
    /// when the stream closed, `Err` when nothing arrived in time.
    pub async fn next_frame_within(
        &mut self,
        wait: std::time::Duration,
    ) -> Result<Option<StreamMessage>, tokio::time::error::Elapsed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await? {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(text))) => {
                    return Ok(Some(serde_json::from_str(&text).unwrap()));
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Sends `n` pings of 125 bytes without reading anything; false once the service closed
    /// the connection.
    pub async fn flood_pings(&mut self, n: usize) -> bool {
        for _ in 0..n {
            if self
                .socket
                .send(Message::Ping(vec![7u8; 125].into()))
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }

    pub async fn send_ping(&mut self) {
        let _ = self.socket.send(Message::Ping(Vec::new().into())).await;
    }
}
