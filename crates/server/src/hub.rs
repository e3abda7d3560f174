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
///
/// Kept to 16 bytes: every stream's queue allocates a block of 32 slots when it is created
/// (tokio's channel does, however short the queue), so an inline [`StreamMessage`] here cost
/// about 4 KiB per connected device, more than a third of a stream's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// Send this message (shared by every connection it was sent to).
    Message(Arc<StreamMessage>),
    /// Send `revoked`, then close.
    Revoked,
    /// The device opened more streams than it may hold; this, its oldest, closes.
    Replaced,
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

/// Why a stream was not registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this instance holds as many push streams as it may")]
pub struct HubFull;

#[derive(Debug, Default)]
struct Connections {
    by_user: HashMap<u64, Vec<Connection>>,
    per_device: HashMap<Uuid, usize>,
    total: usize,
}

impl Connections {
    fn remove(&mut self, user_id: u64, mut which: impl FnMut(&Connection) -> bool) {
        let Some(list) = self.by_user.get_mut(&user_id) else {
            return;
        };
        let mut removed = Vec::new();
        list.retain(|c| {
            let gone = which(c);
            if gone {
                removed.push(c.device_id);
            }
            !gone
        });
        if list.is_empty() {
            self.by_user.remove(&user_id);
        }
        for device in removed {
            self.total -= 1;
            if let Some(n) = self.per_device.get_mut(&device) {
                *n -= 1;
                if *n == 0 {
                    self.per_device.remove(&device);
                }
            }
        }
    }
}

/// The fan-out hub. One per service process.
#[derive(Debug)]
pub struct PushHub {
    connections: Mutex<Connections>,
    max_per_device: usize,
    max_total: usize,
    next_id: AtomicU64,
    resolved: broadcast::Sender<Resolved>,
}

