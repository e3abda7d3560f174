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
