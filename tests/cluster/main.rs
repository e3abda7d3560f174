//! Several `assent serve` processes on one PostgreSQL database behind Debian's nginx, as an
//! operator runs them: devices connect through the balancer, requests are created on random
//! instances, and every fault an operator meets (an instance killed, the database restarted, the
//! relying party's endpoint down) loses nothing.
//!
//! Needs the built binaries, the throwaway PostgreSQL cluster and nginx (`scripts/test` provides
//! all three; alone: `scripts/with-postgres cargo test -p assent-e2e --test cluster`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assent_protocol::Uuid;
use assent_protocol::decision::Outcome;
use assent_protocol::request::DeviceRequest;
use assent_protocol::stream::StreamMessage;
use assent_testkit::balancer::Balancer;
use assent_testkit::process::{built_binary, free_port};
use assent_testkit::{Backend, CallbackReceiver, TestDevice};
use serde_json::json;
use tokio::sync::Notify;

/// One `assent serve` process.
struct Instance {
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

/// Three instances, one database, one balancer, one app.
struct Cluster {
    database: String,
    kek: PathBuf,
    instances: Vec<Instance>,
    balancer: Balancer,
    backend_key: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    async fn start(n: usize, callback_url: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let database = assent_testkit::postgres::new_database().await;
        let kek = dir.path().join("assent.kek");
        let assent = built_binary("assent");
        let out = Command::new(&assent)
            .args(["kek", "generate", kek.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new(&assent)
            .args([
                "app",
                "create",
                "--name",
                "Acme Bank",
                "--callback-url",
                callback_url,
                "--json",
                "--database",
                &database,
                "--kek-file",
                kek.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let app: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut instances: Vec<Instance> = (0..n)
            .map(|i| Instance {
                port: free_port(),
                child: None,
                log: dir.path().join(format!("instance-{i}.log")),
            })
            .collect();
        for (i, instance) in instances.iter_mut().enumerate() {
            Self::spawn(instance, i, &database, &kek);
        }
        let balancer = Balancer::start(
            &instances
                .iter()
                .map(|i| format!("127.0.0.1:{}", i.port))
                .collect::<Vec<_>>(),
        );
        Cluster {
            database,
            kek,
            instances,
            balancer,
            backend_key: app["api_key"].as_str().unwrap().to_owned(),
            dir,
        }
    }

    fn spawn(instance: &mut Instance, i: usize, database: &str, kek: &Path) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&instance.log)
            .unwrap();
        let mut child = Command::new(built_binary("assent"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{}", instance.port),
                "--database",
                database,
                "--kek-file",
                kek.to_str().unwrap(),
                "--instance",
                &format!("i{i}"),
                "--database-pool-size",
                "8",
                // The load below is one relying party on purpose; its budget is not under test.
                "--rate-per-api-key",
                "0",
                "--rate-per-source",
                "0",
                "--trusted-proxy",
                "127.0.0.1",
                "--public-url",
                "http://127.0.0.1:1",
            ])
            .env("ASSENT_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("assent serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.starts_with("listening on"),
            "instance {i} did not start: {}",
            std::fs::read_to_string(&instance.log).unwrap_or_default()
        );
        instance.child = Some(child);
    }

    fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.instances[i].port)
    }

    fn backend(&self, i: usize) -> Backend {
        Backend::new(&self.url(i), &self.backend_key)
    }

    fn kill(&mut self, i: usize) {
        let mut child = self.instances[i].child.take().expect("running");
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }

    fn restart(&mut self, i: usize) {
        let (database, kek) = (self.database.clone(), self.kek.clone());
        Self::spawn(&mut self.instances[i], i, &database, &kek);
    }

    fn logs(&self) -> String {
        self.instances
            .iter()
            .map(|i| std::fs::read_to_string(&i.log).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for instance in &mut self.instances {
            if let Some(mut child) = instance.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            let target = assent_testkit::process::artifacts_dir("cluster");
            let _ = std::fs::write(target.join("instances.log"), self.logs());
            eprintln!("instance logs: {}", target.join("instances.log").display());
        }
        let _ = &self.dir;
    }
}

/// What the simulated devices saw and did.
#[derive(Default)]
struct Seen {
    /// `request` pushes per request id.
    pushed: BTreeMap<Uuid, u32>,
    /// Requests that came in a `pending` catch-up.
    caught_up: BTreeSet<Uuid>,
    /// Requests a device could not fetch after being told about them.
    unfetchable: BTreeSet<Uuid>,
    /// Requests decided (approved, or found decided already).
    decided: BTreeSet<Uuid>,
    /// Stream (re)connections.
    connections: u32,
}

/// A device that stays connected through the balancer (reconnecting whenever its stream closes)
/// and approves every request it hears of, once.
async fn run_device(device: TestDevice, seen: Arc<Mutex<Seen>>, stop: Arc<Notify>) {
    let mut handled = BTreeSet::new();
    loop {
        let mut stream = loop {
            match device.try_connect().await {
                Ok(stream) => break stream,
                Err(_) => {
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_millis(200)) => continue,
                        () = stop.notified() => return,
                    }
                }
            }
        };
        seen.lock().unwrap().connections += 1;
        loop {
            let message = tokio::select! {
                message = stream.next_within(Duration::from_secs(60)) => message,
                () = stop.notified() => return,
            };
            let ids = match message {
                Ok(Some(StreamMessage::Request { id })) => {
                    *seen.lock().unwrap().pushed.entry(id).or_insert(0) += 1;
                    vec![id]
                }
                Ok(Some(StreamMessage::Pending { ids })) => {
                    seen.lock().unwrap().caught_up.extend(ids.iter().copied());
                    ids
                }
                Ok(Some(_)) | Err(_) => continue,
                Ok(None) => break,
            };
            for id in ids {
                if handled.insert(id) {
                    approve(&device, id, &seen).await;
                }
            }
        }
    }
}

