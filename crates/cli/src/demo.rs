//! `assent demo`: the whole system on this machine in one command.
//!
//! Starts the service on a free loopback port with SQLite in a temporary directory, the Acme Bank
//! sample relying party beside it, creates the "Acme Bank" app (with its logo and callback) and
//! two customers, enrolls the desktop app through an enrollment link (or, with `--headless`, a
//! headless device), then sends a login request and a "$12,500 wire transfer" request with number
//! matching and prints each outcome as the person decides. Ctrl-C stops everything it started and
//! deletes the demo's keys from the keychain.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use assent_device::{Authenticator, Keychain, SecretStore as _};
use assent_protocol::backend::{NewApprovalRequest, NewUserFields};
use assent_protocol::callback::CallbackMethod;
use assent_protocol::enroll::EnrollLink;
use assent_protocol::request::RequesterContext;
use assent_server::Service;
use assent_server::admin::AppSpec;
use assent_server::config::ServiceConfig;
use clap::Args;
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::backend::{BackendClient, wait_until_final};
use assent_server::clock::unix_now;

/// Keychain namespace of the demo's keys (deleted when the demo stops).
const DEMO_KEYCHAIN: &str = "dev.assent.demo";

/// Options of `assent demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Use a headless device instead of the desktop app (for machines without a display).
    #[arg(long)]
    headless: bool,
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
    on_path.context("the desktop app (assent-desktop) is not built: run scripts/demo, or `assent demo --headless`")
}

/// Deletes the keys of every account in `data_dir` (the demo's keys never outlive it).
fn forget_keys(data_dir: &Path) {
    let Ok(accounts) = assent_device::DataDir::open(data_dir).and_then(|d| d.accounts()) else {
        return;
    };
    let keychain = Keychain::new(keychain_service());
    for account in accounts {
        if let Err(e) = keychain.delete(account.id) {
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
        for device in ["ana", "bo", "desktop"] {
            forget_keys(&self.dir.path().join(device));
        }
        println!(
            "stopped: the service, Acme Bank and the app are shut down, and the demo keys deleted"
        );
    }
}

/// Runs the demo until Ctrl-C.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    if !args.headless
        && std::env::var_os("DISPLAY").is_none()
        && std::env::var_os("WAYLAND_DISPLAY").is_none()
        && cfg!(target_os = "linux")
    {
        bail!("no display to show the desktop app on: run `assent demo --headless`");
    }
    let desktop = if args.headless {
        None
    } else {
        Some(desktop_binary(args.desktop.clone())?)
    };
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
    let result = tokio::select! {
        result = demo(&mut running, args.headless, desktop) => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    running.stop().await;
    result.map(|()| ExitCode::SUCCESS)
}

async fn demo(
    running: &mut Running,
    headless: bool,
    desktop: Option<PathBuf>,
) -> anyhow::Result<()> {
    let dir = running.dir.path().to_path_buf();
    println!(
        "Assent demo (data in {}; everything stops with Ctrl-C)\n",
        dir.display()
    );

    // The service, and Acme Bank beside it.
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
        // The demo's bank serves its logo on loopback, beside a loopback service.
        allow_local_logo: true,
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
    running.bank = Some(tokio::spawn(acme_bank::serve(
        bank_config,
        bank_listener,
        async move {
            let _ = stopped.await;
        },
    )));
    println!("service: {service_url}");
    println!("acme bank: {bank_url}   (sign in as ana / demo; wires need bo too)");

    let backend = BackendClient::with_key(&service_url, api_key.expose());
    let ana = backend
        .add_user(NewUserFields {
            email: Some("ana@acme.example".into()),
            ..NewUserFields::default()
        })
        .await?;
    let bo = backend
        .add_user(NewUserFields {
            email: Some("bo@acme.example".into()),
            ..NewUserFields::default()
        })
        .await?;
    let keychain = keychain_service();
    let env = |who: &str| {
        format!(
            "ASSENT_DATA_DIR={} ASSENT_KEYRING_SERVICE={keychain}",
            dir.join(who).display()
        )
    };

    // Bo approves wires from a headless device.
    let bo_device = Authenticator::open(dir.join("bo"), Arc::new(Keychain::new(keychain.clone())))?;
    let link = EnrollLink::parse(backend.enroll_link(bo).await?.enroll_url.expose())?;
    bo_device
        .enroll(&link, "Bo's terminal", "headless")
        .await
        .context("enrolling Bo's headless device")?;
    println!("answer as bo: {} assent device pending", env("bo"));

    let ana_link = backend.enroll_link(ana).await?.enroll_url;
    match desktop {
        None => {
            let ana_device =
                Authenticator::open(dir.join("ana"), Arc::new(Keychain::new(keychain.clone())))?;
            ana_device
                .enroll(
                    &EnrollLink::parse(ana_link.expose())?,
                    "Ana's terminal",
                    "headless",
                )
                .await?;
            println!("answer as ana: {} assent device pending", env("ana"));
        }
        Some(binary) => {
            let log = std::fs::File::create(dir.join("desktop.log"))?;
            let child = tokio::process::Command::new(&binary)
                .arg(ana_link.expose())
                .env("ASSENT_DATA_DIR", dir.join("desktop"))
                .env("ASSENT_KEYRING_SERVICE", &keychain)
                .stdout(log.try_clone()?)
                .stderr(log)
                .kill_on_drop(true)
                .spawn()
                .with_context(|| format!("starting {}", binary.display()))?;
            running.desktop = Some(child);
            println!(
                "\nThe Assent desktop app is open: click \u{201c}Enroll this computer\u{201d} to accept Ana's enrollment link."
            );
            loop {
                let status: assent_protocol::backend::UserStatus = {
                    let url = format!("{service_url}/protected/json/users/{ana}/status");
                    let response = reqwest::Client::new()
                        .get(url)
                        .header("X-Authy-API-Key", api_key.expose())
                        .send()
                        .await?;
                    let body: assent_protocol::backend::UserStatusResponse =
                        response.json().await?;
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
            println!("enrolled: Ana's desktop now approves for Acme Bank");
        }
    }

    // Two requests, as a relying party's backend would send them.
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
                ..NewApprovalRequest::default()
            },
        )
        .await?;
    let login_id = login.approval_request.uuid;
    println!("\nrequest {login_id} sent: Sign in to Acme Bank?");
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
                ..NewApprovalRequest::default()
            },
        )
        .await?;
    let wire_id = wire.approval_request.uuid;
    let number = wire
        .approval_request
        .number
        .context("number matching gives a number")?;
    println!(
        "request {wire_id} sent: Approve wire transfer of $12,500 to ACME Corp? (pick {number})"
    );
    if headless {
        println!("\nDecide as Ana, for example:");
        println!("  {} assent device approve {login_id}", env("ana"));
        println!(
            "  {} assent device approve {wire_id} --number {number}",
            env("ana")
        );
    }

    let outcome = |id: String| {
        let backend = backend.clone();
        async move {
            let info = wait_until_final(&backend, &id, true).await?;
            let reason = info.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            println!("outcome {id}: {}{reason}", info.status);
            anyhow::Ok(())
        }
    };
    tokio::try_join!(outcome(login_id), outcome(wire_id))?;
    println!(
        "\nBoth requests are decided. Try Acme Bank at {bank_url} (ana / demo). Press Ctrl-C to stop."
    );
    std::future::pending::<()>().await;
    Ok(())
}
