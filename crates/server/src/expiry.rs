//! Expires requests at their deadline and tells the devices; prunes old nonces.

use std::time::Duration;

use assent_protocol::request::RequestStatus;

use crate::state::AppState;

/// Longest sleep between sweeps when nothing is due (new requests wake the sweeper early).
const IDLE_SWEEP: Duration = Duration::from_secs(60);

/// Runs until the service shuts down.
pub async fn run(state: AppState) {
    let mut last_prune = 0;
    loop {
        let now = state.now();
        match state.store.expire_due(now).await {
            Ok(expired) => {
                if !expired.is_empty() {
                    // Apps may have asked for callbacks on expiry (written with the expiry).
                    state.outbox_wake.notify_one();
                }
                for request in expired {
                    tracing::info!(request = %request.id, "approval request expired");
                    state
                        .announce_resolved(request.id, RequestStatus::Expired, &request.approvers)
                        .await;
                }
            }
            Err(e) => tracing::error!(error = %e, "expiring requests failed"),
        }
        if now - last_prune >= 60 {
            // Nonces matter only inside the clock-skew window on either side of now.
            let horizon = now - 2 * state.config.max_clock_skew_secs as i64 - 1;
            if let Err(e) = state.store.prune_nonces(horizon).await {
                tracing::warn!(error = %e, "pruning nonces failed");
            }
            last_prune = now;
        }
        let wait = match state.store.next_expiry().await {
            Ok(Some(at)) => {
                let ms = (at * 1000 - state.config.clock.now_ms()).max(0) as u64;
                Duration::from_millis(ms).min(IDLE_SWEEP)
            }
            _ => IDLE_SWEEP,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.expiry_wake.notified() => {}
            () = state.config.clock.moved() => {}
            () = state.shutdown.cancelled() => return,
        }
    }
}
