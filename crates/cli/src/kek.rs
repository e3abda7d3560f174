//! `assent kek ...`: the key-encryption key that seals the service key and callback keys at rest.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use assent_server::sealed::Kek;
use clap::Subcommand;
use serde_json::json;

use crate::storage::StorageArgs;

/// `assent kek` subcommands.
#[derive(Debug, Subcommand)]
pub enum KekCommand {
    /// Write a new random key-encryption key to FILE (mode 0600; never overwrites).
    Generate {
        /// Where to write it.
        file: PathBuf,
        /// Print `{"file": ..., "id": ...}`.
        #[arg(long)]
        json: bool,
    },
    /// Seal secrets stored in plain form by a version before sealing. Only for such a database:
    /// a plain secret in a newer one was written by someone without the key (restore a backup).
    SealPlain {
        #[command(flatten)]
        db: StorageArgs,
        /// Print `{"sealed": N, "key": ...}`.
        #[arg(long)]
        json: bool,
    },
    /// Re-seal every secret with the current key (`--kek-file`), opening them with it or with a
    /// `--previous-kek-file`. Run it once every instance runs with the new key as current and the
    /// old one as previous; then the old key can be retired.
    Rewrap {
        #[command(flatten)]
        db: StorageArgs,
        /// Print `{"resealed": N, "key": ...}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `assent kek` command.
pub async fn run(command: KekCommand) -> anyhow::Result<ExitCode> {
    match command {
        KekCommand::Generate { file, json } => {
            let key = Kek::create_file(&file)
                .with_context(|| format!("writing a new key to {}", file.display()))?;
            if json {
                println!("{}", json!({"file": file, "id": key.id_hex()}));
            } else {
                println!(
                    "Wrote key-encryption key {} to {} (mode 0600). Keep it out of backups of the database.",
                    key.id_hex(),
                    file.display()
                );
            }
        }
        KekCommand::SealPlain { db, json } => {
            let config = db.config(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
            let operator = assent_server::admin::Operator::open_with(
                &config,
                assent_server::PlainSecrets::Seal,
            )
            .await
            .context("opening the database")?;
            let sealed = operator.reseal().await;
            operator.store().close().await;
            let sealed = sealed.context("sealing")?;
            if json {
                println!(
                    "{}",
                    json!({"sealed": sealed, "key": operator.current_key_id()})
                );
            } else {
                println!(
                    "Sealed {sealed} secret(s) with key {}.",
                    operator.current_key_id()
                );
            }
        }
        KekCommand::Rewrap { db, json } => {
            // Opening already seals what is plain or under a previous key with the current one.
            let operator = db.operator().await?;
            let resealed = operator.reseal().await;
            operator.store().close().await;
            let resealed = resealed.context("re-sealing secrets")?;
            if json {
                println!(
                    "{}",
                    json!({"resealed": resealed, "key": operator.current_key_id()})
                );
            } else {
                println!(
                    "Every secret is sealed with key {}; previous keys can be retired.",
                    operator.current_key_id()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
