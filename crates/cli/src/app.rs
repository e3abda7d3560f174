//! `assent app ...`: operator commands on the service's database.

use std::process::ExitCode;

use anyhow::Context as _;
use assent_protocol::callback::CallbackMethod;
use assent_server::admin::AppSpec;
use assent_server::clock::unix_now;
use assent_server::store::App;
use clap::{Subcommand, ValueEnum};

use crate::storage::{StorageArgs, redacted};
use serde_json::json;

/// Callback delivery method.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Method {
    Post,
    Get,
}

/// `assent app` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app; prints its id and API key (the key is shown once, then stored hashed).
    Create {
        /// Display name shown to people approving.
        #[arg(long)]
        name: String,
        /// Logo shown with its requests (http or https).
        #[arg(long)]
        logo_url: Option<String>,
        /// Accent colour, like #1f4fd1.
        #[arg(long)]
        accent_color: Option<String>,
        /// Accept a logo on this machine or a private network (development only).
        #[arg(long)]
        allow_local_logo: bool,
        /// Where decisions are sent (Authy-style signed callback).
        #[arg(long)]
        callback_url: Option<String>,
        /// How callbacks are sent.
        #[arg(long, value_enum, default_value = "post")]
        callback_method: Method,
        /// Also call back when a request expires or is cancelled (Authy backends expect only
        /// approved and denied, so this is off by default).
        #[arg(long)]
        callback_expired_cancelled: bool,
        /// Print `{"id": ..., "api_key": ...}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: StorageArgs,
    },
    /// List apps.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: StorageArgs,
    },
    /// Replace an app's API key; the old key stops working at once.
    RotateKey {
        /// The app id.
        app_id: String,
        /// Print `{"id": ..., "api_key": ...}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: StorageArgs,
    },
}

fn app_json(app: &App) -> serde_json::Value {
    json!({
        "id": app.id,
        "serial_id": app.serial_id,
        "name": app.name,
        "logo_url": app.logo_url,
        "accent_color": app.accent_color,
        "callback_url": app.callback_url.as_deref().map(redacted),
        "callback_method": app.callback_method,
        "callback_expired_cancelled": app.callback_expired_cancelled,
        "created_at": app.created_at,
    })
}

/// Runs an `assent app` command.
pub async fn run(command: AppCommand) -> anyhow::Result<ExitCode> {
    match command {
        AppCommand::Create {
            name,
            logo_url,
            accent_color,
            allow_local_logo,
            callback_url,
            callback_method,
            callback_expired_cancelled,
            json,
            db,
        } => {
            let operator = db.operator().await?;
            let spec = AppSpec {
                name,
                logo_url,
                accent_color,
                callback_url,
                callback_method: match callback_method {
                    Method::Post => CallbackMethod::Post,
                    Method::Get => CallbackMethod::Get,
                },
                callback_expired_cancelled,
                allow_local_logo,
            };
            let created = operator.create_app(spec, unix_now()).await;
            operator.store().close().await;
            let (app, key) = created?;
            if json {
                println!("{}", json!({"id": app.id, "api_key": key.expose()}));
            } else {
                println!("Created app {} ({})", app.name, app.id);
                println!("API key (shown once; store it now): {}", key.expose());
            }
        }
        AppCommand::List { json, db } => {
            let operator = db.operator().await?;
            let apps = operator.store().list_apps().await;
            operator.store().close().await;
            let apps = apps.context("reading apps")?;
            if json {
                println!(
                    "{}",
                    serde_json::Value::Array(apps.iter().map(app_json).collect())
                );
            } else if apps.is_empty() {
                println!("No apps yet: create one with `assent app create --name NAME`.");
            } else {
                for app in &apps {
                    println!(
                        "{}  {}  callback: {}",
                        app.id,
                        app.name,
                        app.callback_url.as_deref().map_or("-".into(), redacted)
                    );
                }
            }
        }
        AppCommand::RotateKey { app_id, json, db } => {
            let operator = db.operator().await?;
            let rotated = operator.rotate_key(&app_id).await;
            operator.store().close().await;
            let key = rotated?;
            if json {
                println!("{}", json!({"id": app_id, "api_key": key.expose()}));
            } else {
                println!(
                    "New API key for {app_id} (the old one no longer works): {}",
                    key.expose()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
