//! What the package tests share: the artefacts, running commands as root, watching the file
//! system for what a package leaves behind, and a loopback file server for updates.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use assent_testkit::process::target_dir;

/// `target/dist/<part>/` (scripts/package writes it).
pub fn dist(part: &str) -> PathBuf {
    target_dir().join("dist").join(part)
}

/// The one file in `target/dist/<part>` whose name ends with `suffix`.
pub fn artefact(part: &str, suffix: &str) -> PathBuf {
    let dir = dist(part);
    let found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{} is missing ({e}): run scripts/package --update-test",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one *{suffix} in {} (scripts/package builds it): {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap()
}

/// The workspace version: every package name and About line must carry it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Panics unless the test runs as root (installing packages needs it; CI runs as root).
pub fn require_root() {
    let uid = run(Command::new("id").arg("-u"));
    assert_eq!(
        uid.trim(),
        "0",
        "the package tests install system packages: run them as root (scripts/test does, in CI)"
    );
}

/// Runs `command`, panicking with its output unless it succeeds; answers its stdout.
pub fn run(command: &mut Command) -> String {
    let out = output(command);
    assert!(
        out.status.success(),
        "{command:?} should succeed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `command` and answers its output, whatever its status.
pub fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// `apt-get ARGS` without questions.
pub fn apt_get(args: &[&str]) -> String {
    run(Command::new("apt-get")
        .args(["-y", "-q"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Directories a package may write to; what is in them before an install must be all that is
/// in them after the removal. apt's and dpkg's own books and logs change with any install.
const WATCHED: &[&str] = &["/usr", "/etc", "/opt", "/var/lib", "/var/cache", "/tmp"];
const NOT_THE_PACKAGES: &[&str] = &[
    "/var/lib/dpkg",
    "/var/lib/apt",
    "/var/cache/apt",
    "/var/cache/debconf",
    "/var/cache/man",
    "/var/lib/ucf",
    "/etc/ld.so.cache",
    "/var/cache/ldconfig",
    "/var/lib/systemd/deb-systemd-helper-enabled",
    "/var/lib/systemd/deb-systemd-helper-masked",
];

/// Every file and directory under the watched directories, except package managers' books and
/// `also_ignore` (the test's own temporary directories).
pub fn file_system(also_ignore: &[PathBuf]) -> BTreeSet<PathBuf> {
    fn walk(dir: &Path, skip: &dyn Fn(&Path) -> bool, out: &mut BTreeSet<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if skip(&path) {
                continue;
            }
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            out.insert(path.clone());
            if is_dir {
                walk(&path, skip, out);
            }
        }
    }
    let skip = |p: &Path| {
        NOT_THE_PACKAGES.iter().any(|n| p.starts_with(n))
            || also_ignore.iter().any(|n| p.starts_with(n))
            // Throwaway PostgreSQL clusters of test runs (scripts/lib/postgres.sh) are not the
            // package's.
            || p.to_string_lossy().starts_with("/tmp/assent-pg.")
            // Other engineers' and tools' scratch space under /tmp is not the package's.
            || (p.starts_with("/tmp") && !p.to_string_lossy().contains("ssent") && !p.to_string_lossy().contains("appimage"))
    };
    let mut out = BTreeSet::new();
    for dir in WATCHED {
        walk(Path::new(dir), &skip, &mut out);
    }
    out
}

/// What exists now that did not before.
pub fn left_behind(before: &BTreeSet<PathBuf>, after: &BTreeSet<PathBuf>) -> Vec<PathBuf> {
    after.difference(before).cloned().collect()
}

/// A PNG's width and height (from its IHDR chunk).
pub fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.len() > 24 && &bytes[..8] == b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        path.display()
    );
    let be = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (be(16), be(20))
}

/// Serves files from memory on a loopback port: the update server of the update tests. Each
/// request is recorded. Dropping it stops listening (the next test binds the same port, which
/// is built into the test app).
#[derive(Debug)]
pub struct FileServer {
    shared: Arc<Served>,
    stop: Arc<AtomicBool>,
    listening: Option<std::thread::JoinHandle<()>>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

#[derive(Debug, Default)]
struct Served {
    files: Mutex<BTreeMap<String, Vec<u8>>>,
    requests: Mutex<Vec<String>>,
}

impl FileServer {
    /// Listens on `port` of 127.0.0.1.
    pub fn bind(port: u16) -> FileServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
            panic!("the update test's server needs 127.0.0.1:{port} (built into the test app): {e}")
        });
        // Polled, so that a drop can end the loop and free the port.
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Served::default());
        let stop = Arc::new(AtomicBool::new(false));
        let listening = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let shared = shared.clone();
                            std::thread::spawn(move || serve(stream, &shared));
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(std::time::Duration::from_millis(20));
                        }
                        Err(_) => {}
                    }
                }
            })
        };
        FileServer {
            shared,
            stop,
            listening: Some(listening),
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Serves `body` at `path`.
    pub fn put(&self, path: &str, body: Vec<u8>) {
        self.shared
            .files
            .lock()
            .unwrap()
            .insert(path.to_owned(), body);
    }

    /// The paths requested so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(listening) = self.listening.take() {
            let _ = listening.join();
        }
    }
}

/// Answers one HTTP/1.1 request on `stream` from `shared`'s files (404 for others).
fn serve(mut stream: std::net::TcpStream, shared: &Served) {
    let _ = stream.set_nonblocking(false);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
    shared.requests.lock().unwrap().push(path.clone());
    let body = shared.files.lock().unwrap().get(&path).cloned();
    let response = match body {
        Some(body) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(&body);
            r
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = stream.write_all(&response);
}

/// Writes the desktop's settings file into `data_dir` before the app starts (update checks off,
/// so an installed app under test never looks for the real update server).
pub fn desktop_settings(data_dir: &Path, check_for_updates: bool) {
    std::fs::create_dir_all(data_dir).unwrap();
    std::fs::write(
        data_dir.join("settings.json"),
        serde_json::json!({
            "version": 1,
            "settings": {"notifications_paused": false, "check_for_updates": check_for_updates}
        })
        .to_string(),
    )
    .unwrap();
}

/// The processes running a program from an AppImage extracted under the temporary directory
/// (`APPIMAGE_EXTRACT_AND_RUN`), with their command lines.
pub fn extracted_apps() -> Vec<(u32, String)> {
    let prefix = std::env::temp_dir().join("appimage_extracted_");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(exe) = std::fs::read_link(entry.path().join("exe")) else {
            continue;
        };
        let exe = exe.to_string_lossy();
        // The app itself, not WebKit's helper processes (they end with it).
        if exe.starts_with(&*prefix.to_string_lossy()) && exe.ends_with("/usr/bin/assent-desktop") {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    found
}

/// Ends (SIGTERM, by process id) every app running from an extracted AppImage: the apps these
/// tests started. Their AppImage runtimes then remove what they extracted; this waits for that
/// (a WebDriver session ended before it would end the runtime first and leave the files).
pub fn end_extracted_apps() {
    let prefix = std::env::temp_dir().join("appimage_extracted_");
    let mut extracted = Vec::new();
    for (pid, _) in extracted_apps() {
        if let Ok(exe) = std::fs::read_link(format!("/proc/{pid}/exe"))
            && let Some(dir) = exe
                .ancestors()
                .find(|d| d.parent() == prefix.parent() && d.starts_with(prefix.parent().unwrap()))
        {
            extracted.push(dir.to_path_buf());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    }
    for _ in 0..300 {
        if extracted.iter().all(|d| !d.exists()) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the AppImage runtimes remove what they extracted once the app ends: {extracted:?}");
}
