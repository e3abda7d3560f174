//! Backend-side commands over the HTTP API with an app's API key: users, enrollment links and
//! approval requests. Exactly what a relying party's backend does, scriptable.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use assent_protocol::backend::{
    ApprovalRequestCreated, ApprovalRequestInfo, ApprovalRequestStatus, Done, NewApprovalRequest,
    NewUser, NewUserFields, RegistrationCreated, UserCreated, UserStatusResponse,
};
use assent_protocol::error::ErrorBody;
use assent_protocol::request::{
    Logo, LogoResolution, RequestKind, RequestStatus, RequesterContext,
};
use clap::{Args, Subcommand};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::exit;

/// Where the service is and which app is calling.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The service URL.
    #[arg(
        long,
        env = "ASSENT_SERVER",
        default_value = "http://127.0.0.1:7070",
        global = true
    )]
    server: String,
    /// The app's API key (from `assent app create`).
    #[arg(
        long,
        env = "ASSENT_API_KEY",
        global = true,
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    api_key: Option<String>,
}

/// A client of the backend API.
#[derive(Debug, Clone)]
pub struct BackendClient {
    server: String,
    api_key: String,
    http: reqwest::Client,
}

impl BackendClient {
    /// From the command-line options.
    ///
    /// # Errors
    /// When no API key was given.
    pub fn new(connection: &Connection) -> anyhow::Result<Self> {
        let api_key = connection
            .api_key
            .clone()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| anyhow!("an API key is needed: pass --api-key or set ASSENT_API_KEY (see `assent app create`)"))?;
        Ok(Self::with_key(&connection.server, &api_key))
    }

    /// A client for `server` with `api_key`.
    pub fn with_key(server: &str, api_key: &str) -> Self {
        BackendClient {
            server: server.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .expect("HTTP client builds"),
        }
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<T> {
        let response = request
            .header("X-Authy-API-Key", &self.api_key)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot reach the Assent service at {}: {}. Is `assent serve` running there?",
                    self.server,
                    if e.is_connect() {
                        "connection refused"
                    } else if e.is_timeout() {
                        "timed out"
                    } else {
                        "request failed"
                    }
                )
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .context("reading the service's answer")?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .context("the service's answer is not what this version expects");
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) if body.error_code == "60001" => {
                bail!("the service refused the API key (60001): check --api-key / ASSENT_API_KEY")
            }
            Ok(body) => bail!("{} ({})", body.message, body.error_code),
            Err(_) => bail!(
                "the service answered HTTP {status} with no Assent error body; is {} an Assent service?",
                self.server
            ),
        }
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> anyhow::Result<T> {
        self.send(self.http.post(format!("{}{path}", self.server)).json(body))
            .await
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        self.send(self.http.get(format!("{}{path}", self.server)))
            .await
    }

    /// Creates (or finds) a user.
    ///
    /// # Errors
    /// The service's refusal or a network error.
    pub async fn add_user(&self, fields: NewUserFields) -> anyhow::Result<u64> {
        let created: UserCreated = self
            .post(
                "/protected/json/users/new",
                &NewUser {
                    user: fields,
                    send_install_link_via_sms: false,
                },
            )
            .await?;
        Ok(created.user.id)
    }

    /// A registration token and enrollment link for `user`.
    ///
    /// # Errors
    /// The service's refusal or a network error.
    pub async fn enroll_link(&self, user: u64) -> anyhow::Result<RegistrationCreated> {
        self.post(
            "/protected/json/sdk/registrations",
            &json!({"authy_id": user}),
        )
        .await
    }

    /// Creates an approval request.
    ///
    /// # Errors
    /// The service's refusal or a network error.
    pub async fn send_request(
        &self,
        user: u64,
        request: &NewApprovalRequest,
    ) -> anyhow::Result<ApprovalRequestCreated> {
        self.post(
            &format!("/onetouch/json/users/{user}/approval_requests"),
            request,
        )
        .await
    }

    /// A request's status; with `wait`, answers as soon as it is final or after `wait` seconds.
    ///
    /// # Errors
    /// The service's refusal or a network error.
    pub async fn status(&self, uuid: &str, wait: u64) -> anyhow::Result<ApprovalRequestInfo> {
        let query = if wait > 0 {
            format!("?wait={wait}")
        } else {
            String::new()
        };
        let status: ApprovalRequestStatus = self
            .get(&format!("/onetouch/json/approval_requests/{uuid}{query}"))
            .await?;
        Ok(status.approval_request)
    }
}

