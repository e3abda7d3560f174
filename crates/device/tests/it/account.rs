//! Local state: the service's answer is the truth for the person, and the data directory is
//! written atomically, privately and under a lock held across processes (the desktop app and
//! `assent device` may share it).

use std::time::Duration;

use assent_device::view::SessionEvent;
use assent_device::{Account, DataDir, ErrorKind, HistoryEntry, SessionConfig};
use assent_protocol::crypto::PublicKey;
use assent_protocol::decision::Outcome;
use assent_protocol::request::{AppBranding, RequestStatus};
use assent_protocol::{SigningKey, Uuid};

use crate::support::{TestService, fast_streams, open_session, test_keychain, until};

const WRITERS: usize = 4;
const WRITES_EACH: usize = 25;

fn account(n: u128) -> Account {
    Account {
        id: Uuid::from_u128(n),
        server: url::Url::parse("http://127.0.0.1:1").unwrap(),
        device_id: Uuid::new_v4(),
        device_alias: 1,
        device_name: "laptop".into(),
        user_id: 7,
        app: AppBranding {
            id: "a".repeat(24),
            name: "Acme".into(),
            accent_color: None,
            logos: vec![],
        },
        service_public_key: PublicKey::from_signing_key(&SigningKey::from_bytes(&[1; 32])),
        enrolled_at: 1,
        revoked_at: None,
        account_name: None,
    }
}

/// One writer process of [`concurrent_processes_lose_no_update`]: adds accounts and history
/// entries to `ASSENT_SHARED_DATA_DIR`, each a read-modify-write.
#[test]
#[ignore = "run by concurrent_processes_lose_no_update, several at once in processes of their own"]
fn write_alongside_other_processes() {
    let dir = std::env::var("ASSENT_SHARED_DATA_DIR").expect("run by its parent test");
    let writer: u128 = std::env::var("ASSENT_WRITER").unwrap().parse().unwrap();
    let data = DataDir::open(dir).unwrap();
    for i in 0..WRITES_EACH as u128 {
        let id = writer * 1000 + i;
        data.update_accounts(|accounts| {
            accounts.push(account(id));
            Ok(())
        })
        .unwrap();
        data.record_history(HistoryEntry {
            request_id: Uuid::from_u128(id),
            account_id: Uuid::from_u128(id),
            app_name: "Acme".into(),
            message: "m".into(),
            outcome: Outcome::Approve,
            reason: None,
            decided_at: 1,
        })
        .unwrap();
    }
}

#[test]
fn concurrent_processes_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    let children: Vec<std::process::Child> = (0..WRITERS)
        .map(|writer| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "account::write_alongside_other_processes",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env("ASSENT_SHARED_DATA_DIR", &shared)
                .env("ASSENT_WRITER", writer.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a writer failed");
    }
    let data = DataDir::open(&shared).unwrap();
    assert_eq!(
        data.accounts().unwrap().len(),
        WRITERS * WRITES_EACH,
        "every enrollment of every process is kept"
    );
    assert_eq!(
        data.history().unwrap().len(),
        WRITERS * WRITES_EACH,
        "every history entry of every process is kept"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&shared), 0o700, "the directory is private");
        for file in ["accounts.json", "history.json", ".lock"] {
            assert_eq!(mode(&shared.join(file)), 0o600, "{file} is private");
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(&shared)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file is left");
}

#[tokio::test]
async fn an_accepted_decision_is_reported_accepted_when_the_history_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let (session, mut events) = open_session(
        dir.path(),
        test_keychain(),
        fast_streams(),
        SessionConfig::default(),
    );
    let (user, _) = svc
        .enrolled(session.authenticator(), "history@example.com")
        .await;
    session.start().await.unwrap();
    let id = svc.request(user, "Sign in?").await;
    until(
        &mut events,
        "the request",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == id),
    )
    .await;
    // The history file cannot be written: a directory stands where it goes.
    std::fs::create_dir(session.authenticator().data_dir().join("history.json")).unwrap();

    let decision = session
        .approve(id, None)
        .await
        .expect("the service accepted the decision: that is what the person is told");
    assert_eq!(decision.status, RequestStatus::Approved);
    assert_eq!(svc.status(id).await, "approved");
    until(
        &mut events,
        "the notice about the history",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Notice { code: ErrorKind::StorageError, message } if message.contains("accepted")),
    )
    .await;
    assert!(
        session.pending().is_empty(),
        "the decided request left the list"
    );
}