impl Default for PushHub {
    fn default() -> Self {
        PushHub::new(2, 200_000)
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
    /// A hub holding at most `max_per_device` streams per device and `max_total` in all.
    pub fn new(max_per_device: usize, max_total: usize) -> Self {
        PushHub {
            connections: Mutex::new(Connections::default()),
            max_per_device: max_per_device.max(1),
            max_total,
            next_id: AtomicU64::new(1),
            resolved: broadcast::channel(1024).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connections> {
        self.connections.lock().expect("hub lock")
    }

    /// Registers a device's stream. Events for `user_id` arrive on the receiver until the
    /// registration is dropped. A device over its stream limit has its oldest stream closed
    /// ([`Push::Replaced`]), so a device that reconnects before its old socket times out is
    /// never locked out, and one device can never hold more than its share.
    ///
    /// # Errors
    /// [`HubFull`] when this instance holds its maximum of streams.
    pub fn connect(
        self: &Arc<Self>,
        user_id: u64,
        device_id: Uuid,
    ) -> Result<(Registration, mpsc::Receiver<Push>), HubFull> {
        let (tx, rx) = mpsc::channel(QUEUE_PER_CONNECTION);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut connections = self.lock();
        let held = connections.per_device.get(&device_id).copied().unwrap_or(0);
        if held >= self.max_per_device {
            let oldest = connections
                .by_user
                .get(&user_id)
                .into_iter()
                .flatten()
                .filter(|c| c.device_id == device_id)
                .min_by_key(|c| c.id)
                .map(|c| c.id);
            if let Some(oldest) = oldest {
                if let Some(conn) = connections
                    .by_user
                    .get(&user_id)
                    .into_iter()
                    .flatten()
                    .find(|c| c.id == oldest)
                {
                    let _ = conn.tx.try_send(Push::Replaced);
                }
                connections.remove(user_id, |c| c.id == oldest);
            }
        } else if connections.total >= self.max_total {
            return Err(HubFull);
        }
        connections
            .by_user
            .entry(user_id)
            .or_default()
            .push(Connection { id, device_id, tx });
        *connections.per_device.entry(device_id).or_insert(0) += 1;
        connections.total += 1;
        drop(connections);
        Ok((
            Registration {
                hub: Arc::clone(self),
                user_id,
                id,
            },
            rx,
        ))
    }

    fn remove(&self, user_id: u64, which: impl FnMut(&Connection) -> bool) {
        self.lock().remove(user_id, which);
    }

    /// Sends `message` to every connected device of these users. Returns how many connections
    /// it was queued on.
    pub fn notify_users(&self, users: &[u64], message: StreamMessage) -> usize {
        let mut reached = 0;
        let mut full = Vec::new();
        let message = Arc::new(message);
        {
            let connections = self.lock();
            for user in users {
                for conn in connections.by_user.get(user).into_iter().flatten() {
                    match conn.tx.try_send(Push::Message(Arc::clone(&message))) {
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
        let mut connections = self.lock();
        for conn in connections
            .by_user
            .get(&user_id)
            .into_iter()
            .flatten()
            .filter(|c| c.device_id == device_id)
        {
            // A full queue still gets closed: the task ends when its sender is dropped below.
            let _ = conn.tx.try_send(Push::Revoked);
        }
        connections.remove(user_id, |c| c.device_id == device_id);
    }

    /// Closes every stream with "reconnect", so each device reconnects and re-syncs from its
    /// `pending` list (after this instance may have missed changes). Returns how many.
    pub fn reconnect_all(&self) -> usize {
        let mut connections = self.lock();
        let n = connections.total;
        // Dropping the senders ends each stream's task, which closes with "reconnect".
        connections.by_user.clear();
        connections.per_device.clear();
        connections.total = 0;
        n
    }

    /// Announces a final status to the approvers' devices and to long-poll waiters.
    pub fn resolved(&self, id: Uuid, status: RequestStatus, approvers: &[u64]) {
        self.notify_users(approvers, StreamMessage::Resolved { id, status });
        let _ = self.resolved.send(Resolved { id, status });
    }

    /// Status long-polls on this instance subscribed to resolutions right now.
    pub fn resolution_waiters(&self) -> usize {
        self.resolved.receiver_count()
    }

    /// A receiver of every resolution from now on (a status long-poll's wait).
    pub fn subscribe_resolved(&self) -> broadcast::Receiver<Resolved> {
        self.resolved.subscribe()
    }

    /// Open stream connections.
    pub fn connections(&self) -> u64 {
        self.lock().total as u64
    }

    /// Distinct devices with at least one open stream.
    pub fn connected_devices(&self) -> u64 {
        self.lock().per_device.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_only_the_users_devices() {
        let hub = Arc::new(PushHub::default());
        let (reg_a, mut rx_a) = hub.connect(1, Uuid::from_u128(1)).unwrap();
        let (_reg_b, mut rx_b) = hub.connect(2, Uuid::from_u128(2)).unwrap();
        assert_eq!(hub.connections(), 2);
        let msg = StreamMessage::Request {
            id: Uuid::from_u128(9),
        };
        assert_eq!(hub.notify_users(&[1], msg.clone()), 1);
        assert_eq!(rx_a.try_recv().unwrap(), Push::Message(Arc::new(msg)));
        assert!(
            rx_b.try_recv().is_err(),
            "user 2 must not see user 1's request"
        );
        drop(reg_a);
        assert_eq!(hub.connections(), 1);
    }

    #[test]
    fn a_queued_push_stays_small() {
        // Every stream's queue holds a block of 32 of these from the start.
        assert!(
            std::mem::size_of::<Push>() <= 16,
            "a Push is {} bytes; each connected device pays 32 times that",
            std::mem::size_of::<Push>()
        );
    }

    #[test]
    fn a_slow_device_is_disconnected_not_buffered() {
        let hub = Arc::new(PushHub::default());
        let (_reg, mut rx) = hub.connect(1, Uuid::from_u128(1)).unwrap();
        let msg = StreamMessage::Request { id: Uuid::nil() };
        for _ in 0..QUEUE_PER_CONNECTION {
            assert_eq!(hub.notify_users(&[1], msg.clone()), 1);
        }
        assert_eq!(hub.notify_users(&[1], msg), 0);
        assert_eq!(hub.connections(), 0);
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
        let (_a, mut rx_a) = hub.connect(1, Uuid::from_u128(1)).unwrap();
        let (_b, mut rx_b) = hub.connect(1, Uuid::from_u128(2)).unwrap();
        hub.revoke(1, Uuid::from_u128(1));
        assert_eq!(rx_a.try_recv().unwrap(), Push::Revoked);
        assert!(matches!(
            rx_a.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert!(rx_b.try_recv().is_err());
        assert_eq!(hub.connections(), 1);
    }

    #[test]
    fn a_device_over_its_stream_limit_loses_its_oldest_stream() {
        let hub = Arc::new(PushHub::new(2, 100));
        let device = Uuid::from_u128(1);
        let (_a, mut first) = hub.connect(1, device).unwrap();
        let (_b, _second) = hub.connect(1, device).unwrap();
        let (_c, _third) = hub.connect(1, device).unwrap();
        assert_eq!(first.try_recv().unwrap(), Push::Replaced);
        assert!(matches!(
            first.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert_eq!(hub.connections(), 2, "one device holds at most two streams");
        assert_eq!(hub.connected_devices(), 1, "connections are not devices");
    }

    #[test]
    fn a_full_instance_refuses_new_devices() {
        let hub = Arc::new(PushHub::new(2, 1));
        let (_a, _rx) = hub.connect(1, Uuid::from_u128(1)).unwrap();
        assert_eq!(hub.connect(2, Uuid::from_u128(2)).err(), Some(HubFull));
    }
}
