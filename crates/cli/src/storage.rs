//! Where a deployment keeps its data and the key that seals its secrets: the options `assent
//! serve`, `assent app` and `assent kek` share, so they always open the same database the same way.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use assent_server::config::{KekSource, ServiceConfig};
use assent_server::sealed::Kek;
use clap::Args;

/// The systemd credential name `assent serve` reads its key-encryption key from
/// (`LoadCredential=assent.kek:/etc/assent/assent.kek`).
pub const KEK_CREDENTIAL: &str = "assent.kek";

/// Database and key-encryption key options.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Database URL: `sqlite://PATH` (default: assent.db in the user's data directory) or
    /// `postgres://USER@HOST/DB` (TLS with `?sslmode=require`).
    #[arg(long, env = "ASSENT_DATABASE_URL")]
    pub database: Option<String>,
    /// File holding the key-encryption key that seals the service key and callback keys at rest
    /// (mode 0600). Default: the `ASSENT_KEK` variable, else the systemd credential `assent.kek`,
    /// else `<database file>.kek` beside a SQLite database (created when missing).
    #[arg(long, env = "ASSENT_KEK_FILE")]
    pub kek_file: Option<PathBuf>,
    /// An older key-encryption key that still opens what it sealed (during a rotation; repeat for
    /// several).
    #[arg(long)]
    pub previous_kek_file: Vec<PathBuf>,
}

impl StorageArgs {
    /// The database URL (creating the private default data directory when needed).
    pub fn database_url(&self) -> anyhow::Result<String> {
        crate::paths::database_url(self.database.clone())
    }

    /// Where the current key comes from.
    pub fn kek(&self) -> anyhow::Result<KekSource> {
        if let Some(path) = &self.kek_file {
            return Ok(KekSource::File(path.clone()));
        }
        if let Some(text) = std::env::var_os("ASSENT_KEK") {
            let text = text
                .into_string()
                .map_err(|_| anyhow::anyhow!("ASSENT_KEK is not text"))?;
            return Ok(KekSource::Key(
                Kek::parse(&text).context("reading ASSENT_KEK")?,
            ));
        }
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let path = PathBuf::from(dir).join(KEK_CREDENTIAL);
            if path.exists() {
                return Ok(KekSource::File(path));
            }
        }
        Ok(KekSource::BesideDatabase)
    }

    /// A service configuration for this storage (listening on `listen`).
    pub fn config(&self, listen: SocketAddr) -> anyhow::Result<ServiceConfig> {
        let mut config = ServiceConfig::new(listen, self.database_url()?);
        config.kek = self.kek()?;
        config.previous_keks = self
            .previous_kek_file
            .iter()
            .cloned()
            .map(KekSource::File)
            .collect();
        Ok(config)
    }

    /// An operator handle on this storage.
    pub async fn operator(&self) -> anyhow::Result<assent_server::admin::Operator> {
        let config = self.config(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        assent_server::admin::Operator::open(&config)
            .await
            .with_context(|| format!("opening the database {}", redacted(&config.database_url)))
    }
}

/// A database URL as it may be printed: without a password.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}
