//! `GET /device/v1/stream`: the push stream.
//!
//! On connect the device gets `pending` (everything still waiting for its person), then
//! `request`/`resolved`/`revoked` as they happen and a heartbeat every interval, preceded by `log`
//! when the approval log's signed size changed since this stream last said it (the devices' log
//! monitors check on that instead of on a timer; it rides on the heartbeat so an idle stream
//! wakes no more often for it). The connection is registered with the hub *before* the pending
//! list is read, so a request created in between is sent twice rather than never; duplicates are
//! harmless.
//!
//! Revocation cannot slip between the call's check and the registration: after registering, the
//! device is read again. A revocation writes the database first and then tells the hub, so either
//! the hub sees this registration (and closes it) or this read sees the revocation.
//!
//! The `revoked` frame carries a notice signed by the service key (see
//! `assent_protocol::revocation`): devices ignore a `revoked` frame they cannot verify.
//!
//! A stream whose device stops answering is closed: every heartbeat also carries a WebSocket ping,
//! and a stream that has sent nothing (not even the automatic pong) for [`SILENT_HEARTBEATS`]
//! intervals is dropped, so half-open sockets do not pile up.

use std::collections::HashSet;

use assent_protocol::stream::StreamMessage;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse as _, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::DeviceCall;
use crate::error::ApiError;
use crate::hub::{Push, Registration};
use crate::state::AppState;

/// Small buffers: a stream carries a few short JSON frames; the defaults (128 KiB) would cost
/// that much memory per connected device.
const READ_BUFFER: usize = 1024;
const WRITE_BUFFER: usize = 1024;
/// Devices send nothing but control frames; refuse anything large.
const MAX_MESSAGE: usize = 16 * 1024;
/// Heartbeat intervals a device may stay silent before its stream is closed.
pub const SILENT_HEARTBEATS: u32 = 3;
/// Most bytes waiting to be written to one stream (frames and automatic pongs) before the stream
/// is closed: a device that sends pings but never reads cannot grow the service's memory.
const MAX_WRITE_BUFFER: usize = 64 * 1024;
/// Longest a frame may take to be written; a device that stops reading is dropped, so a blocked
/// write never keeps a stream past a revocation, a replacement or a shutdown.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Upgrades an authenticated call to the push stream. A call without a proper WebSocket upgrade is
/// answered 60002, after the device was authenticated (so an unauthenticated caller learns only
/// what every device call refusal tells).
pub async fn stream(
    State(state): State<AppState>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    call: DeviceCall,
) -> Response {
    let Ok(ws) = ws else {
        return ApiError::bad_request(
            "The push stream is a WebSocket: send the upgrade headers (Connection: Upgrade, Upgrade: websocket, Sec-WebSocket-Key, Sec-WebSocket-Version: 13).",
        )
        .into_response();
    };
    let device = StreamDevice {
        id: call.device.id,
        user_id: call.device.user_id,
    };
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| {
            // Split before the stream's future exists: an async fn keeps its arguments in its
            // state for as long as it runs, and a whole WebSocket is several hundred bytes.
            let (sink, source) = socket.split();
            run(state, device, sink, source)
        })
}

/// What a stream keeps of its device. Every idle stream holds this for hours, so not the whole
/// device row (its key, names and strings were about 400 bytes per connected device).
#[derive(Debug, Clone, Copy)]
struct StreamDevice {
    id: Uuid,
    user_id: u64,
}

type Sink = SplitSink<WebSocket, Message>;

fn text(message: &StreamMessage) -> Message {
    Message::Text(Utf8Bytes::from(
        serde_json::to_string(message).expect("stream messages serialize"),
    ))
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

/// Sends one frame within [`SEND_TIMEOUT`]; false when the stream must end.
async fn send(sink: &mut Sink, message: Message) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, sink.send(message)).await,
        Ok(Ok(()))
    )
}

/// The `revoked` frame: the service-signed notice a device verifies before forgetting its key.
fn revoked(state: &AppState, device: StreamDevice, revoked_at: i64) -> Message {
    text(&StreamMessage::Revoked {
        notice: state.service_key.revocation_notice(device.id, revoked_at),
    })
}

/// A registered stream, caught up: what [`open`] hands the loop.
struct Opened {
    registration: Registration,
    pushes: mpsc::Receiver<Push>,
    /// Requests the catch-up listed, whose push (if it comes) is not sent again.
    listed: HashSet<Uuid>,
}

