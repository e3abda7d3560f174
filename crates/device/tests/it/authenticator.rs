use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use assent_device::{Answer, Error, ErrorKind, InsecureServer, SecretStore as _};
use assent_protocol::crypto::b64url;
use assent_protocol::decision::{DenyReason, Outcome};
use assent_protocol::request::RequestStatus;
use base64::Engine as _;

use crate::support::{Action, Proxy, TestService, authenticator, files_under, test_keychain};

#[tokio::test]
async fn enrollment_keeps_the_key_only_in_the_keychain_and_remove_deletes_it() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let keychain = test_keychain();
    let device = authenticator(dir.path(), keychain.clone());
    let user = svc.user("ana@example.com").await;
    let account = device
        .enroll(
            &svc.link(user, &svc.base).await,
            "Ana's laptop",
            "linux",
            InsecureServer::Refuse,
        )
        .await
        .unwrap();
    assert_eq!(account.user_id, user);
    assert_eq!(account.app.name, "Acme Bank");
    assert_eq!(
        account.service_public_key,
        svc.state.service_key.public(),
        "the service key is pinned"
    );

    let seed = keychain
        .load(account.id)
        .unwrap()
        .expect("the key is in the Secret Service");
    let encodings = [
        seed.to_vec(),
        hex::encode(seed.as_slice()).into_bytes(),
        b64url(seed.as_slice()).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(seed.as_slice())
            .into_bytes(),
    ];
    let files = files_under(device.data_dir());
    assert!(!files.is_empty(), "the account file exists");
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for encoded in &encodings {
            assert!(
                !bytes
                    .windows(encoded.len())
                    .any(|w| w == encoded.as_slice()),
                "{} must not contain the private key",
                file.display()
            );
        }
    }

    device.remove(account.id).await.unwrap();
    assert!(
        keychain.load(account.id).unwrap().is_none(),
        "removing the account deletes its key"
    );
    assert!(device.accounts().unwrap().is_empty());
    let status = svc
        .get(&format!("/protected/json/users/{user}/status"))
        .await;
    assert_eq!(
        status["status"]["registered"], false,
        "removal revokes the device at the service"
    );
}

#[tokio::test]
async fn pending_approve_and_deny_with_history() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let device = authenticator(dir.path(), test_keychain());
    let (user, _) = svc.enrolled(&device, "bo@example.com").await;
    let first = svc.request(user, "Sign in?").await;
    let second = svc.another_request(user, "Wire $12,500?").await;

    let pending = device.pending().await.unwrap();
    assert_eq!(
        pending.iter().map(|r| r.details.id).collect::<Vec<_>>(),
        vec![first, second]
    );
    assert!(pending.iter().all(|r| r.status == RequestStatus::Pending));

    let receipt = device
        .approve(&pending[0], None, assent_server::clock::unix_now())
        .await
        .unwrap()
        .receipt;
    assert_eq!(receipt.status, RequestStatus::Approved);
    device
        .deny(
            &pending[1],
            DenyReason::NotMe,
            assent_server::clock::unix_now(),
        )
        .await
        .unwrap();
    assert_eq!(svc.status(first).await, "approved");
    assert_eq!(svc.status(second).await, "denied");
    assert!(device.pending().await.unwrap().is_empty());

    let history = device.history().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(
        (history[0].outcome, history[0].message.as_str()),
        (Outcome::Approve, "Sign in?")
    );
    assert_eq!(
        (history[1].outcome, history[1].reason),
        (Outcome::Deny, Some(DenyReason::NotMe))
    );
    let late = device
        .approve(&pending[0], None, assent_server::clock::unix_now())
        .await;
    assert_eq!(
        late.unwrap().receipt.status,
        RequestStatus::Approved,
        "re-sending the same approval is harmless"
    );
}

#[tokio::test]
async fn number_matching_is_checked_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let device = authenticator(dir.path(), test_keychain());
    let (user, _) = svc.enrolled(&device, "nm@example.com").await;
    let body = svc
        .post(
            &format!("/onetouch/json/users/{user}/approval_requests"),
            serde_json::json!({"message": "m", "number_matching": true, "number_matching_mode": "pick"}),
        )
        .await;
    let id: uuid::Uuid = body["approval_request"]["uuid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let number = body["approval_request"]["number"].as_u64().unwrap() as u32;
    let shown = device.find_request(id).await.unwrap();
    assert!(shown.needs_number);
    let now = assent_server::clock::unix_now();
    assert_eq!(
        device.approve(&shown, None, now).await.unwrap_err().code(),
        "invalid_number"
    );
    assert_eq!(
        device
            .approve(&shown, Some(&Answer::Number(100)), now)
            .await
            .unwrap_err()
            .code(),
        "invalid_number",
        "not one of the choices"
    );
    assert_eq!(
        device
            .approve(&shown, Some(&Answer::Code(number.to_string())), now)
            .await
            .unwrap_err()
            .code(),
        "invalid_number",
        "a pick-mode request takes a number, not a code"
    );
    assert_eq!(svc.status(id).await, "pending", "nothing was sent");
    assert_eq!(
        device
            .approve(&shown, Some(&Answer::Number(number)), now)
            .await
            .unwrap()
            .receipt
            .status,
        RequestStatus::Approved
    );
}

