//! The shipped binaries attacked as an outsider would: a parameter bomb without credentials
//! against the debug and the release build, a slowloris of 2,000 sockets while a person approves,
//! and the service's log searched for every secret it handled.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use assent_testkit::process::{
    AssentService, CallbackSink, HeadlessDevice, ServeOptions, free_port, release_binary,
    require_session, wait_for,
};

/// One raw HTTP/1.1 call; the status code and body of the answer.
fn raw(url: &str, request: &str) -> (u16, String) {
    let mut socket = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = socket.read_to_string(&mut answer);
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn healthz(url: &str) -> u16 {
    raw(
        url,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .0
}

fn parameter_bombs_are_refused_and_the_process_survives(service: &mut AssentService) {
    for (depth, place) in [
        (2_000, "body"),
        (21_000, "body"),
        (2_000, "query"),
        (16_000, "query"),
    ] {
        let key = format!("message{}", "[]".repeat(depth));
        let request = if place == "body" {
            format!(
                "POST /onetouch/json/users/1/approval_requests HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{key}=1",
                key.len() + 2
            )
        } else {
            format!(
                "POST /onetouch/json/users/1/approval_requests?{key}=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        };
        let (status, body) = raw(&service.url, &request);
        assert_eq!(
            status,
            400,
            "a key nested {depth} deep in the {place} ({} bytes) must be refused: {body}",
            request.len()
        );
        assert!(body.contains("\"60002\""), "{body}");
        assert!(
            service.is_running(),
            "the process must survive a {depth}-deep key in the {place}"
        );
        assert_eq!(healthz(&service.url), 200);
    }
}

#[test]
fn a_parameter_bomb_without_credentials_leaves_the_debug_build_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = AssentService::start(dir.path(), &[]);
    parameter_bombs_are_refused_and_the_process_survives(&mut service);
}

#[test]
fn a_parameter_bomb_without_credentials_leaves_the_release_build_running() {
    let dir = tempfile::tempdir().unwrap();
    let mut service = AssentService::start_with(
        dir.path(),
        &[],
        ServeOptions {
            binary: Some(release_binary("assent")),
            ..ServeOptions::default()
        },
    );
    parameter_bombs_are_refused_and_the_process_survives(&mut service);
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// 2,000 sockets that each send a partial request and trickle a byte every second, reconnecting
/// whenever the service closes them (as slowloris does), spread over eight loopback addresses.
/// While they hold on, `/healthz` answers and a person enrolls and approves a sign-in; the
/// service's memory stays bounded.
#[test]
fn a_slowloris_of_2000_sockets_does_not_stop_healthz_or_an_approval() {
    require_session();
    let dir = tempfile::tempdir().unwrap();
    let mut service = AssentService::start(dir.path(), &[]);
    let pid = service.pid();
    let rss_before = rss_kib(pid, "VmRSS:");
    let url = service.url.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacker = {
        let stop = std::sync::Arc::clone(&stop);
        let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                use tokio::io::AsyncWriteExt as _;
                let open = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
                let mut tasks = Vec::new();
                for i in 0..2_000u32 {
                    let stop = std::sync::Arc::clone(&stop);
                    let open = std::sync::Arc::clone(&open);
                    let source = std::net::SocketAddr::from(([127, 0, 1, (i % 8) as u8 + 1], 0));
                    tasks.push(tokio::spawn(async move {
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            let socket = tokio::net::TcpSocket::new_v4().unwrap();
                            socket.bind(source).unwrap();
                            let Ok(mut stream) = socket.connect(addr).await else {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                continue;
                            };
                            open.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let mut alive = stream
                                .write_all(
                                    b"POST /protected/json/users/new HTTP/1.1\r\nHost: x\r\n",
                                )
                                .await
                                .is_ok();
                            while alive && !stop.load(std::sync::atomic::Ordering::Relaxed) {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                                alive = stream.write_all(b"X-a: b\r\n").await.is_ok();
                            }
                            open.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }));
                }
                // Report once most sockets are open, then hold until told to stop.
                for task in tasks {
                    let _ = task.await;
                }
                open.load(std::sync::atomic::Ordering::Relaxed)
            })
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    let rss_under_attack = rss_kib(pid, "VmRSS:");
    assert_eq!(healthz(&url), 200, "/healthz answers during the attack");
    let user = service.user("under-attack@example.com");
    let device = HeadlessDevice::enroll(dir.path(), &service.enroll_link(user));
    let uuid = service
        .assent(&[
            "request",
            "send",
            "--user",
            &user.to_string(),
            "--message",
            "Sign in during a slowloris",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    device.run(&["approve", &uuid]).ok();
    assert_eq!(service.status(&uuid)["status"], "approved");
    // Past the header timeout every held socket has been closed at least once.
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(healthz(&url), 200, "/healthz still answers");
    let rss_peak = rss_kib(pid, "VmHWM:");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    attacker.join().unwrap();
    println!(
        "slowloris (2,000 sockets): service RSS {} MiB before, {} MiB under attack, peak {} MiB",
        rss_before / 1024,
        rss_under_attack / 1024,
        rss_peak / 1024
    );
    assert!(
        rss_peak < rss_before + 100 * 1024,
        "memory must stay bounded: {rss_before} KiB before, peak {rss_peak} KiB"
    );
    assert!(service.is_running());
}

/// Everything secret the service handles in one flow (the API key, a registration token, a
/// callback URL's user name, password and query token, the key-encryption key) never appears in
/// its log, at the default level or at debug.
#[test]
fn the_log_carries_no_secret_the_service_handled() {
    require_session();
    for level in ["info", "debug"] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let callback = format!(
            "http://hookuser:hookpass5ecret@127.0.0.1:{port}/hook/p4thtoken?token=qu3rytoken"
        );
        let service = AssentService::start_with(
            dir.path(),
            &["--callback-url", &callback],
            ServeOptions {
                env: vec![("ASSENT_LOG".into(), level.into())],
                ..ServeOptions::default()
            },
        );
        let user = service.user("secrets@example.com");
        let link = service.enroll_link(user);
        let token = link
            .split("token=")
            .nth(1)
            .expect("the link carries a token")
            .to_owned();
        let device = HeadlessDevice::enroll(dir.path(), &link);
        // The npm client sends the key in the query string.
        let (status, _) = raw(
            &service.url,
            &format!(
                "GET /protected/json/users/{user}/status?api_key={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                service.api_key
            ),
        );
        assert_eq!(status, 200);
        let uuid = service
            .assent(&[
                "request",
                "send",
                "--user",
                &user.to_string(),
                "--message",
                "m",
            ])
            .ok()
            .stdout
            .trim()
            .to_owned();
        device.run(&["approve", &uuid]).ok();
        wait_for(
            "a failed callback delivery in the log",
            Duration::from_secs(20),
            || {
                service
                    .log_text()
                    .contains("callback delivery failed")
                    .then_some(())
            },
        );
        let sink = CallbackSink::bind(port);
        assert!(
            sink.next(Duration::from_secs(30)).is_some(),
            "the callback is delivered once its receiver is up"
        );
        let log = service.log_text();
        let kek = std::fs::read_to_string(dir.path().join("assent.db.kek")).unwrap();
        for (what, secret) in [
            ("API key", service.api_key.as_str()),
            ("registration token", token.as_str()),
            ("callback user", "hookuser"),
            ("callback password", "hookpass5ecret"),
            ("callback query token", "qu3rytoken"),
            ("callback path token", "p4thtoken"),
            ("key-encryption key", kek.trim()),
        ] {
            assert!(
                !log.contains(secret),
                "the {what} must not appear in the log at level {level}"
            );
        }
        assert!(
            log.contains(&format!("http://127.0.0.1:{port}/")),
            "the log still says where the callback went"
        );
    }
}

/// Every connection is an open file. A service started under a low soft limit raises it to the
/// hard limit; under a low hard limit it lowers its connection caps to fit and says so, rather
/// than failing with "too many open files" everywhere.
#[test]
fn the_service_fits_its_caps_to_the_open_files_limit() {
    for (ulimit, expect) in [
        ("ulimit -Sn 200", "raised the open-files limit"),
        ("ulimit -n 600", "lowering it to fit"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        let database = format!("sqlite://{}", dir.path().join("assent.db").display());
        let script = format!(
            "{ulimit} && exec {} serve --listen 127.0.0.1:0 --database {database}",
            assent_testkit::process::built_binary("assent").display()
        );
        let mut child = std::process::Command::new("sh")
            .args(["-c", &script])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let url = line.trim().trim_start_matches("listening on ").to_owned();
        assert_eq!(healthz(&url), 200, "{ulimit}: the service serves");
        let text = std::fs::read_to_string(&log).unwrap();
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            text.contains(expect),
            "{ulimit}: the log should say {expect:?}:\n{text}"
        );
    }
}
