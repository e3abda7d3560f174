//! The device session against a real service on loopback and the real keychain: requests shown
//! and decided, revocation, the heartbeat deadline through a frozen connection, logo retries and
//! the settings file.

use std::sync::Arc;
use std::time::Duration;

use assent_device::view::{LinkState, SessionEvent, Settings};
use assent_device::{
    Authenticator, DeviceSession, ErrorKind, Keychain, SecretStore as _, SessionConfig,
    SessionEvents,
};
use assent_protocol::decision::DenyReason;
use assent_protocol::request::RequestStatus;

use crate::support::{TestService, fast_streams, short_heartbeat, test_keychain};

fn open_session(
    dir: &std::path::Path,
    keychain: Arc<Keychain>,
    streams: assent_device::StreamConfig,
    config: SessionConfig,
) -> (DeviceSession, SessionEvents) {
    let auth = Authenticator::open_with(dir.join("device"), keychain, streams).unwrap();
    DeviceSession::open(auth, config).unwrap()
}

/// Reads events until one matches `want` (failing after `within`); returns it.
async fn until(
    events: &mut SessionEvents,
    what: &str,
    within: Duration,
    want: impl Fn(&SessionEvent) -> bool,
) -> SessionEvent {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(event)) if want(&event) => return event,
            Ok(Some(event)) => seen.push(event),
            Ok(None) => panic!("the session ended while waiting for {what}; saw {seen:#?}"),
            Err(_) => panic!("no event for {what} within {within:?}; saw {seen:#?}"),
        }
    }
}

fn link_is(event: &SessionEvent, wanted: fn(&LinkState) -> bool) -> bool {
    matches!(event, SessionEvent::Connection { connection } if wanted(&connection.state))
}

#[tokio::test]
async fn requests_are_verified_shown_and_decided_through_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let (session, mut events) = open_session(
        dir.path(),
        test_keychain(),
        fast_streams(),
        SessionConfig::default(),
    );
    session.start().await.unwrap();
    let user = svc.user("ana@example.com").await;
    let link = svc.link(user, &svc.base).await.render();
    let account = session
        .enroll(&link, None, "laptop", "linux")
        .await
        .expect("enrollment through the session");
    assert_eq!(account.app.name, "Acme Bank");
    until(
        &mut events,
        "the account list",
        Duration::from_secs(10),
        |e| matches!(e, SessionEvent::Accounts { accounts } if accounts.len() == 1),
    )
    .await;
    until(&mut events, "connected", Duration::from_secs(20), |e| {
        link_is(e, |s| *s == LinkState::Connected)
    })
    .await;

    let first = svc.request(user, "Sign in?").await;
    let arrived = until(&mut events, "the arrival", Duration::from_secs(20), |e| {
        matches!(e, SessionEvent::Arrived { .. })
    })
    .await;
    let SessionEvent::Arrived { request } = arrived else {
        unreachable!()
    };
    assert_eq!((request.id, request.message.as_str()), (first, "Sign in?"));
    until(
        &mut events,
        "the pending list",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Pending { requests } if requests.len() == 1),
    )
    .await;
    assert_eq!(session.pending().len(), 1);

    let decision = session.approve(first, None).await.unwrap();
    assert_eq!(decision.status, RequestStatus::Approved);
    until(&mut events, "the decision", Duration::from_secs(5), |e| {
        matches!(e, SessionEvent::Resolved { id, decided_here: true, status: Some(RequestStatus::Approved) } if *id == first)
    })
    .await;
    assert!(
        session.pending().is_empty(),
        "a decided request leaves the list"
    );
    assert_eq!(svc.status(first).await, "approved");
    assert_eq!(
        session.approve(first, None).await.unwrap_err().kind(),
        ErrorKind::RequestNotFound,
        "a request no longer shown cannot be decided"
    );

    let second = svc.request(user, "Wire?").await;
    until(
        &mut events,
        "the second arrival",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { request } if request.id == second),
    )
    .await;
    session.deny(second, DenyReason::NotMe).await.unwrap();
    assert_eq!(svc.status(second).await, "denied");
    let history = session.history().unwrap();
    assert_eq!(
        history.iter().map(|h| h.request_id).collect::<Vec<_>>(),
        vec![second, first],
        "history, newest first"
    );
    assert_eq!(history[0].reason, Some(DenyReason::NotMe));
}

