//! A private Secret Service for the demo, on machines that have none (a server reached over SSH,
//! a container): a D-Bus daemon of its own and gnome-keyring on it, both with their files in a
//! temporary directory, for as long as the demo runs. The demo runs as a child process on that
//! bus; when it ends (Ctrl-C included), the keyring and the bus are stopped and the directory is
//! deleted, so the demo's keys go away with it.
//!
//! The daemons run in process groups of their own, so Ctrl-C reaches the demo (which then
//! deletes its keys through them) but not them; this process waits for the demo and then
//! stops them.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use assent_device::{Error, Keychain, SecretStore as _};

/// Set in the demo's environment when it runs on the private Secret Service.
pub const INSIDE_ENV: &str = "ASSENT_DEMO_PRIVATE_KEYCHAIN";

/// True when a Secret Service answers here.
pub fn reachable(keychain: &Keychain) -> bool {
    !matches!(
        keychain.load(uuid::Uuid::nil()),
        Err(Error::KeychainUnavailable { .. })
    )
}

/// Waits (up to 10 s) for the private Secret Service the parent started to answer.
///
/// # Errors
/// When it never does.
pub fn wait_until_reachable(keychain: &Keychain) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reachable(keychain) {
        if Instant::now() > deadline {
            bail!("the private Secret Service did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// A daemon stopped (and reaped) when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A session bus without service activation: nothing is started behind our back.
fn bus_config(dir: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        dir.display()
    )
}

fn daemon(command: &mut Command, what: &str) -> anyhow::Result<Daemon> {
    command
        .process_group(0)
        .spawn()
        .map(Daemon)
        .with_context(|| {
            format!("no Secret Service is running here and {what} could not be started to provide one (install dbus and gnome-keyring; scripts/demo does)")
        })
}

/// Runs this `assent demo` again, as a child on a private Secret Service, and cleans up after it.
///
/// # Errors
/// When the daemons cannot be started.
pub async fn run_demo_inside() -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new()
        .prefix("assent-keychain-")
        .tempdir()
        .context("creating a temporary directory")?;
    let (data, run) = (dir.path().join("data"), dir.path().join("run"));
    for d in [&data, &run] {
        std::fs::create_dir(d)?;
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    }
    let config = dir.path().join("bus.conf");
    std::fs::write(&config, bus_config(dir.path()))?;
    let mut bus = daemon(
        Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
        "a D-Bus daemon",
    )?;
    let mut address = String::new();
    BufReader::new(bus.0.stdout.take().context("dbus-daemon's output")?)
        .read_line(&mut address)
        .context("reading the D-Bus address")?;
    let address = address.trim().to_owned();
    if address.is_empty() {
        bail!("the private D-Bus daemon did not start");
    }
    let mut keyring = daemon(
        Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &address)
            .env("XDG_DATA_HOME", &data)
            .env("XDG_RUNTIME_DIR", &run)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "gnome-keyring",
    )?;
    // `--unlock` reads the new keyring's password from standard input, up to its end. The
    // keyring lives and dies with this demo, so its password protects nothing beyond it.
    if let Some(mut stdin) = keyring.0.stdin.take() {
        stdin.write_all(b"assent-demo")?;
    }
    println!(
        "No Secret Service here: the demo runs a private one (gnome-keyring on its own D-Bus); its keys go away with it."
    );
    // Listening for Ctrl-C before the demo starts means it never stops this process: the demo
    // gets it too, stops by itself, and this process then cleans up.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut demo = tokio::process::Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env("DBUS_SESSION_BUS_ADDRESS", &address)
        .env(INSIDE_ENV, "1")
        .spawn()
        .context("starting the demo")?;
    let status = loop {
        tokio::select! {
            status = demo.wait() => break status?,
            _ = interrupt.recv() => {}
        }
    };
    drop(keyring);
    drop(bus);
    dir.close()
        .context("removing the private Secret Service's files")?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::from(crate::exit::ERROR),
    })
}
