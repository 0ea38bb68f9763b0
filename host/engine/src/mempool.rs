use lc_types::{Hash, Transaction};
use std::collections::{HashSet, VecDeque};

/// Bounded FIFO of admitted transactions (arrival order; the leader takes from the front).
#[derive(Debug)]
pub struct Mempool {
    queue: VecDeque<(Hash, Transaction, usize)>,
    hashes: HashSet<Hash>,
    capacity: usize,
}

impl Mempool {
    /// An empty mempool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Self { queue: VecDeque::new(), hashes: HashSet::new(), capacity }
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Whether it is full.
    pub fn is_full(&self) -> bool {
        self.queue.len() >= self.capacity
    }

    /// Whether `hash` is queued.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.hashes.contains(hash)
    }

    /// A queued transaction.
    pub fn get(&self, hash: &Hash) -> Option<&Transaction> {
        if !self.hashes.contains(hash) {
            return None;
        }
        self.queue.iter().find(|(h, _, _)| h == hash).map(|(_, tx, _)| tx)
    }

    /// Queues a transaction; `false` if full or already present.
    pub fn push(&mut self, hash: Hash, tx: Transaction, encoded_len: usize) -> bool {
        if self.is_full() || !self.hashes.insert(hash) {
            return false;
        }
        self.queue.push_back((hash, tx, encoded_len));
        true
    }

    /// Takes up to `max_count` transactions totalling at most `max_bytes` from the front.
    pub fn take(&mut self, max_count: usize, max_bytes: usize) -> Vec<(Hash, Transaction)> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < max_count {
            let Some((_, _, len)) = self.queue.front() else { break };
            if bytes + len > max_bytes && !out.is_empty() {
                break;
            }
            bytes += len;
            if let Some((h, tx, _)) = self.queue.pop_front() {
                self.hashes.remove(&h);
                out.push((h, tx));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lc_types::{Payload, PublicKey, Signature, TxBody};

    fn tx(n: u64) -> (Hash, Transaction) {
        let body = TxBody {
            channel: "c".into(),
            from: PublicKey::ZERO,
            timestamp_us: 0,
            nonce: n,
            payload: Payload::Data { json: "{}".into() },
        };
        (body.hash(), Transaction { body, signature: Signature::ZERO })
    }

    #[test]
    fn bounded_fifo_without_duplicates() {
        let mut m = Mempool::new(3);
        for n in 0..3 {
            let (h, t) = tx(n);
            assert!(m.push(h, t, 100));
        }
        let (h, t) = tx(0);
        assert!(!m.push(h, t, 100), "full");
        let taken = m.take(2, 10_000);
        assert_eq!(taken.iter().map(|(h, _)| *h).collect::<Vec<_>>(), vec![tx(0).0, tx(1).0]);
        let (h, t) = tx(2);
        assert!(!m.push(h, t, 100), "duplicate");
        assert_eq!(m.len(), 1);
        assert!(m.contains(&tx(2).0));
    }

    #[test]
    fn take_respects_byte_budget_but_always_makes_progress() {
        let mut m = Mempool::new(10);
        for n in 0..4 {
            let (h, t) = tx(n);
            assert!(m.push(h, t, 400));
        }
        assert_eq!(m.take(10, 100).len(), 1, "one oversize tx still moves");
        assert_eq!(m.take(10, 800).len(), 2);
    }
}
