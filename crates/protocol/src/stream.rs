//! Messages on the device push stream (`GET /device/v1/stream`, WebSocket text frames).
//!
//! The stream carries ids, never personal data: a device fetches the service-signed details of
//! each request itself. Delivery is state-based: on every connect the service sends `pending` with
//! everything still waiting, so a reconnect always re-syncs and duplicates are harmless.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::request::RequestStatus;
use crate::revocation::RevocationNotice;
use crate::signed::Signed;

/// Seconds between heartbeats from the service.
pub const HEARTBEAT_INTERVAL_SECS: u64 = 25;
/// A client that hears nothing for this long treats the connection as dead and reconnects.
pub const HEARTBEAT_TIMEOUT_SECS: u64 = 60;

/// One message from the service to a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StreamMessage {
    /// Sent first on every connection: every request still waiting for this device's person.
    Pending {
        /// Request ids, oldest first.
        ids: Vec<Uuid>,
    },
    /// A new request for this device's person.
    Request {
        /// The request id.
        id: Uuid,
    },
    /// A request reached a final state (decided here or elsewhere, expired, or cancelled).
    Resolved {
        /// The request id.
        id: Uuid,
        /// Its final status.
        status: RequestStatus,
    },
    /// An approver answered a request that still waits on others (several approvers): every
    /// approver's devices fetch it again to show who answered what. Devices older than this
    /// message ignore it (an unreadable frame is skipped) and learn the outcome from `resolved`.
    Answered {
        /// The request id.
        id: Uuid,
    },
    /// This device was revoked; the service closes the stream after sending this. The notice is
    /// signed by the service key: a device verifies it against its pinned key and its own id
    /// before it forgets anything, and ignores a `revoked` frame without a valid one.
    Revoked {
        /// The signed notice.
        notice: Signed<RevocationNotice>,
    },
    /// The approval log's latest signed checkpoint covers `size` entries. Sent just before a
    /// heartbeat when the size changed since the last one sent on this connection (so with the
    /// first heartbeat once the log has a signed checkpoint, then as the log changes): a device
    /// checks the log when the size differs from the checkpoint it holds instead of on a timer of
    /// its own. A hint, not evidence: the device verifies the checkpoint it then fetches, and
    /// still checks now and then when no hint comes. Devices older than this message skip it as
    /// an unreadable frame.
    Log {
        /// Entries the latest signed checkpoint covers.
        size: u64,
    },
    /// Keeps the connection (and any proxy on the way) alive.
    Heartbeat {
        /// Service clock, Unix seconds: lets a device notice its own clock drifting.
        ts: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form() {
        let id = Uuid::from_u128(1);
        let cases = [
            (
                StreamMessage::Pending { ids: vec![id] },
                r#"{"type":"pending","ids":["00000000-0000-0000-0000-000000000001"]}"#,
            ),
            (
                StreamMessage::Request { id },
                r#"{"type":"request","id":"00000000-0000-0000-0000-000000000001"}"#,
            ),
            (
                StreamMessage::Resolved {
                    id,
                    status: RequestStatus::Denied,
                },
                r#"{"type":"resolved","id":"00000000-0000-0000-0000-000000000001","status":"denied"}"#,
            ),
            (
                StreamMessage::Answered { id },
                r#"{"type":"answered","id":"00000000-0000-0000-0000-000000000001"}"#,
            ),
            (
                StreamMessage::Log { size: 42 },
                r#"{"type":"log","size":42}"#,
            ),
            (
                StreamMessage::Heartbeat { ts: 5 },
                r#"{"type":"heartbeat","ts":5}"#,
            ),
        ];
        for (message, text) in cases {
            assert_eq!(serde_json::to_string(&message).unwrap(), text);
            assert_eq!(
                serde_json::from_str::<StreamMessage>(text).unwrap(),
                message
            );
        }
    }

    #[test]
    fn a_revoked_frame_carries_a_signed_notice_and_an_unsigned_one_does_not_parse() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let notice = Signed::sign(&RevocationNotice::new(Uuid::from_u128(1), 9), &key).unwrap();
        let message = StreamMessage::Revoked { notice };
        let text = serde_json::to_string(&message).unwrap();
        assert!(
            text.starts_with(r#"{"type":"revoked","notice":{"payload":{"v":1,"#),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<StreamMessage>(&text).unwrap(),
            message
        );
        assert!(
            serde_json::from_str::<StreamMessage>(r#"{"type":"revoked"}"#).is_err(),
            "the old unsigned frame is not a message a device acts on"
        );
    }
}
