//! The device session against a real service on loopback and the real keychain: requests shown
//! and decided, revocation, the heartbeat deadline through a frozen connection, logo retries and
//! the settings file.

use std::sync::Arc;
use std::time::Duration;

use assent_device::view::{
    ApproverState, FactsView, LinkState, MatchingView, NetworkFact, RequestView, SessionEvent,
    Settings,
};
use assent_device::{Answer, ErrorKind, InsecureServer, Keychain, SecretStore as _, SessionConfig};
use assent_protocol::decision::{DenyReason, Outcome};
use assent_protocol::request::{PersonName, RequestKind, RequestStatus};
use assent_testkit::HostileService;

use crate::support::{
    TestService, enroll_laptop, fast_streams, hostile_session, link_is, open_session,
    short_heartbeat, test_keychain, until, until_notice,
};

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
        .enroll(&link, None, InsecureServer::Refuse, "laptop", "linux")
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
    let SessionEvent::Arrived { request, alert } = arrived else {
        unreachable!()
    };
    assert_eq!((request.id, request.message.as_str()), (first, "Sign in?"));
    assert!(alert, "a first request alerts the person");
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
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == second),
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
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == waiting),
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
    until_notice(
        &mut events,
        "the revocation notice",
        Duration::from_secs(5),
        ErrorKind::Revoked,
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
    enroll_laptop(&session, &svc.link(user, &proxy.url).await.render()).await;
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

#[tokio::test]
async fn a_flood_of_requests_is_bounded_listed_in_batches_and_alerts_a_few() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let (session, mut events, _) =
        hostile_session(dir.path(), &hostile, SessionConfig::default()).await;
    let flood: Vec<uuid::Uuid> = (0..1500).map(|_| uuid::Uuid::new_v4()).collect();
    hostile.send_frame(&serde_json::json!({"type": "pending", "ids": flood}));
    let (mut arrivals, mut alerts, mut lists, mut listed_views) = (0, 0, 0, 0);
    loop {
        let event = until(&mut events, "the flood", Duration::from_secs(60), |_| true).await;
        match event {
            SessionEvent::Arrived { alert, .. } => {
                arrivals += 1;
                alerts += usize::from(alert);
            }
            SessionEvent::Pending { requests } => {
                lists += 1;
                listed_views += requests.len();
                if requests.len() == assent_device::MAX_PENDING_PER_ACCOUNT {
                    break;
                }
            }
            _ => {}
        }
    }
    assert_eq!(
        arrivals,
        assent_device::MAX_PENDING_PER_ACCOUNT,
        "of 1,500 requests announced, one account shows at most {}",
        assent_device::MAX_PENDING_PER_ACCOUNT
    );
    assert_eq!(
        alerts,
        SessionConfig::default().alerts_per_minute,
        "only a few arrivals a minute raise the window and notify"
    );
    assert!(
        lists <= 1 + assent_device::MAX_PENDING_PER_ACCOUNT / 10,
        "the list is announced in batches ({lists} lists), not once per request"
    );
    assert!(
        listed_views < 300,
        "{listed_views} request views were sent in lists: nowhere near one whole list per request (1,275)"
    );
    until_notice(
        &mut events,
        "the backlog notice",
        Duration::from_secs(5),
        ErrorKind::TooManyRequests,
    )
    .await;
    let fetched = hostile
        .hits()
        .iter()
        .filter(|h| h.starts_with("GET /device/v1/requests/"))
        .count();
    assert_eq!(
        fetched,
        assent_device::MAX_PENDING_PER_ACCOUNT,
        "only the requests shown were fetched"
    );
    // As one is answered elsewhere, the next waiting one is shown.
    let first = session.pending()[0].id;
    hostile.send_frame(&serde_json::json!({"type": "resolved", "id": first, "status": "approved"}));
    until(
        &mut events,
        "the next waiting request",
        Duration::from_secs(10),
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == flood[50]),
    )
    .await;
    assert_eq!(
        session.pending().len(),
        assent_device::MAX_PENDING_PER_ACCOUNT
    );
}

