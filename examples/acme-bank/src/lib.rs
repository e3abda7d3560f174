//! Acme Bank: a small relying party that uses Assent the way a real one would, through the
//! Authy-compatible backend API and the signed callback.
//!
//! - **Two-factor login**: username and password, then "Approve on your desktop".
//! - **Passwordless sign-in**: username only; the desktop approval is the whole login.
//! - **Wire transfer**: "Send $12,500 to ACME Corp" needs two people (the customer and a second
//!   approver, quorum 2), with number matching for the customer.
//!
//! Trust: the bank acts only on a status it fetched from Assent itself, or on a callback whose
//! `X-Authy-Signature` it verified. See `README.md` for a walk through the integration points.

mod assent;
mod callback;
mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rand::RngCore as _;
use serde::Deserialize;
use uuid::Uuid;

use crate::assent::Ask;
pub use crate::assent::Assent;

/// How to reach Assent.
#[derive(Debug, Clone)]
pub struct Config {
    /// Assent's base URL.
    pub assent_url: String,
    /// The bank's API key at Assent.
    pub api_key: String,
    /// How long a sign-in approval may take, in seconds.
    pub sign_in_seconds: u64,
}

/// A demo customer.
#[derive(Debug, Clone)]
pub struct Customer {
    /// Login name.
    pub username: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Demo password.
    pub password: &'static str,
    /// Their Assent user id.
    pub assent_id: u64,
}

/// What a pending approval is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Login,
    Passwordless,
    Wire,
}

#[derive(Debug, Clone)]
struct Flow {
    purpose: Purpose,
    username: String,
    request: Uuid,
    /// The code the person types on their device (number matching).
    code: Option<String>,
}

/// A callback whose signature checked out.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifiedCallback {
    /// `approval_request_status`, or `fraud_reported` (the person said "this wasn't me": Assent
    /// refuses new requests to them for a while).
    pub action: String,
    /// The request.
    pub uuid: String,
    /// Its status.
    pub status: String,
    /// The deny reason, if any.
    pub reason: String,
}

struct Bank {
    assent: Assent,
    api_key: String,
    sign_in_seconds: u64,
    customers: Vec<Customer>,
    flows: Mutex<HashMap<String, Flow>>,
    sessions: Mutex<HashMap<String, String>>,
    callbacks: Mutex<Vec<VerifiedCallback>>,
}

type Shared = Arc<Bank>;

/// The page shown when Assent cannot be reached (or refuses the bank's key).
fn unreachable(error: &anyhow::Error) -> Response {
    Html(pages::message(
        "Assent is unreachable",
        &error.to_string(),
        false,
    ))
    .into_response()
}

/// The session token from the request's cookies.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    let cookies = headers.get(COOKIE)?.to_str().ok()?;
    cookies
        .split(';')
        .find_map(|c| c.trim().strip_prefix("acme_session="))
}

fn token() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The demo customers: Ana (the account holder) and Bo (the second approver for wires).
const DEMO: [(&str, &str, &str); 2] = [
    ("ana", "Ana Ferreira", "ana@acme.example"),
    ("bo", "Bo Lindqvist", "bo@acme.example"),
];

/// Registers the demo customers with Assent (idempotent: the same e-mail gives the same user).
///
/// # Errors
/// Assent unreachable or refusing the API key.
pub async fn customers(assent: &Assent) -> anyhow::Result<Vec<Customer>> {
    let mut out = Vec::new();
    for (username, name, email) in DEMO {
        out.push(Customer {
            username,
            name,
            password: "demo",
            assent_id: assent.user(email, name).await?,
        });
    }
    Ok(out)
}

impl Bank {
    fn customer(&self, username: &str) -> Option<&Customer> {
        self.customers.iter().find(|c| c.username == username)
    }

    fn name_of(&self, assent_id: u64) -> String {
        self.customers
            .iter()
            .find(|c| c.assent_id == assent_id)
            .map_or_else(|| format!("user {assent_id}"), |c| c.name.to_owned())
    }

