//! Debian's nginx in front of several instances, configured by `assent nginx-config` (the
//! configuration `docs/operations.md` gives operators): round robin, WebSocket upgrades proxied for
//! the push stream, the path passed through untouched (device signatures cover it),
//! `X-Forwarded-For` set.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running nginx; stopped (with its workers) when dropped.
#[derive(Debug)]
pub struct Balancer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Balancer {
    /// Starts nginx in front of `upstreams`.
    ///
    /// # Panics
    /// When nginx is not installed or does not start (its error log is in the message).
    pub fn start(upstreams: &[String]) -> Balancer {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let conf = dir.path().join("nginx.conf");
        let mut command = Command::new(crate::process::built_binary("assent"));
        command.args(["nginx-config", "--listen", &listen, "--private-dir"]);
        command.arg(dir.path());
        for upstream in upstreams {
            command.args(["--upstream", upstream]);
        }
        let out = command.output().expect("assent nginx-config runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&conf, out.stdout).unwrap();
        let nginx = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .expect("nginx is installed (apt package nginx; scripts/test installs it)");
        let child = Command::new(nginx)
            .args([
                "-c",
                conf.to_str().unwrap(),
                "-p",
                dir.path().to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&listen).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Balancer {
            url: format!("http://{listen}"),
            child,
            _dir: dir,
        }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        // SIGQUIT would wait for open streams; stop at once.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