#[tokio::test]
async fn relying_party_text_is_stripped_and_a_bad_accent_colour_dropped() {
    use assent_protocol::request::{AppBranding, DetailField, RequesterContext};
    use assent_testkit::HostileService;
    let dir = tempfile::tempdir().unwrap();
    let branding = AppBranding {
        name: "Acme\u{202e}knaB\u{1b}[2J".into(),
        accent_color: Some("#c8102e; background: url(https://evil.example/t)".into()),
        ..HostileService::branding(None)
    };
    let hostile = HostileService::start(branding.clone()).await;
    let (session, mut events, _) =
        hostile_session(dir.path(), &hostile, SessionConfig::default()).await;
    let id = uuid::Uuid::new_v4();
    let mut details = hostile.details(id);
    details.message = "Pay \u{202e}1 000 €\u{202c}\u{2028}now\u{7}?".into();
    details.details = vec![DetailField {
        label: "To\u{2066}".into(),
        value: "Evil\u{0}Corp\u{85}".into(),
    }];
    details.requester = Some(RequesterContext {
        ip: Some("203.0.113.7\u{200f}".into()),
        location: Some("Lisbon\u{2029}Portugal".into()),
        user_agent: Some("\u{1b}]0;title\u{7}Firefox".into()),
    });
    hostile.script.requests.lock().unwrap().insert(id, details);
    hostile.send_frame(&serde_json::json!({"type": "request", "id": id}));
    let SessionEvent::Arrived { request, .. } =
        until(&mut events, "the request", Duration::from_secs(10), |e| {
            matches!(e, SessionEvent::Arrived { .. })
        })
        .await
    else {
        unreachable!()
    };
    assert_eq!(request.app.name, "AcmeknaB[2J");
    assert_eq!(
        request.app.accent_color, None,
        "a colour that is not #rrggbb never reaches the UI"
    );
    assert_eq!(request.message, "Pay 1 000 €now?");
    assert_eq!(
        (
            request.details[0].label.as_str(),
            request.details[0].value.as_str()
        ),
        ("To", "EvilCorp")
    );
    let requester = request.requester.unwrap();
    assert_eq!(
        (
            requester.ip.as_deref(),
            requester.location.as_deref(),
            requester.user_agent.as_deref()
        ),
        (
            Some("203.0.113.7"),
            Some("LisbonPortugal"),
            Some("]0;titleFirefox")
        )
    );
    let accounts = session.accounts().await.unwrap();
    assert_eq!(accounts[0].app.name, "AcmeknaB[2J");
    assert_eq!(accounts[0].app.accent_color, None);
}

#[tokio::test]
async fn links_from_outside_are_read_by_rust_and_refused_when_they_read_two_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (session, _events) = open_session(
        dir.path(),
        test_keychain(),
        fast_streams(),
        SessionConfig::default(),
    );
    let token = "abcdefghijklmnopqrstuvwxyz012345";
    let good = format!("assent://enroll?server=https%3A%2F%2Fauth.acme.example&token={token}");
    let offer = session.offer(&good).unwrap();
    assert_eq!(
        (offer.host.as_str(), offer.server.as_str(), offer.insecure),
        ("auth.acme.example", "https://auth.acme.example/", false)
    );
    let insecure = session
        .offer(&format!(
            "assent://enroll?server=http%3A%2F%2Fauth.acme.example%3A8080&token={token}"
        ))
        .unwrap();
    assert_eq!(
        (insecure.host.as_str(), insecure.insecure),
        ("auth.acme.example:8080", true)
    );
    for bad in [
        format!(
            "assent://enroll?server=https%3A%2F%2Flong.lookalike.name%40127.0.0.1&token={token}"
        ),
        format!(
            "assent://enroll?server=https%3A%2F%2Fauth.acme.example&token={token}&server=https%3A%2F%2Fevil.example"
        ),
        format!(
            "assent://enroll?server=https%3A%2F%2Fauth.acme.example&token={token}&then=https%3A%2F%2Fevil.example"
        ),
    ] {
        assert_eq!(
            session.offer(&bad).unwrap_err().kind(),
            ErrorKind::InvalidLink,
            "{bad} is refused"
        );
        assert_eq!(
            session
                .enroll(&bad, None, InsecureServer::Accept, "laptop", "linux")
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidLink,
            "{bad} cannot be enrolled either"
        );
    }
    assert!(
        session.authenticator().accounts().unwrap().is_empty(),
        "nothing was written"
    );
}

