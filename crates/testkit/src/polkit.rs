//! polkit for real, on a private system bus: a `dbus-daemon` of its own in a temporary
//! directory, Debian's `polkitd` on it, and a test authentication agent that approves or refuses
//! on command. Nothing touches the machine's system bus.
//!
//! polkit authorizes uid 0 without asking anyone, so a check means something only for an
//! unprivileged subject: [`unprivileged`] runs a command as `nobody`. The daemons need root
//! (polkitd starts as root and drops to its own user; only uid 0 may answer for an agent with
//! `AuthenticationAgentResponse2`), so these tests run as root, as CI and this machine do.
//!
//! polkitd reads its actions from `/usr/share/polkit-1/actions/` only: `scripts/lib/setup.sh`
//! installs Assent's policy there (as the packages do); [`PolkitBus::start`] checks it is the
//! packaged one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dbus::arg::{PropMap, RefArg, Variant};
use dbus::blocking::Connection;
use dbus::channel::{MatchingReceiver as _, Sender as _};
use dbus::message::MatchRule;

use crate::process::KillOnDrop;

/// Assent's polkit policy as packaged.
pub fn packaged_policy() -> PathBuf {
    crate::process::workspace_root().join("packaging/desktop/dev.assent.approve.policy")
}

/// Where polkitd reads it (the packages install it there; so does `scripts/lib/setup.sh`).
pub const INSTALLED_POLICY: &str = "/usr/share/polkit-1/actions/dev.assent.approve.policy";

/// The unprivileged user a polkit subject runs as.
pub const SUBJECT_USER: &str = "nobody";
/// Its group.
pub const SUBJECT_GROUP: &str = "nogroup";

const AUTHORITY: &str = "org.freedesktop.PolicyKit1";
const AUTHORITY_PATH: &str = "/org/freedesktop/PolicyKit1/Authority";
const AUTHORITY_INTERFACE: &str = "org.freedesktop.PolicyKit1.Authority";
const AGENT_INTERFACE: &str = "org.freedesktop.PolicyKit1.AuthenticationAgent";
const AGENT_PATH: &str = "/dev/assent/TestAgent";

/// `command` run as [`SUBJECT_USER`] (through `setpriv`, no supplementary groups).
pub fn unprivileged(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new("setpriv");
    command
        .args([
            &format!("--reuid={SUBJECT_USER}"),
            &format!("--regid={SUBJECT_GROUP}"),
            "--clear-groups",
            "--",
        ])
        .arg(program);
    command
}

/// The uid (and gid) of [`SUBJECT_USER`] and [`SUBJECT_GROUP`] on Debian.
pub const SUBJECT_UID: u32 = 65_534;

/// A home of [`SUBJECT_USER`]'s for a program run as them with a session of its own: a home, a
/// private runtime directory and an Assent data directory, owned by them, under `root` (which
/// becomes world-traversable). The gnome-keyring a script started there with
/// [`UnprivilegedHome::unlock_keyring`] is ended when this is dropped (it daemonizes).
#[derive(Debug)]
pub struct UnprivilegedHome {
    root: PathBuf,
    home: PathBuf,
    runtime: PathBuf,
    data: PathBuf,
}

impl UnprivilegedHome {
    /// Shell lines that start and unlock a gnome-keyring (Secret Service) on the session bus the
    /// script runs in, and wait until it owns its bus name (`scripts/lib/await-secret-service`,
    /// as `scripts/lib/in-session.sh` does; the script fails if it never does).
    pub fn unlock_keyring() -> String {
        format!(
            "eval \"$(printf assent-session | gnome-keyring-daemon --unlock --components=secrets)\"\n\
             export GNOME_KEYRING_CONTROL\n'{}'\n",
            crate::process::workspace_root()
                .join("scripts/lib/await-secret-service")
                .display()
        )
    }

    /// Creates the directories under `root`.
    pub fn create(root: &Path) -> Self {
        let (home, runtime, data) = (root.join("home"), root.join("run"), root.join("data"));
        for dir in [&home, &runtime, &data] {
            std::fs::create_dir_all(dir).expect("create the unprivileged home");
            std::os::unix::fs::chown(dir, Some(SUBJECT_UID), Some(SUBJECT_UID)).expect("chown");
        }
        set_mode(root, 0o755);
        set_mode(&runtime, 0o700);
        UnprivilegedHome {
            root: root.to_path_buf(),
            home,
            runtime,
            data,
        }
    }

    /// The directory everything is under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The Assent data directory (`ASSENT_DATA_DIR`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The environment a program needs to use these: `HOME`, the XDG directories and
    /// `ASSENT_DATA_DIR`.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let home = self.home.display();
        vec![
            ("HOME", home.to_string()),
            ("XDG_RUNTIME_DIR", self.runtime.display().to_string()),
            ("XDG_DATA_HOME", format!("{home}/.local/share")),
            ("XDG_CACHE_HOME", format!("{home}/.cache")),
            ("XDG_CONFIG_HOME", format!("{home}/.config")),
            ("ASSENT_DATA_DIR", self.data.display().to_string()),
        ]
    }
}

