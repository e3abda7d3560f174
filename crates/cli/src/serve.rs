//! `assent serve`.

use std::net::SocketAddr;
use std::process::ExitCode;

use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context as _;
use assent_server::Service;
use assent_server::config::Rate;
use clap::Args;

use crate::storage::{StorageArgs, redacted};

/// Options of `assent serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "ASSENT_LISTEN", default_value = "127.0.0.1:7070")]
    listen: SocketAddr,
    #[command(flatten)]
    storage: StorageArgs,
    /// The URL devices reach this service at (goes into enrollment links); default: http://LISTEN.
    #[arg(long, env = "ASSENT_PUBLIC_URL")]
    public_url: Option<url::Url>,
    /// Most connections to PostgreSQL held by this instance.
    #[arg(long, env = "ASSENT_DATABASE_POOL_SIZE", default_value_t = 10)]
    database_pool_size: u32,
    /// This instance's name in logs and metrics (default: host name and process id).
    #[arg(long, env = "ASSENT_INSTANCE")]
    instance: Option<String>,
    /// Most open HTTP connections.
    #[arg(long, env = "ASSENT_MAX_CONNECTIONS", default_value_t = 10_000)]
    max_connections: usize,
    /// Refuse new approval requests (60121, Retry-After: 1) while the service works on more
    /// authenticated calls than this (0: never): past its capacity it keeps what it accepted
    /// moving instead of making every request late. Long-polls waiting and clients still sending
    /// do not count.
    #[arg(long, env = "ASSENT_SHED_NEW_REQUESTS_ABOVE", default_value_t = 256)]
    shed_new_requests_above: usize,
    /// Most open HTTP connections from one address (trusted proxies are exempt).
    #[arg(long, env = "ASSENT_MAX_CONNECTIONS_PER_SOURCE", default_value_t = 256)]
    max_connections_per_source: usize,
    /// Seconds a client has to send a request's headers (and an idle connection is kept).
    #[arg(long, env = "ASSENT_HEADER_TIMEOUT", default_value_t = 10)]
    header_timeout: u64,
    /// Backend calls per second per API key (0: unlimited); bursts of twice that.
    #[arg(long, env = "ASSENT_RATE_PER_API_KEY", default_value_t = 100.0)]
    rate_per_api_key: f64,
    /// Backend and enrollment calls per second per source address (0: unlimited); bursts of twice
    /// that.
    #[arg(long, env = "ASSENT_RATE_PER_SOURCE", default_value_t = 200.0)]
    rate_per_source: f64,
    /// A proxy in front of the service whose X-Forwarded-For is trusted (repeat for several).
    #[arg(long, env = "ASSENT_TRUSTED_PROXY", value_delimiter = ',')]
    trusted_proxy: Vec<IpAddr>,
    /// Measurement only (`assent bench --without-receipts`): decisions get no receipt and no
    /// approval-log entry, so the bench can show what receipts cost. Hidden: a deployment that
    /// uses it gives relying parties nothing to verify and devices nothing to watch.
    #[arg(long, hide = true)]
    without_receipts: bool,
    /// For tests only: run the service's clock this many seconds off the system's (a service
    /// whose clock is wrong, to show what devices then see). Hidden from `--help`; see
    /// docs/cli.md.
    #[arg(long, hide = true, allow_hyphen_values = true, value_parser = clap::value_parser!(i64).range(-86_400..=86_400))]
    clock_offset: Option<i64>,
}

fn rate(per_second: f64) -> Option<Rate> {
    (per_second > 0.0).then_some(Rate {
        per_second,
        burst: per_second * 2.0,
    })
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

/// Descriptors kept free of connections: the database, the listener, logs, callbacks in flight.
pub(crate) const RESERVED_FILES: u64 = 256;

/// Every connection and push stream is an open file: raises this process's limit to what the
/// system allows, and when even that is below the configured caps, lowers the caps to fit (and
/// says so), so a full instance refuses connections cleanly instead of failing with "too many
/// open files" everywhere, `/healthz` and the database included.
fn fit_open_files(limits: &mut assent_server::config::ConnectionLimits) {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft);
    let limit = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(before);
    if limit > before {
        tracing::info!(from = before, to = limit, "raised the open-files limit");
    }
    let budget = limit.saturating_sub(RESERVED_FILES).max(16);
    if limits.max_connections as u64 > budget / 2 {
        let connections = budget / 2;
        tracing::warn!(
            open_files = limit,
            max_connections = connections,
            "the open-files limit is below the connection cap; lowering it to fit (raise LimitNOFILE or ulimit -n)"
        );
        limits.max_connections = connections as usize;
    }
    // Push streams get what connections leave.
    let streams = budget - limits.max_connections as u64;
    if (limits.max_streams as u64) > streams {
        tracing::info!(
            max_streams = streams,
            "push streams capped by the open-files limit"
        );
        limits.max_streams = streams as usize;
    }
}

/// Runs the service until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let bound = listener.local_addr()?;
    let mut config = args.storage.config(bound)?;
    let database = redacted(&config.database_url);
    if let Some(public_url) = args.public_url {
        config.public_url = public_url;
    }
    config.database_pool_size = args.database_pool_size;
    if args.without_receipts {
        tracing::warn!("receipts and the approval log are off (--without-receipts, for measuring)");
        config.issue_receipts = false;
    }
    if let Some(instance) = args.instance {
        config.instance = instance;
    }
    let limits = &mut config.connections;
    limits.max_connections = args.max_connections;
    fit_open_files(limits);
    limits.max_connections_per_source = args.max_connections_per_source;
    limits.shed_new_requests_above = args.shed_new_requests_above;
    limits.header_timeout = Duration::from_secs(args.header_timeout.max(1));
    limits.per_api_key = rate(args.rate_per_api_key);
    limits.per_source = rate(args.rate_per_source);
    limits.trusted_proxies = args.trusted_proxy;
    if let Some(offset) = args.clock_offset {
        let clock = assent_server::clock::Clock::adjustable();
        clock.advance(offset);
        tracing::warn!(
            offset_secs = offset,
            "the service's clock is set off the system's (--clock-offset, for tests only)"
        );
        config.clock = clock;
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
