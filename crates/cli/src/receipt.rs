//! `assent receipt verify`: checks an approval receipt offline, with nothing but the service's
//! public key (the algorithm is `assent_protocol::receipt::verify_receipt`, docs/protocol.md
//! "Receipts"), and says what was approved, by which device of which person, when.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use assent_protocol::crypto::PublicKey;
use assent_protocol::receipt::{MAX_RECEIPT_BYTES, VerifiedReceipt, verify_receipt};
use clap::Args;

use crate::exit;

/// Options of `assent receipt verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The receipt, as fetched (`-` for standard input).
    file: PathBuf,
    /// The service's Ed25519 public key (base64url), as the deployment publishes it. One key in
    /// 64 starts with `-`: it is still the value.
    #[arg(long, allow_hyphen_values = true)]
    service_key: String,
    /// Print the verified receipt as JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs the check: exit 0 when the receipt verifies (whatever it says was decided), 1 when not.
pub fn verify(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let key = PublicKey::from_b64(args.service_key.trim())
        .ok()
        .context("--service-key is not an Ed25519 public key in base64url")?;
    let bytes = read(&args.file)?;
    match verify_receipt(&bytes, &key) {
        Ok(receipt) => {
            if args.json {
                println!("{}", summary(&receipt));
            } else {
                print!("{}", text(&receipt));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"valid": false, "failed": e.to_string()})
                );
            } else {
                println!("invalid: {e}");
            }
            Ok(ExitCode::from(exit::DENIED))
        }
    }
}

/// Reads at most one byte more than a receipt may have, so a huge file is refused unread.
fn read(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let limit = MAX_RECEIPT_BYTES as u64 + 1;
    if file.as_os_str() == "-" {
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::io::stdin(), limit),
            &mut bytes,
        )?;
    } else {
        let handle =
            std::fs::File::open(file).with_context(|| format!("reading {}", file.display()))?;
        std::io::Read::read_to_end(&mut std::io::Read::take(handle, limit), &mut bytes)
            .with_context(|| format!("reading {}", file.display()))?;
    }
    Ok(bytes)
}

fn summary(receipt: &VerifiedReceipt) -> serde_json::Value {
    serde_json::json!({
        "valid": true,
        "status": receipt.status.as_str(),
        "reason": receipt.reason,
        "request_id": receipt.request.id,
        "app": receipt.request.app.name,
        "message": receipt.request.message,
        "decisions": receipt.decisions.iter().map(|d| serde_json::json!({
            "user_id": d.device.user_id,
            "device_id": d.device.device_id,
            "outcome": d.decision.outcome,
            "signed_at": d.decision.signed_at,
        })).collect::<Vec<_>>(),
        "countersigned_at": receipt.countersigned_at,
        "log_index": receipt.log_index,
        "tree_size": receipt.checkpoint.size,
    })
}

fn text(receipt: &VerifiedReceipt) -> String {
    let mut out = format!(
        "valid: {} {}\nrequest {} of {}: {:?}\n",
        receipt.status.as_str(),
        receipt
            .reason
            .as_deref()
            .map(|r| format!("({r})"))
            .unwrap_or_default(),
        receipt.request.id,
        receipt.request.app.name,
        receipt.request.message,
    );
    for d in &receipt.decisions {
        out.push_str(&format!(
            "  {:?} by person {} with device {} at {} (Unix seconds)\n",
            d.decision.outcome, d.device.user_id, d.device.device_id, d.decision.signed_at
        ));
    }
    out.push_str(&format!(
        "countersigned at {}; entry {} of the approval log (checkpoint of {} entries)\n",
        receipt.countersigned_at, receipt.log_index, receipt.checkpoint.size
    ));
    out
}
