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