/// `assent user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user (the same phone or e-mail gives back the same user).
    Add {
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Phone number.
        #[arg(long, requires = "country_code")]
        phone: Option<String>,
        /// Country calling code (1, 44, 351, ...).
        #[arg(long)]
        country_code: Option<String>,
        /// The person's display name, shown on their approvers' devices (else the e-mail).
        #[arg(long)]
        name: Option<String>,
        /// Print `{"id": N}`.
        #[arg(long)]
        json: bool,
    },
    /// Show a user's status (whether a device is enrolled).
    Status {
        /// The user id.
        id: u64,
        /// Print the service's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a user, revoking their devices and cancelling their pending requests.
    Remove {
        /// The user id.
        id: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `assent user` command.
pub async fn user(connection: &Connection, command: UserCommand) -> anyhow::Result<ExitCode> {
    let client = BackendClient::new(connection)?;
    match command {
        UserCommand::Add {
            email,
            phone,
            country_code,
            name,
            json,
        } => {
            if email.is_none() && phone.is_none() {
                bail!("give --email, or --phone with --country-code");
            }
            let id = client
                .add_user(NewUserFields {
                    email,
                    cellphone: phone,
                    country_code,
                    name,
                })
                .await?;
            if json {
                println!("{}", json!({"id": id}));
            } else {
                println!("User {id}");
            }
        }
        UserCommand::Status { id, json } => {
            let status: UserStatusResponse = client
                .get(&format!("/protected/json/users/{id}/status"))
                .await?;
            if json {
                println!("{}", serde_json::to_string(&status.status)?);
            } else {
                let s = &status.status;
                println!(
                    "User {}: {}",
                    s.authy_id,
                    if s.registered {
                        "device enrolled"
                    } else {
                        "no device enrolled yet"
                    }
                );
                for d in &s.detailed_devices {
                    println!("  device {}  {} ({})", d.id, d.name, d.os_type);
                }
            }
        }
        UserCommand::Remove { id, json } => {
            let done: Done = client
                .post(&format!("/protected/json/users/{id}/delete"), &json!({}))
                .await?;
            if json {
                println!("{}", json!({"id": id, "removed": done.success}));
            } else {
                println!("User {id} removed.");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Options of `assent enroll-link`.
#[derive(Debug, Args)]
pub struct EnrollLinkArgs {
    /// The user to enroll a device for.
    #[arg(long)]
    user: u64,
    /// Print JSON (the link contains a single-use secret token).
    #[arg(long)]
    json: bool,
    /// Do not draw the QR code.
    #[arg(long)]
    no_qr: bool,
}

/// Renders `text` as a QR code of Unicode half blocks.
pub fn qr_code(text: &str) -> anyhow::Result<String> {
    let code =
        qrcode::QrCode::new(text.as_bytes()).context("the link is too long for a QR code")?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .build())
}

/// Runs `assent enroll-link`.
pub async fn enroll_link(
    connection: &Connection,
    args: EnrollLinkArgs,
) -> anyhow::Result<ExitCode> {
    let client = BackendClient::new(connection)?;
    let created = client.enroll_link(args.user).await?;
    if args.json {
        println!(
            "{}",
            json!({
                "user": args.user,
                "enroll_url": created.enroll_url.expose(),
                "enroll_phrase": created.enroll_phrase,
                "registration_token": created.registration_token.expose(),
                "expires_at": created.expires_at,
            })
        );
    } else {
        println!("{}", created.enroll_url.expose());
        if !args.no_qr {
            println!("{}", qr_code(created.enroll_url.expose())?);
        }
        eprintln!("Phrase: {}", created.enroll_phrase);
        eprintln!(
            "Single use, valid for {} minutes. Open it on the person's computer (the desktop app) or run: assent device enroll '<link>'. The person checks that their device shows the same phrase.",
            ((created.expires_at - assent_server::clock::unix_now()).max(0) + 59) / 60
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `assent request` subcommands.
#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Ask a person to approve something.
    Send(Box<SendArgs>),
    /// Show a request's status.
    Status {
        /// The request's UUID.
        uuid: String,
        /// Wait until it is final, with the exit code of `send --wait`.
        #[arg(long)]
        wait: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Withdraw a pending request.
    Cancel {
        /// The request's UUID.
        uuid: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options of `assent request send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The user to ask.
    #[arg(long)]
    user: u64,
    /// The question (at most 200 characters).
    #[arg(long)]
    message: String,
    /// A detail line shown to the person, `KEY=VALUE` (repeat; order is kept).
    #[arg(long = "detail", value_name = "KEY=VALUE")]
    details: Vec<String>,
    /// A hidden detail echoed in the callback only, `KEY=VALUE` (repeat).
    #[arg(long = "hidden", value_name = "KEY=VALUE")]
    hidden: Vec<String>,
    /// Logo URL for this request.
    #[arg(long)]
    logo: Option<String>,
    /// Seconds until it expires (0 = never; default a day).
    #[arg(long)]
    expires: Option<u64>,
    /// Further approvers (user ids, comma-separated).
    #[arg(long, value_delimiter = ',')]
    approvers: Vec<u64>,
    /// Distinct approvals needed.
    #[arg(long, requires = "approvers")]
    quorum: Option<u32>,
    /// Ask the person to type the code this command prints (or, with `--pick`, to pick the
    /// number it prints out of three).
    #[arg(long)]
    number_matching: bool,
    /// Number matching by picking one of three numbers instead of typing a code.
    #[arg(long, requires = "number_matching")]
    pick: bool,
    /// Digits of the code to type, 2 to 6 (default 4).
    #[arg(long, requires = "number_matching", conflicts_with = "pick")]
    digits: Option<u8>,
    /// The approver must confirm themselves to their operating system before approving.
    #[arg(long)]
    require_verification: bool,
    /// Send even while another request from this app waits for the person.
    #[arg(long)]
    allow_concurrent: bool,
    /// What the request is for: `sign_in` (lives 300 s unless --expires says otherwise) or
    /// `action`.
    #[arg(long, value_parser = parse_kind)]
    kind: Option<RequestKind>,
    /// The action's short name, put on the Approve button (at most 32 characters).
    #[arg(long)]
    action_label: Option<String>,
    /// Requester IP shown to the approver.
    #[arg(long)]
    requester_ip: Option<String>,
    /// Requester location shown to the approver.
    #[arg(long)]
    requester_location: Option<String>,
    /// Requester browser shown to the approver.
    #[arg(long)]
    requester_agent: Option<String>,
    /// Wait for the outcome: exit 0 approved, 1 denied, 2 expired, 4 cancelled.
    #[arg(long)]
    wait: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_kind(text: &str) -> Result<RequestKind, String> {
    RequestKind::parse(text).ok_or_else(|| format!("{text:?} is not a kind: use sign_in or action"))
}

fn key_values(pairs: &[String], flag: &str) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for pair in pairs {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("{flag} takes KEY=VALUE, got {pair:?}"))?;
        map.insert(k.trim().to_owned(), Value::String(v.to_owned()));
    }
    Ok(map)
}

/// The exit code for a final status (`send --wait`, `status --wait`).
pub fn exit_for(status: RequestStatus) -> ExitCode {
    match status {
        RequestStatus::Approved => ExitCode::SUCCESS,
        RequestStatus::Denied => ExitCode::from(exit::DENIED),
        RequestStatus::Expired => ExitCode::from(exit::EXPIRED),
        RequestStatus::Cancelled => ExitCode::from(exit::CANCELLED),
        RequestStatus::Pending => ExitCode::from(exit::ERROR),
    }
}

/// Polls (with long-polls) until the request is final, showing a spinner on a terminal.
///
/// # Errors
/// Network or service errors.
pub async fn wait_until_final(
    client: &BackendClient,
    uuid: &str,
    quiet: bool,
) -> anyhow::Result<ApprovalRequestInfo> {
    let started = Instant::now();
    let spinner = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let tty = !quiet && std::io::stderr().is_terminal();
    let poll = {
        let client = client.clone();
        let uuid = uuid.to_owned();
        async move {
            loop {
                let info = client.status(&uuid, 25).await?;
                if info.status.is_final() {
                    return anyhow::Ok(info);
                }
            }
        }
    };
    tokio::pin!(poll);
    let mut tick = tokio::time::interval(Duration::from_millis(120));
    let mut frame = 0;
    if !quiet && !tty {
        eprintln!("waiting for {uuid}: pending");
    }
    let info = loop {
        tokio::select! {
            info = &mut poll => break info?,
            _ = tick.tick(), if tty => {
                frame = (frame + 1) % spinner.len();
                eprint!("\r{} waiting for the person to decide… pending ({} s)  ", spinner[frame], started.elapsed().as_secs());
                let _ = std::io::stderr().flush();
            }
        }
    };
    if tty {
        eprint!("\r\x1b[2K");
    }
    if !quiet {
        eprintln!("{uuid}: {}", info.status);
    }
    Ok(info)
}

fn info_json(info: &ApprovalRequestInfo) -> Value {
    json!({
        "uuid": info.uuid,
        "status": info.status,
        "reason": info.reason,
        "created_at": info.created_at,
        "processed_at": info.processed_at,
        "quorum": info.quorum,
        "approvers": info.approvers,
    })
}

/// Runs an `assent request` command.
pub async fn request(connection: &Connection, command: RequestCommand) -> anyhow::Result<ExitCode> {
    let client = BackendClient::new(connection)?;
    match command {
        RequestCommand::Send(args) => {
            let args = *args;
            let requester = RequesterContext {
                ip: args.requester_ip,
                location: args.requester_location,
                user_agent: args.requester_agent,
            };
            let body = NewApprovalRequest {
                message: args.message,
                details: key_values(&args.details, "--detail")?,
                hidden_details: key_values(&args.hidden, "--hidden")?,
                logos: args
                    .logo
                    .into_iter()
                    .map(|url| Logo {
                        res: LogoResolution::Default,
                        url,
                    })
                    .collect(),
                seconds_to_expire: args.expires,
                approvers: args.approvers,
                quorum: args.quorum,
                number_matching: args.number_matching,
                number_matching_mode: args.pick.then(|| "pick".to_owned()),
                number_matching_digits: args.digits,
                user_verification: args.require_verification.then(|| "required".to_owned()),
                allow_concurrent: args.allow_concurrent,
                requester: (!requester.is_empty()).then_some(requester),
                kind: args.kind,
                action_label: args.action_label,
            };
            let created = client.send_request(args.user, &body).await?;
            let uuid = created.approval_request.uuid;
            let number = created.approval_request.number;
            let code = created.approval_request.code;
            if !args.wait {
                if args.json {
                    println!("{}", json!({"uuid": uuid, "number": number, "code": code}));
                } else {
                    println!("{uuid}");
                    if let Some(n) = number {
                        eprintln!("Number to show the person: {n}");
                    }
                    if let Some(code) = &code {
                        eprintln!("Code for the person to type: {code}");
                    }
                }
                return Ok(ExitCode::SUCCESS);
            }
            if !args.json {
                if let Some(n) = number {
                    eprintln!("Ask the person to pick {n}.");
                }
                if let Some(code) = &code {
                    eprintln!("Ask the person to type {code}.");
                }
            }
            let info = wait_until_final(&client, &uuid, args.json).await?;
            if args.json {
                let mut out = info_json(&info);
                out["number"] = json!(number);
                out["code"] = json!(code);
                println!("{out}");
            } else {
                println!("{uuid} {}", info.status);
            }
            Ok(exit_for(info.status))
        }
        RequestCommand::Status { uuid, wait, json } => {
            let info = if wait {
                wait_until_final(&client, &uuid, json).await?
            } else {
                client.status(&uuid, 0).await?
            };
            if json {
                println!("{}", info_json(&info));
            } else {
                println!("{} {}", info.uuid, info.status);
                for a in &info.approvers {
                    let decision = a
                        .decision
                        .map_or("waiting".to_owned(), |d| format!("{d:?}").to_lowercase());
                    println!("  approver {}: {decision}", a.authy_id);
                }
            }
            Ok(if wait {
                exit_for(info.status)
            } else {
                ExitCode::SUCCESS
            })
        }
        RequestCommand::Cancel { uuid, json } => {
            let status: ApprovalRequestStatus = client
                .post(
                    &format!("/onetouch/json/approval_requests/{uuid}/cancel"),
                    &json!({}),
                )
                .await?;
            if json {
                println!("{}", info_json(&status.approval_request));
            } else {
                println!("{uuid} cancelled");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
