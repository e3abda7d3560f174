//! `assent device ...`: a headless device (servers, SSH sessions, tests) on the same SDK and
//! keychain as the desktop app.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use assent_device::view::{
    AccountView, ApproverState, ApproverView, ConnectionView, FactsView, LinkState, RequestView,
    SessionEvent, shown_text,
};

use crate::link::{describe_link, now_ms};
use assent_device::{
    Account, Answer, Authenticator, DEFAULT_KEYCHAIN_SERVICE, DataDir, Decided, DeviceSession,
    InsecureServer, Keychain, SessionConfig, ShownRequest, StreamConfig, host_name,
    parse_enrollment, preview_enrollment,
};
use assent_protocol::decision::DenyReason;
use assent_protocol::request::RequestKind;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use uuid::Uuid;

use assent_server::clock::unix_now;

/// Options every device command takes.
#[derive(Debug, Args)]
pub struct DeviceOptions {
    /// Where accounts are kept (no secrets: keys live in the OS keychain).
    #[arg(long, env = "ASSENT_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

/// `assent device` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Enroll this machine with an `assent://enroll?...` link, or `--server URL TOKEN`.
    Enroll {
        /// The enrollment link (or the token, with --server). A base64url token starts with `-`
        /// one time in 64: it is still the token, not an option.
        #[arg(allow_hyphen_values = true)]
        link_or_token: String,
        /// The service URL, when giving a bare token.
        #[arg(long)]
        server: Option<String>,
        /// A name you will recognise in the relying party's device list.
        #[arg(long)]
        name: Option<String>,
        /// Enroll even though the service address is plain http on another machine: anyone on
        /// the network path could then read and change what this device and the service say.
        #[arg(long)]
        allow_insecure: bool,
        /// Print the account as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what a link would enroll into, without enrolling: the service, its host, the account
    /// and the enrollment phrase to match with the relying party's page. The token stays usable.
    Preview {
        /// The enrollment link (or the token, with --server). A base64url token starts with `-`
        /// one time in 64: it is still the token, not an option.
        #[arg(allow_hyphen_values = true)]
        link_or_token: String,
        /// The service URL, when giving a bare token.
        #[arg(long)]
        server: Option<String>,
        /// Ask even though the service address is plain http on another machine (the preview
        /// carries the token, which anyone on the way could then use first).
        #[arg(long)]
        allow_insecure: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List enrolled accounts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Requests waiting for you, verified against each account's pinned service key.
    Pending {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one request in full.
    Show {
        /// The request id.
        id: Uuid,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a request (with number matching, pass the number or the code shown where you
    /// signed in).
    Approve {
        /// The number to pick (number matching in pick mode).
        #[arg(long, conflicts_with = "code")]
        number: Option<u32>,
        /// The code to type (number matching in typed mode), digits as shown, leading zeros
        /// kept. A wrong code is counted by the service: after the third the request is denied.
        #[arg(long)]
        code: Option<String>,
        /// The request id.
        id: Uuid,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Deny a request.
    Deny {
        /// The request id.
        id: Uuid,
        /// Why: `cancelled` (the default) if you started it and changed your mind; `not-me` if you
        /// did not start it, which reports it: the app may not push to you for a while (20
        /// minutes by default) and is told that someone else may have your password.
        #[arg(long, value_enum, default_value = "cancelled")]
        reason: Reason,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print requests as they arrive, and each account's connection, until interrupted.
    Watch {
        /// Print one JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Answer requests here as they arrive: each is shown (branding, details, requester,
    /// countdown) and answered by typing approve, deny, not me or the number. Until Ctrl-C.
    Prompt,
    /// Print the current one-time code (for the relying party's "enter the code" box, when push
    /// cannot reach this device), and how many seconds it stays valid.
    Code {
        /// The account (needed when there are several).
        #[arg(long)]
        account: Option<Uuid>,
        /// Digits of the code (6, 7 or 8; the relying party must accept that many).
        #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(6..=8))]
        digits: u8,
        /// The code at this Unix time instead of now (to compare with another device's clock).
        #[arg(long)]
        at: Option<i64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an account: revoke this device at the service and delete its key.
    Remove {
        /// The account (needed when there are several).
        #[arg(long)]
        account: Option<Uuid>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// Deny reasons.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Reason {
    /// "This wasn't me".
    NotMe,
    /// Changed my mind.
    Cancelled,
}

/// Opens the device side on the given (or default) data directory.
pub fn open(options: &DeviceOptions) -> anyhow::Result<Authenticator> {
    let dir = match &options.data_dir {
        Some(dir) => dir.clone(),
        None => DataDir::default_path().context("no home directory: pass --data-dir")?,
    };
    Ok(Authenticator::open_with(
        dir,
        Arc::new(Keychain::from_env_or(DEFAULT_KEYCHAIN_SERVICE)),
        StreamConfig::from_env()?,
    )?)
}

fn account_json(account: &Account) -> Value {
    json!({
        "id": account.id,
        "app": shown_text(&account.app.name),
        "app_id": account.app.id,
        "user_id": account.user_id,
        "server": account.server,
        "device_id": account.device_id,
        "device_name": account.device_name,
        "enrolled_at": account.enrolled_at,
        "revoked": account.revoked_at.is_some(),
        "account_name": account.account_name.as_deref().map(shown_text),
        "host": account.host(),
    })
}

/// The stable JSON shape of a request (documented in docs/cli.md). Relying-party text is
/// stripped of unsafe characters, as everywhere it is shown.
pub fn request_json(request: &ShownRequest) -> Value {
    let d = &request.details;
    let text = |t: &Option<String>| t.as_deref().map(shown_text);
    json!({
        "id": d.id,
        "account": request.account_id,
        "app": shown_text(&d.app.name),
        "message": shown_text(&d.message),
        "details": d.details.iter().map(|f| json!({"label": shown_text(&f.label), "value": shown_text(&f.value)})).collect::<Vec<_>>(),
        "requester": d.requester.as_ref().map(|r| json!({"ip": text(&r.ip), "location": text(&r.location), "user_agent": text(&r.user_agent)})),
        "created_at": d.created_at,
        "expires_at": d.expires_at,
        "status": request.status,
        "number_choices": d.number_matching.as_ref().filter(|m| request.needs_number && m.typed.is_none()).map(|m| m.choices.clone()),
        "code_digits": d.number_matching.as_ref().filter(|_| request.needs_number).and_then(|m| m.typed.as_ref()).map(|t| t.digits),
        "facts": FactsView::new(request).map(|f| json!({"requests_last_hour": f.requests_last_hour, "network": f.network})),
        "approvers": d.approvers,
        "quorum": d.quorum,
        "kind": d.kind,
        "action_label": text(&d.action_label),
        "account_name": text(&request.account_name),
        "server_host": request.server_host,
        "approver_states": RequestView::new(request, None).approver_states,
        "my_answer": request.my_answer(),
        "is_initiator": d.user_id == request.person,
    })
}

/// One line of approver states for a terminal: "Bo Lindqvist (asked): approved, you: waiting".
fn approver_line(states: &[ApproverView]) -> String {
    states
        .iter()
        .map(|a| {
            let who = if a.is_me {
                "you".to_owned()
            } else {
                a.name.clone()
            };
            let asked = if a.is_initiator { " (asked)" } else { "" };
            let state = match a.state {
                ApproverState::Waiting => "waiting",
                ApproverState::Approved => "approved",
                ApproverState::Denied => "denied",
            };
            format!("{who}{asked}: {state}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints a request for a terminal: every piece of relying-party text stripped of control,
/// bidirectional and line-separator characters (an escape sequence must not rewrite the screen).
fn print_request(request: &ShownRequest) {
    let d = &request.details;
    let account = request
        .account_name
        .as_deref()
        .map(|name| format!(" for {}", shown_text(name)))
        .unwrap_or_default();
    println!(
        "{}  {} ({}){account}",
        d.id,
        shown_text(&d.app.name),
        request.server_host
    );
    match (d.kind, &d.action_label) {
        (_, Some(label)) => println!("  action: {}", shown_text(label)),
        (Some(RequestKind::SignIn), None) => println!("  sign-in"),
        (Some(RequestKind::Action), None) => println!("  action"),
        (None, None) => {}
    }
    println!("  {}", shown_text(&d.message));
    for field in &d.details {
        println!(
            "  {}: {}",
            shown_text(&field.label),
            shown_text(&field.value)
        );
    }
    if let Some(r) = &d.requester {
        let parts: Vec<String> = [
            r.ip.as_deref(),
            r.location.as_deref(),
            r.user_agent.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(shown_text)
        .collect();
        if !parts.is_empty() {
            println!("  from: {}", parts.join(", "));
        }
    }
    if let Some(at) = d.expires_at {
        println!("  expires in {} s", (at - unix_now()).max(0));
    }
    if let Some(facts) = FactsView::new(request) {
        let (lines, burst) = crate::prompt::facts_lines(&shown_text(&d.app.name), &facts);
        for (i, line) in lines.iter().enumerate() {
            let mark = if i == 0 && burst { "! " } else { "" };
            println!("  {mark}{line}");
        }
    }
    if request.needs_number
        && let Some(m) = &d.number_matching
    {
        match &m.typed {
            Some(typed) => println!(
                "  type the {}-digit code you were shown (assent device approve {} --code CODE)",
                typed.digits, d.id
            ),
            None => println!(
                "  pick the number you were shown: {:?} (assent device approve {} --number N)",
                m.choices, d.id
            ),
        }
    }
    if d.quorum > 1 {
        println!("  needs {} of {} approvers", d.quorum, d.approvers.len());
    }
    let states = RequestView::new(request, None).approver_states;
    if !states.is_empty() {
        println!("  approvers: {}", approver_line(&states));
    }
    if request.my_answer().is_some() {
        println!("  you answered; waiting on the others");
    }
}

/// The service's receipt; a decision it accepted is reported as accepted, with a warning when
/// the local history could not be written.
fn decided(decided: Decided) -> assent_protocol::decision::DecisionReceipt {
    if let Some(e) = &decided.history_error {
        eprintln!(
            "warning: the service accepted your answer, but it could not be added to this device's history: {e}"
        );
    }
    decided.receipt
}

fn single_account(auth: &Authenticator, chosen: Option<Uuid>) -> anyhow::Result<Account> {
    let accounts = auth.accounts()?;
    if let Some(id) = chosen {
        return Ok(auth.account(id)?);
    }
    match accounts.as_slice() {
        [] => bail!("no accounts on this device: enroll first with `assent device enroll LINK`"),
        [one] => Ok(one.clone()),
        _ => bail!(
            "this device has several accounts; choose one with --account (see `assent device list`)"
        ),
    }
}

/// Runs an `assent device` command.
pub async fn run(options: DeviceOptions, command: DeviceCommand) -> anyhow::Result<ExitCode> {
    let auth = open(&options)?;
    match command {
        DeviceCommand::Enroll {
            link_or_token,
            server,
            name,
            allow_insecure,
            json,
        } => {
            let link = parse_enrollment(&link_or_token, server.as_deref())
                .context("reading the enrollment link")?;
            let name = name.unwrap_or_else(|| format!("{} (headless)", host_name()));
            let insecure = if allow_insecure {
                InsecureServer::Accept
            } else {
                InsecureServer::Refuse
            };
            let account = auth
                .enroll(&link, &name, "headless", insecure)
                .await
                .map_err(|e| match e {
                    assent_device::Error::InsecureServer { .. } => anyhow::anyhow!(
                        "{e}. Ask for an https enrollment link, or pass --allow-insecure if you accept that risk"
                    ),
                    e => e.into(),
                })?;
            if json {
                println!("{}", account_json(&account));
            } else {
                println!(
                    "Enrolled with {} at {} as user {} (account {}).",
                    shown_text(&account.app.name),
                    link.host(),
                    account.user_id,
                    account.id
                );
            }
        }
        DeviceCommand::Preview {
            link_or_token,
            server,
            allow_insecure,
            json,
        } => {
            let link = parse_enrollment(&link_or_token, server.as_deref())
                .context("reading the enrollment link")?;
            let insecure = if allow_insecure {
                InsecureServer::Accept
            } else {
                InsecureServer::Refuse
            };
            let answer = preview_enrollment(&link, insecure).await?;
            let phrase = link.phrase();
            if json {
                println!(
                    "{}",
                    json!({
                        "service": answer.app.name,
                        "host": link.host(),
                        "server": link.server.as_str(),
                        "account_name": answer.account_name,
                        "phrase": phrase,
                        "insecure": link.is_insecure(),
                        "bare_ip": link.is_bare_ip(),
                    })
                );
            } else {
                println!("Service: {}", answer.app.name);
                println!("Host:    {}", link.host());
                println!(
                    "Account: {}",
                    answer.account_name.as_deref().unwrap_or("(not given)")
                );
                println!("Phrase:  {phrase}");
                println!(
                    "Check that the relying party's page shows the same phrase before you enroll."
                );
                if link.is_insecure() {
                    println!(
                        "Warning: plain http to another machine; anyone on the way can read and change it."
                    );
                }
                if link.is_bare_ip() {
                    println!("Warning: the service is a bare IP address, not a name.");
                }
            }
        }
        DeviceCommand::List { json } => {
            let accounts = auth.accounts()?;
            if json {
                println!(
                    "{}",
                    Value::Array(accounts.iter().map(account_json).collect())
                );
            } else if accounts.is_empty() {
                println!("No accounts yet: enroll with `assent device enroll LINK`.");
            } else {
                for a in &accounts {
                    let state = if a.is_active() { "active" } else { "revoked" };
                    println!(
                        "{}  {}  user {}  {}  {state}",
                        a.id,
                        shown_text(&a.app.name),
                        a.user_id,
                        a.server
                    );
                }
            }
        }
        DeviceCommand::Pending { json } => {
            let pending = auth.pending().await?;
            if json {
                println!(
                    "{}",
                    Value::Array(pending.iter().map(request_json).collect())
                );
            } else if pending.is_empty() {
                println!("Nothing is waiting for you.");
            } else {
                for request in &pending {
                    print_request(request);
                }
            }
        }
        DeviceCommand::Show { id, json } => {
            let request = auth.find_request(id).await?;
            if json {
                println!("{}", request_json(&request));
            } else {
                print_request(&request);
                println!("  status: {}", request.status);
            }
        }
        DeviceCommand::Approve {
            id,
            number,
            code,
            json,
        } => {
            let request = auth.find_request(id).await?;
            let answer = number.map(Answer::Number).or(code.map(Answer::Code));
            let receipt = decided(auth.approve(&request, answer.as_ref(), unix_now()).await?);
            if json {
                println!(
                    "{}",
                    json!({"id": id, "status": receipt.status, "duplicate": receipt.duplicate})
                );
            } else {
                println!("Approved. The request is now {}.", receipt.status);
            }
        }
        DeviceCommand::Deny { id, reason, json } => {
            let request = auth.find_request(id).await?;
            let reason = match reason {
                Reason::NotMe => DenyReason::NotMe,
                Reason::Cancelled => DenyReason::Cancelled,
            };
            let receipt = decided(auth.deny(&request, reason, unix_now()).await?);
            if json {
                println!(
                    "{}",
                    json!({"id": id, "status": receipt.status, "duplicate": receipt.duplicate,
                           "frozen_until": receipt.frozen_until})
                );
            } else if reason == DenyReason::NotMe {
                println!(
                    "{}",
                    crate::prompt::not_me_text(
                        &shown_text(&request.details.app.name),
                        receipt.frozen_until
                    )
                );
            } else {
                println!(
                    "Denied ({}). The request is now {}.",
                    reason.as_str(),
                    receipt.status
                );
            }
        }
        DeviceCommand::Watch { json } => watch(auth, json).await?,
        DeviceCommand::Prompt => {
            let apps = auth
                .accounts()?
                .into_iter()
                .map(|a| (a.id, shown_text(&a.app.name)))
                .collect();
            let (session, events) = start_session(auth).await?;
            let desk = crate::prompt::Desk {
                session: session.clone(),
                events,
                who: None,
                apps,
            };
            crate::prompt::run(vec![desk], crate::prompt::Screen::stdout(), async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
            session.shutdown();
        }
        DeviceCommand::Code {
            account,
            digits,
            at,
            json,
        } => {
            let account = single_account(&auth, account)?;
            let digits = assent_protocol::totp::Digits::new(usize::from(digits))
                .context("choosing the number of digits")?;
            let code = auth
                .code(&account, at.unwrap_or_else(unix_now), digits)
                .await?;
            if json {
                println!(
                    "{}",
                    json!({
                        "account": code.account,
                        "app": code.app_name,
                        "user_id": code.user_id,
                        "code": code.code,
                        "seconds_left": code.seconds_left,
                    })
                );
            } else {
                println!(
                    "{}  ({}, valid {} s more)",
                    code.code, code.app_name, code.seconds_left
                );
            }
        }
        DeviceCommand::Remove { account, yes } => {
            let account = single_account(&auth, account)?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    bail!(
                        "removing {} needs confirmation: pass --yes",
                        shown_text(&account.app.name)
                    );
                }
                print!(
                    "Remove the {} account and revoke this device? [y/N] ",
                    shown_text(&account.app.name)
                );
                std::io::stdout().flush()?;
                let mut answer = String::new();
                std::io::stdin().read_line(&mut answer)?;
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    println!("Kept.");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            auth.remove(account.id).await?;
            println!(
                "Removed {}: the device is revoked and its key deleted.",
                shown_text(&account.app.name)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A session with every active account's stream started.
async fn start_session(
    auth: Authenticator,
) -> anyhow::Result<(DeviceSession, assent_device::SessionEvents)> {
    if auth.accounts()?.iter().all(|a| !a.is_active()) {
        bail!("no active accounts: enroll first with `assent device enroll LINK`");
    }
    let (session, events) = DeviceSession::open(auth, SessionConfig::from_env()?)?;
    session.start().await?;
    Ok((session, events))
}

/// `{"state": {"state": "reconnecting", "attempt": 1, "next_try_at_ms": ...}, "last_contact_at_ms": ...}`
fn connection_json(connection: &ConnectionView) -> Value {
    json!({
        "event": "connection",
        "account": connection.account_id,
        "state": connection.state,
        "last_contact_at_ms": connection.last_contact_at_ms,
    })
}

/// `assent device watch`: a thin consumer of the device session. Connection lines are printed
/// when an account's state changes (not for every heartbeat).
async fn watch(auth: Authenticator, json: bool) -> anyhow::Result<()> {
    let accounts = auth.accounts()?;
    let names: std::collections::HashMap<Uuid, String> = accounts
        .iter()
        .map(|a| (a.id, shown_text(&a.app.name)))
        .collect();
    // Accounts revoked before the watch started are not news.
    let mut revoked: std::collections::HashSet<Uuid> = accounts
        .iter()
        .filter(|a| !a.is_active())
        .map(|a| a.id)
        .collect();
    let (session, mut events) = start_session(auth).await?;
    // Findings still open from earlier checks are printed first; later ones as they are found.
    let mut printed = std::collections::HashSet::new();
    crate::finding::print_new(&session.log_findings()?, &mut printed, json);
    let mut states: std::collections::HashMap<Uuid, LinkState> = Default::default();
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = &mut stop => break,
        };
        let Some(event) = event else { break };
        match event {
            SessionEvent::Arrived { request, .. } => match session.pending_request(request.id) {
                Some(shown) if json => println!(
                    "{}",
                    json!({"event": "request", "request": request_json(&shown)})
                ),
                Some(shown) => print_request(&shown),
                None => {}
            },
            SessionEvent::Resolved { id, status, .. } if json => {
                println!(
                    "{}",
                    json!({"event": "resolved", "id": id, "status": status})
                );
            }
            SessionEvent::Resolved { id, status, .. } => {
                println!(
                    "{id} {}",
                    status.map_or("resolved".to_owned(), |s| s.to_string())
                );
            }
            SessionEvent::Connection { connection } => {
                if states.get(&connection.account_id) == Some(&connection.state) {
                    continue;
                }
                states.insert(connection.account_id, connection.state.clone());
                if json {
                    println!("{}", connection_json(&connection));
                } else {
                    let name = names
                        .get(&connection.account_id)
                        .map_or("account", String::as_str);
                    println!("{name}: {}", describe_link(&connection.state, now_ms()));
                }
            }
            SessionEvent::Accounts { accounts } => {
                for account in accounts.iter().filter(|a| a.revoked) {
                    if revoked.insert(account.id) {
                        print_revoked(account, json);
                    }
                }
            }
            SessionEvent::Notice { code, message } if json => {
                println!(
                    "{}",
                    json!({"event": "notice", "code": code, "message": message})
                );
            }
            SessionEvent::Notice { message, .. } => eprintln!("warning: {}", shown_text(&message)),
            SessionEvent::Clock { clock } if json => {
                println!(
                    "{}",
                    json!({"event": "clock", "account": clock.account_id, "service": clock.service,
                           "offset_secs": clock.offset_secs, "skewed": clock.skewed})
                );
            }
            SessionEvent::Clock { clock } if clock.skewed => {
                eprintln!("warning: {}", assent_device::clock::warning(&clock));
            }
            SessionEvent::Clock { .. } => {}
            SessionEvent::LogFindings { findings } => {
                crate::finding::print_new(&findings, &mut printed, json);
            }
            SessionEvent::Pending { .. } | SessionEvent::Settings { .. } => {}
        }
        std::io::stdout().flush()?;
    }
    session.shutdown();
    Ok(())
}

fn print_revoked(account: &AccountView, json: bool) {
    if json {
        println!("{}", json!({"event": "revoked", "account": account.id}));
    } else {
        println!(
            "account {} ({}) was revoked; its key is deleted",
            account.id, account.app.name
        );
    }
}
