use lc_types::{Epoch, PublicKey, Round};

/// A voting member of an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    /// Identity key (the peer id is derived from it).
    pub id: PublicKey,
    /// Voting weight (> 0).
    pub weight: u64,
}

/// The fixed validator set of one epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochInfo {
    /// Epoch number.
    pub epoch: Epoch,
    /// Validators in bitmap order.
    pub validators: Vec<Validator>,
    total_weight: u64,
}

impl EpochInfo {
    /// An epoch; `None` when there is no validator, a zero weight, or the total overflows the
    /// quorum arithmetic (`3 × total` must fit in `u64`).
    pub fn new(epoch: Epoch, validators: Vec<Validator>) -> Option<Self> {
        if validators.is_empty() || validators.iter().any(|v| v.weight == 0) {
            return None;
        }
        let total = validators.iter().try_fold(0u64, |acc, v| acc.checked_add(v.weight))?;
        total.checked_mul(3)?;
        Some(Self { epoch, validators, total_weight: total })
    }

    /// Sum of all weights.
    pub fn total_weight(&self) -> u64 {
        self.total_weight
    }

    /// Whether `weight` is a quorum: `3 × weight > 2 × total` (integer arithmetic).
    pub fn is_quorum(&self, weight: u64) -> bool {
        // total ≤ u64::MAX / 3 (checked in `new`) and weight ≤ total, so nothing overflows.
        weight.saturating_mul(3) > self.total_weight * 2
    }

    /// Index of the proposer of `round` (round-robin; weighted schemes arrive as plugins).
    pub fn proposer(&self, round: Round) -> usize {
        (round % self.validators.len() as u64) as usize
    }

    /// Index of a validator by identity key.
    pub fn index_of(&self, id: &PublicKey) -> Option<usize> {
        self.validators.iter().position(|v| &v.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(weights: &[u64]) -> EpochInfo {
        let vs =
            weights.iter().enumerate().map(|(i, w)| Validator { id: PublicKey([i as u8; 32]), weight: *w }).collect();
        EpochInfo::new(0, vs).expect("valid epoch")
    }

    #[test]
    fn quorum_is_strictly_more_than_two_thirds() {
        let e = set(&[1, 1, 1, 1]);
        assert!(!e.is_quorum(2));
        assert!(e.is_quorum(3));
        let e = set(&[1, 1, 1]);
        assert!(!e.is_quorum(2), "2 of 3 is exactly 2/3, not more");
        assert!(e.is_quorum(3));
        let e = set(&[5, 1, 1, 1]);
        assert!(e.is_quorum(6));
        assert!(!e.is_quorum(5));
    }

    #[test]
    fn rejects_bad_sets() {
        assert!(EpochInfo::new(0, vec![]).is_none());
        assert!(EpochInfo::new(0, vec![Validator { id: PublicKey::ZERO, weight: 0 }]).is_none());
        let big = vec![Validator { id: PublicKey::ZERO, weight: u64::MAX / 3 + 1 }];
        assert!(EpochInfo::new(0, big).is_none());
    }
}
