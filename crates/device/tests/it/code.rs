//! One-time codes on the device (`src/code.rs`): the seed lives only in the keychain, beside the
//! signing key; the code the device shows is the one the service accepts; removal deletes it.

use assent_device::{Error, SecretStore as _};
use assent_protocol::crypto::b64url;
use assent_protocol::totp::Digits;
use base64::Engine as _;

use crate::support::{TestService, authenticator, files_under, test_keychain};

#[tokio::test]
async fn the_code_seed_lives_only_in_the_keychain_and_its_code_verifies_at_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let keychain = test_keychain();
    let device = authenticator(dir.path(), keychain.clone());
    let user = svc.user("codes@example.com").await;
    let account = device
        .enroll(
            &svc.link(user, &svc.base).await,
            "Ana's laptop",
            "linux",
            assent_device::InsecureServer::Refuse,
        )
        .await
        .unwrap();
    let seed = keychain
        .load_code_seed(account.id)
        .unwrap()
        .expect("the code seed is in the Secret Service");
    let bytes = seed.expose();
    let encodings = [
        bytes.to_vec(),
        hex::encode(bytes).into_bytes(),
        b64url(bytes).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into_bytes(),
    ];
    for file in files_under(device.data_dir()) {
        let content = std::fs::read(&file).unwrap();
        for encoded in &encodings {
            assert!(
                !content
                    .windows(encoded.len())
                    .any(|w| w == encoded.as_slice()),
                "{} must not contain the code seed",
                file.display()
            );
        }
    }

    let now = assent_server::clock::unix_now();
    let shown = device.code(&account, now, Digits::default()).await.unwrap();
    assert_eq!(shown.code.len(), 6);
    assert!(
        format!("{shown:?}").contains("<redacted>") && !format!("{shown:?}").contains(&shown.code)
    );
    let verified = svc
        .get(&format!("/protected/json/verify/{}/{user}", shown.code))
        .await;
    assert_eq!(
        verified["token"], "is valid",
        "the code the device shows is accepted by the service: {verified}"
    );

    device.remove(account.id).await.unwrap();
    assert!(
        keychain.load_code_seed(account.id).unwrap().is_none(),
        "removing the account deletes its code seed"
    );
    let after = device.code(&account, now, Digits::default()).await;
    assert!(
        matches!(after, Err(Error::KeyMissing | Error::Revoked { .. })),
        "a removed account shows no code: {after:?}"
    );
}

#[tokio::test]
async fn the_session_shows_codes_at_the_length_set_and_refuses_other_lengths() {
    use assent_device::ErrorKind;
    use assent_device::view::SessionEvent;

    use crate::support::{enrolled_session, until};

    let dir = tempfile::tempdir().unwrap();
    let svc = TestService::start(dir.path()).await;
    let (session, mut events, user, account) =
        enrolled_session(dir.path(), &svc, "lengths@example.com").await;
    let now = assent_server::clock::unix_now();
    let six = session.code(account.id, now).await.unwrap();
    assert_eq!((six.code.len(), six.digits, six.step_seconds), (6, 6, 30));
    assert!((1..=30).contains(&six.seconds_left));
    assert!(
        !format!("{six:?}").contains(&six.code),
        "a code view's Debug never shows the code"
    );
    assert_eq!(session.code_digits(), 6);

    assert_eq!(session.set_code_digits(8).unwrap(), 8);
    until(
        &mut events,
        "the settings",
        std::time::Duration::from_secs(5),
        |e| matches!(e, SessionEvent::Settings { settings } if settings.code_digits == 8),
    )
    .await;
    let eight = session.code(account.id, now).await.unwrap();
    assert_eq!(eight.code.len(), 8);
    assert!(
        eight.code.ends_with(&six.code),
        "8 digits keep the 6 as their last digits (same truncation)"
    );
    let verified = svc
        .get(&format!("/protected/json/verify/{}/{user}", eight.code))
        .await;
    assert_eq!(
        verified["token"], "is valid",
        "the service accepts the length the app is set to: {verified}"
    );

    for bad in [0u8, 5, 9, 255] {
        let refused = session.set_code_digits(bad).unwrap_err();
        assert_eq!(
            refused.kind(),
            ErrorKind::InvalidSetting,
            "{bad} digits should be refused"
        );
        assert_eq!(session.code_digits(), 8, "nothing changed");
    }
    let file = std::fs::read_to_string(dir.path().join("device/settings.json")).unwrap();
    assert!(
        file.replace([' ', '\n'], "").contains("\"code_digits\":8"),
        "the length is kept in the settings file: {file}"
    );

    let unknown = session.code(uuid::Uuid::new_v4(), now).await.unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::UnknownAccount);
}
