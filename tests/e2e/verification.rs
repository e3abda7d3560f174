//! User verification in the desktop app: a request that requires it, approved through real
//! polkit (polkitd on a private system bus) answered by the test authentication agent.
//!
//! polkit authorizes root without asking anyone (and Assent refuses a root subject as
//! unavailable), so here the app runs as `nobody`: tauri-driver's WebKitWebDriver starts a
//! wrapper that drops to `nobody` with a home, runtime directory, session bus and gnome-keyring
//! of its own and the display's cookie, then becomes the built app. The agent is registered for
//! that process (the one polkit checks).

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assent_testkit::polkit::{
    AgentAnswer, PolkitAgent, PolkitBus, SUBJECT_GROUP, SUBJECT_UID, SUBJECT_USER, UnprivilegedHome,
};
use assent_testkit::process::{
    AssentService, LogsOnFailure, artifacts_dir, built_binary, require_session, wait_for,
};

use crate::driver::AppSession;

/// The app as `nobody`: a wrapper WebKitWebDriver starts, in a home of their own, with the
/// private polkit bus as the system bus.
struct UnprivilegedApp {
    /// Kept for its lifetime: dropping it ends the app's keyring and removes the home.
    _home: UnprivilegedHome,
    wrapper: PathBuf,
    pid_file: PathBuf,
}

impl UnprivilegedApp {
    fn prepare(root: &Path, bus: &PolkitBus) -> Self {
        let home = UnprivilegedHome::create(root);
        let xauthority = root.join("Xauthority");
        let display_cookie = std::env::var_os("XAUTHORITY").expect("xvfb-run sets XAUTHORITY");
        std::fs::copy(display_cookie, &xauthority).expect("copy the display's cookie");
        std::os::unix::fs::chown(&xauthority, Some(SUBJECT_UID), Some(SUBJECT_UID)).unwrap();
        let pid_file = home.home().join("app.pid");
        let inner = root.join("inner.sh");
        // As nobody, inside its own session bus: a keychain, then the app in this same process
        // (so the pid written is the app's).
        std::fs::write(
            &inner,
            format!(
                "#!/bin/sh\nset -e\n{unlock}echo $$ > '{pid}'\nexec '{app}' \"$@\"\n",
                unlock = UnprivilegedHome::unlock_keyring(),
                pid = pid_file.display(),
                app = built_binary("assent-desktop").display(),
            ),
        )
        .unwrap();
        let env: String = home
            .env()
            .iter()
            .map(|(k, v)| format!("{k}='{v}' "))
            .collect();
        let wrapper = root.join("assent-desktop-as-nobody");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec setpriv --reuid={SUBJECT_USER} --regid={SUBJECT_GROUP} --clear-groups env \
                 {env}XAUTHORITY='{xauth}' DBUS_SYSTEM_BUS_ADDRESS='{bus}' \
                 dbus-run-session -- '{inner}' \"$@\"\n",
                xauth = xauthority.display(),
                bus = bus.address(),
                inner = inner.display(),
            ),
        )
        .unwrap();
        for script in [&inner, &wrapper] {
            std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        UnprivilegedApp {
            _home: home,
            wrapper,
            pid_file,
        }
    }

    /// The app's pid, once it wrote it.
    fn pid(&self) -> u32 {
        wait_for("the app's pid", Duration::from_secs(30), || {
            std::fs::read_to_string(&self.pid_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_app_asks_the_system_before_approving_a_request_that_requires_it() {
    require_session();
    let _one_app = crate::ONE_APP_AT_A_TIME.lock().await;
    let bus = PolkitBus::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shots = artifacts_dir("e2e-verification");
    for old in std::fs::read_dir(&shots).unwrap().flatten() {
        let _ = std::fs::remove_file(old.path());
    }
    let service = AssentService::start(dir.path(), &[]);
    let user = service.user("ana@example.com");
    let unprivileged = UnprivilegedApp::prepare(&dir.path().join("nobody"), &bus);
    let app_log = shots.join("desktop.log");
    let _logs = LogsOnFailure(vec![service.log_path().to_path_buf(), app_log.clone()]);
    let mut app = AppSession::start_app(
        &unprivileged.wrapper,
        &[("ASSENT_LOG", "info")],
        shots.clone(),
        &app_log,
    )
    .await;
    let pid = unprivileged.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.contains(&format!("Uid:\t{SUBJECT_UID}\t")),
        "the app runs as nobody: {status}"
    );
    let agent = PolkitAgent::register(&bus, pid, AgentAnswer::Refuse);

    app.enroll(&service.enroll_link(user), "Acme Bank").await;
    let sent = service
        .assent(&[
            "request",
            "send",
            "--json",
            "--user",
            &user.to_string(),
            "--message",
            "Wire $12,500 to ACME Corp?",
            "--require-verification",
        ])
        .ok()
        .json();
    let id = sent["uuid"]
        .as_str()
        .expect("the request is sent")
        .to_owned();
    app.wait_text("message", "Wire $12,500 to ACME Corp?").await;
    app.wait_text(
        "verification-note",
        "your system will ask for your password",
    )
    .await;
    app.shot("verification-required").await;

    // The person cancels the password dialog: nothing is signed, the card says why and what next.
    app.click("approve").await;
    app.wait_text("error", "did not confirm it is you").await;
    let code = app
        .el("error")
        .await
        .attr("data-code")
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(code, "verification_refused", "the UI switched on the code");
    app.shot("verification-refused").await;
    assert_eq!(
        service.status(&id)["status"],
        "pending",
        "nothing was signed or sent: the request still waits"
    );
    assert_eq!(agent.asked().len(), 1, "polkit asked the agent once");

    // The person approves again and types their password: approved, naming the password.
    agent.answer(AgentAnswer::Approve);
    app.click("approve").await;
    app.wait_text("flash", "Approved.").await;
    app.shot("verification-approved").await;
    assert_eq!(service.status(&id)["status"], "approved");
    let asked = agent.asked();
    assert_eq!(asked.len(), 2, "polkit asked again: {asked:#?}");
    assert_eq!(
        asked[1].uids,
        vec![SUBJECT_UID],
        "for the app user's own password"
    );
}