/// Fetches, verifies and approves `id`, retrying while the instance behind the balancer is
/// changing (a killed instance answers 502 until nginx stops choosing it).
async fn approve(device: &TestDevice, id: Uuid, seen: &Mutex<Seen>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let reply = device
            .call("GET", &format!("/device/v1/requests/{id}"), Vec::new())
            .await;
        if reply.status == 404 {
            seen.lock().unwrap().unfetchable.insert(id);
            return;
        }
        if reply.status != 200 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let envelope: DeviceRequest = serde_json::from_value(reply.body).unwrap();
        let details = envelope
            .request
            .verify(&device.service_key)
            .expect("every instance signs with the one service key the device pinned");
        let body = device.decision(&details, Outcome::Approve, None, None);
        let reply = device.decide_body(id, body).await;
        match (reply.status.as_u16(), reply.code()) {
            (200, _) | (409, "60079") => {
                seen.lock().unwrap().decided.insert(id);
                return;
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("request {id} could not be approved within a minute");
}

/// Waits until `check` holds, or panics with `what` after `timeout`.
async fn until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Enrolls `n` devices (through the balancer) and starts their loops.
async fn devices(
    cluster: &Cluster,
    n: usize,
    seen: &Arc<Mutex<Seen>>,
    stop: &Arc<Notify>,
) -> Vec<u64> {
    let mut users = Vec::new();
    for i in 0..n {
        let backend = cluster.backend(i % cluster.instances.len());
        let user = backend.create_user(&format!("person{i}@example.com")).await;
        let token = backend.registration(user).await;
        let device = TestDevice::enroll(&cluster.balancer.url, &token, "device").await;
        tokio::spawn(run_device(device, Arc::clone(seen), Arc::clone(stop)));
        users.push(user);
    }
    until("every device is connected", Duration::from_secs(60), || {
        seen.lock().unwrap().connections as usize >= n
    })
    .await;
    users
}

/// Creates `count` requests for `users` (round robin) through random instances that are up.
async fn create_requests(
    cluster: &Cluster,
    users: &[u64],
    count: usize,
    up: &[usize],
) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let instance = up[rand::random::<usize>() % up.len()];
        let (id, _) = cluster
            .backend(instance)
            .request(
                users[i % users.len()],
                json!({"message": format!("Sign in #{i}?")}),
            )
            .await;
        ids.push(id);
    }
    ids
}

