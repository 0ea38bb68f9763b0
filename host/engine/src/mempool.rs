use lc_types::{Hash, Transaction};
use std::collections::{HashMap, VecDeque};

/// Bounded FIFO of admitted transactions (arrival order; the leader takes from the front).
/// Lookups by hash are O(1): the order queue holds hashes, the map holds the transactions.
#[derive(Debug)]
pub struct Mempool {
    order: VecDeque<Hash>,
    txs: HashMap<Hash, (Transaction, usize)>,
    capacity: usize,
}

impl Mempool {
    /// An empty mempool holding at most `capacity` transactions.
    pub fn new(capacity: usize) -> Self {
        Self { order: VecDeque::new(), txs: HashMap::new(), capacity }
    }

    /// Number of transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Whether it is full.
    pub fn is_full(&self) -> bool {
        self.txs.len() >= self.capacity
    }

    /// Whether `hash` is queued.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.txs.contains_key(hash)
    }

    /// A queued transaction.
    pub fn get(&self, hash: &Hash) -> Option<&Transaction> {
        self.txs.get(hash).map(|(tx, _)| tx)
    }

    /// Queues a transaction; `false` if full or already present.
    pub fn push(&mut self, hash: Hash, tx: Transaction, encoded_len: usize) -> bool {
        if self.is_full() || self.txs.contains_key(&hash) {
            return false;
        }
        self.txs.insert(hash, (tx, encoded_len));
        self.order.push_back(hash);
        true
    }

    /// Removes a transaction (it was included in another proposer's block).
    pub fn remove(&mut self, hash: &Hash) -> Option<Transaction> {
        // The order queue keeps a stale entry; `take` skips it.
        self.txs.remove(hash).map(|(tx, _)| tx)
    }

    /// Takes up to `max_count` transactions totalling at most `max_bytes` from the front (always
    /// at least one when not empty, so an oversize transaction cannot block the queue).
    pub fn take(&mut self, max_count: usize, max_bytes: usize) -> Vec<(Hash, Transaction)> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while out.len() < max_count {
            let Some(front) = self.order.front() else { break };
            let len = self.txs.get(front).map_or(0, |(_, len)| *len);
            if bytes + len > max_bytes && !out.is_empty() {
                break;
            }
            bytes += len;
            if let Some(h) = self.order.pop_front() {
                if let Some((tx, _)) = self.txs.remove(&h) {
                    out.push((h, tx));
                }
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
