//! In-process fan-out of push events to connected devices and of resolutions to long-poll
//! waiters.
//!
//! Delivery is best effort by design: the stream protocol is state-based (every connection starts
//! with `pending`), so when a device's queue is full the hub drops that connection rather than
//! buffering without bound; the device reconnects and catches up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use assent_protocol::request::RequestStatus;
use assent_protocol::stream::StreamMessage;
use tokio::sync::{broadcast, mpsc};
use uuid::Uuid;

/// Messages queued per connection before a slow device is disconnected.
const QUEUE_PER_CONNECTION: usize = 16;

/// What the hub sends a connection's task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// Send this message.
    Message(StreamMessage),
    /// Send `revoked`, then close.
    Revoked,
}

#[derive(Debug)]
struct Connection {
    id: u64,
    device_id: Uuid,
    tx: mpsc::Sender<Push>,
}

/// A resolved request, for long-poll waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// The request.
    pub id: Uuid,
    /// Its final status.
    pub status: RequestStatus,
}

/// The fan-out hub. One per service process.
#[derive(Debug)]
pub struct PushHub {
    by_user: Mutex<HashMap<u64, Vec<Connection>>>,
    connections: AtomicU64,
    next_id: AtomicU64,
    resolved: broadcast::Sender<Resolved>,
}

impl Default for PushHub {
    fn default() -> Self {
        PushHub {
            by_user: Mutex::new(HashMap::new()),
            connections: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            resolved: broadcast::channel(1024).0,
        }
    }
}

/// A registered stream connection; unregisters itself when dropped.
#[derive(Debug)]
pub struct Registration {
    hub: Arc<PushHub>,
    user_id: u64,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.remove(self.user_id, |c| c.id == self.id);
    }
}

impl PushHub {
    /// Registers a device's stream. Events for `user_id` arrive on the receiver until the
    /// registration is dropped.
    pub fn connect(
        self: &Arc<Self>,
        user_id: u64,
        device_id: Uuid,
    ) -> (Registration, mpsc::Receiver<Push>) {
        let (tx, rx) = mpsc::channel(QUEUE_PER_CONNECTION);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.by_user
            .lock()
            .expect("hub lock")
            .entry(user_id)
            .or_default()
            .push(Connection { id, device_id, tx });
        self.connections.fetch_add(1, Ordering::Relaxed);
        (
            Registration {
                hub: Arc::clone(self),
                user_id,
                id,
            },
            rx,
        )
    }

    fn remove(&self, user_id: u64, mut which: impl FnMut(&Connection) -> bool) {
        let mut by_user = self.by_user.lock().expect("hub lock");
        if let Some(list) = by_user.get_mut(&user_id) {
            let before = list.len();
            list.retain(|c| !which(c));
            self.connections
                .fetch_sub((before - list.len()) as u64, Ordering::Relaxed);
            if list.is_empty() {
                by_user.remove(&user_id);
            }
        }
    }

    /// Sends `message` to every connected device of these users. Returns how many connections
    /// it was queued on.
    pub fn notify_users(&self, users: &[u64], message: &StreamMessage) -> usize {
        let mut reached = 0;
        let mut full = Vec::new();
        {
            let by_user = self.by_user.lock().expect("hub lock");
            for user in users {
                for conn in by_user.get(user).into_iter().flatten() {
                    match conn.tx.try_send(Push::Message(message.clone())) {
                        Ok(()) => reached += 1,
                        Err(mpsc::error::TrySendError::Full(_)) => full.push((*user, conn.id)),
                        Err(mpsc::error::TrySendError::Closed(_)) => {}
                    }
                }
            }
        }
        for (user, id) in full {
            // Dropping the sender ends that connection's task; the device reconnects and re-syncs.
            tracing::warn!(user, "push queue full; disconnecting a slow device");
            self.remove(user, |c| c.id == id);
        }
        reached
    }

    /// Tells a device it was revoked and closes its streams.
    pub fn revoke(&self, user_id: u64, device_id: Uuid) {
        let by_user = self.by_user.lock().expect("hub lock");
        for conn in by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter(|c| c.device_id == device_id)
        {
            // A full queue still gets closed: the task ends when its sender is dropped below.
            let _ = conn.tx.try_send(Push::Revoked);
        }
        drop(by_user);
        self.remove(user_id, |c| c.device_id == device_id);
    }

    /// Announces a final status to the approvers' devices and to long-poll waiters.
    pub fn resolved(&self, id: Uuid, status: RequestStatus, approvers: &[u64]) {
        self.notify_users(approvers, &StreamMessage::Resolved { id, status });
        let _ = self.resolved.send(Resolved { id, status });
    }

    /// Subscribes to resolutions (for `?wait=` long-polls).
    pub fn subscribe_resolved(&self) -> broadcast::Receiver<Resolved> {
        self.resolved.subscribe()
    }

    /// Open stream connections.
    pub fn connected(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_only_the_users_devices() {
        let hub = Arc::new(PushHub::default());
        let (reg_a, mut rx_a) = hub.connect(1, Uuid::from_u128(1));
        let (_reg_b, mut rx_b) = hub.connect(2, Uuid::from_u128(2));
        assert_eq!(hub.connected(), 2);
        let msg = StreamMessage::Request {
            id: Uuid::from_u128(9),
        };
        assert_eq!(hub.notify_users(&[1], &msg), 1);
        assert_eq!(rx_a.try_recv().unwrap(), Push::Message(msg));
        assert!(
            rx_b.try_recv().is_err(),
            "user 2 must not see user 1's request"
        );
        drop(reg_a);
        assert_eq!(hub.connected(), 1);
    }

    #[test]
    fn a_slow_device_is_disconnected_not_buffered() {
        let hub = Arc::new(PushHub::default());
        let (_reg, mut rx) = hub.connect(1, Uuid::from_u128(1));
        let msg = StreamMessage::Request { id: Uuid::nil() };
        for _ in 0..QUEUE_PER_CONNECTION {
            assert_eq!(hub.notify_users(&[1], &msg), 1);
        }
        assert_eq!(hub.notify_users(&[1], &msg), 0);
        assert_eq!(hub.connected(), 0);
        for _ in 0..QUEUE_PER_CONNECTION {
            assert!(rx.try_recv().is_ok());
        }
        assert!(
            matches!(rx.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)),
            "the stream ends so the device reconnects"
        );
    }

    #[test]
    fn revoke_closes_only_that_device() {
        let hub = Arc::new(PushHub::default());
        let (_a, mut rx_a) = hub.connect(1, Uuid::from_u128(1));
        let (_b, mut rx_b) = hub.connect(1, Uuid::from_u128(2));
        hub.revoke(1, Uuid::from_u128(1));
        assert_eq!(rx_a.try_recv().unwrap(), Push::Revoked);
        assert!(matches!(
            rx_a.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert!(rx_b.try_recv().is_err());
        assert_eq!(hub.connected(), 1);
    }
}
