//! A device forgets a key only on a revocation notice signed by the service key it pinned, naming
//! its own device: against a hostile service (an attacker on the path, an impersonated service)
//! that sends unsigned `revoked` frames, forged or misdirected notices, and the error codes that
//! used to disarm a device (60092, 60103). The real service's revocations still work (see
//! `authenticator::a_revoked_device_deletes_its_key_on_the_next_call` and the session tests).

use std::time::Duration;

use assent_device::view::{LinkState, SessionEvent};
use assent_device::{Account, ErrorKind, SecretStore as _, SessionConfig};
use assent_protocol::revocation::RevocationNotice;
use assent_protocol::signed::Signed;
use assent_protocol::{SigningKey, Uuid};
use assent_testkit::{Answer, HostileService, StreamAnswer};
use serde_json::{Value, json};

use crate::support::{
    authenticator, enroll_laptop, enroll_with_hostile, fast_streams, hostile_session, open_session,
    test_keychain, until, until_notice,
};

/// Every forged or misdirected revocation a hostile service can send for `account`.
fn forgeries(hostile: &HostileService, account: &Account) -> Vec<(&'static str, Option<Value>)> {
    let impostor = SigningKey::from_bytes(&[9; 32]);
    let by_impostor =
        Signed::sign(&RevocationNotice::new(account.device_id, 1), &impostor).unwrap();
    let for_someone_else = hostile.notice(Uuid::new_v4());
    let mut tampered = serde_json::to_value(hostile.notice(Uuid::new_v4())).unwrap();
    tampered["payload"]["device_id"] = json!(account.device_id);
    vec![
        ("no notice at all", None),
        (
            "a notice signed by another key",
            Some(serde_json::to_value(by_impostor).unwrap()),
        ),
        (
            "a notice for another device, signed by the pinned key",
            Some(serde_json::to_value(for_someone_else).unwrap()),
        ),
        (
            "a notice edited to name this device after signing",
            Some(tampered),
        ),
        ("a notice that is not one", Some(json!({"revoked": true}))),
    ]
}

fn error_body(code: &str, notice: Option<&Value>) -> Value {
    let mut body = json!({
        "message": "This device has been revoked; enroll it again to use it.",
        "success": false,
        "errors": {"message": "This device has been revoked; enroll it again to use it."},
        "error_code": code,
    });
    if let Some(notice) = notice {
        body["revocation"] = notice.clone();
    }
    body
}

#[tokio::test]
async fn forged_revoked_frames_leave_the_key_in_the_keychain() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let (session, mut events, keychain) =
        hostile_session(dir.path(), &hostile, SessionConfig::default()).await;
    let account = session.authenticator().accounts().unwrap().remove(0);

    for (what, notice) in forgeries(&hostile, &account) {
        let mut frame = json!({"type": "revoked"});
        if let Some(notice) = notice {
            frame["notice"] = notice;
        }
        hostile.send_frame(&frame);
        // A request sent after the forgery still arrives: the stream ignored the frame and lives.
        let id = Uuid::new_v4();
        hostile.send_frame(&json!({"type": "request", "id": id}));
        until(
            &mut events,
            &format!("the request after {what}"),
            Duration::from_secs(10),
            |e| matches!(e, SessionEvent::Arrived { request, .. } if request.id == id),
        )
        .await;
        assert!(
            keychain.load(account.id).unwrap().is_some(),
            "after {what}, the key is still in the keychain"
        );
        assert!(
            session
                .authenticator()
                .account(account.id)
                .unwrap()
                .is_active(),
            "after {what}, the account is still active"
        );
    }

    // The positive control: a real notice, signed by the pinned key for this device.
    hostile.send_frame(&json!({"type": "revoked", "notice": hostile.notice(account.device_id)}));
    until_notice(
        &mut events,
        "the revocation",
        Duration::from_secs(10),
        ErrorKind::Revoked,
    )
    .await;
    assert!(
        keychain.load(account.id).unwrap().is_none(),
        "a verified notice deletes the key"
    );
    assert!(
        !session
            .authenticator()
            .account(account.id)
            .unwrap()
            .is_active(),
        "and marks the account revoked"
    );
    assert!(session.pending().is_empty(), "its requests are dropped");
}

