//! The SQLite store: the embedded default.
//!
//! WAL mode, `synchronous=NORMAL` (a committed transaction survives the process being killed),
//! foreign keys on. Writes go through a pool of exactly one connection and start with
//! `BEGIN IMMEDIATE`: SQLite allows one writer at a time anyway, and queueing writers in-process
//! avoids the busy-wait sleeps SQLite's lock retry would add to every contended write. Reads use
//! their own pool and never wait for writers.

use std::str::FromStr;
use std::time::Duration;

use std::collections::BTreeMap;

use assent_protocol::callback::CallbackMethod;
use assent_protocol::request::RequestStatus;
use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use uuid::Uuid;

use super::authenticator_rows::authenticator_queries;
use super::log_rows::log_queries;
use super::rows::{
    APP_COLUMNS, DEVICE_COLUMNS, REQUEST_COLUMNS, USER_COLUMNS, codes, corrupt,
    is_unique_violation, opt_u32, person_conflict, random_id, row_mappers, to_i64, to_u64,
};
use super::{
    App, ApproverLoad, CodeLockout, CodeUse, CreateRefusal, DecisionRecord, DecisionResult, Device,
    Enrollment, ExpiredRequest, MonthCounts, MonthSpan, NewApp, NewDevice, NewRequest, NewUser,
    OutboxItem, SealedSecret, Store, StoreError, StoreMetrics, StoredCheckpoint, StoredReceipt,
    StoredRequest, TokenRefusal, User,
};
use crate::defences::AppDefences;
use crate::notary::Notary;
use crate::sealed::SecretPurpose;

/// Migrations for this engine, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` (`sqlite://path` or a plain path) and
    /// runs the migrations.
    ///
    /// # Errors
    /// The database cannot be opened or migrated.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Overwrite freed content, so a value replaced (a secret re-sealed, a token used) does
            // not linger in free pages of a copied database file.
            .pragma("secure_delete", "ON");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { writer, reader })
    }

    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// The requests that reach a person's devices: pending, not past their deadline, and not yet
/// answered by them. `$1` is the person, `$2` now. Shared by the device's pending list and the
/// anti-push-bombing cap, so the cap counts exactly what a person is shown.
macro_rules! waiting_for_user {
    () => {
        "FROM approval_requests r JOIN request_approvers a ON a.request_id = r.id \
         WHERE a.user_id = $1 AND r.status = 'pending' AND (r.expires_at IS NULL OR r.expires_at > $2) \
         AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.request_id = r.id AND d.user_id = $1)"
    };
}
const WAITING_FOR_USER: &str = concat!("SELECT COUNT(*) ", waiting_for_user!());
const WAITING_IDS: &str = concat!(
    "SELECT r.id ",
    waiting_for_user!(),
    " ORDER BY r.created_at, r.rowid"
);

row_mappers!(SqliteRow);
log_queries!(Sqlite, "");
authenticator_queries!(Sqlite, "", "");

async fn approvers_of<'e, E>(executor: E, request_id: &str) -> Result<Vec<u64>, StoreError>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let rows =
        sqlx::query("SELECT user_id FROM request_approvers WHERE request_id = $1 ORDER BY user_id")
            .bind(request_id)
            .fetch_all(executor)
            .await?;
    rows.iter().map(|r| to_u64(r.try_get("user_id")?)).collect()
}

/// The requests `ids` just moved to a final state, each with the approvers to tell.
async fn with_approvers(
    tx: &mut Transaction<'static, Sqlite>,
    ids: Vec<String>,
) -> Result<Vec<ExpiredRequest>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let approvers = approvers_of(&mut **tx, &id).await?;
        out.push(ExpiredRequest {
            id: Uuid::parse_str(&id).map_err(corrupt)?,
            approvers,
        });
    }
    Ok(out)
}

async fn load_request(
    tx: &mut Transaction<'static, Sqlite>,
    id: Uuid,
) -> Result<Option<StoredRequest>, StoreError> {
    let id = id.to_string();
    let row = sqlx::query(&format!(
        "SELECT {REQUEST_COLUMNS} FROM approval_requests WHERE id = $1"
    ))
    .bind(&id)
    .fetch_optional(&mut **tx)
    .await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let approvers = approvers_of(&mut **tx, &id).await?;
            Ok(Some(request_from_row(&row, approvers)?))
        }
    }
}