impl Drop for UnprivilegedHome {
    fn drop(&mut self) {
        // Only the gnome-keyring started here: found by this runtime directory in its environment.
        let marker = format!("XDG_RUNTIME_DIR={}", self.runtime.display());
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
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
                let _ = Command::new("kill").arg(entry.file_name()).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A private system bus with polkitd on it. Both daemons end when this is dropped.
#[derive(Debug)]
pub struct PolkitBus {
    address: String,
    // Dropped in this order: polkitd, then the bus, then the directory.
    _polkitd: KillOnDrop,
    _bus: KillOnDrop,
    _dir: tempfile::TempDir,
}

impl PolkitBus {
    /// Starts the bus and polkitd, and waits until polkit answers.
    ///
    /// # Panics
    /// When not run as root, when Assent's policy is not installed (or differs from the
    /// packaged one), or when a daemon does not start.
    pub fn start() -> Self {
        assert!(
            is_root(),
            "polkit tests run as root (polkitd and the test agent need it); the subject runs as {SUBJECT_USER}"
        );
        let packaged = std::fs::read(packaged_policy()).expect("the packaged policy is readable");
        assert_eq!(
            std::fs::read(INSTALLED_POLICY).ok().as_deref(),
            Some(packaged.as_slice()),
            "{INSTALLED_POLICY} must be the packaged policy: run scripts/lib/setup.sh (scripts/test does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        // The unprivileged subject and polkitd's own user must reach the socket.
        set_mode(dir.path(), 0o755);
        let socket = dir.path().join("system_bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(&config, bus_config(&socket)).expect("write the bus config");
        let bus = KillOnDrop(
            Command::new("dbus-daemon")
                .arg(format!("--config-file={}", config.display()))
                .arg("--nofork")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-daemon is installed"),
        );
        let address = format!("unix:path={}", socket.display());
        let connection = wait_for("the private system bus", || {
            Connection::new_address(&address).ok()
        });
        let polkitd = KillOnDrop(
            Command::new("/usr/lib/polkit-1/polkitd")
                .arg("--no-debug")
                .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("polkitd is installed (Debian package polkitd)"),
        );
        let proxy = connection.with_proxy(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            Duration::from_secs(5),
        );
        wait_for("polkitd on the private bus", || {
            let owned: Result<(bool,), _> =
                proxy.method_call("org.freedesktop.DBus", "NameHasOwner", (AUTHORITY,));
            owned.ok().filter(|(owned,)| *owned)
        });
        PolkitBus {
            address,
            _polkitd: polkitd,
            _bus: bus,
            _dir: dir,
        }
    }

    /// The bus address (`unix:path=...`), for `DBUS_SYSTEM_BUS_ADDRESS` or
    /// `PolkitVerifier::on_bus`.
    pub fn address(&self) -> &str {
        &self.address
    }
}

fn bus_config(socket: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
"#,
        socket.display()
    )
}

/// The effective uid is root (the owner of `/proc/self` is the effective uid).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn wait_for<T>(what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} did not start in 10 s");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// What the test agent answers when polkit asks it to authenticate the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAnswer {
    /// As if the person typed their password: `AuthenticationAgentResponse2` for the identity
    /// polkit asked for, then success.
    Approve,
    /// As if the person pressed Cancel: the `Cancelled` error.
    Refuse,
}

/// One authentication polkit asked the agent for: what the dialog would show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPrompt {
    /// The action (`dev.assent.approve`).
    pub action_id: String,
    /// The dialog's message, with the details substituted by polkit.
    pub message: String,
    /// The details the caller passed.
    pub details: HashMap<String, String>,
    /// The uids polkit would accept a password for.
    pub uids: Vec<u32>,
}

/// A polkit authentication agent registered, as root, for one subject process. It answers
/// every authentication with the current [`AgentAnswer`] and records what it was asked.
/// Unregistered (its thread ends, its connection closes) when dropped.
#[derive(Debug)]
pub struct PolkitAgent {
    answer: Arc<Mutex<AgentAnswer>>,
    asked: Arc<Mutex<Vec<AgentPrompt>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PolkitAgent {
    /// Registers an agent on `bus` for the process `pid` (as polkit identifies it: pid and start
    /// time), answering `answer` until told otherwise.
    ///
    /// # Panics
    /// When polkit refuses the registration.
    pub fn register(bus: &PolkitBus, pid: u32, answer: AgentAnswer) -> Self {
        let answer = Arc::new(Mutex::new(answer));
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let address = bus.address().to_owned();
        let thread = {
            let (answer, asked, stop) = (answer.clone(), asked.clone(), stop.clone());
            std::thread::spawn(move || {
                serve_agent(&address, pid, &answer, &asked, &stop, &ready_tx);
            })
        };
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("polkit refused the test agent for process {pid}: {e}"),
            Err(_) => panic!("the test agent did not register in 10 s"),
        }
        PolkitAgent {
            answer,
            asked,
            stop,
            thread: Some(thread),
        }
    }

