//! One running app per data directory on Linux: a second launch hands its arguments (an
//! `assent://enroll` deep link, or nothing) to the running instance over a Unix socket, and exits.
//!
//! Why not `tauri-plugin-single-instance` here: on Linux it holds a zbus connection whose
//! `blocking` thread pool wakes every 500 ms for as long as the app runs (its last idle thread
//! never retires), which would cost the tray-resident app ~120 wake-ups a minute. A listener
//! blocked in `accept` costs none. macOS and Windows keep using the plugin.

use std::io::{Read as _, Write as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

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

/// Receives later launches' arguments and passes each to `on_launch`, on a thread of its own.
pub fn serve<R: Runtime>(
    listener: UnixListener,
    app: AppHandle<R>,
    on_launch: fn(&AppHandle<R>, &[String]),
) {
    std::thread::Builder::new()
        .name("single-instance".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut message = Vec::new();
                if stream.take(64 * 1024).read_to_end(&mut message).is_err() {
                    continue;
                }
                let args: Vec<String> = serde_json::from_slice(&message).unwrap_or_default();
                let app_for_main = app.clone();
                let _ = app.run_on_main_thread(move || on_launch(&app_for_main, &args));
            }
        })
        .expect("spawn the single-instance listener");
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
    fn a_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stale.sock");
        drop(UnixListener::bind(&path).unwrap()); // an instance that died, leaving its file
        assert!(path.exists());
        assert!(matches!(claim(&path, &[]).unwrap(), Claim::Primary(_)));
    }
}