    fn session_user(&self, headers: &HeaderMap) -> Option<Customer> {
        let session = session_cookie(headers)?;
        let username = self.sessions.lock().unwrap().get(session).cloned()?;
        self.customer(&username).cloned()
    }

    fn start_flow(&self, flow: Flow) -> String {
        let id = token();
        self.flows.lock().unwrap().insert(id.clone(), flow);
        id
    }

    fn flow(&self, id: &str) -> Option<Flow> {
        self.flows.lock().unwrap().get(id).cloned()
    }
}

/// Builds the bank's routes.
///
/// # Errors
/// Assent unreachable while registering the demo customers.
pub async fn app(config: Config) -> anyhow::Result<Router> {
    let assent = Assent::new(&config.assent_url, &config.api_key);
    let customers = customers(&assent).await?;
    let bank = Arc::new(Bank {
        assent,
        api_key: config.api_key,
        sign_in_seconds: config.sign_in_seconds,
        customers,
        flows: Mutex::default(),
        sessions: Mutex::default(),
        callbacks: Mutex::default(),
    });
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/passwordless", get(passwordless_page).post(passwordless))
        .route("/flows/{id}", get(waiting))
        .route("/flows/{id}/status", get(flow_status))
        .route("/flows/{id}/finish", get(finish))
        .route("/account", get(account))
        .route("/transfer", post(transfer))
        .route("/enroll", get(enroll))
        .route("/logout", post(logout))
        .route("/assent/callback", post(callback::receive))
        .route("/callbacks", get(callback::list))
        .route("/static/{file}", get(asset))
        .with_state(bank))
}

