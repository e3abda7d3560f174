//! A rogue writer of the database: someone who can change rows (a stolen backup restored with
//! edits, an operator acting behind the service's back) but holds no key-encryption key and no
//! device key. Tests use it to show what such a writer cannot achieve. This is the one place
//! tests write SQL, and only to play that attacker.

use sqlx::Connection as _;

use crate::service::{Engine, TestData};

/// Runs `statement` (plain SQL valid on both engines) against `data`'s database directly.
pub async fn execute(data: &TestData, statement: &str) {
    match data.engine {
        Engine::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&data.database_url)
                .await
                .expect("the SQLite database opens");
            sqlx::raw_sql(statement)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
            let _ = conn.close().await;
        }
        Engine::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&data.database_url)
                .await
                .expect("the PostgreSQL database answers");
            sqlx::raw_sql(statement)
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("{statement}: {e}"));
            let _ = conn.close().await;
        }
    }
}

/// Removes the receipt entry at `index` from the approval log behind the service's back, as a
/// rogue operator hiding a decision would: the later leaves (and their receipts) move down one
/// place and the log head shrinks, so the log has no gap, but its history is rewritten. The
/// stored checkpoints are left (the service then notices and refuses to sign).
pub async fn remove_receipt_entry(data: &TestData, index: u64) {
    execute(
        data,
        &format!(
            "DELETE FROM log_leaves WHERE idx = {index}; \
             UPDATE log_leaves SET idx = -idx - 1 WHERE idx > {index}; \
             UPDATE log_leaves SET idx = -idx - 2 WHERE idx < 0; \
             UPDATE log_head SET size = size - 1 WHERE id = 1; \
             DELETE FROM receipts WHERE leaf_index = {index}; \
             UPDATE receipts SET leaf_index = -leaf_index - 1 WHERE leaf_index > {index}; \
             UPDATE receipts SET leaf_index = -leaf_index - 2 WHERE leaf_index < 0;"
        ),
    )
    .await;
}
