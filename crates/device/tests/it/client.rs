//! Whatever answers at the service's address cannot exhaust or redirect a device: an answer
//! larger than the bound is refused after the bound (its rest never read, memory flat), a
//! redirect is never followed, and an error's text is made safe to show.

use assent_device::{ErrorKind, InsecureServer, MAX_ANSWER_BYTES, parse_enrollment};
use assent_protocol::Uuid;
use assent_testkit::{Answer, HostileService, LogoAnswer, LogoServer};
use serde_json::json;

use crate::support::{authenticator, test_keychain};

const GIB: u64 = 1024 * 1024 * 1024;

/// A kernel memory figure of this process (`VmRSS`, `VmHWM`), in KiB.
fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Runs the ignored test `name` of this binary alone in a child process (so the memory it
/// measures is its own), with `env` set; returns its output. The child must pass.
fn run_alone(name: &str, env: &[(&str, &str)]) -> String {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            name,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{name} failed in its own process:\n{text}"
    );
    text
}

/// The child of [`a_gigabyte_answer_is_refused_after_the_bound_with_memory_flat`]: enrolls with
/// the service at `ASSENT_HOSTILE_URL` (which answers 1 GiB) and prints the error's code and how
/// far its peak memory rose.
#[tokio::test]
#[ignore = "run by a_gigabyte_answer_is_refused_after_the_bound_with_memory_flat, in a process of its own"]
async fn enroll_against_a_gigabyte_answer_alone() {
    let url = std::env::var("ASSENT_HOSTILE_URL").expect("run by its parent test");
    let dir = tempfile::tempdir().unwrap();
    let device = authenticator(dir.path(), test_keychain());
    let link = parse_enrollment(
        &format!(
            "assent://enroll?server={}&token=hostile-token-0123456789",
            url.replace(':', "%3A").replace('/', "%2F")
        ),
        None,
    )
    .unwrap();
    let before = vm_kib("VmRSS");
    let error = device
        .enroll(&link, "laptop", "linux", InsecureServer::Refuse)
        .await
        .unwrap_err();
    let peak = vm_kib("VmHWM");
    println!(
        "RESULT code={} growth_kib={} message={error}",
        error.code(),
        peak.saturating_sub(before)
    );
    assert!(device.accounts().unwrap().is_empty(), "nothing was written");
}

#[tokio::test]
async fn a_gigabyte_answer_is_refused_after_the_bound_with_memory_flat() {
    for declare_length in [false, true] {
        let hostile = HostileService::start(HostileService::branding(None)).await;
        *hostile.script.enroll.lock().unwrap() = Answer::Huge {
            bytes: GIB,
            declare_length,
        };
        let url = hostile.url.clone();
        let output = tokio::task::spawn_blocking(move || {
            run_alone(
                "client::enroll_against_a_gigabyte_answer_alone",
                &[("ASSENT_HOSTILE_URL", &url)],
            )
        })
        .await
        .unwrap();
        let result = output
            .lines()
            .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
            .unwrap_or_else(|| panic!("the child reports its result:\n{output}"));
        assert!(
            result.starts_with("code=protocol_error "),
            "a 1 GiB answer (length declared: {declare_length}) is refused as a protocol error: {result}"
        );
        assert!(
            result.contains(&format!("larger than {} KiB", MAX_ANSWER_BYTES / 1024)),
            "and says why: {result}"
        );
        let growth: u64 = result
            .split_whitespace()
            .find_map(|w| w.strip_prefix("growth_kib="))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert!(
            growth < 48 * 1024,
            "peak memory rose by {growth} KiB for a 1 GiB answer (length declared: {declare_length}): it must stay flat"
        );
        let sent = hostile
            .script
            .sent_bytes
            .load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            sent < 64 * 1024 * 1024,
            "the device stopped reading after the bound: the service got {sent} bytes out of 1 GiB"
        );
    }
}

#[tokio::test]
async fn device_calls_never_follow_a_redirect() {
    let admin = LogoServer::start(vec![(
        "/internal-admin?action=factory-reset",
        LogoAnswer::Image("application/json", b"{}".to_vec()),
    )])
    .await;
    let to_admin = format!("{}/internal-admin?action=factory-reset", admin.base);
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let dir = tempfile::tempdir().unwrap();
    let device = authenticator(dir.path(), test_keychain());
    let link = parse_enrollment(&hostile.link(), None).unwrap();

    *hostile.script.enroll.lock().unwrap() = Answer::Redirect(to_admin.clone());
    let error = device
        .enroll(&link, "laptop", "linux", InsecureServer::Refuse)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ProtocolError, "{error}");
    assert!(device.accounts().unwrap().is_empty(), "nothing written");

    *hostile.script.enroll.lock().unwrap() = Answer::Normal;
    let account = device
        .enroll(&link, "laptop", "linux", InsecureServer::Refuse)
        .await
        .unwrap();
    let shown = device.request(&account, Uuid::new_v4()).await.unwrap();
    *hostile.script.decision.lock().unwrap() = Answer::Redirect(to_admin.clone());
    *hostile.script.pending_answer.lock().unwrap() = Answer::Redirect(to_admin);
    assert_eq!(
        device.approve(&shown, None, 1).await.unwrap_err().kind(),
        ErrorKind::ProtocolError
    );
    assert_eq!(
        device.pending().await.unwrap_err().kind(),
        ErrorKind::ProtocolError
    );
    assert!(
        admin.hits().is_empty(),
        "no signed call (and no decision) was sent anywhere but the service: {:?}",
        admin.hits()
    );
    assert!(device.history().unwrap().is_empty(), "nothing recorded");
}

#[tokio::test]
async fn a_services_error_text_is_made_safe_to_show() {
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let dir = tempfile::tempdir().unwrap();
    let device = authenticator(dir.path(), test_keychain());
    let link = parse_enrollment(&hostile.link(), None).unwrap();
    let message = format!(
        "Denied\u{1b}]0;pwned\u{7}\u{1b}[2J \u{202e}lived{}",
        "x".repeat(5000)
    );
    *hostile.script.enroll.lock().unwrap() = Answer::Error {
        status: 409,
        body: json!({
            "message": message,
            "success": false,
            "errors": {"message": "x"},
            "error_code": "60079\u{1b}[31m",
        }),
    };
    let error = device
        .enroll(&link, "laptop", "linux", InsecureServer::Refuse)
        .await
        .unwrap_err();
    let shown = error.to_string();
    assert!(
        !shown.chars().any(assent_protocol::text::is_unsafe_char),
        "no control or bidirectional character reaches a person: {shown:?}"
    );
    assert!(
        shown.chars().count() < 400,
        "a 5000-character message is shortened ({} characters)",
        shown.chars().count()
    );
}
