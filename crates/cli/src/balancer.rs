//! `assent nginx-config`: the nginx configuration for several instances behind one balancer, as
//! `docs/operations.md` describes it. The multi-instance tests and `assent bench --instances` run
//! nginx with exactly this text, so what operators copy is what is tested.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

/// Options of `assent nginx-config`.
#[derive(Debug, Args)]
pub struct NginxConfigArgs {
    /// Where nginx listens (plain HTTP; put TLS in front or add it to the server block).
    #[arg(long)]
    listen: SocketAddr,
    /// An instance's address (repeat for each).
    #[arg(long = "upstream", required = true)]
    upstreams: Vec<SocketAddr>,
    /// Write a complete configuration for a private nginx run from DIR (its pid, logs and
    /// temporary files there), as the tests do, instead of the `http {}` snippet.
    #[arg(long)]
    private_dir: Option<PathBuf>,
}

/// The `map`, `upstream` and `server` blocks that go inside nginx's `http {}`.
pub fn http_blocks(listen: SocketAddr, upstreams: &[SocketAddr]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|u| format!("    server {u} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    format!(
        r#"map $http_upgrade $connection_upgrade {{
    default upgrade;
    ''      close;
}}
upstream assent {{
{servers}    keepalive 64;
}}
server {{
    listen {listen};
    location / {{
        proxy_pass http://assent;          # no URI part: paths pass through untouched
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_read_timeout 1h;             # push streams are long-lived (heartbeat every 25 s)
        proxy_send_timeout 1h;
        proxy_next_upstream error timeout; # retry only when nothing was sent
    }}
}}
"#
    )
}

/// A whole configuration for an nginx running privately from `dir` (daemon off, its files in
/// `dir`), around [`http_blocks`].
pub fn private_config(listen: SocketAddr, upstreams: &[SocketAddr], dir: &Path) -> String {
    let d = dir.display();
    // Run as root (tests in CI, the bench), nginx's workers would switch to `nobody`, who cannot
    // write the private temporary paths.
    let user = if is_root() { "user root;\n" } else { "" };
    let blocks = http_blocks(listen, upstreams)
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect::<String>();
    format!(
        "{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 16384; }}\nhttp {{\n    access_log off;\n    \
         client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n    \
         fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n    \
         scgi_temp_path {d}/scgi;\n{blocks}}}\n"
    )
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Prints the configuration.
pub fn run(args: &NginxConfigArgs) -> ExitCode {
    match &args.private_dir {
        Some(dir) => print!("{}", private_config(args.listen, &args.upstreams, dir)),
        None => print!("{}", http_blocks(args.listen, &args.upstreams)),
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instance_is_an_upstream_and_upgrades_are_forwarded() {
        let text = http_blocks(
            "127.0.0.1:8080".parse().unwrap(),
            &[
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap(),
            ],
        );
        assert!(text.contains("server 127.0.0.1:1 max_fails"));
        assert!(text.contains("server 127.0.0.1:2 max_fails"));
        assert!(text.contains("proxy_set_header Upgrade $http_upgrade;"));
        assert!(
            text.contains("proxy_pass http://assent; "),
            "no URI part, so paths are passed untouched"
        );
    }
}
