//! `assent callback verify`: checks an Authy-style callback signature.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use assent_protocol::callback::{self, CallbackKey};
use clap::{Args, ValueEnum};

use crate::exit;

/// HTTP method of the callback.
#[derive(Debug, Clone, Copy, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum HttpMethod {
    /// JSON body.
    Post,
    /// Query string.
    Get,
}

/// Options of `assent callback verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The app's API key. A base64url key starts with `-` one time in 64: it is still a value.
    #[arg(
        long,
        env = "ASSENT_API_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    api_key: String,
    /// The callback URL as configured (a query string in it is ignored, as Authy does).
    #[arg(long)]
    url: String,
    /// The callback's method.
    #[arg(long, value_enum, ignore_case = true)]
    method: HttpMethod,
    /// The X-Authy-Signature-Nonce header.
    #[arg(long)]
    nonce: String,
    /// The X-Authy-Signature header.
    #[arg(long)]
    signature: String,
    /// The POST body, as received (`-` for standard input).
    #[arg(long, conflicts_with = "query")]
    body_file: Option<PathBuf>,
    /// The GET query string, as received (without `?`).
    #[arg(long)]
    query: Option<String>,
    /// Print the canonical data string and the expected signature when it does not match.
    #[arg(long)]
    explain: bool,
}

/// Runs the check: exit 0 valid, 1 invalid.
pub fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = CallbackKey::from_api_key(&args.api_key);
    let url = args.url.split('?').next().unwrap_or(&args.url).to_owned();
    let (method, params) = match (args.method, args.body_file, args.query) {
        (HttpMethod::Post, Some(file), None) => {
            let body = if file.as_os_str() == "-" {
                let mut body = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)?;
                body
            } else {
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let payload: serde_json::Value =
                serde_json::from_slice(&body).context("the body is not JSON")?;
            ("POST", callback::params_from_json(&payload)?)
        }
        (HttpMethod::Get, None, Some(query)) => (
            "GET",
            callback::params_from_query(query.trim_start_matches('?')),
        ),
        (HttpMethod::Post, _, _) => bail!("a POST callback is checked with --body-file FILE"),
        (HttpMethod::Get, _, _) => bail!("a GET callback is checked with --query QUERYSTRING"),
    };
    match callback::verify(&key, &args.nonce, method, &url, &params, &args.signature) {
        Ok(()) => {
            println!("valid");
            Ok(ExitCode::SUCCESS)
        }
        Err(_) => {
            println!(
                "invalid: the signature does not match this API key, URL, method, nonce and payload"
            );
            if args.explain {
                println!(
                    "signed data: {}",
                    callback::signing_data(&args.nonce, method, &url, &params)
                );
                println!(
                    "expected signature: {}",
                    callback::sign(&key, &args.nonce, method, &url, &params)
                );
            } else {
                println!("(pass --explain to see the exact string that is signed)");
            }
            Ok(ExitCode::from(exit::DENIED))
        }
    }
}
