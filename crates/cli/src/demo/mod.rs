//! `assent demo`: the whole system on this machine in one command.
//!
//! Starts the service on a free loopback port with SQLite in a temporary directory and the Acme
//! Bank sample relying party beside it, creates the "Acme Bank" app (with its logo and callback)
//! and its two customers, Ana and Bo, and then:
//!
//! - with a display: opens the desktop app with Ana's enrollment link (Bo answers from a
//!   headless device);
//! - without one (or with `--terminal`): makes this terminal Ana's and Bo's authenticator, with
//!   an interactive prompt showing each request as the app would (see [`crate::prompt`]).
//!
//! Requests come from a login and a "$12,500 wire" sent as a bank's backend would, or, with
//! `--auto-login`, from the demo playing Ana at Acme Bank's web pages ([`customer`]). Without a
//! Secret Service, the demo runs itself on a private one ([`crate::private_keychain`]). Ctrl-C
//! stops everything it started and deletes the demo's keys.

mod customer;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use assent_device::{
    Authenticator, DeviceSession, InsecureServer, Keychain, SecretStore as _, SessionConfig,
    StreamConfig,
};
use assent_protocol::backend::{NewApprovalRequest, NewUserFields};
use assent_protocol::callback::CallbackMethod;
use assent_protocol::enroll::EnrollLink;
use assent_protocol::request::{RequestKind, RequesterContext};
use assent_server::Service;
use assent_server::admin::AppSpec;
use assent_server::config::ServiceConfig;
use clap::Args;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::backend::{BackendClient, wait_until_final};
use crate::private_keychain;
use crate::prompt::{Desk, Screen};
use assent_server::clock::unix_now;

/// Keychain namespace of the demo's keys (deleted when the demo stops).
const DEMO_KEYCHAIN: &str = "dev.assent.demo";

/// Options of `assent demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Answer in this terminal instead of the desktop app (the default without a display).
    #[arg(long, visible_alias = "headless")]
    terminal: bool,
    /// Play Ana at Acme Bank: sign in with her password, then send the two-person wire, through
    /// the bank's own pages (so a person with only a terminal sees the whole flow).
    #[arg(long)]
    auto_login: bool,
    /// The desktop app binary (default: `assent-desktop` beside this binary, or on PATH).
    #[arg(long, env = "ASSENT_DESKTOP")]
    desktop: Option<PathBuf>,
}

fn keychain_service() -> String {
    Keychain::from_env_or(DEMO_KEYCHAIN).service().to_owned()
}

fn desktop_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        return Ok(path);
    }
    let beside = std::env::current_exe()?
        .with_file_name(format!("assent-desktop{}", std::env::consts::EXE_SUFFIX));
    if beside.is_file() {
        return Ok(beside);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("assent-desktop"))
        .find(|p| p.is_file());
    on_path.context("the desktop app (assent-desktop) is not built: run scripts/demo, or `assent demo --terminal`")
}

/// Deletes the keys of every account in `data_dir` (the demo's keys never outlive it).
fn forget_keys(data_dir: &Path) {
    let Ok(accounts) = assent_device::DataDir::open(data_dir).and_then(|d| d.accounts()) else {
        return;
    };
    let keychain = Keychain::new(keychain_service());
    for account in accounts {
        // The signing key and the one-time code seed both live in the keychain.
        if let Err(e) = keychain
            .delete(account.id)
            .and_then(|()| keychain.delete_code_seed(account.id))
        {
            eprintln!(
                "warning: could not delete the demo key of {}: {e}",
                account.app.name
            );
        }
    }
}

