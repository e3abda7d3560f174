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

use assent_testkit::polkit::{AgentAnswer, PolkitAgent, PolkitBus, SUBJECT_GROUP, SUBJECT_USER};
use assent_testkit::process::{
    AssentService, LogsOnFailure, artifacts_dir, built_binary, require_session, wait_for,
};

use crate::driver::AppSession;

/// The uid and gid of `nobody`/`nogroup` on Debian.
const NOBODY: u32 = 65_534;

/// Everything the app needs to run as `nobody`, in a directory the test removes; the
/// gnome-keyring it starts is ended when this is dropped.
struct UnprivilegedApp {
    root: PathBuf,
    wrapper: PathBuf,
    pid_file: PathBuf,
    runtime: PathBuf,
}

impl UnprivilegedApp {
    fn prepare(root: &Path, bus: &PolkitBus) -> Self {
        let home = root.join("home");
        let runtime = root.join("run");
        let data = root.join("data");
        for dir in [&home, &runtime, &data] {
            std::fs::create_dir_all(dir).unwrap();
            std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
        }
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
        let xauthority = root.join("Xauthority");
        let display_cookie = std::env::var_os("XAUTHORITY").expect("xvfb-run sets XAUTHORITY");
        std::fs::copy(display_cookie, &xauthority).expect("copy the display's cookie");
        std::os::unix::fs::chown(&xauthority, Some(NOBODY), Some(NOBODY)).unwrap();
        let pid_file = home.join("app.pid");
        let inner = root.join("inner.sh");
        // As nobody, inside its own session bus: a keychain, then the app in this same process
        // (so the pid written is the app's).
        std::fs::write(
            &inner,
            format!(
                "#!/bin/sh\nset -e\neval \"$(printf assent-session | gnome-keyring-daemon --unlock --components=secrets)\"\n\
                 export GNOME_KEYRING_CONTROL\necho $$ > '{pid}'\nexec '{app}' \"$@\"\n",
                pid = pid_file.display(),
                app = built_binary("assent-desktop").display(),
            ),
        )
        .unwrap();
        let wrapper = root.join("assent-desktop-as-nobody");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nexec setpriv --reuid={SUBJECT_USER} --regid={SUBJECT_GROUP} --clear-groups env \
                 HOME='{home}' XDG_RUNTIME_DIR='{runtime}' XDG_DATA_HOME='{home}/.local/share' \
                 XDG_CACHE_HOME='{home}/.cache' XDG_CONFIG_HOME='{home}/.config' XAUTHORITY='{xauth}' \
                 ASSENT_DATA_DIR='{data}' DBUS_SYSTEM_BUS_ADDRESS='{bus}' \
                 dbus-run-session -- '{inner}' \"$@\"\n",
                home = home.display(),
                runtime = runtime.display(),
                xauth = xauthority.display(),
                data = data.display(),
                bus = bus.address(),
                inner = inner.display(),
            ),
        )
        .unwrap();
        for script in [&inner, &wrapper] {
            std::fs::set_permissions(script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        UnprivilegedApp {
            root: root.to_path_buf(),
            wrapper,
            pid_file,
            runtime,
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

impl Drop for UnprivilegedApp {
    fn drop(&mut self) {
        // gnome-keyring-daemon daemonizes: end the one started for this app (found by the
        // runtime directory in its environment), only it.
        let marker = format!("XDG_RUNTIME_DIR={}", self.runtime.display());
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let path = entry.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if !comm.starts_with("gnome-keyring-d") {
                continue;
            }
            let environ = std::fs::read(path.join("environ")).unwrap_or_default();
            if environ
                .split(|b| *b == 0)
                .any(|var| var == marker.as_bytes())
            {
                let _ = std::process::Command::new("kill")
                    .arg(entry.file_name())
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A screenshot once the page has painted what the last wait saw (WebKit's screenshot is the last
/// painted frame, which can be a step behind the DOM).
async fn painted_shot(app: &mut AppSession, name: &str) {
    app.client
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
            vec![],
        )
        .await
        .expect("the page paints");
    app.shot(name).await;
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
        status.contains(&format!("Uid:\t{NOBODY}\t")),
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
    painted_shot(&mut app, "verification-required").await;

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
    painted_shot(&mut app, "verification-refused").await;
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
    painted_shot(&mut app, "verification-approved").await;
    assert_eq!(service.status(&id)["status"], "approved");
    let asked = agent.asked();
    assert_eq!(asked.len(), 2, "polkit asked again: {asked:#?}");
    assert_eq!(
        asked[1].uids,
        vec![NOBODY],
        "for the app user's own password"
    );
}
