use crate::EpochInfo;
use lc_types::{Hash, Height, Round};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Most uncommitted blocks the core keeps (bounds memory under Byzantine proposals).
pub const MAX_PENDING_BLOCKS: usize = 1024;

/// What the core needs to know about a block (the host has verified its signature, contents
/// and execution before feeding it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    /// Block hash.
    pub hash: Hash,
    /// Height.
    pub height: Height,
    /// Round it was proposed in.
    pub round: Round,
    /// Parent hash (the block its QC certifies).
    pub parent: Hash,
    /// Round of the parent's QC carried in the block (= the parent's round).
    pub qc_round: Round,
    /// Validator index of the proposer.
    pub proposer: usize,
}

/// Facts the host feeds to the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A proposal for the current round, verified by the host.
    Proposal(BlockInfo),
    /// A yes vote, its signature verified by the host.
    Vote {
        /// Validator index of the voter.
        voter: usize,
        /// Round voted in.
        round: Round,
        /// Block voted for.
        block_hash: Hash,
    },
}

/// Commands the host carries out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Output {
    /// The core entered `round`.
    EnterRound {
        /// New round.
        round: Round,
    },
    /// This node leads `round`: the host MUST build a block on `parent` (height `height`, carrying
    /// the parent's QC of round `parent_round`) when its pacing allows, and feed it back as
    /// [`Input::Proposal`] (and broadcast it once a network exists).
    Propose {
        /// Round to propose in.
        round: Round,
        /// Height of the new block.
        height: Height,
        /// Parent block (the high QC's block).
        parent: Hash,
        /// Round of the parent.
        parent_round: Round,
    },
    /// The host MUST persist the safety state, sign a yes vote for this block and deliver it to
    /// every validator (itself included, as [`Input::Vote`]).
    CastVote {
        /// Round.
        round: Round,
        /// Height.
        height: Height,
        /// Block.
        block_hash: Hash,
    },
    /// The block gathered a quorum and is the new candidate (high QC).
    Certified {
        /// Round.
        round: Round,
        /// Height.
        height: Height,
        /// Block.
        block_hash: Hash,
    },
    /// These blocks are final, oldest first: the host MUST write them to storage in this order.
    Commit {
        /// Committed block hashes, ascending height.
        blocks: Vec<Hash>,
    },
}

