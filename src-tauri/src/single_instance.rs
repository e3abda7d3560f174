//! One running app per data directory on Linux: a second launch hands its arguments (an
//! `assent://enroll` deep link, or nothing) to the running instance over a Unix socket, and exits.
//!
//! Why not `tauri-plugin-single-instance` here: on Linux it holds a zbus connection whose
//! `blocking` thread pool wakes every 500 ms for as long as the app runs (its last idle thread
//! never retires), which would cost the tray-resident app ~120 wake-ups a minute. A listener
//! blocked in `accept` costs none. macOS and Windows keep using the plugin.
//!
//! The socket is private (0600, in the private runtime directory), and whoever connects is still
//! not trusted to behave: each connection is read on its own thread with a deadline
//! ([`READ_TIMEOUT`]) and a size limit, at most [`MAX_CONNECTIONS`] at once, so one idle or slow
//! connection cannot keep a later launch (and its link) waiting.

use std::io::{Read as _, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tauri::{AppHandle, Runtime};

/// The outcome of claiming the instance.
#[derive(Debug)]
pub enum Claim {
    /// This process is the running instance; the listener receives later launches.
    Primary(UnixListener),
    /// Another instance runs and has received this launch's arguments.
    Handed,
}

/// The socket for `instance_id`: in the private runtime directory, else in the data directory.
pub fn socket_path(instance_id: &str, data_dir: &Path) -> PathBuf {
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| data_dir.to_path_buf());
    dir.join(format!("{instance_id}.sock"))
}

fn hand_over(path: &Path, args: &[String]) -> bool {
    let Ok(mut stream) = UnixStream::connect(path) else {
        return false;
    };
    let message = serde_json::to_vec(args).expect("strings serialize");
    stream.write_all(&message).is_ok() && stream.shutdown(std::net::Shutdown::Write).is_ok()
}

/// Becomes the running instance, or hands `args` to the one already running.
///
/// # Errors
/// The socket can be neither reached nor created.
pub fn claim(path: &Path, args: &[String]) -> std::io::Result<Claim> {
    if hand_over(path, args) {
        return Ok(Claim::Handed);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Nobody answered: any socket file left is from an instance that died.
    let _ = std::fs::remove_file(path);
    match UnixListener::bind(path) {
        Ok(listener) => {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            Ok(Claim::Primary(listener))
        }
        // Another launch won the race between our connect and bind: hand over to it.
        Err(e) if hand_over(path, args) => {
            tracing::debug!(error = %e, "another instance started first");
            Ok(Claim::Handed)
        }
        Err(e) => Err(e),
    }
}

/// How long one launch may take to hand over its arguments.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections read at once; more wait for a slot.
pub const MAX_CONNECTIONS: usize = 8;
/// The most one launch may hand over.
const MAX_MESSAGE: u64 = 64 * 1024;

/// Receives later launches' arguments and passes each to `on_launch`, on a thread of its own.
pub fn serve<R: Runtime>(
    listener: UnixListener,
    app: AppHandle<R>,
    on_launch: fn(&AppHandle<R>, &[String]),
) {
    serve_with(listener, move |args| {
        let app_for_main = app.clone();
        let _ = app.run_on_main_thread(move || on_launch(&app_for_main, &args));
    });
}

/// Accepts connections on a thread of its own and reads each on a thread of its own (at most
/// [`MAX_CONNECTIONS`] at once, each within [`READ_TIMEOUT`]; a further connection waits for a
/// slot, which frees within that time), passing every well-formed message (a JSON list of
/// strings) to `on_args`.
pub fn serve_with(listener: UnixListener, on_args: impl Fn(Vec<String>) + Send + Sync + 'static) {
    let on_args = Arc::new(on_args);
    let slots = Arc::new((Mutex::new(0usize), Condvar::new()));
    std::thread::Builder::new()
        .name("single-instance".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                {
                    let (open, freed) = &*slots;
                    let mut open = open.lock().unwrap_or_else(|p| p.into_inner());
                    while *open >= MAX_CONNECTIONS {
                        open = freed.wait(open).unwrap_or_else(|p| p.into_inner());
                    }
                    *open += 1;
                }
                let (on_args, slots) = (Arc::clone(&on_args), Arc::clone(&slots));
                let release = move || {
                    let (open, freed) = &*slots;
                    *open.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                    freed.notify_one();
                };
                let spawned = std::thread::Builder::new()
                    .name("single-instance-read".into())
                    .spawn({
                        let release = release.clone();
                        move || {
                            if let Some(args) = read_launch(stream) {
                                on_args(args);
                            }
                            release();
                        }
                    });
                if spawned.is_err() {
                    tracing::warn!("cannot start a thread for a later launch");
                    release();
                }
            }
        })
        .expect("spawn the single-instance listener");
}