#[tokio::test]
async fn a_plain_http_service_off_this_machine_needs_the_persons_consent() {
    use assent_testkit::HostileService;
    let dir = tempfile::tempdir().unwrap();
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let keychain = test_keychain();
    let (session, _events) = open_session(
        dir.path(),
        keychain.clone(),
        fast_streams(),
        SessionConfig::default(),
    );
    // 0.0.0.0 is not a loopback address by its form (a link may not count on it being this
    // machine), though connecting to it reaches this one.
    let port = hostile.url.rsplit(':').next().unwrap();
    let link = format!(
        "assent://enroll?server=http%3A%2F%2F0.0.0.0%3A{port}&token=hostile-token-0123456789"
    );
    let refused = session
        .enroll(&link, None, InsecureServer::Refuse, "laptop", "linux")
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InsecureServer, "{refused}");
    assert!(
        hostile.devices().is_empty(),
        "nothing was sent to the service before the person agreed"
    );
    assert!(session.authenticator().accounts().unwrap().is_empty());
    let account = session
        .enroll(&link, None, InsecureServer::Accept, "laptop", "linux")
        .await
        .expect("with the person's consent it enrolls");
    assert_eq!(hostile.devices().len(), 1);
    assert!(keychain.load(account.id).unwrap().is_some());
}

