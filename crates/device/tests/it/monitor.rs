//! The approval-log monitor (`src/monitor.rs`) against the real service from the test kit: a
//! second device enrolled for the person, a decision on it, a decision made with this device's
//! leaked key, a log the service refuses to sign, and a log rewritten by a rogue operator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use assent_device::view::{Finding, SessionEvent};
use assent_device::{
    Account, Authenticator, InsecureServer, LogMonitor, SecretStore as _, SessionConfig,
    UNCONFIRMED_GRACE_SECS, fingerprint,
};
use assent_protocol::crypto::PublicKey;
use assent_protocol::enroll::EnrollLink;
use assent_server::clock::unix_now;
use assent_testkit::{Options, TestService, rogue};
use ed25519_dalek::SigningKey;
use serde_json::json;

use crate::support::{
    authenticator, enroll_laptop, fast_streams, open_session, test_keychain, until,
};

/// An enrollment link for `user` at `svc`.
async fn link(svc: &TestService, user: u64) -> String {
    let (status, body) = svc
        .backend
        .post_json(
            "/protected/json/sdk/registrations",
            json!({"authy_id": user}),
        )
        .await;
    assert_eq!(status, 200, "a registration link should be issued: {body}");
    body["enroll_url"].as_str().unwrap().to_owned()
}

/// Ana, enrolled on `device` through an ordinary link.
async fn enroll_ana(svc: &TestService, device: &Authenticator) -> (u64, Account) {
    let user = svc.backend.create_user("ana@example.com").await;
    let link = EnrollLink::parse(&link(svc, user).await).unwrap();
    let account = device
        .enroll(&link, "Ana's laptop", "linux", InsecureServer::Refuse)
        .await
        .unwrap();
    (user, account)
}

/// Makes the service sign a checkpoint of its whole log now (as handing out a receipt does), so a
/// poll sees every leaf without waiting for the periodic signer.
async fn sign_now(svc: &TestService) -> u64 {
    let size = svc.state.store.log_size().await.unwrap();
    let response = reqwest::get(format!("{}/log/v1/checkpoint?min_size={size}", svc.base))
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the service signs its log on demand"
    );
    size
}

