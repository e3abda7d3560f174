//! `assent app ...`: operator commands on the service's database.

use std::process::ExitCode;

use anyhow::Context as _;
use assent_protocol::callback::CallbackMethod;
use assent_server::admin::AppSpec;
use assent_server::clock::unix_now;
use assent_server::defences::AppDefences;
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

/// Push-fatigue and verification settings; each flag left out keeps the current value (the
/// defaults, at creation).
#[derive(Debug, Clone, clap::Args)]
pub struct DefenceArgs {
    /// Pending requests one person may have from this app at once (0: no limit).
    #[arg(long, value_name = "N")]
    max_pending_per_person: Option<u32>,
    /// Hold new requests back after a denial (10 s doubling to an hour).
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    backoff: Option<bool>,
    /// Minutes new requests are refused after "this wasn't me" (0: no freeze).
    #[arg(long, value_name = "MINUTES")]
    freeze_minutes: Option<u32>,
    /// Every request requires user verification unless it says `user_verification=none`.
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    require_user_verification: Option<bool>,
}

fn on_off(text: &str) -> Result<bool, String> {
    match text {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("expected `on` or `off`".into()),
    }
}

impl DefenceArgs {
    fn apply(&self, mut to: AppDefences) -> anyhow::Result<AppDefences> {
        if let Some(n) = self.max_pending_per_person {
            to.max_pending_per_person = n;
        }
        if let Some(on) = self.backoff {
            to.backoff = on;
        }
        if let Some(minutes) = self.freeze_minutes {
            to.freeze_secs = minutes
                .checked_mul(60)
                .filter(|secs| *secs <= 7 * 86_400)
                .context("--freeze-minutes is at most a week (10080)")?;
        }
        if let Some(on) = self.require_user_verification {
            to.require_user_verification = on;
        }
        Ok(to)
    }

    fn is_empty(&self) -> bool {
        self.max_pending_per_person.is_none()
            && self.backoff.is_none()
            && self.freeze_minutes.is_none()
            && self.require_user_verification.is_none()
    }
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
        #[command(flatten)]
        defences: DefenceArgs,
        /// Print `{"id": ..., "api_key": ...}`.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: StorageArgs,
    },
    /// Show an app's push-fatigue and verification settings, or change those given.
    Defences {
        /// The app id.
        app_id: String,
        #[command(flatten)]
        defences: DefenceArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: StorageArgs,
    },
    /// Lift the freeze ("this wasn't me") and back-off (denials) on one person of an app.
    Unfreeze {
        /// The app id.
        app_id: String,
        /// The person (authy_id).
        #[arg(long)]
        user: u64,
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
        "defences": app.defences,
        "created_at": app.created_at,
    })
}

fn print_defences(d: &AppDefences) {
    let limit = match d.max_pending_per_person {
        0 => "no limit".to_owned(),
        n => n.to_string(),
    };
    println!("Pending requests per person: {limit}");
    println!(
        "Back-off after a denial:     {}",
        if d.backoff {
            "on (10 s doubling to 1 h)"
        } else {
            "off"
        }
    );
    match d.freeze_secs {
        0 => println!("Freeze after \"not me\":     off"),
        secs => println!("Freeze after \"not me\":     {} min", secs / 60),
    }
    println!(
        "User verification:           {}",
        if d.require_user_verification {
            "required unless a request says none"
        } else {
            "only when a request asks"
        }
    );
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
            defences,
            json,
            db,
        } => {
            let defences = defences.apply(AppDefences::default())?;
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
                defences,
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
        AppCommand::Defences {
            app_id,
            defences,
            json,
            db,
        } => {
            let operator = db.operator().await?;
            let result = async {
                let app = operator
                    .store()
                    .app(&app_id)
                    .await
                    .context("reading the app")?
                    .with_context(|| format!("no app with id {app_id}"))?;
                let mut current = app.defences;
                if !defences.is_empty() {
                    current = defences.apply(current)?;
                    operator.set_defences(&app_id, &current).await?;
                }
                anyhow::Ok(current)
            }
            .await;
            operator.store().close().await;
            let current = result?;
            if json {
                println!("{}", serde_json::to_value(current)?);
            } else {
                print_defences(&current);
            }
        }
        AppCommand::Unfreeze { app_id, user, db } => {
            let operator = db.operator().await?;
            let lifted = operator.unfreeze(&app_id, user).await;
            operator.store().close().await;
            lifted?;
            println!(
                "Lifted the freeze and back-off on person {user} of app {app_id}: new requests are accepted now."
            );
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