#[tokio::test]
async fn typed_codes_facts_and_the_freeze_reach_the_person_through_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let (session, mut events, user, _) =
        crate::support::enrolled_session(dir.path(), &svc, "typed@example.com").await;
    until(&mut events, "connected", Duration::from_secs(20), |e| {
        link_is(e, |s| *s == LinkState::Connected)
    })
    .await;

    // A typed-code request from this computer's own address (loopback).
    let created = svc
        .post(
            &format!("/onetouch/json/users/{user}/approval_requests"),
            serde_json::json!({"message": "Sign in?", "number_matching": true,
                               "requester": {"ip": "127.0.0.1"}}),
        )
        .await;
    let id: uuid::Uuid = created["approval_request"]["uuid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let code = created["approval_request"]["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let arrived = until(
        &mut events,
        "the arrival",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == id),
    )
    .await;
    let SessionEvent::Arrived { request, .. } = arrived else {
        unreachable!()
    };
    assert_eq!(
        request.number_matching,
        Some(MatchingView::Typed { digits: 4 }),
        "the person is asked for a 4-digit code"
    );
    assert_eq!(
        request.facts,
        Some(FactsView {
            requests_last_hour: 1,
            network: NetworkFact::Same
        }),
        "the service saw this device connect from the requester's address"
    );
    let shown = serde_json::to_string(&*request).unwrap();
    assert!(
        !assent_testkit::shows_code(&shown, &code),
        "the view never carries the code: {shown}"
    );

    let malformed = session
        .approve(id, Some(Answer::Code("12".into())))
        .await
        .unwrap_err();
    assert_eq!(malformed.kind(), ErrorKind::InvalidNumber);
    let refused = session
        .approve(id, Some(Answer::Code(assent_testkit::another_code(&code))))
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::WrongCode);
    assert_eq!(
        session.pending().iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![id],
        "after a wrong code with tries left the request is still shown"
    );
    let approved = session.approve(id, Some(Answer::Code(code))).await.unwrap();
    assert_eq!(approved.status, RequestStatus::Approved);
    assert_eq!(approved.frozen_until, None);
    assert_eq!(svc.status(id).await, "approved");

    // "This wasn't me": the decision carries the freeze, and the service refuses new requests.
    let suspicious = svc.request(user, "Sign in from Minsk?").await;
    until(
        &mut events,
        "the second arrival",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == suspicious),
    )
    .await;
    let before = assent_server::clock::unix_now();
    let denied = session.deny(suspicious, DenyReason::NotMe).await.unwrap();
    assert_eq!(denied.status, RequestStatus::Denied);
    let until_at = denied
        .frozen_until
        .expect("the service says until when it refuses new requests");
    assert!(
        (before + 1190..=before + 1210).contains(&until_at),
        "frozen for the default 20 minutes: {until_at} vs now {before}"
    );
    let response = reqwest::Client::new()
        .post(format!(
            "{}/onetouch/json/users/{user}/approval_requests",
            svc.base
        ))
        .header("X-Authy-API-Key", &svc.api_key)
        .json(&serde_json::json!({"message": "Again?"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["error_code"], "60117",
        "a frozen person gets no request: {body}"
    );
}

#[tokio::test]
async fn a_preview_shows_the_service_the_account_and_a_phrase_of_its_own_and_enrolls_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let (session, _events) = open_session(
        dir.path(),
        test_keychain(),
        fast_streams(),
        SessionConfig::default(),
    );
    let user = svc.user("preview@example.com").await;
    let link = svc.link(user, &svc.base).await;
    let preview = session
        .preview_enrollment(&link.render(), None, InsecureServer::Refuse)
        .await
        .expect("a live link previews");
    assert_eq!(preview.app.name, "Acme Bank");
    assert_eq!(preview.account_name.as_deref(), Some("preview@example.com"));
    assert_eq!(preview.host, link.host());
    assert_eq!(preview.phrase, link.phrase(), "the phrase is the link's");
    assert!(
        !preview.insecure && !preview.bare_ip,
        "loopback http is the demo: no warning"
    );
    assert!(
        session.accounts().await.unwrap().is_empty(),
        "a preview enrolls nothing"
    );
    // A pasted token with the service address previews the same, and hands back a whole link.
    let by_token = session
        .preview_enrollment(link.token.expose(), Some(&svc.base), InsecureServer::Refuse)
        .await
        .unwrap();
    assert_eq!(by_token.phrase, preview.phrase);
    session
        .enroll(
            &by_token.link,
            None,
            InsecureServer::Refuse,
            "laptop",
            "linux",
        )
        .await
        .expect("the previewed link still enrolls");
    let used = session
        .preview_enrollment(&preview.link, None, InsecureServer::Refuse)
        .await
        .unwrap_err();
    assert_eq!(used.kind(), ErrorKind::TokenInvalid, "{used}");
    let long = session
        .preview_enrollment(
            &format!("{}{}", preview.link, "x".repeat(3000)),
            None,
            InsecureServer::Refuse,
        )
        .await
        .unwrap_err();
    assert_eq!(long.kind(), ErrorKind::InvalidLink, "{long}");
    let insecure = session
        .preview_enrollment(
            "assent://enroll?server=http%3A%2F%2F192.0.2.1%3A9&token=abcdefghijklmnopqrstu",
            None,
            InsecureServer::Refuse,
        )
        .await
        .unwrap_err();
    assert_eq!(
        insecure.kind(),
        ErrorKind::InsecureServer,
        "plain http off this machine is refused before the token is sent: {insecure}"
    );
}