#[tokio::test]
async fn monitor_reports_another_device_its_decisions_a_leaked_key_and_a_rewritten_log() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start().await;
    let keychain = test_keychain();
    let device = authenticator(dir.path(), keychain.clone());
    let (ana, account) = enroll_ana(&svc, &device).await;
    let monitor = LogMonitor::open(device.data_dir()).unwrap();
    let now = unix_now();

    sign_now(&svc).await;
    let first = monitor.poll(&account, now).await.unwrap();
    assert_eq!(first.checkpoint_size, 1, "the log holds Ana's enrollment");
    assert!(
        first.new.is_empty(),
        "the device's own enrollment is not reported: {first:?}"
    );

    // An operator enrolls a second device for Ana (a new enrollment for the same user).
    let second = svc.enroll(ana).await;
    sign_now(&svc).await;
    let report = monitor.poll(&account, now).await.unwrap();
    let expected = Finding::UnknownDevice {
        device_id: second.id,
        enrolled_at: second.enrollment.enrolled_at,
        fingerprint: fingerprint(&PublicKey::from_signing_key(&second.key)),
        log_index: 1,
    };
    assert_eq!(
        report.new.iter().map(|f| &f.finding).collect::<Vec<_>>(),
        vec![&expected],
        "the second device of Ana is 'a device you may not know', and nothing else is"
    );
    assert_eq!(report.new[0].account_id, account.id);

    // Ana approves one request here; the second device approves another; someone holding this
    // device's key (leaked) approves a third behind its back.
    let (mine, _) = svc
        .backend
        .request(ana, json!({"message": "Sign in"}))
        .await;
    let shown = device.request(&account, mine).await.unwrap();
    device.approve(&shown, None, unix_now()).await.unwrap();
    let (theirs, _) = svc.backend.request(ana, json!({"message": "Pay"})).await;
    assert_eq!(second.approve(theirs).await.status, 200);
    let (stolen, _) = svc.backend.request(ana, json!({"message": "Wire"})).await;
    let seed = keychain
        .load(account.id)
        .unwrap()
        .expect("the key is in the keychain");
    let mut thief = second.at(&svc.base);
    thief.key = SigningKey::from_bytes(&seed);
    thief.id = account.device_id;
    assert_eq!(thief.approve(stolen).await.status, 200);
    sign_now(&svc).await;

    let report = monitor
        .poll(&account, unix_now() + UNCONFIRMED_GRACE_SECS)
        .await
        .unwrap();
    let found: Vec<&Finding> = report.new.iter().map(|f| &f.finding).collect();
    assert!(
        found.iter().any(|f| matches!(f, Finding::DecisionOnOtherDevice { request_id, device_id, informational: true, .. } if *request_id == theirs && *device_id == second.id)),
        "the second device's decision is reported (informational: that device was reported): {found:#?}"
    );
    assert!(
        found.iter().any(
            |f| matches!(f, Finding::DecisionNotMade { request_id, .. } if *request_id == stolen)
        ),
        "a decision signed with this device's key that it never made is reported: {found:#?}"
    );
    assert_eq!(
        found.len(),
        2,
        "Ana's own decision here is not reported: {found:#?}"
    );
    let verified_size = monitor.checkpoint_size(&account).unwrap().unwrap();
    assert_eq!(verified_size, 5);

    // A rogue operator removes entry 2 (Ana's own receipt). The running service notices and
    // refuses to sign: the monitor reports that, and keeps its checkpoint.
    rogue::remove_receipt_entry(svc.data(), 2).await;
    let refused = monitor.poll(&account, unix_now()).await.unwrap();
    assert!(
        refused
            .new
            .iter()
            .any(|f| matches!(f.finding, Finding::LogRefused { .. })),
        "the service's 60113 is reported: {refused:?}"
    );
    assert_eq!(
        monitor.checkpoint_size(&account).unwrap(),
        Some(verified_size)
    );

    // The rogue also deletes the stored checkpoints and restarts the service, which then signs
    // the rewritten log (one more request brings it back to the same size).
    let stopped = svc.stop().await;
    rogue::execute(&stopped.data, "DELETE FROM log_checkpoints;").await;
    let fresh = TestService::start_with(Options {
        reuse: Some(stopped),
        ..Options::default()
    })
    .await;
    let (more, _) = fresh.backend.request(ana, json!({"message": "More"})).await;
    assert_eq!(second.at(&fresh.base).approve(more).await.status, 200);
    assert_eq!(
        sign_now(&fresh).await,
        verified_size,
        "one removed, one appended"
    );

    // The same service at its new address (the restart gave it another port).
    let moved = Account {
        server: url::Url::parse(&fresh.base).unwrap(),
        ..account.clone()
    };
    let forked = monitor.poll(&moved, unix_now()).await.unwrap();
    let fork = forked
        .new
        .iter()
        .find(|f| matches!(f.finding, Finding::Fork { .. }))
        .unwrap_or_else(|| panic!("the rewritten log is reported as a fork: {forked:?}"));
    assert!(
        matches!(&fork.finding, Finding::Fork { size, new_size, root, new_root } if *size == verified_size && *new_size == verified_size && root != new_root),
        "{fork:?}"
    );
    assert_eq!(
        monitor.checkpoint_size(&moved).unwrap(),
        Some(verified_size),
        "the monitor keeps the checkpoint it verified, never the forked one"
    );
    let again = monitor.poll(&moved, unix_now()).await.unwrap();
    assert!(again.new.is_empty(), "the same fork is reported once");
    assert!(
        again
            .open
            .iter()
            .any(|f| matches!(f.finding, Finding::Fork { .. })),
        "and stays open until dismissed"
    );
}