#[tokio::test]
async fn a_revocation_drops_the_requests_deletes_the_key_and_goes_offline() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let keychain = test_keychain();
    let (session, mut events) = open_session(
        dir.path(),
        keychain.clone(),
        fast_streams(),
        SessionConfig::default(),
    );
    let (user, account) = svc
        .enrolled(session.authenticator(), "rev@example.com")
        .await;
    session.start().await.unwrap();
    let id = svc.request(user, "cancel me").await;
    until(&mut events, "the arrival", Duration::from_secs(20), |e| {
        matches!(e, SessionEvent::Arrived { .. })
    })
    .await;
    svc.post(
        &format!("/onetouch/json/approval_requests/{id}/cancel"),
        serde_json::json!({}),
    )
    .await;
    until(
        &mut events,
        "the cancellation",
        Duration::from_secs(20),
        |e| {
            matches!(
                e,
                SessionEvent::Resolved {
                    status: Some(RequestStatus::Cancelled),
                    decided_here: false,
                    ..
                }
            )
        },
    )
    .await;

    let waiting = svc.request(user, "still waiting").await;
    until(
        &mut events,
        "the second arrival",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { request } if request.id == waiting),
    )
    .await;
    svc.revoke(account.device_id).await;
    until(&mut events, "offline", Duration::from_secs(20), |e| {
        link_is(e, |s| *s == LinkState::Offline)
    })
    .await;
    until(
        &mut events,
        "the waiting request dropped",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Resolved { id, status: None, .. } if *id == waiting),
    )
    .await;
    until(
        &mut events,
        "the revocation notice",
        Duration::from_secs(5),
        |e| {
            matches!(
                e,
                SessionEvent::Notice {
                    code: ErrorKind::Revoked,
                    ..
                }
            )
        },
    )
    .await;
    until(
        &mut events,
        "the account shown revoked",
        Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Accounts { accounts } if accounts.iter().all(|a| a.revoked)),
    )
    .await;
    assert!(session.pending().is_empty());
    assert!(
        keychain.load(account.id).unwrap().is_none(),
        "revocation deletes the key"
    );
    assert!(
        session
            .authenticator()
            .account(account.id)
            .unwrap()
            .revoked_at
            .is_some()
    );
}