#[tokio::test]
async fn a_hostile_preview_is_cleaned_its_bad_logo_dropped_and_its_phrase_ignored() {
    use assent_testkit::{Answer as Planned, HostileService, LogoAnswer, LogoServer};
    let dir = tempfile::tempdir().unwrap();
    let logos = LogoServer::start(vec![(
        "/bomb.png",
        LogoAnswer::Image("image/png", assent_testkit::dimension_bomb(20_000)),
    )])
    .await;
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let (session, _events) = open_session(
        dir.path(),
        test_keychain(),
        fast_streams(),
        SessionConfig::default(),
    );
    let link = hostile.link();
    let expected_phrase = assent_protocol::enroll::EnrollLink::parse(&link)
        .unwrap()
        .phrase();
    let long_name = format!("Acme\u{202e}Bank{}", "e".repeat(500));
    *hostile.script.preview.lock().unwrap() = Planned::Body(serde_json::json!({
        "app": {
            "id": "a1".repeat(12),
            "name": long_name,
            "accent_color": "red; background: url(x)",
            "logos": [{"res": "default", "url": format!("{}/bomb.png", logos.base)}],
        },
        "account_name": format!("ana\u{1b}[2J@example.com{}", " ".repeat(40)),
        "phrase": "acorn acorn acorn acorn acorn",
        "enroll_phrase": "acorn acorn acorn acorn acorn",
    }));
    let preview = session
        .preview_enrollment(&link, None, InsecureServer::Refuse)
        .await
        .unwrap();
    assert_eq!(
        preview.phrase, expected_phrase,
        "the phrase is computed from the link, never taken from the service"
    );
    assert!(
        preview.app.name.chars().count() <= assent_device::MAX_PREVIEW_APP_NAME_CHARS + 1
            && preview.app.name.ends_with('…')
            && !preview.app.name.contains('\u{202e}'),
        "an over-long, bidi-laden name is cut and cleaned: {:?}",
        preview.app.name
    );
    assert_eq!(
        preview.account_name.as_deref(),
        Some("ana[2J@example.com"),
        "control characters and trailing spaces are dropped"
    );
    assert_eq!(
        preview.app.accent_color, None,
        "a colour that is not #rrggbb is dropped"
    );
    assert_eq!(preview.app.logo, None, "a dimension bomb is no logo");

    for (what, planned, kind) in [
        (
            "an answer without an app name",
            Planned::Body(serde_json::json!({"app": {"id": "x", "name": " \u{202e} "}})),
            ErrorKind::ProtocolError,
        ),
        (
            "an answer of 10 MB",
            Planned::Huge {
                bytes: 10 << 20,
                declare_length: false,
            },
            ErrorKind::ProtocolError,
        ),
        (
            "a redirect",
            Planned::Redirect("http://127.0.0.1:9/device/v1/enroll/preview".into()),
            ErrorKind::ProtocolError,
        ),
    ] {
        *hostile.script.preview.lock().unwrap() = planned;
        let refused = session
            .preview_enrollment(&link, None, InsecureServer::Refuse)
            .await
            .unwrap_err();
        assert_eq!(refused.kind(), kind, "{what} is refused: {refused}");
    }
    assert!(hostile.devices().is_empty(), "nothing was enrolled");
    assert!(session.accounts().await.unwrap().is_empty());
}

#[tokio::test]
async fn retry_now_cuts_a_long_back_off_short() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    // Back-off of at least 30 s: without "Retry now" the stream would not be back for that long.
    let patient = assent_device::StreamConfig {
        initial_backoff: Duration::from_secs(60),
        max_backoff: Duration::from_secs(60),
        ..assent_device::StreamConfig::default()
    };
    let (session, mut events) = open_session(
        dir.path(),
        test_keychain(),
        patient,
        SessionConfig::default(),
    );
    let user = svc.user("retry@example.com").await;
    let link = svc.link(user, &svc.base).await.render();
    session
        .enroll(&link, None, InsecureServer::Refuse, "laptop", "linux")
        .await
        .unwrap();
    until(&mut events, "connected", Duration::from_secs(20), |e| {
        link_is(e, |s| *s == LinkState::Connected)
    })
    .await;
    let (addr, db, api_key) = (svc.addr, svc.db.clone(), svc.api_key.clone());
    svc.stop().await;
    until(
        &mut events,
        "waiting to reconnect",
        Duration::from_secs(20),
        |e| {
            link_is(e, |s| {
                matches!(
                    s,
                    LinkState::Reconnecting {
                        next_try_at_ms: Some(_),
                        ..
                    }
                )
            })
        },
    )
    .await;
    let mut svc = crate::support::TestService::start_on(addr, &db).await;
    svc.api_key = api_key;
    session.reconnect_now(Some(uuid::Uuid::new_v4()));
    session.reconnect_now(None);
    until(
        &mut events,
        "connected again well before the 30 s back-off ends",
        Duration::from_secs(20),
        |e| link_is(e, |s| *s == LinkState::Connected),
    )
    .await;
    let id = svc.request(user, "after the retry").await;
    until(
        &mut events,
        "the request",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == id),
    )
    .await;
}

/// The pending view of `id` in a `pending` event, when the event is one and lists it.
fn listed(event: &SessionEvent, id: uuid::Uuid) -> Option<&RequestView> {
    match event {
        SessionEvent::Pending { requests } => requests.iter().find(|r| r.id == id),
        _ => None,
    }
}

