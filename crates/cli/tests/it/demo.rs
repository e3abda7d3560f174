//! `assent demo` in a terminal: the service, Acme Bank and the interactive prompt, answered by
//! typing; and a clean stop on Ctrl-C.
//!
//! The first test is the newcomer on a server: no display, no D-Bus session bus (so no Secret
//! Service), driven through a real terminal (tmux): the demo starts a private Secret Service, the
//! login Acme Bank asks for reaches the prompt, the answers typed there reach Acme Bank, and
//! Ctrl-C leaves no process, key or temporary file behind. The screen is saved in
//! `target/test-artifacts/demo/`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::assent_bin;

/// A tmux server on a socket of its own, killed when dropped.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed (scripts/lib/setup.sh installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The whole screen and its scrollback, wrapped lines joined.
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-J", "-S", "-500"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "demo"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Waits until the screen satisfies `check` (panicking with the screen after `within`).
    fn until<T>(&self, what: &str, within: Duration, check: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + within;
        loop {
            let screen = self.screen();
            if let Some(found) = check(&screen) {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "the demo's screen never showed {what} within {within:?}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn shows(&self, what: &str) {
        self.until(&format!("{what:?}"), Duration::from_secs(60), |s| {
            s.contains(what).then_some(())
        });
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

/// Processes whose environment carries `marker`.
fn marked_processes(marker: &str) -> Vec<String> {
    let needle = format!("ASSENT_DEMO_TEST_MARKER={marker}");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ
            .split(|b| *b == 0)
            .any(|var| var == needle.as_bytes())
        {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{} {}",
                entry.file_name().to_string_lossy(),
                String::from_utf8_lossy(&cmdline).replace('\0', " ")
            ));
        }
    }
    found
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            out.push(entry.path());
            if entry.path().is_dir() {
                stack.push(entry.path());
            }
        }
    }
    out
}

