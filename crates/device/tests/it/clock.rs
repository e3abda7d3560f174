//! Clock honesty (`src/clock.rs`) against a real service whose clock a test moves: the session
//! reports how far the service's clock is from this device's at each connection (even one the
//! service refuses for the skew), warns beyond one code step, stops warning once they agree, and
//! never lets the measurement change the codes.

use std::time::Duration;

use assent_device::view::SessionEvent;
use assent_server::clock::{Clock, unix_now};

use crate::support::{TestService, enrolled_session, until};

fn clock_event(event: &SessionEvent, skewed: bool) -> Option<i64> {
    match event {
        SessionEvent::Clock { clock } if clock.skewed == skewed => Some(clock.offset_secs),
        _ => None,
    }
}

#[tokio::test]
async fn a_service_clock_five_minutes_ahead_is_warned_about_until_it_agrees_again() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::adjustable();
    let svc = TestService::start_with_clock(dir.path(), clock.clone()).await;
    let (session, mut events, user, account) =
        enrolled_session(dir.path(), &svc, "clock@example.com").await;
    let agreed = until(
        &mut events,
        "a first measurement",
        Duration::from_secs(20),
        |e| clock_event(e, false).is_some(),
    )
    .await;
    let SessionEvent::Clock { clock: first } = agreed else {
        unreachable!()
    };
    assert!(
        first.offset_secs.abs() <= 2,
        "the same clock on both sides: {first:?}"
    );
    assert_eq!(first.account_id, account.id);
    assert_eq!(
        first.service,
        svc.addr.to_string(),
        "named by host and port"
    );
    assert_eq!(session.clocks(), vec![first]);

    // The service's clock jumps 5 minutes ahead; the next connection is refused for the skew
    // (60101), and its answer's Date still tells the time.
    clock.advance(300);
    let at = unix_now();
    let code_before = session.code(account.id, at).await.unwrap();
    session.shutdown();
    session.start().await.unwrap();
    let warned = until(&mut events, "the warning", Duration::from_secs(20), |e| {
        clock_event(e, true).is_some()
    })
    .await;
    let offset = clock_event(&warned, true).unwrap();
    assert!(
        (297..=303).contains(&offset),
        "the service is 300 s ahead of this computer: {offset}"
    );
    let skewed = session.clocks();
    assert!(
        skewed[0].skewed,
        "what a window opened now is told: {skewed:?}"
    );
    assert_eq!(
        session.code(account.id, at).await.unwrap(),
        code_before,
        "codes follow the time given (this computer's), never the measured offset"
    );
    let current = session.code(account.id, unix_now()).await.unwrap();
    let refused = svc
        .get(&format!("/protected/json/verify/{}/{user}", current.code))
        .await;
    assert_eq!(
        refused["error_code"], "60020",
        "as warned, the service refuses this computer's code: {refused}"
    );

    // The service's clock is right again: the warning stops at the next connection.
    clock.advance(-300);
    until(&mut events, "the all-clear", Duration::from_secs(20), |e| {
        clock_event(e, false).is_some()
    })
    .await;
    assert!(!session.clocks()[0].skewed);

    session.remove_account(account.id).await.unwrap();
    assert!(
        session.clocks().is_empty(),
        "a removed account's measurement goes with it"
    );
}