#[tokio::test]
async fn requests_that_fail_the_pinned_key_are_never_surfaced() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    // A man in the middle edits the message of every request the device fetches.
    let proxy = Proxy::start(
        svc.addr,
        Arc::new(|line: &str, answer: &mut Vec<u8>| {
            if line.starts_with("GET /device/v1/requests/") {
                let text =
                    String::from_utf8_lossy(answer).replace("Transfer $100", "Transfer $900");
                *answer = text.into_bytes();
            }
            Action::Forward
        }),
    )
    .await;
    let device = authenticator(dir.path(), test_keychain());
    let user = svc.user("mitm@example.com").await;
    let account = device
        .enroll(
            &svc.link(user, &proxy.url).await,
            "laptop",
            "linux",
            InsecureServer::Refuse,
        )
        .await
        .unwrap();
    let genuine = svc.request(user, "Sign in?").await;
    let tampered = svc.another_request(user, "Transfer $100").await;

    let pending = device.pending().await.unwrap();
    assert_eq!(
        pending.iter().map(|r| r.details.id).collect::<Vec<_>>(),
        vec![genuine],
        "only the untampered request is shown"
    );
    match device.request(&account, tampered).await {
        Err(Error::Spoofed { id }) => assert_eq!(id, tampered),
        other => panic!("a tampered request must be reported as spoofed, got {other:?}"),
    }
    assert!(device.find_request(tampered).await.is_err());
    assert_eq!(
        svc.status(tampered).await,
        "pending",
        "nothing was decided on a spoofed request"
    );
}

#[tokio::test]
async fn a_decision_whose_answer_is_lost_is_retried_and_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&dropped);
    // The service records the decision, then the connection drops before the answer arrives.
    let proxy = Proxy::start(
        svc.addr,
        Arc::new(move |line: &str, _answer: &mut Vec<u8>| {
            if line.contains("/decision") && !flag.swap(true, Ordering::SeqCst) {
                Action::Drop
            } else {
                Action::Forward
            }
        }),
    )
    .await;
    let device = authenticator(dir.path(), test_keychain());
    let user = svc.user("lost@example.com").await;
    device
        .enroll(
            &svc.link(user, &proxy.url).await,
            "laptop",
            "linux",
            InsecureServer::Refuse,
        )
        .await
        .unwrap();
    let id = svc.request(user, "Sign in?").await;
    let shown = device.find_request(id).await.unwrap();
    let receipt = device
        .approve(&shown, None, assent_server::clock::unix_now())
        .await
        .expect("the SDK reports success")
        .receipt;
    assert!(
        dropped.load(Ordering::SeqCst),
        "the first answer was dropped"
    );
    assert_eq!(receipt.status, RequestStatus::Approved);
    assert!(
        receipt.duplicate,
        "the retry found the decision already recorded"
    );
    let decisions = proxy
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("/decision"))
        .count();
    assert_eq!(decisions, 2, "sent twice");
    let recorded = svc.state.store.decisions(id).await.unwrap();
    assert_eq!(recorded.len(), 1, "recorded once");
    assert_eq!(svc.status(id).await, "approved");
}

#[tokio::test]
async fn a_revoked_device_deletes_its_key_on_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let keychain = test_keychain();
    let device = authenticator(dir.path(), keychain.clone());
    let (_, account) = svc.enrolled(&device, "rv@example.com").await;
    svc.revoke(account.device_id).await;
    let err = device.pending().await.unwrap_err();
    assert_eq!(err.code(), "revoked", "{err}");
    assert!(
        keychain.load(account.id).unwrap().is_none(),
        "the key is deleted"
    );
    assert!(
        device.account(account.id).unwrap().revoked_at.is_some(),
        "the account is marked revoked"
    );
    assert!(
        device.pending().await.unwrap().is_empty(),
        "a revoked account is skipped"
    );
}

