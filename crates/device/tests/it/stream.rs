use std::collections::HashMap;
use std::time::Duration;

use assent_device::{ConnectionState, PushEvent, PushStream};

use crate::support::{TestService, authenticator, enroll_with_hostile, test_keychain};

/// Collects events (heartbeat contacts left out) until `done` says so (or fails after 30 s).
async fn collect(
    watch: &mut PushStream,
    events: &mut Vec<PushEvent>,
    done: impl Fn(&[PushEvent]) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done(events) {
        let event = tokio::time::timeout_at(deadline, watch.next())
            .await
            .expect("expected events arrive")
            .expect("stream alive");
        if !matches!(event, PushEvent::Contact { .. }) {
            events.push(event);
        }
    }
}

fn arrivals(events: &[PushEvent]) -> HashMap<uuid::Uuid, usize> {
    let mut counts = HashMap::new();
    for event in events {
        if let PushEvent::RequestArrived { id, .. } = event {
            *counts.entry(*id).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test]
async fn the_device_reconnects_by_itself_and_reports_each_pending_request_once() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let device = authenticator(dir.path(), test_keychain());
    let (user, account) = svc.enrolled(&device, "res@example.com").await;
    let before = svc.request(user, "before the outage").await;

    let mut watch = device.stream(&account).await.unwrap();
    let mut events = Vec::new();
    collect(&mut watch, &mut events, |e| {
        arrivals(e).contains_key(&before)
    })
    .await;

    // The service goes down while the device is connected.
    let (addr, db, api_key) = (svc.addr, svc.db.clone(), svc.api_key.clone());
    svc.stop().await;
    collect(&mut watch, &mut events, |e| {
        e.iter().any(|e| {
            matches!(
                e,
                PushEvent::Connection {
                    state: ConnectionState::Reconnecting { .. },
                    ..
                }
            )
        })
    })
    .await;

    // Requests are created while the device cannot reach the service: the restarted service runs
    // on the same database but elsewhere first.
    let mut elsewhere = TestService::start_on("127.0.0.1:0".parse().unwrap(), &db).await;
    elsewhere.api_key = api_key.clone();
    let during = [
        elsewhere.another_request(user, "during 1").await,
        elsewhere.another_request(user, "during 2").await,
    ];
    elsewhere.stop().await;

    // Back at its address; the device finds it by itself.
    let mut svc = TestService::start_on(addr, &db).await;
    svc.api_key = api_key;
    collect(&mut watch, &mut events, |e| {
        during.iter().all(|id| arrivals(e).contains_key(id))
    })
    .await;
    let after = svc.another_request(user, "after").await;
    collect(&mut watch, &mut events, |e| {
        arrivals(e).contains_key(&after)
    })
    .await;

    let counts = arrivals(&events);
    for id in [before, during[0], during[1], after] {
        assert_eq!(
            counts.get(&id),
            Some(&1),
            "request {id} must be reported exactly once; events: {events:?}"
        );
    }
    assert!(
        events
            .iter()
            .filter(|e| matches!(
                e,
                PushEvent::Connection {
                    state: ConnectionState::Connected,
                    ..
                }
            ))
            .count()
            >= 2,
        "connected, then reconnected"
    );
}

#[tokio::test]
async fn a_stream_pings_only_a_service_that_has_gone_silent() {
    let dir = tempfile::tempdir().unwrap();
    let hostile =
        assent_testkit::HostileService::start(assent_testkit::HostileService::branding(None)).await;
    // Wide enough that a loaded machine pausing this test between heartbeats (0.4 s apart) does
    // not look like a silent service (the device pings after half the window).
    let window = Duration::from_secs(6);
    let device = assent_device::Authenticator::open_with(
        dir.path().join("device"),
        test_keychain(),
        assent_device::StreamConfig {
            heartbeat_timeout: window,
            ..crate::support::fast_streams()
        },
    )
    .unwrap();
    let account = enroll_with_hostile(&device, &hostile).await;
    let mut watch = device.stream(&account).await.unwrap();
    let mut events = Vec::new();
    collect(&mut watch, &mut events, |e| {
        e.iter().any(|e| {
            matches!(
                e,
                PushEvent::Connection {
                    state: ConnectionState::Connected,
                    ..
                }
            )
        })
    })
    .await;

    // The service keeps a heartbeat (every 0.4 s) for well over a whole window: nothing makes
    // the device send anything of its own, and the connection stays up.
    let kept_until = tokio::time::Instant::now() + window + window / 2;
    while tokio::time::Instant::now() < kept_until {
        hostile.send_frame(&serde_json::json!({"type": "heartbeat", "ts": 1_764_086_400}));
        tokio::time::sleep(Duration::from_millis(400)).await;
        while let Some(event) = watch.try_next() {
            assert!(
                !matches!(event, PushEvent::Connection { .. }),
                "a stream hearing its heartbeat stays connected: {event:?}"
            );
        }
    }
    assert_eq!(
        hostile.stream_pings(),
        0,
        "a device never pings a service that keeps its heartbeat"
    );

    // The service goes quiet (it still answers pings, as WebSocket requires): the device pings
    // it after half a window, well before it would give up, and the pong keeps the connection.
    let quiet = tokio::time::Instant::now();
    while hostile.stream_pings() == 0 {
        assert!(
            quiet.elapsed() < window,
            "a device pings a service silent for half its window"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(window).await;
    while let Some(event) = watch.try_next() {
        assert!(
            !matches!(event, PushEvent::Connection { .. }),
            "the service answered the pings: the stream stays up ({event:?})"
        );
    }
}