#[tokio::test]
async fn an_approver_who_answered_waits_on_others_and_everyone_sees_each_answer() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let (ana_session, mut ana_events, ana, _) =
        crate::support::enrolled_session(&dir.path().join("ana"), &svc, "ana@acme.example").await;
    let (bo_session, mut bo_events, bo, bo_account) =
        crate::support::enrolled_session(&dir.path().join("bo"), &svc, "bo@acme.example").await;
    assert_eq!(bo_account.account_name.as_deref(), Some("bo@acme.example"));
    let host = url::Url::parse(&svc.base).unwrap();
    let host = format!("{}:{}", host.host_str().unwrap(), host.port().unwrap());
    assert_eq!(bo_account.host, host);
    for events in [&mut ana_events, &mut bo_events] {
        until(events, "connected", Duration::from_secs(20), |e| {
            link_is(e, |s| *s == LinkState::Connected)
        })
        .await;
    }

    let id = svc
        .request_with(
            ana,
            serde_json::json!({"message": "Wire $12,500 to ACME Corp?", "approvers": [bo],
                               "quorum": 2, "kind": "action", "action_label": "Release $12,500"}),
        )
        .await;
    let arrived =
        |e: &SessionEvent| matches!(e, SessionEvent::Arrived { request, .. } if request.id == id);
    let SessionEvent::Arrived { request, .. } = until(
        &mut bo_events,
        "bo's arrival",
        Duration::from_secs(20),
        arrived,
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(request.kind, Some(RequestKind::Action));
    assert_eq!(request.action_label.as_deref(), Some("Release $12,500"));
    assert_eq!(request.account_name.as_deref(), Some("bo@acme.example"));
    assert_eq!(request.server_host, host);
    assert!(!request.is_initiator, "bo did not start it");
    assert_eq!(request.my_answer, None);
    let states = |r: &RequestView| -> Vec<(String, ApproverState, bool, bool)> {
        r.approver_states
            .iter()
            .map(|a| (a.name.clone(), a.state, a.is_me, a.is_initiator))
            .collect()
    };
    assert_eq!(
        states(&request),
        vec![
            (
                "ana@acme.example".into(),
                ApproverState::Waiting,
                false,
                true
            ),
            (
                "bo@acme.example".into(),
                ApproverState::Waiting,
                true,
                false
            ),
        ],
        "the initiator first, each named as the service signed"
    );
    until(
        &mut ana_events,
        "ana's arrival",
        Duration::from_secs(20),
        arrived,
    )
    .await;
    assert!(ana_session.pending()[0].is_initiator);

    let answer = ana_session.approve(id, None).await.unwrap();
    assert_eq!(answer.status, RequestStatus::Pending, "one approval of two");
    let mine = ana_session.pending();
    assert_eq!(
        mine.iter().map(|r| (r.id, r.my_answer)).collect::<Vec<_>>(),
        vec![(id, Some(Outcome::Approve))],
        "a request this person approved stays, waiting on others, with their answer"
    );
    assert_eq!(mine[0].approver_states[0].state, ApproverState::Approved);

    let updated = until(
        &mut bo_events,
        "bo's list showing ana's approval",
        Duration::from_secs(20),
        |e| listed(e, id).is_some_and(|r| r.approver_states[0].state == ApproverState::Approved),
    )
    .await;
    let view = listed(&updated, id).unwrap();
    assert_eq!(view.my_answer, None, "bo has not answered");
    assert_eq!(view.approver_states[1].state, ApproverState::Waiting);
    assert_eq!(
        bo_session.pending()[0].approver_states[0].state,
        ApproverState::Approved
    );

    assert_eq!(
        bo_session.approve(id, None).await.unwrap().status,
        RequestStatus::Approved
    );
    until(
        &mut ana_events,
        "ana told the request resolved",
        Duration::from_secs(20),
        |e| {
            matches!(e, SessionEvent::Resolved { id: r, status: Some(RequestStatus::Approved), decided_here: false } if *r == id)
        },
    )
    .await;
    assert!(
        ana_session.pending().is_empty(),
        "once resolved, the request leaves the one who waited"
    );
    assert!(bo_session.pending().is_empty());
}

