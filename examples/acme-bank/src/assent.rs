//! Integration point 1: talking to Assent's backend API.
//!
//! This is the Authy OneTouch REST API: a backend that used Authy changes only the base URL. Here
//! it is called with `reqwest`; any Authy client library would do the same requests.

use anyhow::Context as _;
use serde_json::{Value, json};
use uuid::Uuid;

/// A client for one app's API key.
#[derive(Debug, Clone)]
pub struct Assent {
    base: String,
    api_key: String,
    http: reqwest::Client,
}

/// What we create a request with.
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// The question.
    pub message: String,
    /// Detail lines shown to the person, in order.
    pub details: Vec<(String, String)>,
    /// Details only for us (echoed in the callback).
    pub hidden: Vec<(String, String)>,
    /// Further approvers (Assent user ids).
    pub approvers: Vec<u64>,
    /// Distinct approvals needed.
    pub quorum: u32,
    /// Ask the initiator to type the code we show (Assent's typed number matching: 4 digits).
    pub number_matching: bool,
    /// Where the action came from (shown to the approver).
    pub requester_ip: Option<String>,
    /// The browser it came from.
    pub requester_agent: Option<String>,
    /// Seconds to expire.
    pub seconds_to_expire: u64,
    /// What the request is for, as Assent's `kind`: `sign_in` or `action` (the app words the
    /// card and its Approve button from it).
    pub kind: Option<&'static str>,
    /// The words on the Approve button for an action, at most 32 characters ("Release
    /// $12,500").
    pub action_label: Option<String>,
}

/// A request's state, as fetched from Assent.
#[derive(Debug, Clone)]
pub struct Status {
    /// `pending`, `approved`, `denied`, `expired` or `cancelled`.
    pub status: String,
    /// The deny reason, once denied.
    pub reason: Option<String>,
    /// Each approver's decision so far (`None` while waiting).
    pub approvers: Vec<(u64, Option<String>)>,
}

/// An enrollment link as Assent issued it. Its Debug form leaves the link out: it holds the token.
#[derive(Clone)]
pub struct EnrollLink {
    /// `assent://enroll?...` (single use; contains the token).
    pub url: String,
    /// The link's enrollment phrase, as Assent computed it.
    pub phrase: String,
}

impl std::fmt::Debug for EnrollLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollLink")
            .field("url", &"<redacted>")
            .field("phrase", &self.phrase)
            .finish()
    }
}

impl Assent {
    /// A client for `base` (no trailing slash) with the app's API key.
    pub fn new(base: &str, api_key: &str) -> Self {
        Assent {
            base: base.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .header("X-Authy-API-Key", &self.api_key)
            .send()
            .await
            .context("reaching Assent")?;
        let status = response.status();
        let body: Value = response.json().await.context("reading Assent's answer")?;
        if !status.is_success() || body["success"] != true {
            return Err(Refused {
                code: body["error_code"].as_str().unwrap_or_default().to_owned(),
                message: body["message"].as_str().unwrap_or_default().to_owned(),
            }
            .into());
        }
        Ok(body)
    }

    /// Creates (or finds, by e-mail) the Assent user for one of our customers, with the name
    /// their approvers' devices show for them.
    ///
    /// # Errors
    /// Assent unreachable or refusing.
    pub async fn user(&self, email: &str, name: &str) -> anyhow::Result<u64> {
        let body = self
            .call(
                self.http
                    .post(format!("{}/protected/json/users/new", self.base))
                    .json(&json!({"user": {"email": email, "name": name}})),
            )
            .await?;
        body["user"]["id"].as_u64().context("no user id")
    }

    /// Whether the user has an enrolled device (Authy's `registered`).
    ///
    /// # Errors
    /// Assent unreachable or refusing.
    pub async fn registered(&self, user: u64) -> anyhow::Result<bool> {
        let body = self
            .call(
                self.http
                    .get(format!("{}/protected/json/users/{user}/status", self.base)),
            )
            .await?;
        Ok(body["status"]["registered"] == true)
    }

    /// A single-use enrollment link for the user's desktop, with its phrase (shown beside the
    /// link: the person checks their desktop shows the same words).
    ///
    /// # Errors
    /// Assent unreachable or refusing.
    pub async fn enroll_link(&self, user: u64) -> anyhow::Result<EnrollLink> {
        let body = self
            .call(
                self.http
                    .post(format!("{}/protected/json/sdk/registrations", self.base))
                    .json(&json!({"authy_id": user})),
            )
            .await?;
        let text = |field: &str| {
            body[field]
                .as_str()
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
                .with_context(|| format!("no {field} in Assent's answer"))
        };
        Ok(EnrollLink {
            url: text("enroll_url")?,
            phrase: text("enroll_phrase")?,
        })
    }

    /// Asks `user` to approve something; returns the request id and, with number matching, the
    /// code to show them (a string: its leading zeros count).
    ///
    /// # Errors
    /// Assent unreachable or refusing.
    pub async fn ask(&self, user: u64, ask: &Ask) -> anyhow::Result<(Uuid, Option<String>)> {
        let pairs = |pairs: &[(String, String)]| -> serde_json::Map<String, Value> {
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()
        };
        let mut body = json!({
            "message": ask.message,
            "details": pairs(&ask.details),
            "hidden_details": pairs(&ask.hidden),
            "seconds_to_expire": ask.seconds_to_expire,
            "number_matching": ask.number_matching,
            "requester": {"ip": ask.requester_ip, "user_agent": ask.requester_agent},
        });
        if let Some(kind) = ask.kind {
            body["kind"] = json!(kind);
        }
        if let Some(label) = &ask.action_label {
            body["action_label"] = json!(label);
        }
        if !ask.approvers.is_empty() {
            body["approvers"] = json!(ask.approvers);
            body["quorum"] = json!(ask.quorum);
        }
        let url = format!("{}/onetouch/json/users/{user}/approval_requests", self.base);
        let reply = self.call(self.http.post(url).json(&body)).await?;
        let id = reply["approval_request"]["uuid"]
            .as_str()
            .context("no uuid")?
            .parse()?;
        Ok((
            id,
            reply["approval_request"]["code"]
                .as_str()
                .map(str::to_owned),
        ))
    }

    /// A request's status; with `wait`, Assent answers as soon as it is final (or after `wait` s).
    ///
    /// # Errors
    /// Assent unreachable or refusing.
    pub async fn status(&self, id: Uuid, wait: u64) -> anyhow::Result<Status> {
        let url = format!(
            "{}/onetouch/json/approval_requests/{id}?wait={wait}",
            self.base
        );
        let body = self.call(self.http.get(url)).await?;
        let request = &body["approval_request"];
        Ok(Status {
            status: request["status"].as_str().unwrap_or("pending").to_owned(),
            reason: request["reason"].as_str().map(str::to_owned),
            approvers: request["approvers"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|a| {
                            (
                                a["authy_id"].as_u64().unwrap_or(0),
                                a["decision"].as_str().map(str::to_owned),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// Assent answered with an error: its stable code (`60117`, ...), on which the bank decides what
/// to tell the customer, and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Assent's `error_code`.
    pub code: String,
    /// Assent's message.
    pub message: String,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Assent refused: {} ({})", self.message, self.code)
    }
}

impl std::error::Error for Refused {}
