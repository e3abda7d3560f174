//! The service .deb: installs, its hardened unit passes `systemd-analyze verify` and scores
//! "OK" or better in `systemd-analyze security`, and the unit's command, run by hand as the
//! unit's user with the unit's environment file and credential, serves /healthz with its state
//! in the state directory. (systemd is not PID 1 in this container, so the unit cannot be
//! started; everything systemd would do before exec is done by hand, as documented.)

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use assent_testkit::process::{KillOnDrop, free_port, wait_for};

use crate::support::{VERSION, apt_get, artefact, output, require_root, run};

const UNIT: &str = "/lib/systemd/system/assent.service";

/// The values of `key=` lines in the unit's [Service] section.
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_deb_installs_a_hardened_unit_whose_command_serves_as_its_user() {
    require_root();
    let _one = crate::ONE_AT_A_TIME.lock().await;
    let deb = artefact("service", ".deb");
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!("assent-server_{VERSION}_amd64.deb"),
        "the package name carries the workspace version"
    );
    let _ = output(Command::new("dpkg").args(["--purge", "assent-server"]));
    apt_get(&["install", deb.to_str().unwrap()]);

    let version = run(Command::new("/usr/bin/assent").arg("--version"));
    assert_eq!(version.trim(), format!("assent {VERSION}"));
    run(Command::new("systemd-analyze").args(["verify", UNIT]));
    let security = run(Command::new("systemd-analyze").args(["security", "--offline=yes", UNIT]));
    let overall = security
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("systemd-analyze security names an overall level: {security}"));
    assert!(
        overall.contains(" OK") || overall.contains(" SAFE"),
        "the unit's exposure is OK or better (docs/operations.md reports it): {overall}"
    );

    let unit = std::fs::read_to_string(UNIT).unwrap();
    for directive in [
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "StateDirectory=assent",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
        "EnvironmentFile=/etc/assent/assent.env",
        "LoadCredential=assent.kek:/etc/assent/assent.kek",
        "User=assent",
    ] {
        assert!(
            unit.lines().any(|l| l == directive),
            "the unit has {directive}"
        );
    }
    let exec_start = unit_values(&unit, "ExecStart");
    assert_eq!(exec_start.len(), 1, "one ExecStart: {exec_start:?}");
    let exec_start: Vec<&str> = exec_start[0].split_whitespace().collect();
    let kek = Path::new("/etc/assent/assent.kek");
    let mode = run(Command::new("stat").args(["-c", "%a %U", kek.to_str().unwrap()]));
    assert_eq!(mode.trim(), "600 root", "only root reads the KEK file");

    // What systemd does before exec, by hand: the credential copied for the service user, the
    // environment file read, the unit's umask; then ExecStart as User=.
    let credentials = tempfile::tempdir().unwrap();
    run(Command::new("install").args([
        "-m",
        "0400",
        "-o",
        "assent",
        kek.to_str().unwrap(),
        credentials.path().join("assent.kek").to_str().unwrap(),
    ]));
    run(Command::new("chown").args(["assent", credentials.path().to_str().unwrap()]));
    let env_file = std::fs::read_to_string("/etc/assent/assent.env").unwrap();
    let port = free_port();
    // setpriv changes user and execs (runuser would fork, and ending it would leave the
    // service running); sh sets the unit's umask and execs too, so the process this test
    // ends is the service itself.
    let mut command = Command::new("setpriv");
    command.args([
        "--reuid=assent",
        "--regid=assent",
        "--init-groups",
        "--",
        "sh",
        "-c",
        "umask 0077 && exec \"$@\"",
        "sh",
    ]);
    command.args(&exec_start);
    // systemd's default PATH for services.
    command.env_clear().env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    for line in env_file.lines().filter(|l| !l.starts_with('#')) {
        if let Some((k, v)) = line.split_once('=') {
            command.env(k, v);
        }
    }
    // The one change from the environment file: a free port, so the test never collides.
    command
        .env("ASSENT_LISTEN", format!("127.0.0.1:{port}"))
        .env("CREDENTIALS_DIRECTORY", credentials.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let service = KillOnDrop(command.spawn().expect("setpriv starts"));
    let health = wait_for("/healthz to answer", Duration::from_secs(30), || {
        http::blocking_get(&format!("http://127.0.0.1:{port}/healthz"))
    });
    assert_eq!(health, "ok");
    let db = Path::new("/var/lib/assent/assent.db");
    let owner = run(Command::new("stat").args(["-c", "%U %a", db.to_str().unwrap()]));
    assert_eq!(
        owner.trim(),
        "assent 600",
        "the database is in the state directory, the service user's and private"
    );
    assert!(
        !Path::new("/var/lib/assent/assent.db.kek").exists(),
        "the KEK came from the credential: none was made beside the database"
    );
    drop(service);
    apt_get(&["purge", "assent-server"]);
    assert!(
        !Path::new(UNIT).exists(),
        "the unit is gone with the package"
    );
}

mod http {
    /// A GET on loopback (no HTTP client needed for one line): the body when the status is 200.
    pub fn blocking_get(url: &str) -> Option<String> {
        use std::io::{Read as _, Write as _};
        let rest = url.strip_prefix("http://")?;
        let (host, path) = rest.split_once('/').map_or((rest, "/"), |(h, p)| (h, p));
        let mut stream = std::net::TcpStream::connect(host).ok()?;
        write!(
            stream,
            "GET /{} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n",
            path.trim_start_matches('/')
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        let (head, body) = answer.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.1 200")
            .then(|| body.trim().to_owned())
    }
}
