//! One-time codes where people look (issue 20): the app's home screen shows each account's
//! current code with the countdown of its step, the very code the service accepts; and when the
//! service's clock is 5 minutes off (`assent serve --clock-offset`, a test-only flag), the app
//! warns that this computer's clock disagrees, until it agrees again.

use std::time::Duration;

use assent_device::{Keychain, SecretStore as _};
use assent_protocol::totp::Digits;
use assent_testkit::Backend;
use assent_testkit::process::{AssentService, LogsOnFailure, artifacts_dir, require_session};
use serde_json::Value;

use crate::driver::AppSession;

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Authy's token verification of `code` for `user`: the HTTP status and the body.
async fn verify(service: &AssentService, code: &str, user: u64) -> (u16, Value) {
    let (status, body) = Backend::new(&service.url, &service.api_key)
        .get(&format!("/protected/json/verify/{code}/{user}"))
        .await;
    (status.as_u16(), body)
}

/// The code on screen (the card keeps the digits in `data-code`; the text is grouped).
async fn shown_code(app: &AppSession) -> String {
    app.el("code")
        .await
        .attr("data-code")
        .await
        .unwrap()
        .expect("the code card carries its code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_shows_the_code_the_service_accepts_and_warns_when_the_clocks_disagree() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("e2e-codes");
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    let mut service = AssentService::start(dir.path(), &[]);
    let user = service.user("codes@example.com");
    let (mut app, data_dir, keyring, app_log) = AppSession::start_fresh(dir.path(), shots).await;
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), app_log]);
    app.enroll(&service.enroll_link(user), "Acme Bank").await;

    // The home screen shows the code, grouped, with the seconds its step has left.
    // The step can end between two reads: the text counts when the code read on both sides
    // of it is the same.
    let (code, text) = loop {
        let code = shown_code(&app).await;
        let text = app.text("code").await;
        if shown_code(&app).await == code {
            break (code, text);
        }
    };
    assert_eq!(code.len(), 6, "six digits by default: {code:?}");
    assert_eq!(
        text,
        format!("{} {}", &code[..3], &code[3..]),
        "the code is shown grouped for reading"
    );
    app.wait_text("code-seconds", "Changes in").await;
    assert!(
        app.all("clock-warning").await.is_empty(),
        "no clock warning while the clocks agree"
    );
    app.shot("code").await;

    // It is the code of the seed in this session's keychain, for this computer's clock now...
    let accounts: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("accounts.json")).unwrap()).unwrap();
    let account_id: uuid::Uuid = accounts["accounts"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let seed = Keychain::new(keyring.clone())
        .load_code_seed(account_id)
        .unwrap()
        .expect("the account's code seed is in the keychain");
    let now = unix_now();
    let expected: Vec<String> = [now - 30, now, now + 30]
        .iter()
        .map(|t| seed.code_at(*t, Digits::default()).as_str().to_owned())
        .collect();
    assert!(
        expected.contains(&code),
        "the app shows its seed's code of this step (or of a neighbour, had the step just turned)"
    );
    // ...and the service accepts it, once.
    let (status, body) = verify(&service, &code, user).await;
    assert_eq!(
        (status, body["token"].as_str()),
        (200, Some("is valid")),
        "the code on screen is accepted: {body}"
    );

    // The card follows the steps: a new code when this one's step ends.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while shown_code(&app).await == code {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the code should change when its 30-second step ends"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.shot("next-code").await;

    // The service's clock runs 5 minutes ahead: at its next connection the app warns.
    service.signal("-TERM");
    service.restart_with(&["--clock-offset", "300"]);
    let host = service.url.trim_start_matches("http://").to_owned();
    app.wait_text(
        "clock-warning",
        &format!(
            "Your computer's clock is 5 minutes behind {host}: codes will be refused; set the clock automatically."
        ),
    )
    .await;
    app.shot("clock-warning").await;
    let code = shown_code(&app).await;
    let (status, body) = verify(&service, &code, user).await;
    assert_eq!(
        (status, body["error_code"].as_str()),
        (401, Some("60020")),
        "as the warning says, the service 5 minutes ahead refuses this computer's code: {body}"
    );

    // Its clock is right again: the warning goes at the next connection.
    service.signal("-TERM");
    service.restart_with(&[]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !app.all("clock-warning").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the warning should leave once the clocks agree"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.wait_text("connection", "Connected").await;
    app.shot("clocks-agree").await;
    let _ = app.client.close().await;
}