#[tokio::test]
async fn a_signed_request_with_an_overlong_label_or_a_stranger_named_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let (session, mut events, _) =
        hostile_session(dir.path(), &hostile, SessionConfig::default()).await;
    let person = hostile.user_id;
    let mut bad_requests = Vec::new();
    let overlong = uuid::Uuid::new_v4();
    let mut details = hostile.details(overlong);
    details.kind = Some(RequestKind::Action);
    details.action_label = Some("Release $12,500 and $9,000 more to Mallory".into());
    bad_requests.push((overlong, details));
    let stranger = uuid::Uuid::new_v4();
    let mut details = hostile.details(stranger);
    details.people = vec![
        PersonName {
            user_id: person,
            name: "you@acme.example".into(),
        },
        PersonName {
            user_id: person + 1,
            name: "Your bank's security team".into(),
        },
    ];
    bad_requests.push((stranger, details));
    let fine = uuid::Uuid::new_v4();
    let mut details = hostile.details(fine);
    details.action_label = Some("Release $12,500".into());
    details.people = vec![PersonName {
        user_id: person,
        name: "you@acme.example".into(),
    }];
    {
        let mut requests = hostile.script.requests.lock().unwrap();
        for (id, details) in &bad_requests {
            requests.insert(*id, details.clone());
        }
        requests.insert(fine, details);
    }
    for (id, _) in &bad_requests {
        hostile.send_frame(&serde_json::json!({"type": "request", "id": id}));
        until_notice(
            &mut events,
            "the refusal",
            Duration::from_secs(20),
            ErrorKind::Spoofed,
        )
        .await;
    }
    hostile.send_frame(&serde_json::json!({"type": "request", "id": fine}));
    let SessionEvent::Arrived { request, .. } = until(
        &mut events,
        "the well-formed request",
        Duration::from_secs(20),
        |e| matches!(e, SessionEvent::Arrived { .. }),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(
        request.id, fine,
        "only the request within the rules arrives; the others were dropped"
    );
    assert_eq!(
        session.pending().iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![fine]
    );
    for (id, _) in &bad_requests {
        assert_eq!(
            session.approve(*id, None).await.unwrap_err().kind(),
            ErrorKind::RequestNotFound,
            "a dropped request cannot be approved"
        );
    }
    *hostile.script.pending.lock().unwrap() = vec![overlong, stranger, fine];
    let listed: Vec<uuid::Uuid> = session
        .authenticator()
        .pending()
        .await
        .expect("a listing is not failed by requests that break the rules")
        .iter()
        .map(|r| r.details.id)
        .collect();
    assert_eq!(listed, vec![fine], "a listing leaves them out too");
}

#[tokio::test]
async fn a_flood_of_log_frames_costs_at_most_one_log_call_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let config = SessionConfig {
        log_poll_interval: Duration::from_secs(1),
        log_backstop_interval: Duration::from_secs(3600),
        ..SessionConfig::default()
    };
    let (session, _events, _keychain) = hostile_session(dir.path(), &hostile, config).await;
    let log_calls = || {
        hostile
            .hits()
            .iter()
            .filter(|hit| hit.contains("/log/v1/"))
            .count()
    };
    let before = log_calls();
    let flood = std::time::Instant::now();
    // Every frame a new size, and some that are not sizes at all: the service sends them for
    // free, the device must not pay a check (or a disk read) for each.
    for size in 1..=2_000u64 {
        hostile.send_frame(&serde_json::json!({"type": "log", "size": size}));
        if size % 100 == 0 {
            hostile.send_frame(&serde_json::json!({"type": "log", "size": -1}));
            hostile.send_frame(&serde_json::json!({"type": "log", "size": 1e30}));
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(4).saturating_sub(flood.elapsed())).await;
    let calls = log_calls() - before;
    let seconds = flood.elapsed().as_secs();
    assert!(
        calls >= 1,
        "the announcements prompt a check (this service has no log, so each one fails)"
    );
    assert!(
        calls as u64 <= seconds + 2,
        "{calls} log calls in {seconds} s of 2,000 announcements: at most one per poll interval"
    );
    session.shutdown();
}
