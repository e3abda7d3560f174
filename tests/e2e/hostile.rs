//! The real desktop app against a hostile service and hostile links (issue 19), driven like a
//! person through WebDriver, with the real keychain and notification daemon of the private
//! session: a 20000 × 20000 logo shows the placeholder (the app's memory with it is measured
//! without WebDriver, in `tests/desktop/hostile.rs`); text is shown as text, stripped of what
//! could mislead, and the notification's markup is escaped; a bad accent colour becomes no CSS; a
//! flood of requests alerts a few times; links with a user part or a repeated parameter are
//! refused, a good one never interrupts an approval and shows its host first; forged revocations
//! and a 60092 answer leave the key in the keychain.

use std::process::{Command, Stdio};
use std::time::Duration;

use assent_device::{Keychain, SecretStore as _};
use assent_protocol::request::AppBranding;
use assent_protocol::{SigningKey, Uuid};
use assent_testkit::process::{
    LogsOnFailure, artifacts_dir, built_binary, require_session, wait_for,
};
use assent_testkit::{Answer, HostileService, LogoAnswer, LogoServer, dimension_bomb};
use fantoccini::Locator;
use serde_json::{Value, json};

use crate::driver::AppSession;

/// Hands `link` to the running app as a second launch would (a deep link clicked anywhere).
fn second_launch(data_dir: &std::path::Path, link: &str) {
    let status = Command::new(built_binary("assent-desktop"))
        .arg(link)
        .env("ASSENT_DATA_DIR", data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the second launch hands over and exits");
}

async fn style_of(app: &AppSession, css: &str) -> String {
    app.client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .attr("style")
        .await
        .unwrap()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_holds_against_a_hostile_service_and_hostile_links() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let shots = artifacts_dir("e2e-hostile");
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    // The relying party's logo: 20000 x 20000 pixels in under 100 KB.
    let bomb = dimension_bomb(20_000);
    let logos = LogoServer::start(vec![("/bomb.png", LogoAnswer::Image("image/png", bomb))]).await;
    let branding = AppBranding {
        name: "Acme Bank".into(),
        accent_color: Some(format!("#c8102e; background: url({}/css-leak)", logos.base)),
        ..HostileService::branding(Some(&format!("{}/bomb.png", logos.base)))
    };
    let hostile = HostileService::start(branding).await;
    let monitor_log = shots.join("notifications.log");
    let _monitor = assent_testkit::process::watch_notifications(&monitor_log);
    let data_dir = dir.path().join("desktop");
    let keyring = format!("assent-test-{}", Uuid::new_v4());
    let app_log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![app_log.clone()]);
    let mut app = AppSession::start(
        &[
            ("ASSENT_DATA_DIR", data_dir.to_str().unwrap()),
            ("ASSENT_KEYRING_SERVICE", &keyring),
            ("ASSENT_LOG", "info"),
        ],
        shots.clone(),
        &app_log,
    )
    .await;

    // Enrolled with the hostile service (on loopback: no insecure warning needed).
    app.el("enroll-input")
        .await
        .send_keys(&hostile.link())
        .await
        .unwrap();
    app.click("enroll-button").await;
    app.click("preview-enroll").await;
    app.wait_text("flash", "This computer now approves for Acme Bank.")
        .await;
    let accounts: Value =
        serde_json::from_slice(&std::fs::read(data_dir.join("accounts.json")).unwrap()).unwrap();
    let account_id: Uuid = accounts["accounts"][0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let device_id: Uuid = accounts["accounts"][0]["device_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let keychain = Keychain::new(keyring.clone());
    assert!(keychain.load(account_id).unwrap().is_some());

    // 1. A request with the bomb for a logo, markup and misleading characters in its text.
    let id = Uuid::new_v4();
    let mut details = hostile.details(id);
    details.message =
        "<b>Approve</b> <a href=\"http://127.0.0.1:1/\">now</a> <img src=x> \u{202e}evorppa\u{202c} & pay".into();
    hostile.script.requests.lock().unwrap().insert(id, details);
    hostile.send_frame(&json!({"type": "request", "id": id}));
    app.wait_text("message", "<b>Approve</b>").await;
    let message = app.text("message").await;
    assert_eq!(
        message, "<b>Approve</b> <a href=\"http://127.0.0.1:1/\">now</a> <img src=x> evorppa & pay",
        "markup is shown as text, bidirectional controls are gone"
    );
    app.el("logo-placeholder").await;
    assert!(
        app.all("logo").await.is_empty(),
        "the bomb never reaches the web view: the placeholder is shown"
    );
    // The relying party's colour is drawn on its logo (here the placeholder) only.
    let style = style_of(&app, "article.approval [data-testid=logo-placeholder]").await;
    assert!(
        style.contains("var(--primary)") && !style.contains("url("),
        "an accent colour that is not #rrggbb never becomes CSS: {style:?}"
    );
    app.shot("hostile-request").await;
    assert!(
        logos.hits().iter().all(|h| !h.line.contains("css-leak")),
        "the accent colour fetched nothing"
    );
    let notified = wait_for("the notification", Duration::from_secs(20), || {
        let log = std::fs::read_to_string(&monitor_log).unwrap_or_default();
        log.contains("&lt;b&gt;Approve&lt;/b&gt;").then_some(log)
    });
    assert!(
        !notified.contains("<b>Approve") && !notified.contains('\u{202e}'),
        "the daemon is handed escaped text, no markup, no bidirectional control:\n{notified}"
    );

    // 2. A flood: fifteen more requests are listed; the person is alerted a few times only.
    for _ in 0..15 {
        hostile.send_frame(&json!({"type": "request", "id": Uuid::new_v4()}));
    }
    // All counted before going back to the list (an arrival while the list is shown opens it).
    app.wait_text("pending-count", "16").await;
    app.click("back-to-list").await;
    app.el("request-item").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let notifications = std::fs::read_to_string(&monitor_log)
        .unwrap()
        .matches("member=Notify")
        .count();
    assert!(
        notifications <= assent_device::SessionConfig::default().alerts_per_minute,
        "16 requests in a burst: {notifications} notifications, at most a few a minute"
    );
    app.shot("flood-listed").await;

    // 3. Links. A link with a user part, or a repeated parameter, is refused with a notice.
    let token = "abcdefghijklmnopqrstuvwxyz012345";
    for (link, what) in [
        (
            format!(
                "assent://enroll?server=https%3A%2F%2Flong.lookalike.name.for.your.bank.example%40127.0.0.1&token={token}"
            ),
            "user part",
        ),
        (
            format!(
                "assent://enroll?server=https%3A%2F%2Fauth.acme.example&token={token}&server=https%3A%2F%2Fevil.example"
            ),
            "repeated parameter",
        ),
    ] {
        second_launch(&data_dir, &link);
        let notice = app.el("notice").await;
        assert_eq!(
            notice.attr("data-code").await.unwrap().as_deref(),
            Some("invalid_link"),
            "the {what} link is refused"
        );
        assert!(
            app.all("offered-host").await.is_empty(),
            "nothing is offered for the {what} link"
        );
        app.shot(&format!("link-refused-{}", what.replace(' ', "-")))
            .await;
        app.client
            .find(Locator::Css("[data-testid=\"notice\"] button"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }
    // A good link arriving during an approval waits until the person is done with it.
    app.all("request-item").await[0].click().await.unwrap();
    let shown = app.text("message").await;
    second_launch(
        &data_dir,
        &format!("assent://enroll?server=https%3A%2F%2Fauth.acme.example%3A8443&token={token}"),
    );
    app.el("held-link").await;
    assert_eq!(
        app.text("message").await,
        shown,
        "the approval on screen stays on screen"
    );
    app.shot("link-held-during-approval").await;
    app.click("back-to-list").await;
    assert_eq!(
        app.text("offered-host").await,
        "auth.acme.example:8443",
        "then the host is shown first, as Rust parsed it"
    );
    app.shot("link-offered").await;
    app.click("enroll-cancel").await;

    // 4. Forged revocations: unsigned, signed by another key, for another device.
    let impostor = SigningKey::from_bytes(&[9; 32]);
    let forged = assent_protocol::signed::Signed::sign(
        &assent_protocol::revocation::RevocationNotice::new(device_id, 1),
        &impostor,
    )
    .unwrap();
    hostile.send_frame(&json!({"type": "revoked"}));
    hostile.send_frame(&json!({"type": "revoked", "notice": forged}));
    hostile.send_frame(&json!({"type": "revoked", "notice": hostile.notice(Uuid::new_v4())}));
    let after = Uuid::new_v4();
    hostile.send_frame(&json!({"type": "request", "id": after}));
    app.wait_text("pending-count", "17").await;
    // The stream still delivers after the forgeries: the arrival opened on the list.
    app.wait_text("message", &after.to_string()).await;
    assert!(
        keychain.load(account_id).unwrap().is_some(),
        "forged revoked frames leave the key in the keychain"
    );

    // 5. A 60092 answer to a decision: the key stays, the person is told it was not proven.
    *hostile.script.decision.lock().unwrap() = Answer::Error {
        status: 404,
        body: json!({"message": "Device not found.", "success": false,
                     "errors": {"message": "Device not found."}, "error_code": "60092"}),
    };
    app.click("approve").await;
    let error = app.el("error").await;
    assert_eq!(
        error.attr("data-code").await.unwrap().as_deref(),
        Some("revocation_unproven")
    );
    app.shot("60092-refused").await;
    assert!(
        keychain.load(account_id).unwrap().is_some(),
        "a 60092 answer leaves the key in the keychain"
    );
    app.click("back-to-list").await;
    app.click("tab-accounts").await;
    assert!(
        app.all("account-revoked").await.is_empty(),
        "the account is not shown revoked"
    );
    let account_style = style_of(&app, "[data-testid=\"account\"]").await;
    assert!(
        account_style.contains("var(--primary)"),
        "{account_style:?}"
    );
    app.shot("account-still-active").await;

    // 6. The positive control: a notice signed by the pinned key for this device revokes it.
    hostile.send_frame(&json!({"type": "revoked", "notice": hostile.notice(device_id)}));
    app.wait_text("account-revoked", "Revoked").await;
    wait_for(
        "the key to leave the keychain",
        Duration::from_secs(10),
        || keychain.load(account_id).unwrap().is_none().then_some(()),
    );
    app.shot("account-revoked-by-a-signed-notice").await;
    let _ = app.client.close().await;
}