    /// Answers `answer` from now on.
    pub fn answer(&self, answer: AgentAnswer) {
        *self.answer.lock().unwrap() = answer;
    }

    /// Every authentication asked so far, in order.
    pub fn asked(&self) -> Vec<AgentPrompt> {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for PolkitAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The unix-process subject of `pid` for polkit: pid and start time (field 22 of its stat).
fn process_subject(pid: u32) -> Result<(&'static str, PropMap), String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    let start_time: u64 = stat[stat.rfind(')').ok_or("no name in stat")? + 1..]
        .split_whitespace()
        .nth(19)
        .and_then(|t| t.parse().ok())
        .ok_or("no start time in stat")?;
    let mut fields: PropMap = HashMap::new();
    fields.insert("pid".into(), Variant(Box::new(pid) as Box<dyn RefArg>));
    fields.insert(
        "start-time".into(),
        Variant(Box::new(start_time) as Box<dyn RefArg>),
    );
    Ok(("unix-process", fields))
}

type Identities = Vec<(String, PropMap)>;

/// `BeginAuthentication`'s arguments: action id, message, icon, details, cookie, identities.
type BeginAuthentication = (
    String,
    String,
    String,
    HashMap<String, String>,
    String,
    Identities,
);

fn serve_agent(
    address: &str,
    pid: u32,
    answer: &Arc<Mutex<AgentAnswer>>,
    asked: &Arc<Mutex<Vec<AgentPrompt>>>,
    stop: &AtomicBool,
    ready: &std::sync::mpsc::Sender<Result<(), String>>,
) {
    let connect = || Connection::new_address(address).map_err(|e| e.to_string());
    let (agent, responder) = match (connect(), connect()) {
        (Ok(a), Ok(r)) => (a, r),
        (Err(e), _) | (_, Err(e)) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let (answer, asked) = (answer.clone(), asked.clone());
    agent.start_receive(
        MatchRule::new_method_call(),
        Box::new(move |call, connection| {
            let interface = call.interface();
            let member = call.member();
            let method = (interface.as_deref(), member.as_deref());
            let reply = match method {
                (Some(AGENT_INTERFACE), Some("BeginAuthentication")) => {
                    let read: Result<BeginAuthentication, _> = call.read_all();
                    match read {
                        Ok((action_id, message, _icon, details, cookie, identities)) => {
                            let uids: Vec<u32> = identities
                                .iter()
                                .filter(|(kind, _)| kind == "unix-user")
                                .filter_map(|(_, props)| props.get("uid")?.0.as_u64())
                                .filter_map(|uid| u32::try_from(uid).ok())
                                .collect();
                            asked.lock().unwrap().push(AgentPrompt {
                                action_id,
                                message,
                                details,
                                uids: uids.clone(),
                            });
                            let current = *answer.lock().unwrap();
                            match (current, uids.first()) {
                                (AgentAnswer::Approve, Some(uid)) => {
                                    respond(&responder, &cookie, *uid);
                                    call.method_return()
                                }
                                _ => call.error(
                                    &"org.freedesktop.PolicyKit1.Error.Cancelled".into(),
                                    c"the test agent refused",
                                ),
                            }
                        }
                        Err(e) => call.error(
                            &"org.freedesktop.DBus.Error.InvalidArgs".into(),
                            &std::ffi::CString::new(e.to_string()).unwrap_or_default(),
                        ),
                    }
                }
                (Some(AGENT_INTERFACE), Some("CancelAuthentication")) => call.method_return(),
                _ => call.error(
                    &"org.freedesktop.DBus.Error.UnknownMethod".into(),
                    c"the test agent has no such method",
                ),
            };
            let _ = connection.send(reply);
            true
        }),
    );
    let registered = process_subject(pid).and_then(|subject| {
        let proxy = agent.with_proxy(AUTHORITY, AUTHORITY_PATH, Duration::from_secs(5));
        proxy
            .method_call::<(), _, _, _>(
                AUTHORITY_INTERFACE,
                "RegisterAuthenticationAgent",
                (subject, "en_US.UTF-8", AGENT_PATH),
            )
            .map_err(|e| e.to_string())
    });
    let failed = registered.is_err();
    let _ = ready.send(registered);
    if failed {
        return;
    }
    while !stop.load(Ordering::SeqCst) {
        if agent.process(Duration::from_millis(50)).is_err() {
            break;
        }
    }
}

/// Tells polkit the person proved they are `uid` (what `polkit-agent-helper-1` does, as root,
/// after checking a password).
fn respond(responder: &Connection, cookie: &str, uid: u32) {
    let mut identity: PropMap = HashMap::new();
    identity.insert("uid".into(), Variant(Box::new(uid) as Box<dyn RefArg>));
    let proxy = responder.with_proxy(AUTHORITY, AUTHORITY_PATH, Duration::from_secs(5));
    let answered: Result<(), _> = proxy.method_call(
        AUTHORITY_INTERFACE,
        "AuthenticationAgentResponse2",
        (0u32, cookie, ("unix-user", identity)),
    );
    if let Err(e) = answered {
        eprintln!("the test agent's response was refused by polkit: {e}");
    }
}