async fn set_final(
    tx: &mut Transaction<'static, Sqlite>,
    id: Uuid,
    status: RequestStatus,
    reason: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE approval_requests SET status = $1, reason = $2, processed_at = $3, updated_at = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(reason)
    .bind(now)
    .bind(id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn service_key(&self, candidate: Vec<u8>, now: i64) -> Result<Vec<u8>, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("INSERT INTO service_keys (id, secret, created_at) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING")
            .bind(&candidate)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let secret: Vec<u8> = sqlx::query_scalar("SELECT secret FROM service_keys WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(secret)
    }

    async fn sealed_secrets(&self) -> Result<Vec<SealedSecret>, StoreError> {
        let mut out = Vec::new();
        let service: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT secret FROM service_keys WHERE id = 1")
                .fetch_optional(&self.reader)
                .await?;
        if let Some(value) = service {
            out.push(SealedSecret {
                purpose: SecretPurpose::ServiceKey,
                value,
            });
        }
        for row in sqlx::query("SELECT id, callback_key FROM apps ORDER BY serial_id")
            .fetch_all(&self.reader)
            .await?
        {
            out.push(SealedSecret {
                purpose: SecretPurpose::CallbackKey {
                    app_id: row.try_get("id")?,
                },
                value: row.try_get("callback_key")?,
            });
        }
        for row in sqlx::query("SELECT device_id, seed FROM device_code_seeds ORDER BY device_id")
            .fetch_all(&self.reader)
            .await?
        {
            let device_id: String = row.try_get("device_id")?;
            out.push(SealedSecret {
                purpose: SecretPurpose::CodeSeed {
                    device_id: Uuid::parse_str(&device_id).map_err(corrupt)?,
                },
                value: row.try_get("seed")?,
            });
        }
        for row in sqlx::query("SELECT user_id, seed FROM authenticator_app_seeds ORDER BY user_id")
            .fetch_all(&self.reader)
            .await?
        {
            out.push(SealedSecret {
                purpose: SecretPurpose::AuthenticatorAppSeed {
                    user_id: to_u64(row.try_get("user_id")?)?,
                },
                value: row.try_get("seed")?,
            });
        }
        Ok(out)
    }

    async fn reseal_secrets(
        &self,
        changes: Vec<(SealedSecret, Vec<u8>)>,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut replaced = 0;
        for (old, new) in changes {
            let done = match &old.purpose {
                SecretPurpose::ServiceKey => {
                    sqlx::query("UPDATE service_keys SET secret = $1 WHERE id = 1 AND secret = $2")
                        .bind(&new)
                        .bind(&old.value)
                        .execute(&mut *tx)
                        .await?
                }
                SecretPurpose::CallbackKey { app_id } => {
                    sqlx::query(
                        "UPDATE apps SET callback_key = $1 WHERE id = $2 AND callback_key = $3",
                    )
                    .bind(&new)
                    .bind(app_id)
                    .bind(&old.value)
                    .execute(&mut *tx)
                    .await?
                }
                SecretPurpose::CodeSeed { device_id } => {
                    sqlx::query(
                        "UPDATE device_code_seeds SET seed = $1 WHERE device_id = $2 AND seed = $3",
                    )
                    .bind(&new)
                    .bind(device_id.to_string())
                    .bind(&old.value)
                    .execute(&mut *tx)
                    .await?
                }
                SecretPurpose::AuthenticatorAppSeed { user_id } => sqlx::query(
                    "UPDATE authenticator_app_seeds SET seed = $1 WHERE user_id = $2 AND seed = $3",
                )
                .bind(&new)
                .bind(to_i64(*user_id))
                .bind(&old.value)
                .execute(&mut *tx)
                .await?,
            };
            replaced += done.rows_affected();
        }
        tx.commit().await?;
        // Copy the new pages into the database file now and empty the WAL, so the replaced
        // values (overwritten with zeros there: secure_delete) linger in neither file.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.writer)
            .await?;
        Ok(replaced)
    }

    async fn create_app(&self, app: NewApp) -> Result<App, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO apps (id, name, logo_url, accent_color, callback_url, callback_method, api_key_hash, \
             callback_key, created_at, callback_expired_cancelled, defences) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&app.id)
        .bind(&app.name)
        .bind(&app.logo_url)
        .bind(&app.accent_color)
        .bind(&app.callback_url)
        .bind(match app.callback_method {
            CallbackMethod::Post => "post",
            CallbackMethod::Get => "get",
        })
        .bind(&app.api_key_hash[..])
        .bind(&app.sealed_callback_key)
        .bind(app.created_at)
        .bind(app.callback_expired_cancelled)
        .bind(serde_json::to_string(&app.defences).expect("defences serialize"))
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1"))
            .bind(&app.id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        app_from_row(&row)
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM apps ORDER BY serial_id"
        ))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(app_from_row).collect()
    }

    async fn app_by_key_hash(&self, hash: &[u8; 32]) -> Result<Option<App>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM apps WHERE api_key_hash = $1"
        ))
        .bind(&hash[..])
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn app(&self, id: &str) -> Result<Option<App>, StoreError> {
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn rotate_app_key(
        &self,
        id: &str,
        hash: [u8; 32],
        sealed_callback_key: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE apps SET api_key_hash = $1, callback_key = $2 WHERE id = $3")
                .bind(&hash[..])
                .bind(&sealed_callback_key)
                .bind(id)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_user(&self, user: NewUser, now: i64) -> Result<(User, bool), StoreError> {
        // The unique index on the person's phone (or e-mail) makes the insert itself decide who
        // wins a race: two writers creating the same person get one user. Each statement commits
        // on its own; the loser reads the winner's row, which it waited for.
        let mut attempts = 0;
        let inserted = loop {
            attempts += 1;
            let insert = sqlx::query(&format!(
                "INSERT INTO users (id, app_id, email, cellphone, country_code, created_at, name) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT {} DO NOTHING RETURNING {USER_COLUMNS}",
                person_conflict(user.cellphone.is_some())
            ))
            .bind(random_id(1))
            .bind(&user.app_id)
            .bind(&user.email)
            .bind(&user.cellphone)
            .bind(&user.country_code)
            .bind(now)
            .bind(&user.name)
            .fetch_optional(&self.writer)
            .await;
            match insert {
                Err(e) if is_unique_violation(&e) && attempts < 4 => continue,
                other => break other?,
            }
        };
        if let Some(row) = inserted {
            return Ok((user_from_row(&row)?, true));
        }
        let existing = if user.cellphone.is_some() {
            sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND country_code IS $2 AND cellphone = $3 \
                 AND deleted_at IS NULL"
            ))
            .bind(&user.app_id)
            .bind(&user.country_code)
            .bind(&user.cellphone)
            .fetch_one(&self.writer)
            .await?
        } else {
            sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND email = $2 AND cellphone IS NULL \
                 AND deleted_at IS NULL"
            ))
            .bind(&user.app_id)
            .bind(&user.email)
            .fetch_one(&self.writer)
            .await?
        };
        Ok((user_from_row(&existing)?, false))
    }

    async fn user(&self, app_id: &str, id: u64) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND app_id = $2 AND deleted_at IS NULL"
        ))
        .bind(to_i64(id))
        .bind(app_id)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn delete_user(
        &self,
        app_id: &str,
        id: u64,
        now: i64,
    ) -> Result<Option<(Vec<Device>, Vec<ExpiredRequest>)>, StoreError> {
        let mut tx = self.write_tx().await?;
        let deleted = sqlx::query(
            "UPDATE users SET deleted_at = $1 WHERE id = $2 AND app_id = $3 AND deleted_at IS NULL",
        )
        .bind(now)
        .bind(to_i64(id))
        .bind(app_id)
        .execute(&mut *tx)
        .await?;
        if deleted.rows_affected() == 0 {
            return Ok(None);
        }
        let devices = sqlx::query(&format!(
            "UPDATE devices SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL RETURNING {DEVICE_COLUMNS}"
        ))
        .bind(now)
        .bind(to_i64(id))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(device_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        forget_authenticator_seed_in(&mut tx, id).await?;
        let cancelled_ids: Vec<String> = sqlx::query_scalar(
            "UPDATE approval_requests SET status = 'cancelled', processed_at = $1, updated_at = $1 \
             WHERE user_id = $2 AND status = 'pending' RETURNING id",
        )
        .bind(now)
        .bind(to_i64(id))
        .fetch_all(&mut *tx)
        .await?;
        queue_unanswered(&mut tx, &cancelled_ids, RequestStatus::Cancelled, now).await?;
        let cancelled = with_approvers(&mut tx, cancelled_ids).await?;
        tx.commit().await?;
        Ok(Some((devices, cancelled)))
    }

    async fn create_registration(
        &self,
        app_id: &str,
        user_id: u64,
        token_hash: [u8; 32],
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registration_tokens (token_hash, app_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&token_hash[..])
        .bind(app_id)
        .bind(to_i64(user_id))
        .bind(now)
        .bind(expires_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn registration_owner(
        &self,
        token_hash: [u8; 32],
        now: i64,
    ) -> Result<Option<(String, u64)>, StoreError> {
        let row = sqlx::query(
            "SELECT app_id, user_id FROM registration_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(&token_hash[..])
        .bind(now)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| -> Result<_, StoreError> {
            let user_id: i64 = row.try_get("user_id")?;
            Ok((row.try_get("app_id")?, to_u64(user_id)?))
        })
        .transpose()
    }

    async fn enroll(
        &self,
        token_hash: [u8; 32],
        device: NewDevice,
        notary: &Notary,
        now: i64,
    ) -> Result<Result<Enrollment, TokenRefusal>, StoreError> {
        let sealed_code_seed = device.sealed_code_seed.clone();
        let mut tx = self.write_tx().await?;
        let token = sqlx::query(
            "UPDATE registration_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING app_id, user_id",
        )
        .bind(now)
        .bind(&token_hash[..])
        .fetch_optional(&mut *tx)
        .await?;
        let Some(token) = token else {
            return Ok(Err(TokenRefusal::Invalid));
        };
        let app_id: String = token.try_get("app_id")?;
        let user_id: i64 = token.try_get("user_id")?;
        let user_alive: Option<i64> =
            sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
        if user_alive.is_none() {
            return Ok(Err(TokenRefusal::Invalid));
        }
        let row = sqlx::query(&format!(
            "INSERT INTO devices (id, alias, app_id, user_id, public_key, name, platform, created_at, last_seen_at) \
             VALUES ($1, $8, $2, $3, $4, $5, $6, $7, $7) RETURNING {DEVICE_COLUMNS}"
        ))
        .bind(device.id.to_string())
        .bind(&app_id)
        .bind(user_id)
        .bind(&device.public_key.to_bytes()[..])
        .bind(&device.name)
        .bind(&device.platform)
        .bind(now)
        .bind(random_id(1001))
        .fetch_one(&mut *tx)
        .await?;
        let device = device_from_row(&row)?;
        sqlx::query(codes::INSERT_SEED)
            .bind(device.id.to_string())
            .bind(&sealed_code_seed)
            .execute(&mut *tx)
            .await?;
        let app_row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1"))
            .bind(&app_id)
            .fetch_one(&mut *tx)
            .await?;
        let app = app_from_row(&app_row)?;
        write_enrollment(&mut tx, notary, &device, now).await?;
        tx.commit().await?;
        Ok(Ok(Enrollment { device, app }))
    }

    async fn backfill_enrollment_records(
        &self,
        notary: &Notary,
        now: i64,
    ) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        let written = backfill_records(&mut tx, notary, now).await?;
        tx.commit().await?;
        Ok(written)
    }

    async fn device(&self, id: Uuid) -> Result<Option<Device>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn active_devices(&self, user_ids: &[u64]) -> Result<Vec<Device>, StoreError> {
        if user_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::to_string(user_ids).expect("ids serialize");
        let rows = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE revoked_at IS NULL \
             AND user_id IN (SELECT value FROM json_each($1)) ORDER BY created_at, alias"
        ))
        .bind(ids)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(device_from_row).collect()
    }

    async fn revoke_device(
        &self,
        app_id: Option<&str>,
        id: Uuid,
        now: i64,
    ) -> Result<Option<Device>, StoreError> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL AND ($3 IS NULL OR app_id = $3)")
            .bind(now)
            .bind(id.to_string())
            .bind(app_id)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 AND ($2 IS NULL OR app_id = $2)"
        ))
        .bind(id.to_string())
        .bind(app_id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn code_seeds(&self, user_id: u64) -> Result<Vec<(Device, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(&codes::seeds_sql())
            .bind(to_i64(user_id))
            .fetch_all(&self.reader)
            .await?;
        rows.iter()
            .map(|row| Ok((device_from_row(row)?, row.try_get("seed")?)))
            .collect()
    }

    async fn code_locked_until(&self, user_id: u64, now: i64) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(codes::LOCKED_UNTIL)
            .bind(to_i64(user_id))
            .bind(now)
            .fetch_optional(&self.reader)
            .await?)
    }

    async fn use_code(&self, device_id: Uuid, step: i64, now: i64) -> Result<CodeUse, StoreError> {
        let mut tx = self.write_tx().await?;
        let id = device_id.to_string();
        // The device row is read under a share lock (PostgreSQL; SQLite's writer is alone), so a
        // revocation either commits first (and the code is refused) or waits for this use.
        let user: Option<i64> = sqlx::query_scalar(codes::ACTIVE_DEVICE_USER)
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(user) = user else {
            return Ok(CodeUse::DeviceGone);
        };
        let inserted = sqlx::query(codes::INSERT_USE)
            .bind(&id)
            .bind(step)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            return Ok(CodeUse::Replayed);
        }
        sqlx::query(codes::FORGET_USES)
            .bind(&id)
            .bind(step - 2)
            .execute(&mut *tx)
            .await?;
        sqlx::query(codes::CLEAR_FAILURES)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        count_accepted_code_in(&mut tx, user, now).await?;
        tx.commit().await?;
        Ok(CodeUse::Accepted)
    }

    async fn replace_authenticator_seed(
        &self,
        app_id: &str,
        user_id: u64,
        sealed: Vec<u8>,
        now: i64,
    ) -> Result<bool, StoreError> {
        replace_authenticator_seed_in(self.write_tx().await?, app_id, user_id, &sealed, now).await
    }

    async fn authenticator_seed(&self, user_id: u64) -> Result<Option<Vec<u8>>, StoreError> {
        read_authenticator_seed(&self.reader, user_id).await
    }

    async fn use_authenticator_code(
        &self,
        user_id: u64,
        sealed: &[u8],
        step: i64,
        now: i64,
    ) -> Result<CodeUse, StoreError> {
        use_authenticator_code_in(self.write_tx().await?, user_id, sealed, step, now).await
    }

    async fn app_stats(
        &self,
        app_id: &str,
        months: &[MonthSpan],
    ) -> Result<(u64, Vec<MonthCounts>), StoreError> {
        read_app_stats(&self.reader, app_id, months).await
    }

    async fn code_failed(
        &self,
        user_id: u64,
        now: i64,
        lockout: CodeLockout,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write_tx().await?;
        let failures: i64 = sqlx::query_scalar(codes::COUNT_FAILURE)
            .bind(to_i64(user_id))
            .bind(now)
            .bind(now - lockout.window_secs)
            .fetch_one(&mut *tx)
            .await?;
        let locked = if failures >= i64::from(lockout.max_failures) {
            let until = now + lockout.lock_secs;
            sqlx::query(codes::LOCK)
                .bind(to_i64(user_id))
                .bind(now)
                .bind(until)
                .execute(&mut *tx)
                .await?;
            Some(until)
        } else {
            None
        };
        tx.commit().await?;
        Ok(locked)
    }

    async fn record_nonce(
        &self,
        device_id: Uuid,
        nonce: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO device_nonces (device_id, nonce, seen_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(device_id.to_string())
        .bind(nonce)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_nonces(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM device_nonces WHERE seen_at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    async fn touch_device(
        &self,
        id: Uuid,
        now: i64,
        address: Option<&str>,
    ) -> Result<(), StoreError> {
        touch_device_on(&self.writer, id, now, address).await
    }

    async fn requests_since(&self, user_id: u64, since: i64) -> Result<u32, StoreError> {
        requests_since_on(&self.reader, user_id, since).await
    }

    async fn set_app_defences(
        &self,
        app_id: &str,
        defences: &AppDefences,
    ) -> Result<bool, StoreError> {
        set_app_defences_on(&self.writer, app_id, defences).await
    }

    async fn lift_person_guards(&self, user_id: u64) -> Result<bool, StoreError> {
        lift_person_guards_on(&self.writer, user_id).await
    }

    async fn create_request(
        &self,
        new: NewRequest,
        now: i64,
    ) -> Result<Result<(), CreateRefusal>, StoreError> {
        let r = &new.request;
        // BEGIN IMMEDIATE takes SQLite's write lock before the first read: every check below and
        // the insert see one state, and no other writer (process) can change it in between.
        let mut tx = self.write_tx().await?;
        let mut loads = Vec::with_capacity(r.approvers.len());
        for approver in &r.approvers {
            let approver = to_i64(*approver);
            let active: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM users WHERE id = $1 AND app_id = $2 AND deleted_at IS NULL",
            )
            .bind(approver)
            .bind(&r.app_id)
            .fetch_optional(&mut *tx)
            .await?;
            let devices: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM devices WHERE user_id = $1 AND revoked_at IS NULL",
            )
            .bind(approver)
            .fetch_one(&mut *tx)
            .await?;
            let waiting: i64 = sqlx::query_scalar(WAITING_FOR_USER)
                .bind(approver)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            loads.push(ApproverLoad {
                user_id: to_u64(approver)?,
                active: active.is_some(),
                devices: u32::try_from(devices).unwrap_or(u32::MAX),
                waiting: u32::try_from(waiting).unwrap_or(u32::MAX),
            });
        }
        if let Err(refusal) = crate::admission::admit(&loads, r.quorum, new.max_pending_per_user) {
            return Ok(Err(refusal));
        }
        // Every approver is guarded (a frozen person is not pushed through someone else's
        // request); the pending limit is the initiator's.
        for approver in &r.approvers {
            let concurrent = new.allow_concurrent || *approver != r.user_id;
            let history = read_person_history(&mut tx, *approver, !concurrent, now).await?;
            if let Err(guard) = crate::defences::admit(&new.defences, &history, concurrent, now) {
                return Ok(Err(CreateRefusal::Guarded(*approver, guard)));
            }
        }
        let id = r.id.to_string();
        sqlx::query(
            "INSERT INTO approval_requests (id, app_id, user_id, message, details, hidden_details, logos, requester, \
             seconds_to_expire, created_at, expires_at, quorum, number, canonical, digest, signature, status, updated_at, \
             typed_code, user_verification) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 'pending', $10, $17, $18)",
        )
        .bind(&id)
        .bind(&r.app_id)
        .bind(to_i64(r.user_id))
        .bind(&r.message)
        .bind(Value::Object(r.details.clone()).to_string())
        .bind(Value::Object(r.hidden_details.clone()).to_string())
        .bind(serde_json::to_string(&r.logos).expect("logos serialize"))
        .bind(r.requester.as_ref().map(|c| serde_json::to_string(c).expect("requester serializes")))
        .bind(to_i64(r.seconds_to_expire))
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(i64::from(r.quorum))
        .bind(r.number.map(i64::from))
        .bind(&r.canonical)
        .bind(&r.digest[..])
        .bind(&r.signature.to_bytes()[..])
        .bind(r.typed_code.as_ref().map(|c| serde_json::to_string(c).expect("typed codes serialize")))
        .bind(r.user_verification)
        .execute(&mut *tx)
        .await?;
        for approver in &r.approvers {
            sqlx::query("INSERT INTO request_approvers (request_id, user_id) VALUES ($1, $2)")
                .bind(&id)
                .bind(to_i64(*approver))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn request(
        &self,
        app_id: Option<&str>,
        id: Uuid,
    ) -> Result<Option<StoredRequest>, StoreError> {
        let key = id.to_string();
        let row = sqlx::query(&format!(
            "SELECT {REQUEST_COLUMNS} FROM approval_requests WHERE id = $1 AND ($2 IS NULL OR app_id = $2)"
        ))
        .bind(&key)
        .bind(app_id)
        .fetch_optional(&self.reader)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let approvers = approvers_of(&self.reader, &key).await?;
                Ok(Some(request_from_row(&row, approvers)?))
            }
        }
    }

    async fn decisions(&self, request_id: Uuid) -> Result<Vec<DecisionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM decisions WHERE request_id = $1 ORDER BY recorded_at, user_id",
        )
        .bind(request_id.to_string())
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(decision_from_row).collect()
    }

    async fn pending_for_user(&self, user_id: u64, now: i64) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(WAITING_IDS)
            .bind(to_i64(user_id))
            .bind(now)
            .fetch_all(&self.reader)
            .await?;
        ids.iter()
            .map(|id| Uuid::parse_str(id).map_err(corrupt))
            .collect()
    }

    async fn mark_notified(&self, id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE approval_requests SET notified = 1 WHERE id = $1 AND notified = 0")
            .bind(id.to_string())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn record_decision(
        &self,
        decision: DecisionRecord,
        notary: &Notary,
        now: i64,
    ) -> Result<DecisionResult, StoreError> {
        let mut tx = self.write_tx().await?;
        let result = record_decision_in(&mut tx, &decision, notary, now).await?;
        tx.commit().await?;
        Ok(result)
    }

    async fn cancel_request(
        &self,
        app_id: &str,
        id: Uuid,
        now: i64,
    ) -> Result<Option<Result<StoredRequest, RequestStatus>>, StoreError> {
        let mut tx = self.write_tx().await?;
        let Some(request) = load_request(&mut tx, id)
            .await?
            .filter(|r| r.app_id == app_id)
        else {
            return Ok(None);
        };
        // A request past its deadline is expired even if the sweeper has not written it yet;
        // the sweeper will, and tell the devices.
        let status = request.status_at(now);
        if status != RequestStatus::Pending {
            return Ok(Some(Err(status)));
        }
        set_final(&mut tx, id, RequestStatus::Cancelled, None, now).await?;
        queue_unanswered(&mut tx, &[id.to_string()], RequestStatus::Cancelled, now).await?;
        let updated = load_request(&mut tx, id)
            .await?
            .ok_or_else(|| corrupt("request vanished"))?;
        tx.commit().await?;
        Ok(Some(Ok(updated)))
    }

    async fn expire_due(&self, now: i64) -> Result<Vec<ExpiredRequest>, StoreError> {
        let mut tx = self.write_tx().await?;
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE approval_requests SET status = 'expired', processed_at = expires_at, updated_at = $1 \
             WHERE status = 'pending' AND expires_at IS NOT NULL AND expires_at <= $1 RETURNING id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        queue_unanswered(&mut tx, &ids, RequestStatus::Expired, now).await?;
        let expired = with_approvers(&mut tx, ids).await?;
        tx.commit().await?;
        Ok(expired)
    }

    async fn next_expiry(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(expires_at) FROM approval_requests WHERE status = 'pending'",
        )
        .fetch_one(&self.reader)
        .await?)
    }

    async fn apps_with_due_callbacks(&self, now: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT app_id FROM callback_outbox \
             WHERE delivered_at IS NULL AND abandoned_at IS NULL AND next_attempt_at <= $1 \
             AND (lease_until IS NULL OR lease_until <= $1)",
        )
        .bind(now)
        .fetch_all(&self.reader)
        .await?)
    }

    async fn claim_callbacks(
        &self,
        app_id: &str,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = sqlx::query(
            "UPDATE callback_outbox SET lease_until = $1, leased_by = $2 WHERE id IN ( \
               SELECT id FROM callback_outbox WHERE app_id = $3 AND delivered_at IS NULL AND abandoned_at IS NULL \
               AND next_attempt_at <= $4 AND (lease_until IS NULL OR lease_until <= $4) \
               ORDER BY next_attempt_at, id LIMIT $5) \
             RETURNING id, app_id, request_id, payload, created_at, attempts",
        )
        .bind(lease_until)
        .bind(owner)
        .bind(app_id)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await?;
        let mut items = rows
            .iter()
            .map(|row| {
                let request_id: String = row.try_get("request_id")?;
                let payload: String = row.try_get("payload")?;
                Ok(OutboxItem {
                    id: row.try_get("id")?,
                    app_id: row.try_get("app_id")?,
                    request_id: Uuid::parse_str(&request_id).map_err(corrupt)?,
                    payload: serde_json::from_str(&payload).map_err(corrupt)?,
                    created_at: row.try_get("created_at")?,
                    attempts: opt_u32(Some(row.try_get("attempts")?))?.unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    async fn release_callback_claims(&self, owner: &str) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE callback_outbox SET lease_until = NULL, leased_by = NULL \
             WHERE leased_by = $1 AND delivered_at IS NULL",
        )
        .bind(owner)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected())
    }

    async fn next_callback_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) FROM callback_outbox \
             WHERE delivered_at IS NULL AND abandoned_at IS NULL",
        )
        .fetch_one(&self.reader)
        .await?)
    }

    async fn callback_delivered(&self, id: i64, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE callback_outbox SET delivered_at = $1, attempts = attempts + 1, lease_until = NULL, \
             leased_by = NULL WHERE id = $2 AND delivered_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn callback_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE callback_outbox SET attempts = attempts + 1, last_error = $1, \
             next_attempt_at = COALESCE($2, next_attempt_at), abandoned_at = CASE WHEN $2 IS NULL THEN $3 END, \
             lease_until = NULL, leased_by = NULL WHERE id = $4 AND delivered_at IS NULL",
        )
        .bind(error)
        .bind(next_attempt_at)
        .bind(now)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn callback_last_error(&self, id: i64) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT last_error FROM callback_outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.reader)
                .await?
                .flatten(),
        )
    }

    async fn log_size(&self) -> Result<u64, StoreError> {
        read_log_size(&self.reader).await
    }

    async fn log_leaves(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        read_log_leaves(&self.reader, start, end).await
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        read_latest_checkpoint(&self.reader).await
    }

    async fn save_checkpoint(
        &self,
        checkpoint: StoredCheckpoint,
    ) -> Result<StoredCheckpoint, StoreError> {
        write_checkpoint(&self.writer, checkpoint).await
    }

    async fn receipt(&self, request_id: Uuid) -> Result<Option<StoredReceipt>, StoreError> {
        read_receipt(&self.reader, request_id).await
    }

    async fn metrics(&self) -> Result<StoreMetrics, StoreError> {
        let rows =
            sqlx::query("SELECT status, COUNT(*) AS n FROM approval_requests GROUP BY status")
                .fetch_all(&self.reader)
                .await?;
        let mut requests_by_status = Vec::new();
        for row in rows {
            let status: String = row.try_get("status")?;
            requests_by_status.push((status.parse().map_err(corrupt)?, to_u64(row.try_get("n")?)?));
        }
        let backlog: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM callback_outbox WHERE delivered_at IS NULL AND abandoned_at IS NULL",
        )
        .fetch_one(&self.reader)
        .await?;
        Ok(StoreMetrics {
            requests_by_status,
            callback_backlog: to_u64(backlog)?,
        })
    }

    async fn row_counts(&self) -> Result<BTreeMap<String, u64>, StoreError> {
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '_sqlx_%' ORDER BY name",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut counts = BTreeMap::new();
        for table in tables {
            // Names come from the schema, not from input.
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{table}\""))
                .fetch_one(&self.reader)
                .await?;
            counts.insert(table, to_u64(n)?);
        }
        Ok(counts)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        // Readers first: the last connection to close checkpoints the WAL into the database file
        // and removes it, and only the (read-write) writer can.
        self.reader.close().await;
        self.writer.close().await;
    }
}