/// Registers the stream, checks the device again and sends the catch-up; `None` when the stream
/// ends here (it was told why). Boxed by the caller: its store calls are needed once, and their
/// futures must not size the state every idle stream keeps.
async fn open(state: &AppState, device: StreamDevice, sink: &mut Sink) -> Option<Opened> {
    state.config.pause_points.at("stream.before_register").await;
    let (registration, pushes) = match state.hub.connect(device.user_id, device.id) {
        Ok(registered) => registered,
        Err(full) => {
            tracing::warn!(device = %device.id, "{full}");
            let _ = send(sink, close(close_code::AGAIN, "try again later")).await;
            return None;
        }
    };
    match state.store.device(device.id).await {
        Ok(Some(now)) => {
            if let Some(revoked_at) = now.revoked_at {
                let _ = send(sink, revoked(state, device, revoked_at)).await;
                let _ = send(sink, close(close_code::POLICY, "device revoked")).await;
                return None;
            }
        }
        Ok(None) => {
            let _ = send(sink, close(close_code::POLICY, "unknown device")).await;
            return None;
        }
        Err(e) => {
            tracing::error!(error = %e, "re-reading a device for its stream failed");
            let _ = send(sink, close(close_code::ERROR, "try again")).await;
            return None;
        }
    }
    let pending = match state
        .store
        .pending_for_user(device.user_id, state.now())
        .await
    {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "reading pending requests for a stream failed");
            let _ = send(sink, close(close_code::ERROR, "try again")).await;
            return None;
        }
    };
    // A request created around the time the stream connected is both in the catch-up and in a
    // push (the push may arrive before or after the catch-up is read, and with several instances
    // always after the create call returned): skip the push of what the catch-up already listed.
    let listed = pending.iter().copied().collect();
    if !send(sink, text(&StreamMessage::Pending { ids: pending })).await {
        return None;
    }
    Some(Opened {
        registration,
        pushes,
        listed,
    })
}

async fn run(
    state: AppState,
    device: StreamDevice,
    mut sink: Sink,
    mut source: SplitStream<WebSocket>,
) {
    let Some(Opened {
        registration,
        mut pushes,
        mut listed,
    }) = Box::pin(open(&state, device, &mut sink)).await
    else {
        return;
    };
    tracing::debug!(device = %device.id, "stream connected");
    let interval = state.config.heartbeat_interval;
    let mut heartbeat = tokio::time::interval(interval);
    heartbeat.tick().await;
    let mut last_heard = tokio::time::Instant::now();
    // The log size this stream last announced; sent with a heartbeat when it changed.
    let mut log_told = 0;
    loop {
        tokio::select! {
            push = pushes.recv() => match push {
                Some(Push::Message(message))
                    if matches!(*message, StreamMessage::Request { id } if listed.remove(&id)) => {}
                Some(Push::Message(message)) => {
                    if !send(&mut sink, text(&message)).await {
                        break;
                    }
                }
                Some(Push::Revoked) => {
                    let _ = send(&mut sink, revoked(&state, device, state.now())).await;
                    let _ = send(&mut sink, close(close_code::POLICY, "device revoked")).await;
                    break;
                }
                Some(Push::Replaced) => {
                    let _ = send(&mut sink, close(close_code::POLICY, "replaced by a newer stream")).await;
                    break;
                }
                None => {
                    // The hub dropped this connection (it fell behind, or the device was revoked
                    // with a full queue): close so the device reconnects and re-syncs.
                    let _ = send(&mut sink, close(close_code::AGAIN, "reconnect")).await;
                    break;
                }
            },
            _ = heartbeat.tick() => {
                // A push of a request the catch-up listed comes within moments of connecting, if
                // at all; after a heartbeat interval the set is only memory every idle stream
                // would keep (a late duplicate is harmless: devices report each request once).
                if !listed.is_empty() {
                    listed = HashSet::new();
                }
                if last_heard.elapsed() > interval * SILENT_HEARTBEATS {
                    tracing::debug!(device = %device.id, "stream silent; closing");
                    break;
                }
                let log_size = state.log.signed_size();
                if log_size != log_told {
                    if !send(&mut sink, text(&StreamMessage::Log { size: log_size })).await {
                        break;
                    }
                    log_told = log_size;
                }
                if !send(&mut sink, text(&StreamMessage::Heartbeat { ts: state.now() })).await
                    || !send(&mut sink, Message::Ping(Default::default())).await
                {
                    break;
                }
            }
            incoming = source.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
            },
            () = state.shutdown.cancelled() => {
                let _ = send(&mut sink, close(close_code::RESTART, "service restarting")).await;
                break;
            }
        }
    }
    drop(registration);
    tracing::debug!(device = %device.id, "stream closed");
}
