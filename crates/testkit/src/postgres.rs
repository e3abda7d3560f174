//! PostgreSQL for tests: one fresh database per test service in the throwaway cluster that
//! `scripts/test` (or `scripts/with-postgres`) starts and removes; nothing is mocked.

use std::process::Command;

use sqlx::Connection as _;

/// The cluster's superuser URL (`ASSENT_TEST_POSTGRES_URL`).
///
/// # Panics
/// When no cluster was started: the message says how to start one.
pub fn admin_url() -> String {
    std::env::var("ASSENT_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "this test needs PostgreSQL: run it through scripts/test, or scripts/with-postgres <command>"
        )
    })
}

/// True when a test cluster is available.
pub fn available() -> bool {
    std::env::var_os("ASSENT_TEST_POSTGRES_URL").is_some()
}

/// Creates an empty database and returns its URL.
pub async fn new_database() -> String {
    let admin = admin_url();
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("the test cluster answers");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("a test database can be created");
    let _ = conn.close().await;
    let (base, _) = admin.rsplit_once('/').expect("the URL names a database");
    format!("{base}/{name}")
}

fn pg_ctl(args: &[&str]) {
    let bin = std::env::var("ASSENT_TEST_POSTGRES_BIN").expect("ASSENT_TEST_POSTGRES_BIN");
    let dir = std::env::var("ASSENT_PG_DIR").expect("ASSENT_PG_DIR");
    let pg_ctl = format!("{bin}/pg_ctl");
    let data = format!("{dir}/data");
    let mut full = vec![pg_ctl.as_str(), "-D", &data, "-w"];
    full.extend_from_slice(args);
    // The cluster runs as `postgres` when the tests run as root (PostgreSQL refuses root).
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).args(&full);
        c
    } else {
        let mut c = Command::new(full[0]);
        c.args(&full[1..]);
        c
    };
    let status = command
        .stdout(std::process::Stdio::null())
        .status()
        .expect("pg_ctl runs");
    assert!(status.success(), "pg_ctl {args:?} failed");
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Restarts the whole cluster (a fast shutdown: connections are cut), as a database failover or
/// an operator's restart would. Every service on it must reconnect by itself.
pub fn restart_cluster() {
    let dir = std::env::var("ASSENT_PG_DIR").expect("ASSENT_PG_DIR");
    pg_ctl(&["-m", "fast", "-l", &format!("{dir}/server.log"), "restart"]);
}

/// Runs `pg_dump` of `database_url` and returns its plain-text output (what a thief with read
/// access to the database gets).
pub fn dump(database_url: &str) -> Vec<u8> {
    let bin = std::env::var("ASSENT_TEST_POSTGRES_BIN").expect("ASSENT_TEST_POSTGRES_BIN");
    let out = Command::new(format!("{bin}/pg_dump"))
        .args(["--data-only", "--format=plain", database_url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
