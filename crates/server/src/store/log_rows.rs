//! What both engines share for the approval log, enrollment records, receipts and the
//! decision path that issues them: the same statements on the same columns, instantiated in each
//! engine by [`log_queries`] with the engine's lock on the log head (PostgreSQL takes the row
//! `FOR UPDATE`; SQLite's writer already holds the database lock from `BEGIN IMMEDIATE`).
//!
//! Invariants:
//! - a leaf is appended only inside the transaction that writes what it publishes (an enrollment,
//!   a receipt), at the index the log head gives out, and the head moves past it in the same
//!   transaction: indexes have no gap and no duplicate, and no leaf outlives a rolled-back write;
//! - the log head is the last lock a transaction takes (after the request, person or token rows),
//!   so no two transactions wait for each other in a cycle.

/// Defines, for an engine whose database type is `$db` and whose log-head lock clause is
/// `$lock`: `next_leaf_index`, `append_leaf`, `write_enrollment`, `backfill_records`,
/// `record_decision_in`, `queue_unanswered`, `read_person_history` (in-transaction), and
/// `read_log_size`, `read_log_leaves`, `read_latest_checkpoint`, `write_checkpoint`,
/// `read_receipt`, and the push-fatigue and device-address statements `touch_device_on`,
/// `requests_since_on`, `set_app_defences_on`, `lift_person_guards_on` (on a pool).
/// The engine module must define `load_request` and `approvers_of`, and instantiate
/// `row_mappers!` first.
macro_rules! log_queries {
    ($db:ty, $lock:literal) => {
        type LogTx = ::sqlx::Transaction<'static, $db>;

        /// The next leaf index; the log head stays locked until the transaction ends.
        async fn next_leaf_index(tx: &mut LogTx) -> Result<u64, $crate::store::StoreError> {
            let size: i64 =
                ::sqlx::query_scalar(concat!("SELECT size FROM log_head WHERE id = 1", $lock))
                    .fetch_one(&mut **tx)
                    .await?;
            $crate::store::rows::to_u64(size)
        }

        /// Appends `leaf` at `index` (from [`next_leaf_index`] in this transaction).
        async fn append_leaf(
            tx: &mut LogTx,
            index: u64,
            leaf: &[u8],
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            let at = $crate::store::rows::to_i64(index);
            ::sqlx::query("INSERT INTO log_leaves (idx, leaf, created_at) VALUES ($1, $2, $3)")
                .bind(at)
                .bind(leaf)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            let moved = ::sqlx::query("UPDATE log_head SET size = $1 WHERE id = 1 AND size = $2")
                .bind(at + 1)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            if moved.rows_affected() != 1 {
                return Err($crate::store::rows::corrupt(
                    "the approval log's head moved under a locked append",
                ));
            }
            Ok(())
        }

        /// Signs `device`'s enrollment record, appends its leaf and stores it.
        async fn write_enrollment(
            tx: &mut LogTx,
            notary: &$crate::notary::Notary,
            device: &$crate::store::Device,
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            let signed = notary.enrollment(
                &device.app_id,
                device.user_id,
                device.id,
                device.public_key,
                device.created_at,
            );
            let index = next_leaf_index(tx).await?;
            append_leaf(tx, index, &signed.leaf, now).await?;
            ::sqlx::query(
                "INSERT INTO enrollment_records (device_id, record, signature, leaf_index) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(device.id.to_string())
            .bind(&signed.record)
            .bind(&signed.signature.to_bytes()[..])
            .bind($crate::store::rows::to_i64(index))
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Records for every device without one (see `Store::backfill_enrollment_records`).
        async fn backfill_records(
            tx: &mut LogTx,
            notary: &$crate::notary::Notary,
            now: i64,
        ) -> Result<u64, $crate::store::StoreError> {
            // The head first: an instance starting at the same time waits here, then sees the
            // records this one wrote.
            next_leaf_index(tx).await?;
            let rows = ::sqlx::query(&format!(
                "SELECT {} FROM devices d WHERE NOT EXISTS \
                 (SELECT 1 FROM enrollment_records r WHERE r.device_id = d.id) \
                 ORDER BY created_at, id",
                $crate::store::rows::DEVICE_COLUMNS
            ))
            .fetch_all(&mut **tx)
            .await?;
            for row in &rows {
                write_enrollment(tx, notary, &device_from_row(row)?, now).await?;
            }
            Ok(rows.len() as u64)
        }

        /// The stored records of these devices.
        async fn enrollment_records_of(
            tx: &mut LogTx,
            devices: &[::uuid::Uuid],
        ) -> Result<Vec<$crate::store::StoredEnrollment>, $crate::store::StoreError> {
            use ::sqlx::Row as _;
            let mut out = Vec::with_capacity(devices.len());
            for id in devices {
                let row = ::sqlx::query(
                    "SELECT record, signature FROM enrollment_records WHERE device_id = $1",
                )
                .bind(id.to_string())
                .fetch_optional(&mut **tx)
                .await?;
                if let Some(row) = row {
                    let signature: Vec<u8> = row.try_get("signature")?;
                    let signature: [u8; 64] = signature.try_into().map_err(|_| {
                        $crate::store::rows::corrupt("a record signature is not 64 bytes")
                    })?;
                    out.push($crate::store::StoredEnrollment {
                        device_id: *id,
                        record: row.try_get("record")?,
                        signature: ::assent_protocol::crypto::Signature::from_bytes(&signature),
                    });
                }
            }
            Ok(out)
        }

        /// `Store::record_decision` inside the engine's transaction (the request row is locked by
        /// `load_request`).
        async fn record_decision_in(
            tx: &mut LogTx,
            decision: &$crate::store::DecisionRecord,
            notary: &$crate::notary::Notary,
            now: i64,
        ) -> Result<$crate::store::DecisionResult, $crate::store::StoreError> {
            let request = load_request(tx, decision.request_id)
                .await?
                .ok_or_else(|| {
                    $crate::store::rows::corrupt(format!(
                        "decision for unknown request {}",
                        decision.request_id
                    ))
                })?;
            let recorded = ::sqlx::query("SELECT * FROM decisions WHERE request_id = $1")
                .bind(request.id.to_string())
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .map(decision_from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let device_row = ::sqlx::query(&format!(
                "SELECT {} FROM devices WHERE id = $1",
                $crate::store::rows::DEVICE_COLUMNS
            ))
            .bind(decision.device_id.to_string())
            .fetch_one(&mut **tx)
            .await?;
            let person_active: Option<i64> =
                ::sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL")
                    .bind($crate::store::rows::to_i64(decision.user_id))
                    .fetch_optional(&mut **tx)
                    .await?;
            let device_enrolled: Option<String> = ::sqlx::query_scalar(
                "SELECT device_id FROM enrollment_records WHERE device_id = $1",
            )
            .bind(decision.device_id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
            let app_row = ::sqlx::query(&format!(
                "SELECT {} FROM apps WHERE id = $1",
                $crate::store::rows::APP_COLUMNS
            ))
            .bind(&request.app_id)
            .fetch_one(&mut **tx)
            .await?;
            let context = $crate::store::DecisionContext {
                request,
                recorded,
                device: device_from_row(&device_row)?,
                person_active: person_active.is_some(),
                device_enrolled: device_enrolled.is_some(),
                app: app_from_row(&app_row)?,
            };
            let effects = $crate::resolution::judge(&context, decision, now);
            if effects.record {
                ::sqlx::query(
                    "INSERT INTO decisions (request_id, user_id, device_id, outcome, reason, number, signed_at, payload, \
                     signature, recorded_at, code, verification) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(decision.request_id.to_string())
                .bind($crate::store::rows::to_i64(decision.user_id))
                .bind(decision.device_id.to_string())
                .bind($crate::store::rows::outcome_str(decision.outcome))
                .bind(decision.reason.map(::assent_protocol::decision::DenyReason::as_str))
                .bind(decision.number.map(i64::from))
                .bind(decision.signed_at)
                .bind(&decision.payload)
                .bind(&decision.signature.to_bytes()[..])
                .bind(now)
                .bind(decision.code.as_deref())
                .bind(decision.verification.map(::assent_protocol::decision::VerificationMethod::as_str))
                .execute(&mut **tx)
                .await?;
            }
            if effects.count_wrong_code {
                ::sqlx::query(
                    "UPDATE approval_requests SET code_attempts = code_attempts + 1, updated_at = $2 WHERE id = $1",
                )
                .bind(decision.request_id.to_string())
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }

            // The callback row goes in before the log head is locked: every decision waits for
            // that lock, so it is held for the receipt and its leaf only.
            if let Some(payload) = &effects.callback {
                queue_callback(tx, &context.app.id, decision.request_id, payload, now).await?;
            }
            // After the request's own callback: a relying party that hears both in order learns
            // of the denial first.
            if let Some(payload) = &effects.fraud_report {
                queue_callback(tx, &context.app.id, decision.request_id, payload, now).await?;
            }
            if let Some((status, reason)) = &effects.finalize {
                set_final(tx, decision.request_id, *status, reason.as_deref(), now).await?;
                if $crate::receipts::due(notary, *status) {
                    let mut decided = context.recorded.clone();
                    if effects.record {
                        decided.push(decision.clone());
                    }
                    let devices: Vec<::uuid::Uuid> = decided.iter().map(|d| d.device_id).collect();
                    let records = enrollment_records_of(tx, &devices).await?;
                    let index = next_leaf_index(tx).await?;
                    let issued = $crate::receipts::issue(
                        notary,
                        &context.request,
                        &decided,
                        &records,
                        *status,
                        reason.as_deref(),
                        index,
                        now,
                    )?;
                    append_leaf(tx, index, &issued.leaf, now).await?;
                    ::sqlx::query(
                        "INSERT INTO receipts (request_id, leaf_index, receipt, created_at) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(decision.request_id.to_string())
                    .bind($crate::store::rows::to_i64(index))
                    .bind(&issued.receipt)
                    .bind(now)
                    .execute(&mut **tx)
                    .await?;
                }
            }
            Ok(effects.result)
        }

        /// What the push-fatigue defences judge a new request for `user_id` on
        /// ([`crate::defences::admit`]), read in the creating transaction (after the person's
        /// row is locked, on PostgreSQL). Denials and "not me" reports are the person's own
        /// decisions (as initiator or as one of several approvers), so they guard the person
        /// whoever initiates the next request.
        async fn read_person_history(
            tx: &mut LogTx,
            user_id: u64,
            count_pending: bool,
            now: i64,
        ) -> Result<$crate::defences::PersonHistory, $crate::store::StoreError> {
            let user = $crate::store::rows::to_i64(user_id);
            // Only the initiator's pending requests are limited: not read for anyone else.
            let pending: i64 = if count_pending {
                ::sqlx::query_scalar(
                    "SELECT COUNT(*) FROM approval_requests WHERE user_id = $1 AND status = 'pending' \
                     AND (expires_at IS NULL OR expires_at > $2) AND created_at > $3",
                )
                .bind(user)
                .bind(now)
                .bind(now - $crate::defences::PENDING_WINDOW_SECS)
                .fetch_one(&mut **tx)
                .await?
            } else {
                0
            };
            // Decisions up to an operator's lift (`person_guards`) no longer count. A denial is a
            // deny by this person, or their wrong typed code or pick (recorded as their approval
            // of a request denied for `wrong_number`).
            let denials: Vec<i64> = ::sqlx::query_scalar(
                "SELECT d.recorded_at FROM decisions d JOIN approval_requests r ON r.id = d.request_id \
                 WHERE d.user_id = $1 \
                 AND d.recorded_at > COALESCE((SELECT lifted_at FROM person_guards WHERE user_id = $1), 0) \
                 AND (d.outcome = 'deny' OR (r.status = 'denied' AND r.reason = 'wrong_number' AND r.user_id = d.user_id)) \
                 ORDER BY d.recorded_at DESC LIMIT $2",
            )
            .bind(user)
            .bind($crate::defences::STREAK_WINDOW as i64)
            .fetch_all(&mut **tx)
            .await?;
            let last_not_me: Option<i64> = ::sqlx::query_scalar(
                "SELECT MAX(recorded_at) FROM decisions WHERE user_id = $1 AND reason = 'not_me' \
                 AND recorded_at > COALESCE((SELECT lifted_at FROM person_guards WHERE user_id = $1), 0)",
            )
            .bind(user)
            .fetch_one(&mut **tx)
            .await?;
            Ok($crate::defences::PersonHistory {
                pending: u32::try_from(pending).unwrap_or(u32::MAX),
                denials,
                last_not_me,
            })
        }

        async fn queue_callback(
            tx: &mut LogTx,
            app_id: &str,
            request_id: ::uuid::Uuid,
            payload: &::serde_json::Value,
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            ::sqlx::query(
                "INSERT INTO callback_outbox (app_id, request_id, payload, created_at, next_attempt_at) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(app_id)
            .bind(request_id.to_string())
            .bind(payload.to_string())
            .bind(now)
            .execute(&mut **tx)
            .await?;
            Ok(())
        }

        /// Writes the opt-in callback of each request in `ids`, which just became `status`
        /// (expired or cancelled), for the apps that asked for one.
        async fn queue_unanswered(
            tx: &mut LogTx,
            ids: &[String],
            status: ::assent_protocol::request::RequestStatus,
            now: i64,
        ) -> Result<(), $crate::store::StoreError> {
            if ids.is_empty() {
                return Ok(());
            }
            let opted: Vec<String> = ::sqlx::query_scalar(
                "SELECT id FROM apps WHERE callback_expired_cancelled AND callback_url IS NOT NULL",
            )
            .fetch_all(&mut **tx)
            .await?;
            if opted.is_empty() {
                return Ok(());
            }
            for id in ids {
                let row = ::sqlx::query(&format!(
                    "SELECT {} FROM approval_requests WHERE id = $1",
                    $crate::store::rows::REQUEST_COLUMNS
                ))
                .bind(id)
                .fetch_one(&mut **tx)
                .await?;
                let request = request_from_row(&row, approvers_of(&mut **tx, id).await?)?;
                if !opted.contains(&request.app_id) {
                    continue;
                }
                let app = app_from_row(
                    &::sqlx::query(&format!(
                        "SELECT {} FROM apps WHERE id = $1",
                        $crate::store::rows::APP_COLUMNS
                    ))
                    .bind(&request.app_id)
                    .fetch_one(&mut **tx)
                    .await?,
                )?;
                let payload = ::serde_json::to_value($crate::outbox::unanswered_payload(
                    &app, &request, status,
                ))
                .expect("callback payloads serialize");
                queue_callback(tx, &app.id, request.id, &payload, now).await?;
            }
            Ok(())
        }

        /// `Store::touch_device` (see there).
        async fn touch_device_on(
            pool: &::sqlx::Pool<$db>,
            id: ::uuid::Uuid,
            now: i64,
            address: Option<&str>,
        ) -> Result<(), $crate::store::StoreError> {
            ::sqlx::query(
                "UPDATE devices SET last_seen_at = $1, last_address = COALESCE($3, last_address) \
                 WHERE id = $2 AND (last_seen_at < $1 OR last_address IS DISTINCT FROM COALESCE($3, last_address))",
            )
            .bind(now)
            .bind(id.to_string())
            .bind(address)
            .execute(pool)
            .await?;
            Ok(())
        }

        /// `Store::requests_since` (see there).
        async fn requests_since_on(
            pool: &::sqlx::Pool<$db>,
            user_id: u64,
            since: i64,
        ) -> Result<u32, $crate::store::StoreError> {
            let count: i64 = ::sqlx::query_scalar(
                "SELECT COUNT(*) FROM approval_requests WHERE user_id = $1 AND created_at >= $2",
            )
            .bind($crate::store::rows::to_i64(user_id))
            .bind(since)
            .fetch_one(pool)
            .await?;
            Ok(u32::try_from(count).unwrap_or(u32::MAX))
        }

        /// `Store::set_app_defences` (see there).
        async fn set_app_defences_on(
            pool: &::sqlx::Pool<$db>,
            app_id: &str,
            defences: &$crate::defences::AppDefences,
        ) -> Result<bool, $crate::store::StoreError> {
            let done = ::sqlx::query("UPDATE apps SET defences = $1 WHERE id = $2")
                .bind(serde_json::to_string(defences).expect("defences serialize"))
                .bind(app_id)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() == 1)
        }

        /// `Store::lift_person_guards` (see there).
        async fn lift_person_guards_on(
            pool: &::sqlx::Pool<$db>,
            user_id: u64,
        ) -> Result<bool, $crate::store::StoreError> {
            let user = $crate::store::rows::to_i64(user_id);
            let exists: Option<i64> =
                ::sqlx::query_scalar("SELECT id FROM users WHERE id = $1 AND deleted_at IS NULL")
                    .bind(user)
                    .fetch_optional(pool)
                    .await?;
            if exists.is_none() {
                return Ok(false);
            }
            ::sqlx::query(
                "INSERT INTO person_guards (user_id, lifted_at) \
                 SELECT $1, COALESCE(MAX(recorded_at), 0) FROM decisions WHERE user_id = $1 \
                 ON CONFLICT (user_id) DO UPDATE SET lifted_at = excluded.lifted_at",
            )
            .bind(user)
            .execute(pool)
            .await?;
            Ok(true)
        }

        async fn read_log_size(
            pool: &::sqlx::Pool<$db>,
        ) -> Result<u64, $crate::store::StoreError> {
            let size: i64 = ::sqlx::query_scalar("SELECT size FROM log_head WHERE id = 1")
                .fetch_one(pool)
                .await?;
            $crate::store::rows::to_u64(size)
        }

        /// Leaves `start..end`, stopping at the first gap (a gap is corruption the caller
        /// reports: the log then cannot be read past it).
        async fn read_log_leaves(
            pool: &::sqlx::Pool<$db>,
            start: u64,
            end: u64,
        ) -> Result<Vec<Vec<u8>>, $crate::store::StoreError> {
            use ::sqlx::Row as _;
            let rows = ::sqlx::query(
                "SELECT idx, leaf FROM log_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx",
            )
            .bind($crate::store::rows::to_i64(start))
            .bind($crate::store::rows::to_i64(end))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for (expected, row) in (start..).zip(&rows) {
                let idx: i64 = row.try_get("idx")?;
                if $crate::store::rows::to_u64(idx)? != expected {
                    break;
                }
                out.push(row.try_get("leaf")?);
            }
            Ok(out)
        }

        fn checkpoint_from_row(
            row: &<$db as ::sqlx::Database>::Row,
        ) -> Result<$crate::store::StoredCheckpoint, $crate::store::StoreError> {
            use ::sqlx::Row as _;
            let root: Vec<u8> = row.try_get("root")?;
            Ok($crate::store::StoredCheckpoint {
                size: $crate::store::rows::to_u64(row.try_get("size")?)?,
                root: root
                    .try_into()
                    .map_err(|_| $crate::store::rows::corrupt("a checkpoint root is not 32 bytes"))?,
                note: row.try_get("note")?,
                created_at: row.try_get("created_at")?,
            })
        }

        async fn read_latest_checkpoint(
            pool: &::sqlx::Pool<$db>,
        ) -> Result<Option<$crate::store::StoredCheckpoint>, $crate::store::StoreError> {
            ::sqlx::query(
                "SELECT size, root, note, created_at FROM log_checkpoints ORDER BY size DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?
            .as_ref()
            .map(checkpoint_from_row)
            .transpose()
        }

        async fn write_checkpoint(
            pool: &::sqlx::Pool<$db>,
            checkpoint: $crate::store::StoredCheckpoint,
        ) -> Result<$crate::store::StoredCheckpoint, $crate::store::StoreError> {
            let size = $crate::store::rows::to_i64(checkpoint.size);
            ::sqlx::query(
                "INSERT INTO log_checkpoints (size, root, note, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (size) DO NOTHING",
            )
            .bind(size)
            .bind(&checkpoint.root[..])
            .bind(&checkpoint.note)
            .bind(checkpoint.created_at)
            .execute(pool)
            .await?;
            let row = ::sqlx::query(
                "SELECT size, root, note, created_at FROM log_checkpoints WHERE size = $1",
            )
            .bind(size)
            .fetch_one(pool)
            .await?;
            checkpoint_from_row(&row)
        }

        async fn read_receipt(
            pool: &::sqlx::Pool<$db>,
            request_id: ::uuid::Uuid,
        ) -> Result<Option<$crate::store::StoredReceipt>, $crate::store::StoreError> {
            use ::sqlx::Row as _;
            let row = ::sqlx::query("SELECT leaf_index, receipt FROM receipts WHERE request_id = $1")
                .bind(request_id.to_string())
                .fetch_optional(pool)
                .await?;
            row.map(|row| {
                Ok($crate::store::StoredReceipt {
                    log_index: $crate::store::rows::to_u64(row.try_get("leaf_index")?)?,
                    receipt: row.try_get("receipt")?,
                })
            })
            .transpose()
        }
    };
}
pub(crate) use log_queries;