/// Waits (20 s at most) for the session to announce findings, and checks the first is the
/// enrollment of `device`, a device this one does not know.
async fn new_device_found(
    events: &mut assent_device::SessionEvents,
    what: &str,
    device: uuid::Uuid,
) -> Vec<assent_device::view::FindingView> {
    let event = until(
        events,
        what,
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::LogFindings { findings } if !findings.is_empty()),
    )
    .await;
    let SessionEvent::LogFindings { findings } = event else {
        unreachable!()
    };
    assert!(
        matches!(&findings[0].finding, Finding::UnknownDevice { device_id, .. } if *device_id == device),
        "the first finding is the unknown device: {findings:?}"
    );
    findings
}

#[tokio::test]
async fn a_session_announces_a_new_device_and_remembers_its_dismissal() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start().await;
    let keychain = test_keychain();
    let config = SessionConfig {
        log_poll_interval: Duration::from_secs(1),
        ..SessionConfig::default()
    };
    let (session, mut events) = open_session(dir.path(), keychain.clone(), fast_streams(), config);
    let ana = svc.backend.create_user("ana@example.com").await;
    let account = enroll_laptop(&session, &link(&svc, ana).await).await;

    let second = svc.enroll(ana).await;
    sign_now(&svc).await;
    session.check_log_now(account.id);
    let findings = new_device_found(&mut events, "a log finding", second.id).await;
    assert_eq!(findings[0].app_name, "Acme Bank");

    let open = session
        .dismiss_finding(account.id, &findings[0].id)
        .unwrap();
    assert!(open.is_empty(), "'I know this device' dismisses it");
    session.shutdown();
    drop(session);

    // A new session (the app restarted) does not show it again.
    let (session, _events) = open_session(
        dir.path(),
        keychain,
        fast_streams(),
        SessionConfig::default(),
    );
    assert!(
        session.log_findings().unwrap().is_empty(),
        "a dismissal is stored"
    );
}

/// A TCP forwarder to `upstream` that counts the approval-log checkpoint calls passing through
/// it; everything else (the other calls, the push stream) passes untouched.
async fn counting_forwarder(
    upstream: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = from_client.read(&mut buf).await {
                        let needle = b"GET /log/v1/checkpoint";
                        let calls = buf[..n]
                            .windows(needle.len())
                            .filter(|w| w == needle)
                            .count();
                        counted.fetch_add(calls, Ordering::SeqCst);
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown().await;
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                    let _ = to_client.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (addr, count)
}

#[tokio::test]
async fn a_session_checks_the_log_when_its_service_says_it_changed_not_on_a_timer() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start_with(Options {
        configure: Some(Box::new(|c| {
            c.heartbeat_interval = Duration::from_millis(300);
        })),
        ..Options::default()
    })
    .await;
    // The session reaches the service through a forwarder that counts its log checks.
    let upstream: std::net::SocketAddr = assent_testkit::authority(&svc.base).parse().unwrap();
    let (forwarder, checks) = counting_forwarder(upstream).await;
    let config = SessionConfig {
        log_poll_interval: Duration::from_secs(1),
        log_backstop_interval: Duration::from_secs(3600),
        ..SessionConfig::default()
    };
    let (session, mut events) = open_session(dir.path(), test_keychain(), fast_streams(), config);
    let ana = svc.backend.create_user("ana@example.com").await;
    let through_forwarder = link(&svc, ana).await.replace(
        &format!("127.0.0.1%3A{}", upstream.port()),
        &format!("127.0.0.1%3A{}", forwarder.port()),
    );
    enroll_laptop(&session, &through_forwarder).await;
    sign_now(&svc).await;
    // Heartbeats announce the log; the poll already waiting runs once more at most.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled = checks.load(Ordering::SeqCst);
    assert!(settled >= 1, "the session checked its log at start");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        checks.load(Ordering::SeqCst),
        settled,
        "a service announcing an unchanged log is not checked on the 1 s timer"
    );

    let second = svc.enroll(ana).await;
    sign_now(&svc).await;
    new_device_found(
        &mut events,
        "a log finding, prompted by the stream",
        second.id,
    )
    .await;
    assert!(
        checks.load(Ordering::SeqCst) > settled,
        "the finding came from a check the announcement prompted"
    );
}