/// Callbacks received, per request.
async fn deliveries(callbacks: &mut CallbackReceiver, into: &mut BTreeMap<String, u32>) {
    while let Ok(callback) = callbacks.received.try_recv() {
        let payload: serde_json::Value = serde_json::from_slice(&callback.body).unwrap();
        *into
            .entry(payload["uuid"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_behind_nginx_push_each_request_once_and_call_back_once() {
    let mut callbacks = CallbackReceiver::start().await;
    let cluster = Cluster::start(3, &callbacks.url).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(Notify::new());
    let users = devices(&cluster, 200, &seen, &stop).await;
    let ids = create_requests(&cluster, &users, 1_000, &[0, 1, 2]).await;
    until("every request is decided", Duration::from_secs(180), || {
        seen.lock().unwrap().decided.len() == ids.len()
    })
    .await;
    let mut delivered = BTreeMap::new();
    until(
        "a callback for every request",
        Duration::from_secs(120),
        || {
            while let Ok(callback) = callbacks.received.try_recv() {
                let payload: serde_json::Value = serde_json::from_slice(&callback.body).unwrap();
                *delivered
                    .entry(payload["uuid"].as_str().unwrap().to_owned())
                    .or_insert(0u32) += 1;
            }
            delivered.len() == ids.len()
        },
    )
    .await;
    // A moment for any duplicate still on its way.
    tokio::time::sleep(Duration::from_secs(3)).await;
    deliveries(&mut callbacks, &mut delivered).await;
    stop.notify_waiters();
    let seen = seen.lock().unwrap();
    for id in &ids {
        assert_eq!(
            seen.pushed.get(id),
            Some(&1),
            "request {id} must reach its person's device exactly once"
        );
        assert_eq!(
            delivered.get(&id.to_string()),
            Some(&1),
            "request {id} must be called back exactly once"
        );
    }
    assert!(seen.caught_up.is_empty(), "no device had to catch up");
    assert!(
        seen.unfetchable.is_empty(),
        "every pushed request could be fetched"
    );
    assert_eq!(seen.connections, 200, "no stream was dropped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_under_load_loses_no_decision_and_no_callback() {
    let mut callbacks = CallbackReceiver::start().await;
    let mut cluster = Cluster::start(3, &callbacks.url).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(Notify::new());
    let users = devices(&cluster, 60, &seen, &stop).await;
    let mut ids = create_requests(&cluster, &users, 150, &[0, 1, 2]).await;
    // Instance 0 dies with whatever it held: streams, claims, requests in flight.
    cluster.kill(0);
    ids.extend(create_requests(&cluster, &users, 150, &[1, 2]).await);
    until("every request is decided", Duration::from_secs(180), || {
        seen.lock().unwrap().decided.len() == ids.len()
    })
    .await;
    cluster.restart(0);
    let mut delivered = BTreeMap::new();
    // A callback instance 0 had claimed is taken over when its lease ends (timeout + 30 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered.len() < ids.len() && Instant::now() < deadline {
        deliveries(&mut callbacks, &mut delivered).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.notify_waiters();
    let seen = seen.lock().unwrap();
    for id in &ids {
        assert!(
            seen.decided.contains(id),
            "request {id}'s decision must not be lost"
        );
        assert!(
            delivered.contains_key(&id.to_string()),
            "request {id} must be called back (at least once)"
        );
    }
    assert!(
        seen.unfetchable.is_empty(),
        "every pushed request could be fetched"
    );
    assert!(
        seen.connections > 60,
        "the killed instance's devices reconnected through the balancer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_is_survived_and_devices_are_resynced() {
    let mut callbacks = CallbackReceiver::start().await;
    let cluster = Cluster::start(3, &callbacks.url).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(Notify::new());
    let users = devices(&cluster, 30, &seen, &stop).await;
    let mut ids = create_requests(&cluster, &users, 60, &[0, 1, 2]).await;
    until(
        "the first requests are decided",
        Duration::from_secs(60),
        || seen.lock().unwrap().decided.len() == ids.len(),
    )
    .await;
    let before = seen.lock().unwrap().connections;
    assent_testkit::postgres::restart_cluster();
    // Every instance's listener reconnects and has its devices re-sync.
    until(
        "the devices reconnected after the listeners did",
        Duration::from_secs(60),
        || seen.lock().unwrap().connections >= before + 30,
    )
    .await;
    let ready = |i: usize| {
        let url = format!("{}/readyz", cluster.url(i));
        async move {
            reqwest::get(url)
                .await
                .is_ok_and(|r| r.status() == reqwest::StatusCode::OK)
        }
    };
    for i in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready(i).await {
            assert!(
                Instant::now() < deadline,
                "instance {i} never became ready again"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    ids.extend(create_requests(&cluster, &users, 60, &[0, 1, 2]).await);
    until("every request is decided", Duration::from_secs(120), || {
        seen.lock().unwrap().decided.len() == ids.len()
    })
    .await;
    let mut delivered = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while delivered.len() < ids.len() && Instant::now() < deadline {
        deliveries(&mut callbacks, &mut delivered).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop.notify_waiters();
    for id in &ids {
        assert!(
            delivered.contains_key(&id.to_string()),
            "request {id} called back"
        );
    }
    assert!(seen.lock().unwrap().unfetchable.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relying_party_down_for_a_minute_gets_every_callback_after() {
    let mut callbacks = CallbackReceiver::start().await;
    let cluster = Cluster::start(3, &callbacks.url).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(Notify::new());
    let users = devices(&cluster, 20, &seen, &stop).await;
    *callbacks.answer.lock().unwrap() = 503;
    let down_since = Instant::now();
    let ids = create_requests(&cluster, &users, 40, &[0, 1, 2]).await;
    until("every request is decided", Duration::from_secs(60), || {
        seen.lock().unwrap().decided.len() == ids.len()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(60).saturating_sub(down_since.elapsed())).await;
    // Drop what arrived while the endpoint answered 503: those attempts failed.
    let mut failed = BTreeMap::new();
    deliveries(&mut callbacks, &mut failed).await;
    assert!(
        !failed.is_empty(),
        "attempts were made while the endpoint was down"
    );
    *callbacks.answer.lock().unwrap() = 200;
    let mut delivered = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(150);
    while delivered.len() < ids.len() && Instant::now() < deadline {
        while let Ok(callback) = callbacks.received.try_recv() {
            if *callbacks.answer.lock().unwrap() == 200 {
                let payload: serde_json::Value = serde_json::from_slice(&callback.body).unwrap();
                delivered.insert(payload["uuid"].as_str().unwrap().to_owned(), ());
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.notify_waiters();
    for id in &ids {
        assert!(
            delivered.contains_key(&id.to_string()),
            "request {id} is called back once the endpoint is up again"
        );
    }
}