/// Rejected inputs (Byzantine or stale messages): the core's state is unchanged.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Input for a round other than the current one.
    #[error("input for round {got}, current round is {current}")]
    WrongRound {
        /// Round of the input.
        got: Round,
        /// Current round.
        current: Round,
    },
    /// The proposal does not come from the round's leader.
    #[error("proposal of round {round} from validator {got}, leader is {leader}")]
    WrongProposer {
        /// Round.
        round: Round,
        /// Claimed proposer.
        got: usize,
        /// Actual leader.
        leader: usize,
    },
    /// The proposal's parent is not a certified block this node knows.
    #[error("parent {0} is not a known certified block")]
    UnknownParent(Hash),
    /// Height or QC round does not match the parent.
    #[error("block does not extend its parent: {0}")]
    BadLink(&'static str),
    /// The safety rule refuses the proposal (`qc_round` must be `round − 1`).
    #[error("unsafe proposal: qc round {qc_round} in round {round}")]
    Unsafe {
        /// Proposal round.
        round: Round,
        /// Round of its QC.
        qc_round: Round,
    },
    /// The validator index is outside the epoch.
    #[error("unknown voter index {0}")]
    UnknownVoter(usize),
    /// A second, different vote by the same validator in one round.
    #[error("validator {voter} equivocated in round {round}")]
    Equivocation {
        /// Voter.
        voter: usize,
        /// Round.
        round: Round,
    },
    /// Too many uncommitted blocks.
    #[error("too many pending blocks")]
    TooManyPending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Certified {
    hash: Hash,
    height: Height,
    round: Round,
}

/// The LFT state machine of one channel and epoch.
#[derive(Debug)]
pub struct Lft {
    epoch: EpochInfo,
    me: Option<usize>,
    round: Round,
    last_voted_round: Round,
    high_qc: Certified,
    committed: Certified,
    blocks: BTreeMap<Hash, BlockInfo>,
    certified: BTreeSet<Hash>,
    /// Votes of the current round: voter → block.
    votes: BTreeMap<usize, Hash>,
}

impl Lft {
    /// A core resuming from the last committed block (`height`, `hash`, `round`). `me` is this
    /// node's validator index (`None` for a non-voting node).
    pub fn new(
        epoch: EpochInfo,
        me: Option<usize>,
        committed_hash: Hash,
        committed_height: Height,
        committed_round: Round,
    ) -> Self {
        let tip = Certified { hash: committed_hash, height: committed_height, round: committed_round };
        Self {
            epoch,
            me,
            round: committed_round,
            last_voted_round: committed_round,
            high_qc: tip,
            committed: tip,
            blocks: BTreeMap::new(),
            certified: BTreeSet::new(),
            votes: BTreeMap::new(),
        }
    }

    /// Current round.
    pub fn round(&self) -> Round {
        self.round
    }

    /// Hash and height of the current candidate (high QC block).
    pub fn candidate(&self) -> (Hash, Height) {
        (self.high_qc.hash, self.high_qc.height)
    }

    /// The epoch.
    pub fn epoch(&self) -> &EpochInfo {
        &self.epoch
    }

    /// Enters the round after the high QC.
    pub fn start(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        self.enter_round(self.high_qc.round + 1, &mut out);
        out
    }

    /// Feeds one input; returns the commands to carry out, in order.
    pub fn handle(&mut self, input: Input) -> Result<Vec<Output>, Error> {
        match input {
            Input::Proposal(b) => self.on_proposal(b),
            Input::Vote { voter, round, block_hash } => self.on_vote(voter, round, block_hash),
        }
    }

    fn certified_block(&self, hash: &Hash) -> Option<Certified> {
        if *hash == self.committed.hash {
            return Some(self.committed);
        }
        if !self.certified.contains(hash) {
            return None;
        }
        self.blocks.get(hash).map(|b| Certified { hash: b.hash, height: b.height, round: b.round })
    }

    fn on_proposal(&mut self, b: BlockInfo) -> Result<Vec<Output>, Error> {
        if b.round != self.round {
            return Err(Error::WrongRound { got: b.round, current: self.round });
        }
        let leader = self.epoch.proposer(b.round);
        if b.proposer != leader {
            return Err(Error::WrongProposer { round: b.round, got: b.proposer, leader });
        }
        let parent = self.certified_block(&b.parent).ok_or(Error::UnknownParent(b.parent))?;
        if b.height != parent.height + 1 {
            return Err(Error::BadLink("height is not parent height + 1"));
        }
        if b.qc_round != parent.round {
            return Err(Error::BadLink("qc round is not the parent's round"));
        }
        // Safety rule (no timeout certificates yet): extend the QC of the directly preceding round.
        if b.qc_round + 1 != b.round {
            return Err(Error::Unsafe { round: b.round, qc_round: b.qc_round });
        }
        if self.blocks.len() >= MAX_PENDING_BLOCKS {
            return Err(Error::TooManyPending);
        }
        self.blocks.insert(b.hash, b);
        // B.qc raises the high QC (lft.md: skipping this forks the chain).
        if parent.round > self.high_qc.round {
            self.high_qc = parent;
        }
        let mut out = Vec::new();
        if self.me.is_some() && b.round > self.last_voted_round {
            self.last_voted_round = b.round;
            out.push(Output::CastVote { round: b.round, height: b.height, block_hash: b.hash });
        }
        // Votes may have arrived before the proposal.
        self.try_certify(b.hash, &mut out);
        Ok(out)
    }

    fn on_vote(&mut self, voter: usize, round: Round, block_hash: Hash) -> Result<Vec<Output>, Error> {
        if voter >= self.epoch.validators.len() {
            return Err(Error::UnknownVoter(voter));
        }
        if round != self.round {
            return Err(Error::WrongRound { got: round, current: self.round });
        }
        match self.votes.get(&voter) {
            Some(h) if *h == block_hash => return Ok(Vec::new()), // duplicate delivery counts once
            Some(_) => return Err(Error::Equivocation { voter, round }),
            None => {
                self.votes.insert(voter, block_hash);
            }
        }
        let mut out = Vec::new();
        self.try_certify(block_hash, &mut out);
        Ok(out)
    }

    fn try_certify(&mut self, hash: Hash, out: &mut Vec<Output>) {
        let Some(b) = self.blocks.get(&hash).copied() else { return };
        if b.round != self.round || self.certified.contains(&hash) {
            return;
        }
        let signers: BTreeSet<usize> = self.votes.iter().filter(|(_, h)| **h == hash).map(|(v, _)| *v).collect();
        if !self.epoch.is_quorum(self.epoch.weigh(&signers)) {
            return;
        }
        self.certified.insert(hash);
        if b.round > self.high_qc.round {
            self.high_qc = Certified { hash: b.hash, height: b.height, round: b.round };
        }
        out.push(Output::Certified { round: b.round, height: b.height, block_hash: b.hash });
        // Commit rule: the parent was certified in the directly preceding round.
        if b.qc_round + 1 == b.round && b.parent != self.committed.hash {
            self.commit_through(b.parent, out);
        }
        self.enter_round(b.round + 1, out);
    }

    fn commit_through(&mut self, hash: Hash, out: &mut Vec<Output>) {
        let mut chain = Vec::new();
        let mut cursor = hash;
        while cursor != self.committed.hash {
            let Some(b) = self.blocks.get(&cursor) else { return }; // not connected: nothing to commit
            chain.push(*b);
            cursor = b.parent;
        }
        chain.reverse();
        let Some(last) = chain.last().copied() else { return };
        self.committed = Certified { hash: last.hash, height: last.height, round: last.round };
        let committed_height = last.height;
        self.blocks.retain(|_, b| b.height > committed_height);
        let blocks = &self.blocks;
        self.certified.retain(|h| blocks.contains_key(h));
        out.push(Output::Commit { blocks: chain.iter().map(|b| b.hash).collect() });
    }

    fn enter_round(&mut self, round: Round, out: &mut Vec<Output>) {
        if round <= self.round {
            return;
        }
        self.round = round;
        self.votes.clear();
        out.push(Output::EnterRound { round });
        if self.me == Some(self.epoch.proposer(round)) {
            out.push(Output::Propose {
                round,
                height: self.high_qc.height + 1,
                parent: self.high_qc.hash,
                parent_round: self.high_qc.round,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Validator;
    use lc_types::PublicKey;

    fn epoch(n: usize) -> EpochInfo {
        let vs = (0..n).map(|i| Validator { id: PublicKey([i as u8; 32]), weight: 1 }).collect();
        EpochInfo::new(0, vs).expect("epoch")
    }

    fn h(x: u8) -> Hash {
        Hash([x; 32])
    }

    fn block(x: u8, height: Height, round: Round, parent: Hash, qc_round: Round, proposer: usize) -> BlockInfo {
        BlockInfo { hash: h(x), height, round, parent, qc_round, proposer }
    }

    /// One validator: propose -> self-vote -> certified -> next round; the parent commits when its
    /// child is certified in the next round.
    #[test]
    fn single_validator_step_table() {
        let genesis = h(0);
        let mut lft = Lft::new(epoch(1), Some(0), genesis, 0, 0);
        assert_eq!(
            lft.start(),
            vec![
                Output::EnterRound { round: 1 },
                Output::Propose { round: 1, height: 1, parent: genesis, parent_round: 0 },
            ]
        );
        let b1 = block(1, 1, 1, genesis, 0, 0);
        assert_eq!(
            lft.handle(Input::Proposal(b1)),
            Ok(vec![Output::CastVote { round: 1, height: 1, block_hash: h(1) }])
        );
        assert_eq!(
            lft.handle(Input::Vote { voter: 0, round: 1, block_hash: h(1) }),
            Ok(vec![
                Output::Certified { round: 1, height: 1, block_hash: h(1) },
                // parent is genesis (already committed): nothing to commit
                Output::EnterRound { round: 2 },
                Output::Propose { round: 2, height: 2, parent: h(1), parent_round: 1 },
            ])
        );
        let b2 = block(2, 2, 2, h(1), 1, 0);
        assert_eq!(
            lft.handle(Input::Proposal(b2)),
            Ok(vec![Output::CastVote { round: 2, height: 2, block_hash: h(2) }])
        );
        assert_eq!(
            lft.handle(Input::Vote { voter: 0, round: 2, block_hash: h(2) }),
            Ok(vec![
                Output::Certified { round: 2, height: 2, block_hash: h(2) },
                Output::Commit { blocks: vec![h(1)] },
                Output::EnterRound { round: 3 },
                Output::Propose { round: 3, height: 3, parent: h(2), parent_round: 2 },
            ])
        );
        assert_eq!(lft.candidate(), (h(2), 2));
    }

    #[test]
    fn four_validators_need_three_votes() {
        let genesis = h(0);
        // node 1 is not the leader of round 1 (leader = 1 % 4 = 1) -> use node 2's view.
        let mut lft = Lft::new(epoch(4), Some(2), genesis, 0, 0);
        assert_eq!(lft.start(), vec![Output::EnterRound { round: 1 }]);
        let b1 = block(1, 1, 1, genesis, 0, 1);
        assert!(matches!(lft.handle(Input::Proposal(b1)).as_deref(), Ok([Output::CastVote { .. }])));
        assert_eq!(lft.handle(Input::Vote { voter: 0, round: 1, block_hash: h(1) }), Ok(vec![]));
        assert_eq!(
            lft.handle(Input::Vote { voter: 0, round: 1, block_hash: h(1) }),
            Ok(vec![]),
            "duplicate counts once"
        );
        assert_eq!(lft.handle(Input::Vote { voter: 1, round: 1, block_hash: h(1) }), Ok(vec![]));
        let out = lft.handle(Input::Vote { voter: 2, round: 1, block_hash: h(1) }).expect("quorum");
        assert_eq!(out[0], Output::Certified { round: 1, height: 1, block_hash: h(1) });
        assert_eq!(lft.round(), 2);
    }

    #[test]
    fn rejects_byzantine_inputs_without_state_change() {
        let genesis = h(0);
        let mut lft = Lft::new(epoch(4), Some(0), genesis, 0, 0);
        let _ = lft.start();
        assert_eq!(
            lft.handle(Input::Proposal(block(1, 1, 1, genesis, 0, 3))),
            Err(Error::WrongProposer { round: 1, got: 3, leader: 1 })
        );
        assert_eq!(lft.handle(Input::Proposal(block(1, 1, 1, h(9), 0, 1))), Err(Error::UnknownParent(h(9))));
        assert!(matches!(lft.handle(Input::Proposal(block(1, 2, 1, genesis, 0, 1))), Err(Error::BadLink(_))));
        assert_eq!(
            lft.handle(Input::Proposal(block(1, 1, 5, genesis, 0, 1))),
            Err(Error::WrongRound { got: 5, current: 1 })
        );
        assert_eq!(lft.handle(Input::Vote { voter: 9, round: 1, block_hash: h(1) }), Err(Error::UnknownVoter(9)));
        assert_eq!(lft.handle(Input::Vote { voter: 3, round: 1, block_hash: h(1) }), Ok(vec![]));
        assert_eq!(
            lft.handle(Input::Vote { voter: 3, round: 1, block_hash: h(2) }),
            Err(Error::Equivocation { voter: 3, round: 1 })
        );
        assert_eq!(lft.round(), 1);
    }

    #[test]
    fn votes_before_proposal_certify_on_arrival() {
        let genesis = h(0);
        let mut lft = Lft::new(epoch(4), None, genesis, 0, 0);
        let _ = lft.start();
        for v in 0..3 {
            assert_eq!(lft.handle(Input::Vote { voter: v, round: 1, block_hash: h(1) }), Ok(vec![]));
        }
        let out = lft.handle(Input::Proposal(block(1, 1, 1, genesis, 0, 1))).expect("valid");
        assert_eq!(out[0], Output::Certified { round: 1, height: 1, block_hash: h(1) }, "a non-voter casts no vote");
    }
}