#[tokio::test]
async fn error_codes_and_forged_notices_never_delete_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let keychain = test_keychain();
    let device = authenticator(dir.path(), keychain.clone());
    let account = enroll_with_hostile(&device, &hostile).await;
    let id = Uuid::new_v4();
    let shown = device.request(&account, id).await.unwrap();

    let mut cases: Vec<(String, Value)> = vec![
        ("60092 (unknown device)".into(), error_body("60092", None)),
        (
            "60103 (revoked) without a notice".into(),
            error_body("60103", None),
        ),
    ];
    for (what, notice) in forgeries(&hostile, &account).into_iter().skip(1) {
        cases.push((
            format!("60103 with {what}"),
            error_body("60103", notice.as_ref()),
        ));
    }
    for (what, body) in cases {
        let status = if body["error_code"] == "60092" {
            404
        } else {
            401
        };
        let refusal = Answer::Error {
            status,
            body: body.clone(),
        };
        *hostile.script.pending_answer.lock().unwrap() = refusal.clone();
        *hostile.script.decision.lock().unwrap() = refusal.clone();
        *hostile.script.details.lock().unwrap() = refusal;
        let pending = device.pending().await.unwrap_err();
        let approve = device.approve(&shown, None, 1).await.unwrap_err();
        let fetch = device.request(&account, id).await.unwrap_err();
        let standing = device.check_standing(&account).await.unwrap_err();
        for (call, error) in [
            ("pending", pending),
            ("approve", approve),
            ("request", fetch),
            ("check_standing", standing),
        ] {
            assert_eq!(
                error.kind(),
                ErrorKind::RevocationUnproven,
                "{call} answered {what}: reported as unproven, not revoked ({error})"
            );
        }
        assert!(
            keychain.load(account.id).unwrap().is_some(),
            "{what}: the key is still in the keychain"
        );
        assert!(
            device.account(account.id).unwrap().is_active(),
            "{what}: the account is still active"
        );
    }
    assert!(
        device.history().unwrap().is_empty(),
        "no refused decision reached the history"
    );

    // The positive control: the same refusal carrying the real notice.
    let real = serde_json::to_value(hostile.notice(account.device_id)).unwrap();
    *hostile.script.decision.lock().unwrap() = Answer::Error {
        status: 401,
        body: error_body("60103", Some(&real)),
    };
    let error = device.approve(&shown, None, 1).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Revoked, "{error}");
    assert!(
        keychain.load(account.id).unwrap().is_none(),
        "now the key is deleted"
    );
    assert!(!device.account(account.id).unwrap().is_active());
}

#[tokio::test]
async fn a_refused_stream_without_proof_keeps_the_key_and_says_so_once() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = HostileService::start(HostileService::branding(None)).await;
    let keychain = test_keychain();
    let (session, mut events) = open_session(
        dir.path(),
        keychain.clone(),
        fast_streams(),
        SessionConfig::default(),
    );
    let refusal = error_body("60103", None);
    *hostile.script.stream.lock().unwrap() = StreamAnswer::Refuse {
        status: 401,
        body: refusal.clone(),
    };
    *hostile.script.pending_answer.lock().unwrap() = Answer::Error {
        status: 401,
        body: refusal,
    };
    let view = enroll_laptop(&session, &hostile.link()).await;
    until_notice(
        &mut events,
        "the unproven refusal",
        Duration::from_secs(10),
        ErrorKind::RevocationUnproven,
    )
    .await;
    // It keeps retrying (reconnecting), and says it only once.
    let mut retries = 0;
    while retries < 3 {
        match until(&mut events, "retries", Duration::from_secs(10), |_| true).await {
            SessionEvent::Notice {
                code: ErrorKind::RevocationUnproven,
                ..
            } => panic!("the unproven refusal is said once, not on every retry"),
            SessionEvent::Connection { connection }
                if matches!(connection.state, LinkState::Reconnecting { .. }) =>
            {
                retries += 1;
            }
            _ => {}
        }
    }
    assert!(keychain.load(view.id).unwrap().is_some(), "the key is kept");
    assert!(
        session
            .authenticator()
            .account(view.id)
            .unwrap()
            .is_active()
    );

    // With the real notice on the refusal, the revocation is applied.
    // (Whether the device reads it from the refused upgrade or asks again over a signed call,
    // only the signed notice counts.)
    let account = session.authenticator().account(view.id).unwrap();
    let proven = error_body(
        "60103",
        Some(&serde_json::to_value(hostile.notice(account.device_id)).unwrap()),
    );
    *hostile.script.pending_answer.lock().unwrap() = Answer::Error {
        status: 401,
        body: proven.clone(),
    };
    *hostile.script.stream.lock().unwrap() = StreamAnswer::Refuse {
        status: 401,
        body: proven,
    };
    until_notice(
        &mut events,
        "the revocation",
        Duration::from_secs(20),
        ErrorKind::Revoked,
    )
    .await;
    assert!(
        keychain.load(view.id).unwrap().is_none(),
        "the key is deleted"
    );
}
