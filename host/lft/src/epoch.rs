use lc_types::{Epoch, PublicKey, Round};
use std::sync::Arc;

/// Who proposes in a round: supplied per epoch by the channel's consensus plugin. It MUST be a
/// pure function of `round` (same answer on every node, every call) returning an index below the
/// number of validators; an out-of-range answer is reduced modulo the validator count.
pub trait ProposerSchedule: Send + Sync + std::fmt::Debug {
    /// Validator index of the proposer of `round`.
    fn proposer(&self, round: Round) -> usize;
}

/// One proposal per validator in turn (`round mod n`): the equal scheme's order.
#[derive(Debug, Clone, Copy)]
pub struct RoundRobin {
    /// Number of validators.
    pub n: usize,
}

impl ProposerSchedule for RoundRobin {
    fn proposer(&self, round: Round) -> usize {
        (round % self.n.max(1) as u64) as usize
    }
}

/// A voting member of an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validator {
    /// Identity key (the peer id is derived from it).
    pub id: PublicKey,
    /// Voting weight (> 0).
    pub weight: u64,
}

/// A trusted group (the original's `PEER_GROUP_ID`): its `votes` count for X only when an
/// internal quorum of its members (`3 × weight > 2 × group weight`) voted X.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Validator indices of the members.
    pub members: Vec<usize>,
    /// Votes the group casts as a whole.
    pub votes: u64,
}

/// The fixed validator set of one epoch.
#[derive(Debug, Clone)]
pub struct EpochInfo {
    /// Epoch number.
    pub epoch: Epoch,
    /// Validators in bitmap order.
    pub validators: Vec<Validator>,
    groups: Vec<Group>,
    /// Group of each validator, if any.
    group_of: Vec<Option<usize>>,
    total_weight: u64,
    schedule: Arc<dyn ProposerSchedule>,
}

impl PartialEq for EpochInfo {
    fn eq(&self, other: &Self) -> bool {
        // Schedules are compared by their first answers: enough to tell epochs apart in tests.
        self.epoch == other.epoch
            && self.validators == other.validators
            && self.groups == other.groups
            && (0..self.validators.len() as u64 * 2).all(|r| self.proposer(r) == other.proposer(r))
    }
}

impl Eq for EpochInfo {}

impl EpochInfo {
    /// An epoch; `None` when there is no validator, a zero weight, or the total overflows the
    /// quorum arithmetic (`3 × total` must fit in `u64`).
    pub fn new(epoch: Epoch, validators: Vec<Validator>) -> Option<Self> {
        Self::with_groups(epoch, validators, Vec::new())
    }

    /// An epoch with trusted groups. The fault model then assumes Byzantine weight below 1/3
    /// inside every group and overall. `None` when a member index is out of range or in two
    /// groups, a group is empty or has no votes, or the totals overflow.
    pub fn with_groups(epoch: Epoch, validators: Vec<Validator>, groups: Vec<Group>) -> Option<Self> {
        if validators.is_empty() || validators.iter().any(|v| v.weight == 0) {
            return None;
        }
        let mut group_of = vec![None; validators.len()];
        for (g, group) in groups.iter().enumerate() {
            if group.members.is_empty() || group.votes == 0 {
                return None;
            }
            for &m in &group.members {
                match group_of.get_mut(m) {
                    Some(slot @ None) => *slot = Some(g),
                    _ => return None,
                }
            }
        }
        let ungrouped = validators
            .iter()
            .zip(&group_of)
            .filter(|(_, g)| g.is_none())
            .try_fold(0u64, |acc, (v, _)| acc.checked_add(v.weight))?;
        let total = groups.iter().try_fold(ungrouped, |acc, g| acc.checked_add(g.votes))?;
        // Group-internal quorum arithmetic must not overflow either.
        validators.iter().try_fold(0u64, |acc, v| acc.checked_add(v.weight))?.checked_mul(3)?;
        total.checked_mul(3)?;
        let schedule = Arc::new(RoundRobin { n: validators.len() });
        Some(Self { epoch, validators, groups, group_of, total_weight: total, schedule })
    }

    /// Replaces the round-robin proposer order with the consensus plugin's schedule.
    pub fn with_schedule(mut self, schedule: Arc<dyn ProposerSchedule>) -> Self {
        self.schedule = schedule;
        self
    }

    /// The trusted groups.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Total votes: ungrouped weights plus group vote counts.
    pub fn total_weight(&self) -> u64 {
        self.total_weight
    }

    /// Votes a set of validators (all voting for the same thing) carries: ungrouped members their
    /// weight, each group its vote count if an internal quorum of it is in the set, else 0.
    pub fn weigh(&self, signers: &std::collections::BTreeSet<usize>) -> u64 {
        let mut votes = 0u64;
        let mut in_group = vec![0u64; self.groups.len()];
        for &i in signers {
            let (Some(v), Some(g)) = (self.validators.get(i), self.group_of.get(i)) else { continue };
            match g {
                None => votes += v.weight,
                Some(g) => in_group[*g] += v.weight,
            }
        }
        for (g, group) in self.groups.iter().enumerate() {
            let group_weight: u64 = group.members.iter().map(|m| self.validators[*m].weight).sum();
            if in_group[g] * 3 > group_weight * 2 {
                votes += group.votes;
            }
        }
        votes
    }

    /// Whether `weight` is a quorum: `3 × weight > 2 × total` (integer arithmetic).
    pub fn is_quorum(&self, weight: u64) -> bool {
        // total ≤ u64::MAX / 3 (checked in `new`) and weight ≤ total, so nothing overflows.
        weight.saturating_mul(3) > self.total_weight * 2
    }

    /// Index of the proposer of `round`, from the epoch's schedule (round-robin by default).
    pub fn proposer(&self, round: Round) -> usize {
        self.schedule.proposer(round) % self.validators.len()
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