/// The last request card on screen: who it is for, and its text up to the prompt.
fn last_card(screen: &str) -> Option<(String, String)> {
    let start = screen.rfind("[A] Acme Bank  for ")?;
    // Up to its answer line: what the relying party prints meanwhile comes after (a card still
    // being drawn is no card yet).
    let rest = &screen[start..];
    let end = rest.find("this wasn't me")? + "this wasn't me".len();
    let card = &rest[..end];
    let who = card["[A] Acme Bank  for ".len()..]
        .split_whitespace()
        .next()?
        .to_owned();
    Some((who, card.to_owned()))
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/demo");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_demo_runs_in_a_bare_terminal_and_ctrl_c_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let marker = uuid::Uuid::new_v4().to_string();
    let tmux = Tmux {
        socket: sockets.path().join("tmux.sock"),
    };
    // No DISPLAY, no D-Bus session bus (nor XDG_RUNTIME_DIR, where one could be found): a bare
    // terminal, as over SSH. The demo's processes carry a marker to find any left behind.
    let command = format!(
        "ASSENT_DEMO_TEST_MARKER={marker} {} demo --auto-login; echo demo-exited-$?; sleep 600",
        assent_bin()
    );
    let started = Command::new("env")
        .arg("-i")
        .arg(format!("PATH={}", std::env::var("PATH").unwrap()))
        .arg(format!("HOME={}", tmp.path().display()))
        .arg("TERM=xterm-256color")
        .arg(format!("TMPDIR={}", tmp.path().display()))
        .arg("ASSENT_LOG=warn")
        .arg("tmux")
        .arg("-S")
        .arg(&tmux.socket)
        .args([
            "new-session",
            "-d",
            "-s",
            "demo",
            "-x",
            "120",
            "-y",
            "60",
            &command,
        ])
        .status()
        .expect("tmux is installed (scripts/lib/setup.sh installs it)");
    assert!(started.success(), "tmux started the demo");

    // It starts a private Secret Service, says so in one line, and shows where Acme Bank is.
    tmux.shows("No Secret Service here: the demo runs a private one");
    let bank = tmux.until("Acme Bank's address", Duration::from_secs(60), |s| {
        s.lines()
            .find_map(|l| l.strip_prefix("acme bank: "))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_owned)
    });
    assert!(
        files_under(tmp.path())
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "keyring")),
        "the demo's keys live in the private keyring's files while it runs: {:?}",
        files_under(tmp.path())
    );

    // 1. The login the demo makes at Acme Bank as Ana reaches the prompt, shown as the app would.
    let card = tmux.until("the login card", Duration::from_secs(60), |s| {
        last_card(s).filter(|(who, card)| {
            who == "Ana"
                && card.contains("Sign in to Acme Bank?")
                && s.rsplit("this wasn't me")
                    .next()
                    .is_some_and(|after| after.contains("> "))
        })
    });
    for shown in [
        "Username",
        "ana",
        "From 127.0.0.1",
        "Expires in ",
        "a approve",
    ] {
        assert!(
            card.1.contains(shown),
            "the card shows {shown:?}:\n{}",
            card.1
        );
    }
    let countdown = |s: &str| {
        s.lines()
            .rev()
            .find_map(|l| l.split("Expires in ").nth(1))
            .map(str::to_owned)
    };
    let first = countdown(&tmux.screen()).unwrap();
    tmux.until("the countdown ticking", Duration::from_secs(5), |s| {
        countdown(s).filter(|now| *now != first)
    });
    tmux.keys(&["a", "Enter"]);
    tmux.shows("Acme Bank: Ana is signed in.");

    // 2. The wire: Bo approves; Ana first types a code of the wrong length (nothing is sent),
    //    then a wrong code (the service counts it and says how many tries are left), then the
    //    one Acme Bank shows her.
    let code: String = tmux.until(
        "the code on the bank's page",
        Duration::from_secs(60),
        |s| {
            s.split("Acme Bank's page shows Ana the code ")
                .nth(1)
                .and_then(|rest| rest.split(':').next())
                .map(str::to_owned)
        },
    );
    assert_eq!(code.len(), 4, "a 4-digit code: {code:?}");
    let wrong = assent_testkit::another_code(&code);
    let mut answered = Vec::new();
    while answered.len() < 2 {
        let (who, card) = tmux.until("a wire card", Duration::from_secs(60), |s| {
            last_card(s).filter(|(who, card)| {
                card.contains("Approve wire transfer") && !answered.contains(who)
            })
        });
        if who == "Bo" {
            assert!(card.contains("Needs 2 of 2 approvers."), "{card}");
            tmux.keys(&["a", "Enter"]);
            tmux.shows("Approved. Waiting for the other approvers.");
        } else {
            assert!(
                card.contains("Type the 4-digit code shown where you signed in to approve."),
                "{card}"
            );
            // The account number's 4-digit groups are the request's own; one in 2,000 codes
            // would be one of them.
            let without_account = card.replace("PT50 0002 0123 1234 5678 9015 4", "");
            assert!(
                !assent_testkit::shows_code(&without_account, &code),
                "the device never shows the code: {card}"
            );
            tmux.keys(&["12", "Enter"]);
            tmux.shows("The code has 4 digits; nothing was sent.");
            tmux.keys(&[&wrong, "Enter"]);
            tmux.shows("2 tries left");
            tmux.keys(&[&code, "Enter"]);
        }
        answered.push(who);
    }
    tmux.shows("Acme Bank: the transfer was sent (both approved).");

    // 3. A person signing in at Acme Bank from elsewhere: "this wasn't me" reaches the bank.
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{bank}/login"))
        .form(&[("username", "ana"), ("password", "demo")])
        .send()
        .unwrap();
    let flow = login.headers()["location"]
        .to_str()
        .unwrap()
        .strip_prefix("/flows/")
        .expect("Acme Bank asked Assent")
        .to_owned();
    tmux.until("the second login card", Duration::from_secs(60), |s| {
        (s.matches("Sign in to Acme Bank?").count() >= 2
            && last_card(s).is_some_and(|(_, c)| c.contains("Sign in to Acme Bank?")))
        .then_some(())
    });
    tmux.keys(&["n", "Enter"]);
    tmux.shows("Denied and reported as not you: Acme Bank was told.");
    tmux.shows("New requests from Acme Bank are blocked until");
    let status: Value = http
        .get(format!("{bank}/flows/{flow}/status"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        status["status"], "denied",
        "Acme Bank sees the denial: {status}"
    );
    // The decision's callback and the fraud_reported event are delivered separately.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (callbacks, seen) = loop {
        let callbacks: Value = http
            .get(format!("{bank}/callbacks"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let callbacks = callbacks.as_array().cloned().unwrap_or_default();
        let seen: Vec<(String, String, String)> = callbacks
            .iter()
            .map(|c| {
                let field = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
                (field("action"), field("status"), field("reason"))
            })
            .collect();
        let complete = seen.iter().filter(|(_, s, _)| s == "approved").count() >= 2
            && seen.iter().any(|(_, s, r)| s == "denied" && r == "not_me")
            && seen.iter().any(|(a, _, _)| a == "fraud_reported");
        if complete || std::time::Instant::now() > deadline {
            break (callbacks, seen);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        seen.iter().filter(|(_, s, _)| s == "approved").count() >= 2
            && seen.iter().any(|(_, s, r)| s == "denied" && r == "not_me"),
        "Acme Bank verified signed callbacks for the login, the wire and the denial: {seen:?}"
    );
    assert!(
        seen.iter().any(|(a, _, _)| a == "fraud_reported"),
        "Acme Bank verified the fraud_reported event too: {callbacks:?}"
    );

    let dir = artifacts();
    std::fs::write(dir.join("terminal.txt"), tmux.screen()).unwrap();
    std::fs::write(
        dir.join("terminal.ansi"),
        tmux.run(&["capture-pane", "-p", "-e", "-J", "-S", "-500"]),
    )
    .unwrap();

    // 4. Ctrl-C: everything stops, and nothing is left behind.
    tmux.keys(&["C-c"]);
    tmux.shows("demo-exited-0");
    let screen = tmux.screen();
    std::fs::write(dir.join("terminal-stopped.txt"), &screen).unwrap();
    assert!(
        screen.contains("stopped: the service, Acme Bank and the authenticator are shut down"),
        "{screen}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !marked_processes(&marker).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        marked_processes(&marker),
        Vec::<String>::new(),
        "no process of the demo survives Ctrl-C (the keyring and D-Bus daemons included)"
    );
    assert_eq!(
        files_under(tmp.path()),
        Vec::<PathBuf>::new(),
        "no temporary file survives: the demo's data and its private keyring (its keys) are gone"
    );
}

/// Lines the demo prints, read on a thread.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    lines
}

#[test]
fn with_a_secret_service_the_terminal_demo_uses_it_and_deletes_its_keys() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "this test uses the session's keychain: run through scripts/session"
    );
    let keyring = format!("assent-test-{}", uuid::Uuid::new_v4());
    // Killed when the test fails half-way: a demo left running would keep its keys and sockets.
    let mut demo = assent_testkit::process::KillOnDrop(
        Command::new(assent_bin())
            .args(["demo", "--terminal"])
            .env("ASSENT_KEYRING_SERVICE", &keyring)
            .env("ASSENT_LOG", "warn")
            .env_remove("DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let lines = lines_of(&mut demo.0);
    let mut seen = Vec::new();
    let mut wait_for = |what: &str| -> String {
        loop {
            let line = lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no line with {what:?} within 60 s; got {seen:#?}"));
            seen.push(line.clone());
            if line.contains(what) {
                return line;
            }
        }
    };
    let first = wait_for("Assent demo");
    assert!(
        !first.contains("private one"),
        "a Secret Service is running: the demo uses it, and starts none: {first}"
    );
    assert!(
        first.starts_with("Assent demo, in this terminal (data in "),
        "{first}"
    );
    let data = first
        .split("(data in ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // The demo's relying party and the prompt print from different tasks, and both requests are
    // sent in the same second: the cards, the "sent" lines, the prompt's "Approved." and the
    // outcomes interleave in any order. So the lines are read one at a time, and each card is
    // answered once the code it may need is known.
    let stdin = demo.0.stdin.as_mut().unwrap();
    let mut code: Option<String> = None;
    let mut card_waiting: Option<String> = None;
    let (mut approved, mut decided) = (0, false);
    while approved < 2 || !decided {
        let line = wait_for("");
        if line.contains("sent: Approve wire transfer") {
            let typed = line
                .split("(type ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .expect("the demo prints the code to type");
            code = Some(typed.to_owned());
            assert_eq!(
                keys_in(&keyring),
                4,
                "Ana's and Bo's signing keys and one-time code seeds are in the keychain while the demo runs"
            );
        }
        if line.contains("this wasn't me") {
            assert!(
                card_waiting.is_none(),
                "one card at a time: {line} after {card_waiting:?}"
            );
            card_waiting = Some(line.clone());
        }
        approved += usize::from(line.contains("Approved."));
        decided |= line.contains("Both sample requests are decided.");
        match (&card_waiting, &code) {
            (Some(card), Some(code)) if card.contains("type the code") => {
                writeln!(stdin, "{code}").unwrap();
                card_waiting = None;
            }
            (Some(card), _) if !card.contains("type the code") => {
                writeln!(stdin, "a").unwrap();
                card_waiting = None;
            }
            _ => {}
        }
    }

    Command::new("kill")
        .args(["-INT", &demo.0.id().to_string()])
        .status()
        .unwrap();
    let status = demo.0.wait().unwrap();
    assert!(status.success(), "Ctrl-C stops the demo cleanly: {status}");
    wait_for("stopped:");
    let cards = seen
        .iter()
        .filter(|l| l.starts_with("| [A] Acme Bank"))
        .count();
    assert_eq!(
        cards, 2,
        "each sample request is shown once, none again after it was answered: {seen:#?}"
    );
    let outcomes: Vec<&String> = seen.iter().filter(|l| l.starts_with("outcome ")).collect();
    assert!(
        outcomes.len() == 2 && outcomes.iter().all(|o| o.ends_with(": approved")),
        "both sample requests are approved at the service: {outcomes:?}"
    );
    assert!(
        !Path::new(&data).exists(),
        "the demo's temporary data is removed"
    );
    assert_eq!(keys_in(&keyring), 0, "stopping the demo deletes its keys");
}

/// Keychain items stored under a keyring service name (what `secret-tool` finds).
fn keys_in(service: &str) -> usize {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", service])
        .output()
        .expect("secret-tool is installed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter(|l| l.starts_with("[/"))
        .count()
}