/// One launch's arguments, or `None` when it sent nothing usable in time.
fn read_launch(stream: UnixStream) -> Option<Vec<String>> {
    stream.set_read_timeout(Some(READ_TIMEOUT)).ok()?;
    let deadline = std::time::Instant::now() + READ_TIMEOUT;
    let mut message = Vec::new();
    let mut limited = stream.take(MAX_MESSAGE + 1);
    let mut chunk = [0u8; 4096];
    loop {
        // The per-read timeout bounds each wait; the deadline bounds a sender trickling bytes.
        if std::time::Instant::now() > deadline {
            return None;
        }
        match limited.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => message.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
    if message.len() as u64 > MAX_MESSAGE {
        return None;
    }
    serde_json::from_slice(&message).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_hands_its_arguments_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test.sock");
        let Claim::Primary(listener) = claim(&path, &[]).unwrap() else {
            panic!("the first claim is primary")
        };
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "only this user may hand links to the running app"
        );
        let args = vec![
            "assent-desktop".to_owned(),
            "assent://enroll?server=x&token=y".to_owned(),
        ];
        let receiver = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut message = Vec::new();
            stream.read_to_end(&mut message).unwrap();
            serde_json::from_slice::<Vec<String>>(&message).unwrap()
        });
        assert!(
            matches!(claim(&path, &args).unwrap(), Claim::Handed),
            "the second claim hands over"
        );
        assert_eq!(receiver.join().unwrap(), args);
    }

    #[test]
    fn an_idle_connection_does_not_hold_up_a_later_launch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.sock");
        let Claim::Primary(listener) = claim(&path, &[]).unwrap() else {
            panic!("the first claim is primary")
        };
        let (tx, rx) = std::sync::mpsc::channel();
        serve_with(listener, move |args| {
            let _ = tx.send(args);
        });
        // Connections that never send anything (or never finish), more than can be read at once.
        let idle: Vec<UnixStream> = (0..MAX_CONNECTIONS + 2)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        let mut trickle = UnixStream::connect(&path).unwrap();
        trickle.write_all(b"[\"half").unwrap();
        let args = vec![
            "assent-desktop".to_owned(),
            "assent://enroll?server=x&token=y".to_owned(),
        ];
        assert!(
            hand_over(&path, &args),
            "the later launch connects and writes"
        );
        let received = rx
            .recv_timeout(READ_TIMEOUT * 5)
            .expect("the launch's arguments arrive despite the idle connections");
        assert_eq!(received, args);
        drop(idle);
        drop(trickle);
    }

    #[test]
    fn garbage_and_oversized_messages_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("garbage.sock");
        let Claim::Primary(listener) = claim(&path, &[]).unwrap() else {
            panic!("the first claim is primary")
        };
        let (tx, rx) = std::sync::mpsc::channel();
        serve_with(listener, move |args| {
            let _ = tx.send(args);
        });
        for bad in [
            b"not json".to_vec(),
            b"{\"a\":1}".to_vec(),
            serde_json::to_vec(&vec!["x".repeat(70 * 1024)]).unwrap(),
        ] {
            let mut stream = UnixStream::connect(&path).unwrap();
            let _ = stream.write_all(&bad);
            let _ = stream.shutdown(std::net::Shutdown::Write);
        }
        assert!(hand_over(&path, &["good".to_owned()]));
        assert_eq!(
            rx.recv_timeout(READ_TIMEOUT * 3).unwrap(),
            vec!["good".to_owned()],
            "only the well-formed launch is passed on"
        );
        assert!(rx.try_recv().is_err(), "nothing else was passed on");
    }

    #[test]
    fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale.sock");
        drop(UnixListener::bind(&path).unwrap()); // an instance that died, leaving its file
        assert!(path.exists());
        assert!(matches!(claim(&path, &[]).unwrap(), Claim::Primary(_)));
    }
}