#[tokio::test]
async fn a_stream_that_stops_answering_is_reconnecting_within_the_heartbeat_window() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let proxy = assent_testkit::process::FreezingProxy::start(svc.addr);
    let window = Duration::from_secs(3);
    let (session, mut events) = open_session(
        dir.path(),
        test_keychain(),
        short_heartbeat(window),
        SessionConfig::default(),
    );
    let user = svc.user("frozen@example.com").await;
    session
        .enroll(
            &svc.link(user, &proxy.url).await.render(),
            None,
            "laptop",
            "linux",
        )
        .await
        .unwrap();
    until(&mut events, "connected", Duration::from_secs(20), |e| {
        link_is(e, |s| *s == LinkState::Connected)
    })
    .await;
    // Past a few pings: the pongs keep it connected while the proxy passes bytes.
    tokio::time::sleep(window * 2).await;
    assert!(
        session
            .connections()
            .iter()
            .all(|c| c.state == LinkState::Connected),
        "answered pings keep the link connected: {:?}",
        session.connections()
    );

    proxy.freeze();
    let frozen_at = now_ms();
    // Nothing closes the connection: only the client's deadline can notice. Allow the window
    // plus a second of scheduling slack, far less than the protocol's 60 s default.
    let event = until(
        &mut events,
        "reconnecting after the freeze",
        window + Duration::from_secs(2),
        |e| link_is(e, |s| matches!(s, LinkState::Reconnecting { .. })),
    )
    .await;
    let SessionEvent::Connection { connection } = event else {
        unreachable!()
    };
    let last_contact = connection
        .last_contact_at_ms
        .expect("the last contact is known");
    assert!(
        last_contact <= frozen_at + 200,
        "the last contact ({last_contact}) is from before the freeze ({frozen_at})"
    );
    assert!(
        matches!(connection.state, LinkState::Reconnecting { next_try_at_ms: Some(at), .. } if at >= frozen_at),
        "the next try time is given: {connection:?}"
    );

    proxy.thaw();
    until(
        &mut events,
        "connected again",
        Duration::from_secs(30),
        |e| link_is(e, |s| *s == LinkState::Connected),
    )
    .await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn a_logo_that_failed_is_fetched_again_after_the_retry_delay() {
    let dir = tempfile::tempdir().unwrap();
    let logos = crate::logo::server().await;
    let svc = TestService::start_with_logo(dir.path(), &format!("{logos}/flaky.png")).await;
    let retry = Duration::from_millis(500);
    let (session, _events) = open_session(
        dir.path(),
        test_keychain(),
        fast_streams(),
        SessionConfig {
            logo_retry_after: retry,
            ..SessionConfig::default()
        },
    );
    svc.enrolled(session.authenticator(), "logo@example.com")
        .await;
    let hits = || crate::logo::FLAKY_HITS.load(std::sync::atomic::Ordering::SeqCst);
    let accounts = session.accounts().await.unwrap();
    assert_eq!(
        accounts[0].app.logo, None,
        "the first fetch failed: placeholder"
    );
    assert_eq!(hits(), 1);
    let accounts = session.accounts().await.unwrap();
    assert_eq!(accounts[0].app.logo, None);
    assert_eq!(hits(), 1, "no refetch before the retry delay");
    tokio::time::sleep(retry + Duration::from_millis(100)).await;
    let accounts = session.accounts().await.unwrap();
    assert!(
        accounts[0]
            .app
            .logo
            .as_deref()
            .is_some_and(|l| l.starts_with("data:image/png;base64,")),
        "fetched again after the delay: {:?}",
        accounts[0].app.logo
    );
    assert_eq!(hits(), 2);
    session.accounts().await.unwrap();
    assert_eq!(hits(), 2, "a fetched logo is served from the cache");
}

#[tokio::test]
async fn settings_persist_and_an_unreadable_file_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("device");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("settings.json"), b"{not json").unwrap();
    let keychain = Arc::new(Keychain::new("assent-test-unused"));
    let (session, mut events) = open_session(
        dir.path(),
        keychain.clone(),
        fast_streams(),
        SessionConfig::default(),
    );
    match events.next().await {
        Some(SessionEvent::Notice { code, message }) => {
            assert_eq!(code, ErrorKind::StorageError);
            assert!(message.contains("settings.json"), "{message}");
        }
        other => panic!("the first event should be a storage notice, not {other:?}"),
    }
    assert_eq!(session.settings(), Settings::default());
    assert_eq!(
        std::fs::read(data.join("settings.json")).unwrap(),
        b"{not json",
        "an unreadable file is not overwritten until a setting changes"
    );
    let paused = Settings {
        notifications_paused: true,
        ..Settings::default()
    };
    assert_eq!(session.set_settings(paused).unwrap(), paused);
    assert!(matches!(
        events.next().await,
        Some(SessionEvent::Settings { settings }) if settings == paused
    ));
    drop(session);
    let (reopened, _) = open_session(
        dir.path(),
        keychain,
        fast_streams(),
        SessionConfig::default(),
    );
    assert_eq!(reopened.settings(), paused, "settings survive a restart");
}
