//! Signed updates, end to end: the AppImage of version N (built with the throwaway test public
//! key, scripts/package --update-test) finds version N+1 on a loopback update server, installs
//! it on the person's click and restarts as N+1; an update whose bytes were changed after
//! signing is refused with a clear message and N keeps running, unchanged on disk.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use assent_testkit::process::{
    AssentService, LogsOnFailure, artifacts_dir, require_session, screenshot_window, wait_for,
    wait_for_window,
};
use serde_json::{Value, json};

use crate::driver::AppSession;
use crate::support::{FileServer, dist, end_extracted_apps, extracted_apps, require_root, run};

struct Versions {
    n: String,
    next: String,
    port: u16,
}

fn versions() -> Versions {
    let path = dist("update-test").join("versions.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}): run scripts/package --update-test",
            path.display()
        )
    }))
    .unwrap();
    Versions {
        n: v["n"].as_str().unwrap().to_owned(),
        next: v["next"].as_str().unwrap().to_owned(),
        port: v["port"].as_u64().unwrap() as u16,
    }
}

/// The update server: the manifest names version N+1 and where its AppImage is, with the
/// signature scripts/package made with the test key; `bytes` is what is served as that AppImage.
fn update_server(v: &Versions, bytes: Vec<u8>) -> FileServer {
    let signature = std::fs::read_to_string(dist("update-test").join("Assent_N+1.AppImage.sig"))
        .expect("scripts/package --update-test signs N+1");
    let server = FileServer::bind(v.port);
    let manifest = json!({
        "version": v.next,
        "notes": "Test release: the same app, one version later.",
        "pub_date": "2026-11-26T12:00:00Z",
        "platforms": {
            "linux-x86_64": {
                "signature": signature.trim(),
                "url": format!("{}/download/Assent.AppImage", server.url),
            }
        }
    });
    server.put("/latest.json", manifest.to_string().into_bytes());
    server.put("/download/Assent.AppImage", bytes);
    server
}

/// Version N, copied where a person keeps AppImages, with its data directory.
struct Installed {
    home: tempfile::TempDir,
    appimage: PathBuf,
    keyring: String,
}

impl Installed {
    fn new() -> Installed {
        let home = tempfile::tempdir().unwrap();
        let appimage = home.path().join("Applications/Assent.AppImage");
        std::fs::create_dir_all(appimage.parent().unwrap()).unwrap();
        std::fs::copy(dist("update-test").join("Assent_N.AppImage"), &appimage).unwrap();
        run(Command::new("chmod").args(["+x", appimage.to_str().unwrap()]));
        Installed {
            home,
            appimage,
            keyring: format!("assent-test-{}", uuid::Uuid::new_v4()),
        }
    }

    async fn start(&self, shots: PathBuf, log: &Path) -> AppSession {
        let data = self.home.path().join("assent");
        let share = self.home.path().join("share");
        AppSession::start_app(
            &self.appimage,
            &[
                ("ASSENT_DATA_DIR", data.to_str().unwrap()),
                ("ASSENT_KEYRING_SERVICE", &self.keyring),
                ("ASSENT_LOG", "info"),
                ("XDG_DATA_HOME", share.to_str().unwrap()),
                ("HOME", self.home.path().to_str().unwrap()),
                // FUSE is missing here: the AppImage runtime extracts itself and runs (the
                // restart into the update inherits it).
                ("APPIMAGE_EXTRACT_AND_RUN", "1"),
            ],
            shots,
            log,
        )
        .await
    }
}