#[tokio::test]
async fn a_used_link_fails_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let keychain = test_keychain();
    let device = authenticator(dir.path(), keychain.clone());
    let user = svc.user("twice@example.com").await;
    let link = svc.link(user, &svc.base).await;
    device
        .enroll(&link, "laptop", "linux", InsecureServer::Refuse)
        .await
        .unwrap();
    let err = device
        .enroll(&link, "laptop", "linux", InsecureServer::Refuse)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "token_invalid", "{err}");
    assert_eq!(device.accounts().unwrap().len(), 1, "no second account");
}

/// Creates a typed-code request for `user` and returns its id and the code the relying party
/// was given to show.
async fn typed_request(
    svc: &TestService,
    user: u64,
    body: serde_json::Value,
) -> (uuid::Uuid, String) {
    let body = svc
        .post(
            &format!("/onetouch/json/users/{user}/approval_requests"),
            body,
        )
        .await;
    let id = body["approval_request"]["uuid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let code = body["approval_request"]["code"]
        .as_str()
        .expect("typed mode gives the relying party a code to show")
        .to_owned();
    (id, code)
}

#[tokio::test]
async fn a_typed_code_is_checked_for_shape_here_and_for_truth_by_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let device = authenticator(dir.path(), test_keychain());
    let (user, _) = svc.enrolled(&device, "typed@example.com").await;
    let (id, code) = typed_request(
        &svc,
        user,
        serde_json::json!({"message": "Sign in?", "number_matching": true}),
    )
    .await;
    assert_eq!(
        code.len(),
        4,
        "four digits unless the relying party asks otherwise"
    );
    let shown = device.find_request(id).await.unwrap();
    assert!(shown.needs_number, "the initiator types the code");
    let now = assent_server::clock::unix_now();
    for (answer, why) in [
        (None, "a typed-code request needs the code"),
        (Some(Answer::Number(7)), "a number where a code is asked"),
        (Some(Answer::Code(code[..3].to_owned())), "too short"),
        (Some(Answer::Code(format!("{code}0"))), "too long"),
        (Some(Answer::Code("12a4".into())), "not digits"),
        (Some(Answer::Code("١٢٣٤".into())), "not ASCII digits"),
    ] {
        assert_eq!(
            device
                .approve(&shown, answer.as_ref(), now)
                .await
                .unwrap_err()
                .code(),
            "invalid_number",
            "{why}: refused here"
        );
    }
    assert_eq!(svc.status(id).await, "pending", "nothing was sent");
    let wrong = assent_testkit::another_code(&code);
    for left in ["2 tries", "1 try"] {
        let error = device
            .approve(&shown, Some(&Answer::Code(wrong.clone())), now)
            .await
            .unwrap_err();
        assert_eq!(
            error.code(),
            "wrong_code",
            "a wrong code is the service's call"
        );
        let view = assent_device::view::ErrorView::from(&error);
        assert!(
            view.message.contains(left),
            "the service's message says {left} left: {}",
            view.message
        );
        assert_eq!(
            svc.status(id).await,
            "pending",
            "a wrong code with tries left keeps the request"
        );
    }
    assert_eq!(
        device
            .approve(&shown, Some(&Answer::Code(code)), now)
            .await
            .unwrap()
            .receipt
            .status,
        RequestStatus::Approved,
        "the right code on the last try approves: the six refusals above were never counted"
    );
}

#[tokio::test]
async fn the_third_wrong_code_denies_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let device = authenticator(dir.path(), test_keychain());
    let (user, _) = svc.enrolled(&device, "thrice@example.com").await;
    let (id, code) = typed_request(
        &svc,
        user,
        serde_json::json!({"message": "Sign in?", "number_matching": true, "number_matching_digits": 6}),
    )
    .await;
    assert_eq!(code.len(), 6);
    let shown = device.find_request(id).await.unwrap();
    let wrong = Answer::Code(assent_testkit::another_code(&code));
    let now = assent_server::clock::unix_now();
    let kinds = [
        device
            .approve(&shown, Some(&wrong), now)
            .await
            .unwrap_err()
            .kind(),
        device
            .approve(&shown, Some(&wrong), now)
            .await
            .unwrap_err()
            .kind(),
        device
            .approve(&shown, Some(&wrong), now)
            .await
            .unwrap_err()
            .kind(),
    ];
    assert_eq!(
        kinds,
        [
            ErrorKind::WrongCode,
            ErrorKind::WrongCode,
            ErrorKind::WrongNumber
        ],
        "two wrong codes leave the request, the third denies it"
    );
    assert!(ErrorKind::WrongNumber.ends_the_request());
    assert_eq!(svc.status(id).await, "denied");
}