/// Serves `app` (from [`app`], so the demo customers are registered before anyone can sign in
/// or look them up) on `listener` until `shutdown`.
///
/// # Errors
/// The listener fails.
pub async fn serve(
    app: Router,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

async fn asset(Path(file): Path<String>) -> Response {
    let (bytes, kind): (&'static [u8], &str) = match file.as_str() {
        "style.css" => (include_bytes!("../static/style.css"), "text/css"),
        "wait.js" => (include_bytes!("../static/wait.js"), "text/javascript"),
        "logo.png" => (include_bytes!("../static/logo.png"), "image/png"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    ([(CONTENT_TYPE, kind)], bytes).into_response()
}

async fn home(State(bank): State<Shared>, headers: HeaderMap) -> Response {
    if bank.session_user(&headers).is_some() {
        return Redirect::to("/account").into_response();
    }
    Html(pages::home()).into_response()
}

async fn login_page() -> Html<String> {
    Html(pages::login(None))
}

async fn passwordless_page() -> Html<String> {
    Html(pages::passwordless(None))
}

#[derive(Debug, Deserialize)]
struct Credentials {
    username: String,
    #[serde(default)]
    password: String,
}

fn requester(headers: &HeaderMap, peer: SocketAddr) -> (Option<String>, Option<String>) {
    let agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(200).collect());
    (Some(peer.ip().to_string()), agent)
}

/// Integration point 2: asking for approval. Two-factor login: the password is checked first;
/// then the person approves on their desktop.
async fn login(
    State(bank): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    let Some(customer) = bank
        .customer(form.username.trim())
        .filter(|c| c.password == form.password)
    else {
        return Html(pages::login(Some("Wrong username or password."))).into_response();
    };
    let (ip, agent) = requester(&headers, peer);
    let ask = Ask {
        message: "Sign in to Acme Bank?".into(),
        details: vec![
            ("Username".into(), customer.username.into()),
            ("Method".into(), "Password + desktop approval".into()),
        ],
        hidden: vec![("purpose".into(), "login".into())],
        requester_ip: ip,
        requester_agent: agent,
        seconds_to_expire: bank.sign_in_seconds,
        kind: Some("sign_in"),
        ..Ask::default()
    };
    start(&bank, customer.clone(), Purpose::Login, &ask).await
}

/// Passwordless sign-in: the desktop approval is the whole login.
async fn passwordless(
    State(bank): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<Credentials>,
) -> Response {
    let Some(customer) = bank.customer(form.username.trim()).cloned() else {
        return Html(pages::passwordless(Some("No customer with that username."))).into_response();
    };
    let (ip, agent) = requester(&headers, peer);
    let ask = Ask {
        message: "Sign in to Acme Bank without a password?".into(),
        details: vec![("Username".into(), customer.username.into())],
        hidden: vec![("purpose".into(), "passwordless".into())],
        requester_ip: ip,
        requester_agent: agent,
        seconds_to_expire: bank.sign_in_seconds,
        number_matching: true,
        kind: Some("sign_in"),
        ..Ask::default()
    };
    start(&bank, customer, Purpose::Passwordless, &ask).await
}

/// The wire: two people must approve, and the initiator types the code we show.
async fn transfer(
    State(bank): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let Some(customer) = bank.session_user(&headers) else {
        return Redirect::to("/login").into_response();
    };
    let second = bank
        .customers
        .iter()
        .find(|c| c.username != customer.username)
        .map(|c| c.assent_id);
    let (ip, agent) = requester(&headers, peer);
    let ask = Ask {
        message: "Approve wire transfer of $12,500 to ACME Corp?".into(),
        details: vec![
            ("Amount".into(), "$12,500.00".into()),
            ("To".into(), "ACME Corp".into()),
            ("Account".into(), "PT50 0002 0123 1234 5678 9015 4".into()),
            ("Requested by".into(), customer.name.into()),
        ],
        hidden: vec![("purpose".into(), "wire".into())],
        approvers: second.into_iter().collect(),
        quorum: 2,
        number_matching: true,
        requester_ip: ip,
        requester_agent: agent,
        seconds_to_expire: 600,
        kind: Some("action"),
        action_label: Some("Release $12,500".into()),
    };
    start(&bank, customer, Purpose::Wire, &ask).await
}

async fn start(bank: &Bank, customer: Customer, purpose: Purpose, ask: &Ask) -> Response {
    match bank.assent.registered(customer.assent_id).await {
        Ok(true) => {}
        Ok(false) => {
            return Html(pages::message(
                "No device yet",
                "Enroll your desktop with Assent first: sign in is approved there.",
                false,
            ))
            .into_response();
        }
        Err(e) => {
            return unreachable(&e);
        }
    }
    match bank.assent.ask(customer.assent_id, ask).await {
        Ok((request, code)) => {
            let id = bank.start_flow(Flow {
                purpose,
                username: customer.username.into(),
                request,
                code,
            });
            Redirect::to(&format!("/flows/{id}")).into_response()
        }
        Err(e) => {
            // Assent's push-fatigue defences, said in the customer's terms (switching on the
            // stable code, never the message).
            let (title, text) = match e.downcast_ref::<assent::Refused>().map(|r| r.code.as_str()) {
                Some("60117") => (
                    "Approvals are paused",
                    "You told us a recent request was not you, so for now we send no new requests \
                     to your device. If you did not try to sign in then, someone may know your \
                     password: change it. Call us if you need access sooner.",
                ),
                Some("60116") => (
                    "Please wait a moment",
                    "You denied a request a moment ago. Try again in a little while.",
                ),
                Some("60118") => (
                    "A request is already waiting",
                    "Answer the request already waiting on your device first.",
                ),
                _ => ("Could not ask for approval", ""),
            };
            let text = if text.is_empty() {
                e.to_string()
            } else {
                text.to_owned()
            };
            Html(pages::message(title, &text, false)).into_response()
        }
    }
}

async fn waiting(State(bank): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(flow) = bank.flow(&id) else {
        return Redirect::to("/").into_response();
    };
    let approvers = match flow.purpose {
        Purpose::Wire => Some(
            bank.customers
                .iter()
                .map(|c| c.name.to_owned())
                .collect::<Vec<_>>(),
        ),
        _ => None,
    };
    Html(pages::waiting(
        &id,
        flow.purpose == Purpose::Wire,
        flow.code.as_deref(),
        approvers,
    ))
    .into_response()
}

/// Integration point 3: waiting for the decision with Assent's long-poll (`?wait=`).
async fn flow_status(State(bank): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(flow) = bank.flow(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match bank.assent.status(flow.request, 20).await {
        Ok(status) => {
            let approvers: Vec<serde_json::Value> = status
                .approvers
                .iter()
                .map(|(user, decision)| {
                    serde_json::json!({
                        "name": bank.name_of(*user),
                        "decision": match decision.as_deref() { Some("approve") => "approved", Some("deny") => "denied", _ => "waiting" },
                    })
                })
                .collect();
            let waiting = status.approvers.iter().filter(|(_, d)| d.is_none()).count();
            axum::Json(serde_json::json!({
                "status": status.status,
                "approvers": approvers,
                "waiting_for": if waiting > 1 { format!("Waiting for {waiting} approvers…") } else { "Waiting for approval…".into() },
            }))
            .into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Acts on a decision only after fetching the status from Assent itself.
async fn finish(State(bank): State<Shared>, Path(id): Path<String>) -> Response {
    let Some(flow) = bank.flow(&id) else {
        return Redirect::to("/").into_response();
    };
    let status = match bank.assent.status(flow.request, 0).await {
        Ok(status) => status,
        Err(e) => {
            return unreachable(&e);
        }
    };
    let why = |what: &str| match (status.status.as_str(), status.reason.as_deref()) {
        ("denied", Some("not_me")) => format!(
            "{what} was denied: you said it wasn't you. If you did not try this, change your password."
        ),
        ("denied", Some("wrong_number")) => {
            format!("{what} was denied: the code typed did not match, three times.")
        }
        ("denied", _) => format!("{what} was denied on your device."),
        ("expired", _) => format!("{what} expired before it was approved."),
        ("cancelled", _) => format!("{what} was cancelled."),
        _ => format!("{what} is still waiting."),
    };
    match (flow.purpose, status.status.as_str()) {
        (Purpose::Login | Purpose::Passwordless, "approved") => {
            bank.flows.lock().unwrap().remove(&id);
            let session = token();
            bank.sessions
                .lock()
                .unwrap()
                .insert(session.clone(), flow.username);
            let cookie = format!("acme_session={session}; Path=/; HttpOnly; SameSite=Lax");
            ([(SET_COOKIE, cookie)], Redirect::to("/account")).into_response()
        }
        (Purpose::Wire, "approved") => {
            bank.flows.lock().unwrap().remove(&id);
            Html(pages::message(
                "Transfer sent",
                "$12,500.00 is on its way to ACME Corp. Both approvers approved.",
                true,
            ))
            .into_response()
        }
        (Purpose::Wire, "pending") => Redirect::to(&format!("/flows/{id}")).into_response(),
        (Purpose::Wire, _) => Html(pages::message(
            "Transfer not sent",
            &why("The transfer"),
            false,
        ))
        .into_response(),
        (_, "pending") => Redirect::to(&format!("/flows/{id}")).into_response(),
        _ => Html(pages::message("Sign-in failed", &why("The sign-in"), false)).into_response(),
    }
}

async fn account(State(bank): State<Shared>, headers: HeaderMap) -> Response {
    match bank.session_user(&headers) {
        Some(customer) => Html(pages::account(customer.name)).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

async fn enroll(State(bank): State<Shared>, headers: HeaderMap) -> Response {
    let Some(customer) = bank.session_user(&headers) else {
        return Redirect::to("/login").into_response();
    };
    match bank.assent.enroll_link(customer.assent_id).await {
        Ok(link) => Html(pages::enroll(&link.url, &link.phrase)).into_response(),
        Err(e) => unreachable(&e),
    }
}

async fn logout(State(bank): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(session) = session_cookie(&headers) {
        bank.sessions.lock().unwrap().remove(session);
    }
    (
        [(SET_COOKIE, "acme_session=; Path=/; Max-Age=0".to_owned())],
        Redirect::to("/"),
    )
        .into_response()
}
