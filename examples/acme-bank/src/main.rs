//! `acme-bank`: the sample relying party.

use anyhow::Context as _;
use clap::Parser;

/// A sample bank that signs customers in with Assent.
#[derive(Debug, Parser)]
struct Args {
    /// Assent's URL.
    #[arg(long, env = "ACME_ASSENT_URL", default_value = "http://127.0.0.1:7070")]
    assent_url: String,
    /// The bank's API key at Assent (`assent app create --name "Acme Bank" --callback-url http://LISTEN/assent/callback`).
    #[arg(long, env = "ACME_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Where to listen.
    #[arg(long, env = "ACME_LISTEN", default_value = "127.0.0.1:8000")]
    listen: std::net::SocketAddr,
    /// Seconds a sign-in approval may take before it expires.
    #[arg(long, env = "ACME_SIGN_IN_SECONDS", default_value_t = 120)]
    sign_in_seconds: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let config = acme_bank::Config {
        assent_url: args.assent_url,
        api_key: args.api_key,
        sign_in_seconds: args.sign_in_seconds,
    };
    // The customers are registered (with their names) before the bank says it is up: whoever
    // waits for this line may look them up at once.
    let app = acme_bank::app(config).await?;
    println!("Acme Bank on http://{}", listener.local_addr()?);
    acme_bank::serve(app, listener, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
