//! `assent`: one binary for operators, backends, headless devices and the demo.

mod app;
mod backend;
mod balancer;
mod bench;
mod callback;
mod demo;
mod device;
mod exit;
mod finding;
mod kek;
mod link;
mod paths;
mod private_keychain;
mod prompt;
mod receipt;
mod serve;
mod storage;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};

/// Self-hosted push authentication.
#[derive(Debug, Parser)]
#[command(
    name = "assent",
    version,
    about = "Assent: self-hosted push authentication (service, operator and backend commands, headless device, demo)",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service.
    Serve(serve::ServeArgs),
    /// Manage relying-party apps (on the service's database).
    #[command(subcommand)]
    App(app::AppCommand),
    /// Manage the key-encryption key that seals secrets at rest.
    #[command(subcommand)]
    Kek(kek::KekCommand),
    /// Manage users (backend API, with an API key).
    User {
        #[command(flatten)]
        connection: backend::Connection,
        #[command(subcommand)]
        command: backend::UserCommand,
    },
    /// Print a single-use enrollment link (and its QR code) for a user.
    EnrollLink {
        #[command(flatten)]
        connection: backend::Connection,
        #[command(flatten)]
        args: backend::EnrollLinkArgs,
    },
    /// Send and follow approval requests (backend API, with an API key).
    Request {
        #[command(flatten)]
        connection: backend::Connection,
        #[command(subcommand)]
        command: backend::RequestCommand,
    },
    /// Check Authy-style callback signatures.
    #[command(subcommand)]
    Callback(CallbackCommand),
    /// Check approval receipts offline.
    #[command(subcommand)]
    Receipt(ReceiptCommand),
    /// Be a headless device: enroll, list and answer requests from the terminal.
    Device {
        #[command(flatten)]
        options: device::DeviceOptions,
        #[command(subcommand)]
        command: device::DeviceCommand,
    },
    /// Run the whole system locally: service, Acme Bank sample, desktop app, two requests.
    Demo(demo::DemoArgs),
    /// Measure push latency, throughput and memory against a bare-WebSocket baseline.
    Bench(bench::BenchArgs),
    /// Print the nginx configuration for several instances behind one balancer.
    NginxConfig(balancer::NginxConfigArgs),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum CallbackCommand {
    /// Check a callback's X-Authy-Signature: exit 0 when valid, 1 when not.
    Verify(callback::VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum ReceiptCommand {
    /// Check a receipt and its inclusion proof with the service key: exit 0 when valid, 1 when
    /// not (saying what failed).
    Verify(receipt::VerifyArgs),
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ASSENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve::run(args).await,
        Command::App(command) => app::run(command).await,
        Command::Kek(command) => kek::run(command).await,
        Command::User {
            connection,
            command,
        } => backend::user(&connection, command).await,
        Command::EnrollLink { connection, args } => backend::enroll_link(&connection, args).await,
        Command::Request {
            connection,
            command,
        } => backend::request(&connection, command).await,
        Command::Callback(CallbackCommand::Verify(args)) => callback::verify(args),
        Command::Receipt(ReceiptCommand::Verify(args)) => receipt::verify(&args),
        Command::Device { options, command } => device::run(options, command).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::NginxConfig(args) => Ok(balancer::run(&args)),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "assent", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let usage = e.use_stderr();
            let _ = e.print();
            // Exit 2 means "expired" for `request send --wait`; bad usage gets its own code.
            return if usage {
                ExitCode::from(exit::USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The service logs what it does; one-shot commands print results and only log problems.
    init_logging(if matches!(cli.command, Command::Serve(_)) {
        "info,sqlx=warn"
    } else {
        "warn"
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens, API keys and service keys are base64url: one in 64 starts with `-`. Each must
    /// still be read as the value it is, not as an unknown option (found as a test that failed
    /// one run in 64).
    #[test]
    fn base64url_values_that_start_with_a_hyphen_are_values() {
        let server = "http://127.0.0.1:7070";
        let cases: [&[&str]; 5] = [
            &["device", "enroll", "--server", server, "-tok3n"],
            &["device", "preview", "--server", server, "-tok3n"],
            &["receipt", "verify", "r.json", "--service-key", "-k3y"],
            &["user", "status", "7", "--api-key", "-k3y"],
            &[
                "callback",
                "verify",
                "--api-key",
                "-k3y",
                "--url",
                server,
                "--method",
                "post",
                "--nonce",
                "1",
                "--signature",
                "s",
            ],
        ];
        for args in cases {
            let cli = Cli::try_parse_from(std::iter::once("assent").chain(args.iter().copied()))
                .unwrap_or_else(|e| panic!("`assent {}` should parse: {e}", args.join(" ")));
            let parsed = format!("{cli:?}");
            assert!(
                parsed.contains("\"-tok3n\"") || parsed.contains("\"-k3y\""),
                "the value starting with `-` is kept as given: {parsed}"
            );
        }
    }
}