struct Running {
    dir: tempfile::TempDir,
    stop_service: Option<oneshot::Sender<()>>,
    stop_bank: Option<oneshot::Sender<()>>,
    service: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    bank: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    desktop: Option<tokio::process::Child>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(mut child) = self.desktop.take() {
            let _ = child.kill().await;
        }
        if let Some(stop) = self.stop_bank.take() {
            let _ = stop.send(());
        }
        if let Some(stop) = self.stop_service.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.bank.take() {
            let _ = task.await;
        }
        if let Some(task) = self.service.take() {
            let _ = task.await;
        }
        for device in ["ana", "bo", "desktop", "terminal/ana", "terminal/bo"] {
            forget_keys(&self.dir.path().join(device));
        }
        println!(
            "stopped: the service, Acme Bank and the authenticator are shut down, and the demo keys deleted"
        );
    }
}

/// True when there is no display for the desktop app.
fn no_display() -> bool {
    cfg!(target_os = "linux")
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let keychain = Keychain::new(keychain_service());
    if std::env::var_os(private_keychain::INSIDE_ENV).is_some() {
        private_keychain::wait_until_reachable(&keychain)?;
    } else if !private_keychain::reachable(&keychain) {
        return private_keychain::run_demo_inside().await;
    }
    let terminal = args.terminal || no_display();
    let desktop = if terminal {
        None
    } else {
        Some(desktop_binary(args.desktop.clone())?)
    };
    let streams = StreamConfig::from_env()?;
    let dir = tempfile::Builder::new()
        .prefix("assent-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let mut running = Running {
        dir,
        stop_service: None,
        stop_bank: None,
        service: None,
        bank: None,
        desktop: None,
    };
    let screen = Screen::stdout();
    let mode = Mode {
        terminal,
        auto_login: args.auto_login,
        desktop,
        streams,
    };
    let result = tokio::select! {
        result = demo(&mut running, mode, screen.clone()) => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    screen.close();
    running.stop().await;
    result.map(|()| ExitCode::SUCCESS)
}

/// How this demo runs.
struct Mode {
    terminal: bool,
    auto_login: bool,
    desktop: Option<PathBuf>,
    streams: StreamConfig,
}

/// The service and Acme Bank, running; the bank's API key.
async fn start_parts(
    running: &mut Running,
) -> anyhow::Result<(String, String, assent_protocol::secret::SecretString)> {
    let dir = running.dir.path().to_path_buf();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let service_url = format!("http://{}", listener.local_addr()?);
    let bank_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bank_url = format!("http://{}", bank_listener.local_addr()?);
    let config = ServiceConfig::new(
        listener.local_addr()?,
        format!("sqlite://{}", dir.join("assent.db").display()),
    );
    let service = Service::open(config)
        .await
        .context("starting the service")?;
    let spec = AppSpec {
        name: "Acme Bank".into(),
        logo_url: Some(format!("{bank_url}/static/logo.png")),
        accent_color: Some("#c8102e".into()),
        callback_url: Some(format!("{bank_url}/assent/callback")),
        callback_method: CallbackMethod::Post,
        callback_expired_cancelled: false,
        // The demo's bank serves its logo on loopback, beside a loopback service.
        allow_local_logo: true,
        defences: Default::default(),
    };
    let (_, api_key) = service
        .state()
        .operator()
        .create_app(spec, unix_now())
        .await?;
    let (stop, stopped) = oneshot::channel::<()>();
    running.stop_service = Some(stop);
    running.service = Some(tokio::spawn(service.serve(listener, async move {
        let _ = stopped.await;
    })));
    let (stop, stopped) = oneshot::channel::<()>();
    running.stop_bank = Some(stop);
    let bank_config = acme_bank::Config {
        assent_url: service_url.clone(),
        api_key: api_key.expose().to_owned(),
        sign_in_seconds: 120,
    };
    let bank_app = acme_bank::app(bank_config)
        .await
        .context("starting Acme Bank (registering its customers)")?;
    running.bank = Some(tokio::spawn(acme_bank::serve(
        bank_app,
        bank_listener,
        async move {
            let _ = stopped.await;
        },
    )));
    Ok((service_url, bank_url, api_key))
}

async fn demo(running: &mut Running, mode: Mode, screen: Screen) -> anyhow::Result<()> {
    let dir = running.dir.path().to_path_buf();
    let (service_url, bank_url, api_key) = start_parts(running).await?;
    let backend = BackendClient::with_key(&service_url, api_key.expose());
    let ana = backend
        .add_user(NewUserFields {
            email: Some("ana@acme.example".into()),
            name: Some("Ana Ferreira".into()),
            ..NewUserFields::default()
        })
        .await?;
    let bo = backend
        .add_user(NewUserFields {
            email: Some("bo@acme.example".into()),
            name: Some("Bo Lindqvist".into()),
            ..NewUserFields::default()
        })
        .await?;
    let keychain = Arc::new(Keychain::new(keychain_service()));
    let where_ = if mode.terminal {
        "in this terminal"
    } else {
        "with the desktop app"
    };
    screen.say(&format!(
        "Assent demo, {where_} (data in {}; Ctrl-C stops everything)\n\nservice: {service_url}\nacme bank: {bank_url}   (customers ana and bo, password demo; wires need both)",
        dir.display()
    ));

    if mode.terminal {
        // This terminal is both customers' authenticator: a device (and session) for each.
        let mut desks = Vec::new();
        let mut sessions = Vec::new();
        for (user, name) in [(ana, "Ana"), (bo, "Bo")] {
            let device = Authenticator::open_with(
                dir.join("terminal").join(name.to_lowercase()),
                keychain.clone(),
                mode.streams,
            )?;
            let link = EnrollLink::parse(backend.enroll_link(user).await?.enroll_url.expose())?;
            let account = device
                .enroll(
                    &link,
                    &format!("{name}'s terminal"),
                    "headless",
                    InsecureServer::Refuse,
                )
                .await
                .with_context(|| format!("enrolling {name}'s terminal"))?;
            let (session, events) = DeviceSession::open(device, SessionConfig::default())?;
            session.start().await?;
            sessions.push(session.clone());
            desks.push(Desk {
                session,
                events,
                who: Some(name.to_owned()),
                apps: [(account.id, account.app.name)].into_iter().collect(),
            });
        }
        screen.say(
            "\nThis terminal is Ana's and Bo's authenticator: their requests appear below; answer them here.",
        );
        let requests = async {
            if mode.auto_login {
                if let Err(e) = customer::play_ana(&bank_url, &screen).await {
                    screen.say(&format!("The demo could not play Ana at Acme Bank: {e:#}"));
                }
            } else {
                screen.say(&format!(
                    "Sign in at Acme Bank ({bank_url}/login) from a browser, or start the demo with --auto-login to have it play Ana there. Meanwhile, two sample requests:"
                ));
                if let Err(e) = sample_requests(&backend, ana, &screen).await {
                    screen.say(&format!("The sample requests failed: {e:#}"));
                }
            }
            std::future::pending::<()>().await;
        };
        let answering = crate::prompt::run(desks, screen.clone(), std::future::pending());
        tokio::select! {
            result = answering => result?,
            () = requests => {}
        }
        for session in sessions {
            session.shutdown();
        }
        return Ok(());
    }

    // Bo approves wires from a headless device.
    let env = |who: &str| {
        format!(
            "ASSENT_DATA_DIR={} ASSENT_KEYRING_SERVICE={}",
            dir.join(who).display(),
            keychain.service()
        )
    };
    let bo_device = Authenticator::open_with(dir.join("bo"), keychain.clone(), mode.streams)?;
    let link = EnrollLink::parse(backend.enroll_link(bo).await?.enroll_url.expose())?;
    bo_device
        .enroll(&link, "Bo's terminal", "headless", InsecureServer::Refuse)
        .await
        .context("enrolling Bo's headless device")?;
    screen.say(&format!("answer as bo: {} assent device prompt", env("bo")));

    let ana_link = backend.enroll_link(ana).await?.enroll_url;
    let binary = mode.desktop.context("the desktop app")?;
    let log = std::fs::File::create(dir.join("desktop.log"))?;
    let child = tokio::process::Command::new(&binary)
        .arg(ana_link.expose())
        .env("ASSENT_DATA_DIR", dir.join("desktop"))
        .env("ASSENT_KEYRING_SERVICE", keychain.service())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    running.desktop = Some(child);
    screen.say(
        "\nThe Assent desktop app is open: click \u{201c}Enroll this computer\u{201d} to accept Ana's enrollment link.",
    );
    loop {
        let status: assent_protocol::backend::UserStatus = {
            let url = format!("{service_url}/protected/json/users/{ana}/status");
            let response = reqwest::Client::new()
                .get(url)
                .header("X-Authy-API-Key", api_key.expose())
                .send()
                .await?;
            let body: assent_protocol::backend::UserStatusResponse = response.json().await?;
            body.status
        };
        if status.registered {
            break;
        }
        if let Some(child) = running.desktop.as_mut()
            && let Some(exit) = child.try_wait()?
        {
            bail!(
                "the desktop app exited ({exit}); its log is in {}",
                dir.join("desktop.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    screen.say("enrolled: Ana's desktop now approves for Acme Bank");
    if mode.auto_login {
        customer::play_ana(&bank_url, &screen).await?;
    } else {
        sample_requests(&backend, ana, &screen).await?;
    }
    screen.say(&format!(
        "\nTry Acme Bank at {bank_url} (ana / demo). Press Ctrl-C to stop."
    ));
    std::future::pending::<()>().await;
    Ok(())
}

/// A login and a "$12,500 wire" for Ana, as a bank's backend would send them; prints each
/// outcome as it is decided.
async fn sample_requests(backend: &BackendClient, ana: u64, screen: &Screen) -> anyhow::Result<()> {
    let details = |pairs: &[(&str, &str)]| -> Map<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect()
    };
    let login = backend
        .send_request(
            ana,
            &NewApprovalRequest {
                message: "Sign in to Acme Bank?".into(),
                details: details(&[("Username", "ana"), ("Browser", "Firefox 133 on Linux")]),
                requester: Some(RequesterContext {
                    ip: Some("203.0.113.7".into()),
                    location: Some("Lisbon, Portugal".into()),
                    user_agent: Some("Firefox 133 on Linux".into()),
                }),
                seconds_to_expire: Some(300),
                kind: Some(RequestKind::SignIn),
                ..NewApprovalRequest::default()
            },
        )
        .await?;
    let login_id = login.approval_request.uuid;
    screen.say(&format!("request {login_id} sent: Sign in to Acme Bank?"));
    let wire = backend
        .send_request(
            ana,
            &NewApprovalRequest {
                message: "Approve wire transfer of $12,500 to ACME Corp?".into(),
                details: details(&[
                    ("Amount", "$12,500.00"),
                    ("To", "ACME Corp"),
                    ("Account", "PT50 0002 0123 1234 5678 9015 4"),
                ]),
                number_matching: true,
                seconds_to_expire: Some(600),
                kind: Some(RequestKind::Action),
                action_label: Some("Release $12,500".into()),
                // The sign-in waits for Ana too: both are shown at once on purpose.
                allow_concurrent: true,
                ..NewApprovalRequest::default()
            },
        )
        .await?;
    let wire_id = wire.approval_request.uuid;
    let code = wire
        .approval_request
        .code
        .context("number matching gives a code to type")?;
    screen.say(&format!(
        "request {wire_id} sent: Approve wire transfer of $12,500 to ACME Corp? (type {code} for Ana)"
    ));
    let outcome = |id: String| {
        let backend = backend.clone();
        async move {
            let info = wait_until_final(&backend, &id, true).await?;
            let reason = info.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            screen.say(&format!("outcome {id}: {}{reason}", info.status));
            anyhow::Ok(())
        }
    };
    tokio::try_join!(outcome(login_id), outcome(wire_id))?;
    screen.say("Both sample requests are decided.");
    Ok(())
}
