//! `assent serve`.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use assent_server::Service;
use assent_server::config::ServiceConfig;
use clap::Args;

/// Options of `assent serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "ASSENT_LISTEN", default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    /// Database URL (`sqlite://PATH`); default: assent.db in the user's data directory.
    #[arg(long, env = "ASSENT_DATABASE_URL")]
    database: Option<String>,
    /// The URL devices reach this service at (goes into enrollment links); default: http://LISTEN.
    #[arg(long, env = "ASSENT_PUBLIC_URL")]
    public_url: Option<url::Url>,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// Runs the service until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let database = crate::paths::database_url(args.database)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let mut config = ServiceConfig::new(bound, database.clone());
    if let Some(public_url) = args.public_url {
        config.public_url = public_url;
    }
    let service = Service::open(config)
        .await
        .with_context(|| format!("opening the database {database}"))?;
    // One machine-readable line on stdout, for scripts and tests that start the service on port 0.
    println!("listening on http://{bound}");
    service
        .serve(listener, shutdown_signal())
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}