/// Enrolls the app (so its main view, with the update banner and Settings, shows).
async fn enroll(app: &AppSession, service: &AssentService) {
    let user = service.user(&format!("{}@acme.example", uuid::Uuid::new_v4()));
    app.el("enroll-input")
        .await
        .send_keys(&service.enroll_link(user))
        .await
        .unwrap();
    app.click("enroll-button").await;
    app.click("preview-enroll").await;
    app.wait_text("flash", "This computer now approves for Acme Bank.")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn version_n_finds_n_plus_1_installs_it_on_the_click_and_restarts_as_n_plus_1() {
    require_session();
    require_root();
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let v = versions();
    let next_bytes = std::fs::read(dist("update-test").join("Assent_N+1.AppImage")).unwrap();
    let server = update_server(&v, next_bytes.clone());
    let installed = Installed::new();
    let work = tempfile::tempdir().unwrap();
    let service = AssentService::start(work.path(), &[]);
    let shots = artifacts_dir("package/update");
    let log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![log.clone()]);

    let mut app = installed.start(shots.clone(), &log).await;
    enroll(&app, &service).await;
    // The check at start found N+1: the prompt, with both versions; nothing installed yet.
    app.wait_text("update-title", "Update available").await;
    app.wait_text(
        "update-versions",
        &format!("Assent {} (you have {})", v.next, v.n),
    )
    .await;
    app.shot("update-prompt").await;
    assert!(
        server.requests().iter().all(|r| r == "/latest.json"),
        "nothing is downloaded before the click: {:?}",
        server.requests()
    );
    app.click("tab-settings").await;
    app.wait_text("about-line", &format!("Assent {}", v.n))
        .await;
    app.shot("about-before").await;
    app.click("tab-requests").await;

    app.click("install-update").await;
    wait_for(
        "the AppImage on disk to become N+1",
        Duration::from_secs(120),
        || (std::fs::read(&installed.appimage).ok()? == next_bytes).then_some(()),
    );
    // The app restarted into the new file: a process of the new version logs its start.
    // (The log is coloured: the field's name and value are apart, the value itself is whole.)
    let started = v.next.clone();
    wait_for(
        "the restarted app (N+1) to start",
        Duration::from_secs(120),
        || {
            std::fs::read_to_string(&log)
                .ok()?
                .lines()
                .any(|l| l.contains("Assent desktop starting") && l.contains(&started))
                .then_some(())
        },
    );
    let (pid, _) = wait_for(
        "the restarted app's process",
        Duration::from_secs(60),
        || extracted_apps().into_iter().next(),
    );
    if let Some(window) = wait_for_window(pid, "Assent", Duration::from_secs(60)) {
        let shot = shots.join("restarted-as-n-plus-1.png");
        screenshot_window(&window, &shot);
    }
    // The restarted app is not under WebDriver: end it, and open the updated AppImage again to
    // read its About line.
    end_extracted_apps();
    drop(app);
    wait_for("the restarted app to end", Duration::from_secs(30), || {
        extracted_apps().is_empty().then_some(())
    });
    let mut again = installed
        .start(shots.clone(), &shots.join("desktop-again.log"))
        .await;
    again.click("tab-settings").await;
    again
        .wait_text("about-line", &format!("Assent {}", v.next))
        .await;
    again.wait_text("update-status", "Up to date").await;
    again.shot("about-after").await;
    end_extracted_apps();
    drop(again);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_changed_after_signing_is_refused_and_n_keeps_running() {
    require_session();
    require_root();
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let v = versions();
    let mut forged = std::fs::read(dist("update-test").join("Assent_N+1.AppImage")).unwrap();
    let middle = forged.len() / 2;
    forged[middle] ^= 0x01;
    let server = update_server(&v, forged);
    let installed = Installed::new();
    let before = std::fs::read(&installed.appimage).unwrap();
    let work = tempfile::tempdir().unwrap();
    let service = AssentService::start(work.path(), &[]);
    let shots = artifacts_dir("package/update-forged");
    let log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![log.clone()]);

    let mut app = installed.start(shots.clone(), &log).await;
    enroll(&app, &service).await;
    app.wait_text("update-title", "Update available").await;
    app.click("install-update").await;
    let error = app.el("update-error").await;
    assert_eq!(
        error.attr("data-code").await.unwrap().as_deref(),
        Some("update_signature_invalid"),
        "a download that does not match its signature is refused with its own code"
    );
    app.wait_text(
        "update-error",
        "did not pass its signature check, so it was not installed",
    )
    .await;
    app.shot("forged-update-refused").await;
    assert!(
        server
            .requests()
            .iter()
            .any(|r| r == "/download/Assent.AppImage"),
        "the forged update was downloaded (and then refused): {:?}",
        server.requests()
    );
    assert_eq!(
        std::fs::read(&installed.appimage).unwrap(),
        before,
        "the AppImage on disk is still version N"
    );
    app.click("tab-settings").await;
    app.wait_text("about-line", &format!("Assent {}", v.n))
        .await;
    assert_eq!(
        extracted_apps().len(),
        1,
        "version N is still running, and nothing restarted"
    );
    end_extracted_apps();
    drop(app);
}
