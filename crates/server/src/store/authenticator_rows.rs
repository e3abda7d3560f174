//! What both engines share for a person's other authenticator app (`users.generate_qr`) and the
//! app statistics: the same statements on the same columns, instantiated in each engine by
//! [`authenticator_queries`] with the engine's row-lock clauses (PostgreSQL locks the rows a
//! decision depends on; SQLite's writer already holds the database lock from `BEGIN IMMEDIATE`).
//!
//! Invariants:
//! - a person has at most one authenticator-app seed (the primary key), replaced only while the
//!   person's row is locked as live, so a deletion and a replacement never interleave;
//! - a code of that seed is accepted once per (person, step) (the primary key), only while the
//!   person is live and the seed it matched is still the stored one (both read under a share lock,
//!   so a deletion or a replacement either commits first or waits);
//! - every accepted code (a device's or an authenticator app's) adds one to its app's count for
//!   the month, in the transaction that accepts it.

/// Defines, for an engine whose database type is `$db`, whose clause locking a row against
/// writers is `$share` and whose clause locking it for an update is `$update`:
/// `replace_authenticator_seed_in` and `use_authenticator_code_in` (each runs and commits the
/// transaction it is given), `forget_authenticator_seed_in` and `count_accepted_code_in` (inside
/// a caller's transaction), `read_authenticator_seed` and `read_app_stats` (on a pool).
macro_rules! authenticator_queries {
    ($db:ty, $share:literal, $update:literal) => {
        type AuthenticatorTx = ::sqlx::Transaction<'static, $db>;

        /// Writes `user_id`'s sealed seed in place of any earlier one and forgets the earlier
        /// one's used codes, and commits `tx`. False (nothing written) when the person is not a
        /// live user of `app_id`.
        async fn replace_authenticator_seed_in(
            mut tx: AuthenticatorTx,
            app_id: &str,
            user_id: u64,
            sealed: &[u8],
            now: i64,
        ) -> Result<bool, $crate::store::StoreError> {
            let user = $crate::store::rows::to_i64(user_id);
            let live: Option<i64> = ::sqlx::query_scalar(concat!(
                "SELECT id FROM users WHERE id = $1 AND app_id = $2 AND deleted_at IS NULL",
                $update
            ))
            .bind(user)
            .bind(app_id)
            .fetch_optional(&mut *tx)
            .await?;
            if live.is_none() {
                return Ok(false);
            }
            ::sqlx::query(
                "INSERT INTO authenticator_app_seeds (user_id, seed, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id) DO UPDATE SET seed = excluded.seed, created_at = excluded.created_at",
            )
            .bind(user)
            .bind(sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ::sqlx::query("DELETE FROM used_authenticator_app_codes WHERE user_id = $1")
                .bind(user)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        }

        /// Deletes `user_id`'s seed and its used codes (the person is being deleted).
        async fn forget_authenticator_seed_in(
            tx: &mut AuthenticatorTx,
            user_id: u64,
        ) -> Result<(), $crate::store::StoreError> {
            let user = $crate::store::rows::to_i64(user_id);
            ::sqlx::query("DELETE FROM authenticator_app_seeds WHERE user_id = $1")
                .bind(user)
                .execute(&mut **tx)
                .await?;
            ::sqlx::query("DELETE FROM used_authenticator_app_codes WHERE user_id = $1")
                .bind(user)
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        /// Adds one to the accepted codes of `user_id`'s app for the month of `now`.
        async fn count_accepted_code_in(
            tx: &mut AuthenticatorTx,
            user_id: i64,
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            // `WHERE` keeps SQLite from reading `ON CONFLICT` as a join constraint.
            ::sqlx::query(
                "INSERT INTO accepted_codes_by_month (app_id, month_start, accepted) \
                 SELECT app_id, $2, 1 FROM users WHERE id = $1 \
                 ON CONFLICT (app_id, month_start) DO UPDATE SET accepted = accepted_codes_by_month.accepted + 1",
            )
            .bind(user_id)
            .bind($crate::clock::month_start(now))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Records the use of `user_id`'s authenticator-app code for `step` and commits `tx`;
        /// see [`crate::store::Store::use_authenticator_code`].
        async fn use_authenticator_code_in(
            mut tx: AuthenticatorTx,
            user_id: u64,
            sealed: &[u8],
            step: i64,
            now: i64,
        ) -> Result<$crate::store::CodeUse, $crate::store::StoreError> {
            let user = $crate::store::rows::to_i64(user_id);
            let live: Option<i64> = ::sqlx::query_scalar(concat!(
                "SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL",
                $share
            ))
            .bind(user)
            .fetch_optional(&mut *tx)
            .await?;
            let current: Option<i64> = ::sqlx::query_scalar(concat!(
                "SELECT user_id FROM authenticator_app_seeds WHERE user_id = $1 AND seed = $2",
                $share
            ))
            .bind(user)
            .bind(sealed)
            .fetch_optional(&mut *tx)
            .await?;
            if live.is_none() || current.is_none() {
                return Ok($crate::store::CodeUse::DeviceGone);
            }
            let inserted = ::sqlx::query(
                "INSERT INTO used_authenticator_app_codes (user_id, step, used_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (user_id, step) DO NOTHING",
            )
            .bind(user)
            .bind(step)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok($crate::store::CodeUse::Replayed);
            }
            ::sqlx::query("DELETE FROM used_authenticator_app_codes WHERE user_id = $1 AND step < $2")
                .bind(user)
                .bind(step - 2)
                .execute(&mut *tx)
                .await?;
            ::sqlx::query($crate::store::rows::codes::CLEAR_FAILURES)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            count_accepted_code_in(&mut tx, user, now).await?;
            tx.commit().await?;
            Ok($crate::store::CodeUse::Accepted)
        }

        /// `user_id`'s sealed seed, when they have one and are live.
        async fn read_authenticator_seed(
            pool: &::sqlx::Pool<$db>,
            user_id: u64,
        ) -> Result<Option<Vec<u8>>, $crate::store::StoreError> {
            Ok(::sqlx::query_scalar(
                "SELECT s.seed FROM authenticator_app_seeds s JOIN users u ON u.id = s.user_id \
                 WHERE s.user_id = $1 AND u.deleted_at IS NULL",
            )
            .bind($crate::store::rows::to_i64(user_id))
            .fetch_optional(pool)
            .await?)
        }

        /// The app's live people, and per month what [`crate::store::MonthCounts`] says.
        async fn read_app_stats(
            pool: &::sqlx::Pool<$db>,
            app_id: &str,
            months: &[$crate::store::MonthSpan],
        ) -> Result<(u64, Vec<$crate::store::MonthCounts>), $crate::store::StoreError> {
            use $crate::store::rows::to_u64;
            let count = |sql: &'static str, span: $crate::store::MonthSpan| {
                ::sqlx::query_scalar::<$db, i64>(sql)
                    .bind(app_id)
                    .bind(span.start)
                    .bind(span.end)
                    .fetch_one(pool)
            };
            let total: i64 = ::sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE app_id = $1 AND deleted_at IS NULL",
            )
            .bind(app_id)
            .fetch_one(pool)
            .await?;
            let mut out = Vec::with_capacity(months.len());
            for span in months {
                let codes: Option<i64> = ::sqlx::query_scalar(
                    "SELECT accepted FROM accepted_codes_by_month WHERE app_id = $1 AND month_start = $2",
                )
                .bind(app_id)
                .bind(span.start)
                .fetch_optional(pool)
                .await?;
                out.push($crate::store::MonthCounts {
                    users: to_u64(
                        count(
                            "SELECT COUNT(*) FROM users WHERE app_id = $1 AND created_at >= $2 AND created_at < $3",
                            *span,
                        )
                        .await?,
                    )?,
                    approval_requests: to_u64(
                        count(
                            "SELECT COUNT(*) FROM approval_requests WHERE app_id = $1 \
                             AND created_at >= $2 AND created_at < $3",
                            *span,
                        )
                        .await?,
                    )?,
                    approvals: to_u64(
                        count(
                            "SELECT COUNT(*) FROM approval_requests WHERE app_id = $1 AND status = 'approved' \
                             AND processed_at >= $2 AND processed_at < $3",
                            *span,
                        )
                        .await?,
                    )?,
                    codes_accepted: to_u64(codes.unwrap_or(0))?,
                });
            }
            Ok((to_u64(total)?, out))
        }
    };
}
pub(crate) use authenticator_queries;
