//! At most `max_connections` connections at once, without letting slow or idle clients
//! lock allowed ones out: when the table is full, the oldest connection that is still
//! waiting for its request head (or only draining after its answer) is closed to make
//! room. Connections streaming an answer are never evicted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{oneshot, Notify};

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Accepted; its request head has not been read yet. Evictable.
    Head,
    /// Its request is being answered. Never evicted.
    Answering,
    /// Answered; draining what the client still sends before closing. Evictable.
    Closing,
}

struct Conn {
    peer: SocketAddr,
    phase: Phase,
    /// Tells the connection's task to close; taken when it is evicted.
    evict: Option<oneshot::Sender<()>>,
}

struct Table {
    /// Keyed by accept order, so the first evictable entry is the oldest.
    conns: BTreeMap<u64, Conn>,
    next: u64,
}

/// The connection table.
pub struct Slots {
    max: usize,
    table: Mutex<Table>,
    /// A connection ended (or became evictable): the accept loop may go on.
    freed: Notify,
}

impl Slots {
    pub fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max: max.max(1),
            table: Mutex::new(Table {
                conns: BTreeMap::new(),
                next: 0,
            }),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock leaves a table that is still consistent.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn has_room(&self) -> bool {
        let t = self.lock();
        t.conns.len() < self.max || t.conns.values().any(|c| c.phase != Phase::Answering)
    }

    /// Returns once a new connection can be taken (a free slot or an evictable one).
    pub async fn room(&self) {
        while !self.has_room() {
            // `notify_one` keeps a permit when nobody waits, so no wake-up is lost
            // between the check and the wait.
            self.freed.notified().await;
        }
    }

    /// Takes a slot for a new connection from `peer`, evicting the oldest evictable one
    /// when the table is full; `None` when full of answering connections. The receiver
    /// fires when this connection is evicted in its turn.
    pub fn enter(self: &Arc<Self>, peer: SocketAddr) -> Option<(Slot, oneshot::Receiver<()>)> {
        let mut t = self.lock();
        if t.conns.len() >= self.max {
            let oldest = t
                .conns
                .iter()
                .find(|(_, c)| c.phase != Phase::Answering)
                .map(|(id, _)| *id)?;
            let mut gone = t.conns.remove(&oldest).expect("found above");
            let why = match gone.phase {
                Phase::Head => "closed: no request head yet and the server is full",
                _ => "closed while draining: the server is full",
            };
            super::log(gone.peer, why);
            if let Some(tx) = gone.evict.take() {
                let _ = tx.send(());
            }
        }
        let id = t.next;
        t.next += 1;
        let (tx, rx) = oneshot::channel();
        t.conns.insert(
            id,
            Conn {
                peer,
                phase: Phase::Head,
                evict: Some(tx),
            },
        );
        Some((
            Slot {
                slots: self.clone(),
                id,
            },
            rx,
        ))
    }
}

/// One connection's place in the table; leaving it frees the slot.
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
}

impl Slot {
    /// Moves the connection to `phase`; false when it has been evicted meanwhile.
    pub fn set(&self, phase: Phase) -> bool {
        let mut t = self.slots.lock();
        let Some(c) = t.conns.get_mut(&self.id) else {
            return false;
        };
        c.phase = phase;
        drop(t);
        if phase != Phase::Answering {
            self.slots.freed.notify_one();
        }
        true
    }

    /// The connection's phase (`None` once evicted).
    pub fn phase(&self) -> Option<Phase> {
        self.slots.lock().conns.get(&self.id).map(|c| c.phase)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().conns.remove(&self.id);
        self.slots.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], n))
    }

    #[test]
    fn full_table_evicts_the_oldest_waiting_for_its_head() {
        let slots = Slots::new(3);
        let (a, mut a_rx) = slots.enter(peer(1)).unwrap();
        let (b, mut b_rx) = slots.enter(peer(2)).unwrap();
        let (c, _c_rx) = slots.enter(peer(3)).unwrap();
        assert!(a.set(Phase::Answering));
        // Full: the oldest evictable is b (a is answering).
        let (d, _d_rx) = slots.enter(peer(4)).unwrap();
        assert_eq!(b_rx.try_recv(), Ok(()));
        assert!(a_rx.try_recv().is_err());
        assert_eq!(b.phase(), None);
        assert!(!b.set(Phase::Answering), "an evicted connection stays out");
        assert!(c.set(Phase::Answering));
        assert!(d.set(Phase::Answering));
        // Full of answering connections: no room until one ends.
        assert!(!slots.has_room());
        assert!(slots.enter(peer(5)).is_none());
        drop(c);
        assert!(slots.has_room());
        let (_e, _) = slots.enter(peer(5)).unwrap();
        drop(b);
        assert_eq!(slots.lock().conns.len(), 3);
    }

    #[test]
    fn draining_connections_are_evictable() {
        let slots = Slots::new(1);
        let (a, mut a_rx) = slots.enter(peer(1)).unwrap();
        assert!(a.set(Phase::Answering));
        assert!(!slots.has_room());
        assert!(a.set(Phase::Closing));
        assert!(slots.has_room());
        let (_b, _) = slots.enter(peer(2)).unwrap();
        assert_eq!(a_rx.try_recv(), Ok(()));
    }
}
