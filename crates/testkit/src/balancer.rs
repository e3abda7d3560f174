//! Debian's nginx in front of several instances, configured as `docs/operations.md` tells an
//! operator to: round robin, WebSocket upgrades proxied for the push stream, the path passed
//! through untouched (device signatures cover it), `X-Forwarded-For` set.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The nginx configuration for `upstreams` (`host:port` each), listening on `listen`, with its
/// files under `dir`. The same text as in `docs/operations.md`, plus the paths a private, unprivileged
/// instance needs.
pub fn config(listen: &str, upstreams: &[String], dir: &std::path::Path) -> String {
    let servers: String = upstreams
        .iter()
        .map(|u| format!("        server {u} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    let d = dir.display();
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        r#"{user}worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;

    # --- as in docs/operations.md ---
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      close;
    }}
    upstream assent {{
{servers}        keepalive 64;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://assent;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            # Push streams are long-lived; the service sends a heartbeat every 25 s.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            # A request is retried on another instance only if none was sent to the first.
            proxy_next_upstream error timeout;
        }}
    }}
    # --- end ---
}}
"#
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

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
        std::fs::write(&conf, config(&listen, upstreams, dir.path())).unwrap();
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
