use crate::EpochInfo;
use lc_types::{Hash, Height, Round};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Most uncommitted blocks (and certificates of uncommitted blocks) the core keeps.
pub const MAX_PENDING_BLOCKS: usize = 1024;

/// How many rounds ahead of the current one votes are kept (per voter: one per round), so a
/// node that lags slightly can still form the certificate it will need; anything further ahead
/// is refused. Bounds the vote maps to `ROUND_WINDOW × validators` entries each.
pub const ROUND_WINDOW: Round = 16;

/// A quorum certificate as the core sees it (the host verified the aggregate signature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QcInfo {
    /// Round of the certified block.
    pub round: Round,
    /// Height of the certified block.
    pub height: Height,
    /// The certified block.
    pub block_hash: Hash,
}

/// A timeout certificate as the core sees it (the host verified the aggregate signature over
/// every signer's `(round, hqc_round)` and the carried high QC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TcInfo {
    /// The round that timed out.
    pub round: Round,
    /// Highest `hqc_round` signed by a signer.
    pub max_hqc_round: Round,
    /// The QC of round `max_hqc_round` carried in the TC.
    pub high_qc: QcInfo,
}

/// What the core needs to know about a proposed block (the host has checked its proposer
/// signature, its certificates, its contents and its execution before feeding it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockInfo {
    /// Block hash.
    pub hash: Hash,
    /// Height.
    pub height: Height,
    /// Round it was proposed in.
    pub round: Round,
    /// Parent hash (`prev_hash`); must be the block `qc` certifies.
    pub parent: Hash,
    /// The QC the block carries (certifies the parent).
    pub qc: QcInfo,
    /// The timeout certificate of round `round − 1`, when the proposer entered through one.
    pub tc: Option<TcInfo>,
    /// Validator index of the proposer.
    pub proposer: usize,
    /// Whether the block has no transactions (required above the epoch's last height).
    pub empty: bool,
    /// The block's execution scheduled the end of this epoch at this height (a committed
    /// `ChannelConfig`): on the branches through this block, blocks above it must be empty and
    /// never commit in this epoch.
    #[serde(default)]
    pub epoch_end: Option<Height>,
}

/// Which timer fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Timer {
    /// No (valid) proposal in time, or a timeout vote to repeat: NONE (or LAZY after a yes vote).
    Propose,
    /// Votes of a quorum arrived but no single block has a quorum: LAZY.
    Vote,
}

/// Kind of a timeout vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeoutKind {
    /// No valid proposal.
    None,
    /// No single block gathered a quorum.
    Lazy,
}

/// Facts the host feeds to the core. Signatures and certificates are verified by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// A proposal (any round: its certificates are processed first, then it is voted on when it
    /// is for the current round).
    Proposal(BlockInfo),
    /// A block fetched by sync (or restored after a restart): joins the block tree, never voted.
    Block(BlockInfo),
    /// A yes vote.
    Vote {
        /// Validator index of the voter.
        voter: usize,
        /// Round voted in.
        round: Round,
        /// Height of the block.
        height: Height,
        /// Block voted for.
        block_hash: Hash,
    },
    /// A timeout vote, with the high QC it carries (its round is the signed `hqc_round`).
    TimeoutVote {
        /// Validator index of the voter.
        voter: usize,
        /// Round that timed out.
        round: Round,
        /// The voter's high QC.
        high_qc: QcInfo,
    },
    /// A quorum certificate seen elsewhere.
    Qc(QcInfo),
    /// A timeout certificate seen elsewhere.
    Tc(TcInfo),
    /// A timer set by [`Output::StartTimer`] fired.
    Timeout {
        /// Which timer.
        timer: Timer,
        /// Its round.
        round: Round,
    },
    /// The proposal of `round` from its leader failed the host's checks (contents, execution,
    /// state root): vote NONE now.
    ProposalFailed {
        /// Round.
        round: Round,
    },
}

/// Commands the host carries out, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use]
pub enum Output {
    /// The core entered `round` (through a QC of `round − 1` or higher, or a TC).
    EnterRound {
        /// New round.
        round: Round,
        /// Its leader.
        leader: usize,
    },
    /// Start (or restart) a timer; `backoff` is the number of consecutive rounds that ended in a
    /// timeout certificate, for the host to lengthen its timeouts.
    StartTimer {
        /// Which timer.
        timer: Timer,
        /// Round it belongs to.
        round: Round,
        /// Consecutive failed rounds.
        backoff: u32,
    },
    /// This node leads `round`: build a block on `parent` (the high QC's block), carrying the full
    /// QC of `parent` and the full TC of `tc.round` when given, and feed it back as
    /// [`Input::Proposal`] (and send it to every validator). `empty`: the block must carry no
    /// transactions (above the epoch's last height).
    Propose {
        /// Round.
        round: Round,
        /// Height of the new block.
        height: Height,
        /// The high QC (certifies the parent).
        parent: QcInfo,
        /// TC of `round − 1` when the round was entered through a timeout.
        tc: Option<TcInfo>,
        /// The block must be empty.
        empty: bool,
    },
    /// Sign a yes vote through the safety guard (which raises its high QC with `qc` and persists
    /// before signing) and send it to every validator, itself included.
    CastVote {
        /// Round.
        round: Round,
        /// Height.
        height: Height,
        /// Block.
        block_hash: Hash,
        /// The QC the block carries.
        qc: QcInfo,
    },
    /// Sign a timeout vote through the safety guard and send it with the full high QC to every
    /// validator, itself included. Repeated (same round) to re-send after message loss.
    CastTimeout {
        /// Round.
        round: Round,
        /// NONE or LAZY.
        kind: TimeoutKind,
        /// The high QC to carry.
        high_qc: QcInfo,
    },
    /// A QC formed from votes received here: aggregate the signatures of `signers`.
    Certified {
        /// The certificate.
        qc: QcInfo,
        /// Validator indices whose yes votes form it.
        signers: Vec<usize>,
    },
    /// A TC formed from timeout votes received here: aggregate them; carry the QC of `high_qc`.
    TimeoutCertified {
        /// The certificate.
        tc: TcInfo,
        /// `(validator index, signed hqc_round)` of the signers, ascending index.
        signers: Vec<(usize, Round)>,
    },
    /// The high QC rose: this block is the new candidate.
    NewCandidate {
        /// Its QC.
        qc: QcInfo,
    },
    /// These blocks are final, oldest first: write them to storage in this order. `evidence` is
    /// the QC whose consecutive-round certification committed them (its block is the child of the
    /// last one).
    Commit {
        /// Committed block hashes, ascending height.
        blocks: Vec<Hash>,
        /// The QC of the directly committed block's certified child.
        evidence: QcInfo,
    },
    /// The block at the epoch's last height committed: the host starts the next epoch's core.
    EpochEnded {
        /// Last block of the epoch.
        last: Hash,
    },
}

/// Rejected inputs (Byzantine, malformed or stale messages). Certificates carried by a rejected
/// proposal may still have advanced the state (they were verified); the outputs say so.
#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Error {
    /// Input for a round other than the current one.
    #[error("input for round {got}, current round is {current}")]
    WrongRound {
        /// Round of the input.
        got: Round,
        /// Current round.
        current: Round,
    },
    /// A vote too far in the future to keep.
    #[error("vote for round {got} is more than {ROUND_WINDOW} rounds ahead of {current}")]
    TooFarAhead {
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
    /// The proposal's parent is not a block this node knows (sync it first).
    #[error("parent {0} is not a known block")]
    UnknownParent(Hash),
    /// The proposal does not extend the committed chain.
    #[error("block {0} does not extend the committed chain")]
    ConflictsWithCommitted(Hash),
    /// Parent, height, or QC round do not match.
    #[error("block does not extend its parent: {0}")]
    BadLink(&'static str),
    /// The timeout certificate is malformed (wrong round, or its QC is not of its highest round).
    #[error("bad timeout certificate: {0}")]
    BadTc(&'static str),
    /// The safety rule refuses the proposal.
    #[error("unsafe proposal in round {round}: qc round {qc_round}, tc {tc:?}")]
    Unsafe {
        /// Proposal round.
        round: Round,
        /// Round of its QC.
        qc_round: Round,
        /// Round and max high-QC round of its TC.
        tc: Option<(Round, Round)>,
    },
    /// A block with transactions above the epoch's last height.
    #[error("block at height {0} is above the epoch's last height and not empty")]
    NotEmpty(Height),
    /// The validator index is outside the epoch.
    #[error("unknown validator index {0}")]
    UnknownVoter(usize),
    /// A second, different vote (or proposal) by the same validator in one round: evidence.
    #[error("validator {voter} equivocated in round {round}")]
    Equivocation {
        /// Voter or proposer.
        voter: usize,
        /// Round.
        round: Round,
    },
    /// Too many uncommitted blocks.
    #[error("too many pending blocks")]
    TooManyPending,
}

/// Result of one input: the commands to carry out, and the reason the input (or part of it) was
/// refused, if it was.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[must_use]
pub struct Step {
    /// Commands, in order.
    pub outputs: Vec<Output>,
    /// Why the input was refused (outputs may still be non-empty: see [`enum@Error`]).
    pub rejected: Option<Error>,
}

impl Step {
    /// The refusal, or the outputs.
    pub fn into_result(self) -> Result<Vec<Output>, Error> {
        match self.rejected {
            Some(e) => Err(e),
            None => Ok(self.outputs),
        }
    }
}

/// Deliberately broken rules, for showing that the simulator's checkers catch each missing guard.
/// They can only be switched on with the `fault-injection` feature (tests only).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    /// The whitepaper's literal rules: a QC of a higher height or round replaces the candidate,
    /// and certifying a block commits its parent whatever the rounds.
    pub literal_whitepaper_rules: bool,
    /// V2: vote without raising `high_qc` from the proposal's QC.
    pub skip_high_qc_from_proposal: bool,
    /// V3: accept a block whose parent is not the block its QC certifies, or whose height is not
    /// its parent's height + 1 (neither against the QC nor against a known parent block).
    pub skip_parent_link_check: bool,
    /// V1 (core part): accept a TC whose carried QC is not of its highest signed round.
    pub skip_tc_high_qc_check: bool,
    /// Breaks "at most one yes vote per round": votes for every valid proposal of the current round
    /// (a second one from an equivocating leader or a twin included) instead of refusing it.
    pub vote_every_proposal: bool,
    /// Tallies yes-vote messages instead of voters: a vote delivered again (a double voter
    /// re-sending it) counts its voter's weight again, so a minority can certify a block locally.
    pub count_duplicate_votes: bool,
}

/// The persisted safety state a core resumes from (held by the safety guard).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The last committed block (the QC that certified it, or the genesis root).
    pub committed: QcInfo,
    /// The highest QC known (≥ committed).
    pub high_qc: QcInfo,
    /// Last round with a vote.
    pub last_voted_round: Round,
    /// The TC through which the node entered its last round ([`Lft::entry_tc`]), kept by the host:
    /// after a restart the node re-enters that round through it and can hand it to members still
    /// in the round before (otherwise they could wait for each other forever).
    #[serde(default)]
    pub last_tc: Option<TcInfo>,
}

/// The LFT state machine of one channel and epoch.
#[derive(Debug)]
pub struct Lft {
    epoch: EpochInfo,
    me: Option<usize>,
    round: Round,
    last_voted_round: Round,
    /// Round in which this node sent a timeout vote (0: none yet).
    timeout_round: Round,
    high_qc: QcInfo,
    committed: QcInfo,
    /// Highest certified block known to be committed but not yet connected (missing blocks).
    commit_target: Option<(Hash, QcInfo)>,
    last_height: Option<Height>,
    epoch_ended: bool,
    /// TC through which the current round was entered.
    entry_tc: Option<TcInfo>,
    failures: u32,
    blocks: BTreeMap<Hash, BlockInfo>,
    /// Known QCs of uncommitted blocks.
    qcs: BTreeMap<Hash, QcInfo>,
    proposals: BTreeMap<Round, Hash>,
    yes_votes: BTreeMap<(Round, usize), (Height, Hash)>,
    timeout_votes: BTreeMap<(Round, usize), QcInfo>,
    vote_timer_started: Round,
    /// The TC to re-enter through at start (from [`Resume::last_tc`]).
    resume_tc: Option<TcInfo>,
    faults: Faults,
    /// `count_duplicate_votes` only: extra weight of repeated yes votes per (round, block).
    duplicate_weight: BTreeMap<(Round, Hash), u64>,
}

impl Lft {
    /// A core resuming from persisted state. `me` is this node's validator index (`None` for a
    /// non-voting node).
    pub fn new(epoch: EpochInfo, me: Option<usize>, resume: Resume) -> Self {
        let high_qc = if resume.high_qc.round >= resume.committed.round { resume.high_qc } else { resume.committed };
        Self {
            epoch,
            me,
            round: resume.committed.round,
            last_voted_round: resume.last_voted_round,
            timeout_round: 0,
            high_qc,
            committed: resume.committed,
            commit_target: None,
            last_height: None,
            epoch_ended: false,
            entry_tc: None,
            failures: 0,
            blocks: BTreeMap::new(),
            qcs: BTreeMap::new(),
            proposals: BTreeMap::new(),
            yes_votes: BTreeMap::new(),
            timeout_votes: BTreeMap::new(),
            vote_timer_started: 0,
            resume_tc: resume.last_tc.filter(|tc| tc.round >= resume.committed.round),
            faults: Faults::default(),
            duplicate_weight: BTreeMap::new(),
        }
    }

    /// A fresh core on a committed root (genesis or an epoch's first parent).
    pub fn from_root(epoch: EpochInfo, me: Option<usize>, root: QcInfo) -> Self {
        Self::new(epoch, me, Resume { committed: root, high_qc: root, last_voted_round: root.round, last_tc: None })
    }

    /// Breaks rules on purpose (simulator self-tests only).
    #[cfg(feature = "fault-injection")]
    pub fn inject_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Sets the last height of this epoch (a committed `ChannelConfig` scheduled the next epoch):
    /// blocks above it must be empty and never commit in this epoch.
    pub fn set_last_height(&mut self, height: Height) {
        self.last_height = Some(height);
    }

    /// Current round.
    pub fn round(&self) -> Round {
        self.round
    }

    /// The high QC (its block is the candidate).
    pub fn high_qc(&self) -> QcInfo {
        self.high_qc
    }

    /// The last committed block.
    pub fn committed(&self) -> QcInfo {
        self.committed
    }

    /// Last round with a vote of this node.
    pub fn last_voted_round(&self) -> Round {
        self.last_voted_round
    }

    /// The TC through which the current round was entered, if it was: the host keeps it (see
    /// [`Resume::last_tc`]).
    pub fn entry_tc(&self) -> Option<TcInfo> {
        self.entry_tc.filter(|tc| tc.round.saturating_add(1) == self.round)
    }

    /// The epoch.
    pub fn epoch(&self) -> &EpochInfo {
        &self.epoch
    }

    /// A known uncommitted block.
    pub fn block(&self, hash: &Hash) -> Option<&BlockInfo> {
        self.blocks.get(hash)
    }

    /// Enters the round after the high QC.
    pub fn start(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        // After a restart: the round after the high QC, or the round voted last (a timeout follows)
        // — through the kept TC when that is how the node got there.
        let r = self.high_qc.round.max(self.round).saturating_add(1).max(self.last_voted_round);
        if let Some(tc) = self.resume_tc.take() {
            if self.check_tc(&tc).is_ok() {
                self.advance(None, Some(tc), &mut out);
            }
        }
        self.enter_round(r, None, &mut out);
        out
    }

    /// Feeds one input; returns the commands to carry out and the refusal, if any.
    pub fn handle(&mut self, input: Input) -> Step {
        let mut out = Vec::new();
        let rejected = match input {
            Input::Proposal(b) => self.on_proposal(b, true, &mut out),
            Input::Block(b) => self.on_proposal(b, false, &mut out),
            Input::Vote { voter, round, height, block_hash } => {
                self.on_vote(voter, round, height, block_hash, &mut out)
            }
            Input::TimeoutVote { voter, round, high_qc } => self.on_timeout_vote(voter, round, high_qc, &mut out),
            Input::Qc(qc) => {
                self.advance(Some(qc), None, &mut out);
                Ok(())
            }
            Input::Tc(tc) => self.check_tc(&tc).map(|()| self.advance(None, Some(tc), &mut out)),
            Input::Timeout { timer, round } => {
                self.on_timer(timer, round, &mut out);
                Ok(())
            }
            Input::ProposalFailed { round } => {
                if round == self.round {
                    self.cast_timeout(TimeoutKind::None, &mut out);
                }
                Ok(())
            }
        };
        Step { outputs: out, rejected: rejected.err() }
    }

    fn check_tc(&self, tc: &TcInfo) -> Result<(), Error> {
        if self.faults.skip_tc_high_qc_check {
            return Ok(());
        }
        if tc.high_qc.round != tc.max_hqc_round {
            return Err(Error::BadTc("carried QC is not of the highest signed round"));
        }
        if tc.high_qc.round >= tc.round {
            return Err(Error::BadTc("high QC round is not below the TC round"));
        }
        Ok(())
    }

    /// Structural checks of a block, independent of the current round.
    fn check_links(&self, b: &BlockInfo) -> Result<(), Error> {
        let skip_parent = self.faults.skip_parent_link_check;
        if !skip_parent {
            if b.parent != b.qc.block_hash {
                return Err(Error::BadLink("parent is not the block its QC certifies"));
            }
            if b.height != b.qc.height.saturating_add(1) {
                return Err(Error::BadLink("height is not parent height + 1"));
            }
        }
        if b.qc.round >= b.round {
            return Err(Error::BadLink("QC round is not below the block round"));
        }
        if b.proposer >= self.epoch.validators.len() {
            return Err(Error::UnknownVoter(b.proposer));
        }
        if let Some(tc) = &b.tc {
            if tc.round.saturating_add(1) != b.round {
                return Err(Error::BadTc("TC is not of the previous round"));
            }
            self.check_tc(tc)?;
        }
        Ok(())
    }

    fn on_proposal(&mut self, b: BlockInfo, vote: bool, out: &mut Vec<Output>) -> Result<(), Error> {
        self.check_links(&b)?;
        // Certificates first: they may move this node to the proposal's round (jump ahead).
        // (V2: skipping the high-QC update from B.qc forks the chain.)
        let raise = !(vote && self.faults.skip_high_qc_from_proposal);
        self.advance(raise.then_some(b.qc), b.tc, out);
        if !raise {
            self.enter_round(b.qc.round.saturating_add(1), None, out);
        }
        if vote {
            let leader = self.epoch.proposer(b.round);
            if b.proposer != leader {
                return Err(Error::WrongProposer { round: b.round, got: b.proposer, leader });
            }
        }
        if b.height <= self.committed.height {
            return Err(Error::ConflictsWithCommitted(b.hash));
        }
        let parent_known = b.parent == self.committed.block_hash || self.blocks.contains_key(&b.parent);
        if b.height == self.committed.height.saturating_add(1) && b.parent != self.committed.block_hash {
            return Err(Error::ConflictsWithCommitted(b.hash));
        }
        if !parent_known {
            return Err(Error::UnknownParent(b.parent));
        }
        if !self.faults.skip_parent_link_check
            && self.blocks.get(&b.parent).is_some_and(|p| p.height.saturating_add(1) != b.height)
        {
            return Err(Error::BadLink("height is not the parent block's height + 1"));
        }
        if let Some(last) = self.scheduled_end(&b.parent) {
            if b.height > last && !b.empty {
                return Err(Error::NotEmpty(b.height));
            }
        }
        // A second proposal of the leader in one round is evidence and never voted for, but it
        // joins the block tree: it may be the one a quorum certifies.
        let equivocation =
            vote && !self.faults.vote_every_proposal && self.proposals.get(&b.round).is_some_and(|h| *h != b.hash);
        if !self.blocks.contains_key(&b.hash) {
            if self.blocks.len() >= MAX_PENDING_BLOCKS {
                return Err(Error::TooManyPending);
            }
            self.blocks.insert(b.hash, b);
        }
        if vote {
            self.proposals.entry(b.round).or_insert(b.hash);
        }
        // A QC for this block may have been seen before the block.
        if let Some(qc) = self.qcs.get(&b.hash).copied() {
            self.apply_commit_rule(qc, out);
        }
        self.retry_commit(out);
        if !vote {
            return Ok(());
        }
        if equivocation {
            return Err(Error::Equivocation { voter: b.proposer, round: b.round });
        }
        if b.round != self.round {
            return Err(Error::WrongRound { got: b.round, current: self.round });
        }
        // Safety rule.
        let direct = b.qc.round.saturating_add(1) == b.round;
        let via_tc = b.tc.is_some_and(|tc| tc.round.saturating_add(1) == b.round && b.qc.round >= tc.max_hqc_round);
        if !(direct || via_tc) {
            self.cast_timeout(TimeoutKind::None, out);
            return Err(Error::Unsafe {
                round: b.round,
                qc_round: b.qc.round,
                tc: b.tc.map(|t| (t.round, t.max_hqc_round)),
            });
        }
        let again = self.faults.vote_every_proposal && b.round == self.last_voted_round;
        if self.me.is_some() && (b.round > self.last_voted_round || again) && self.timeout_round != b.round {
            self.last_voted_round = b.round;
            out.push(Output::CastVote { round: b.round, height: b.height, block_hash: b.hash, qc: b.qc });
        }
        Ok(())
    }

    /// The epoch's last height on the branch ending at `tip`: set on the committed chain, or
    /// scheduled by an uncommitted ancestor (inclusive).
    fn scheduled_end(&self, tip: &Hash) -> Option<Height> {
        let mut end = self.last_height;
        let mut cursor = *tip;
        let mut below = Height::MAX;
        // Heights strictly decrease along parents (checked on insert); the bound also stops any
        // walk a corrupted tree could make endless.
        while let Some(b) = self.blocks.get(&cursor).filter(|b| b.height < below) {
            if let Some(e) = b.epoch_end {
                end = Some(end.map_or(e, |x| x.min(e)));
            }
            below = b.height;
            cursor = b.parent;
        }
        end
    }

    fn window(&self, voter: usize, round: Round) -> Result<bool, Error> {
        if voter >= self.epoch.validators.len() {
            return Err(Error::UnknownVoter(voter));
        }
        if round > self.round.saturating_add(ROUND_WINDOW) {
            return Err(Error::TooFarAhead { got: round, current: self.round });
        }
        Ok(round >= self.round)
    }

    fn on_vote(
        &mut self,
        voter: usize,
        round: Round,
        height: Height,
        hash: Hash,
        out: &mut Vec<Output>,
    ) -> Result<(), Error> {
        if !self.window(voter, round)? {
            return Err(Error::WrongRound { got: round, current: self.round });
        }
        let mut extra = 0;
        match self.yes_votes.get(&(round, voter)) {
            Some(v) if *v == (height, hash) && self.faults.count_duplicate_votes => {
                let w = self.epoch.validators.get(voter).map_or(0, |v| v.weight);
                let d = self.duplicate_weight.entry((round, hash)).or_default();
                *d = d.saturating_add(w);
                extra = *d;
            }
            Some(v) if *v == (height, hash) => return Ok(()), // duplicate delivery counts once
            Some(_) => return Err(Error::Equivocation { voter, round }),
            None => {}
        }
        if extra == 0 {
            self.yes_votes.insert((round, voter), (height, hash));
            extra = self.duplicate_weight.get(&(round, hash)).copied().unwrap_or(0);
        }
        let signers: BTreeSet<usize> = self
            .yes_votes
            .range((round, 0)..=(round, usize::MAX))
            .filter(|(_, v)| **v == (height, hash))
            .map(|((_, i), _)| *i)
            .collect();
        let known =
            self.qcs.contains_key(&hash) || self.high_qc.block_hash == hash || self.committed.block_hash == hash;
        if !known && self.epoch.is_quorum(self.epoch.weigh(&signers).saturating_add(extra)) {
            let qc = QcInfo { round, height, block_hash: hash };
            out.push(Output::Certified { qc, signers: signers.into_iter().collect() });
            self.advance(Some(qc), None, out);
            return Ok(());
        }
        self.maybe_vote_timer(round, out);
        Ok(())
    }

    fn on_timeout_vote(
        &mut self,
        voter: usize,
        round: Round,
        high_qc: QcInfo,
        out: &mut Vec<Output>,
    ) -> Result<(), Error> {
        if high_qc.round >= round {
            return Err(Error::BadTc("timeout vote carries a QC of its own round or later"));
        }
        self.advance(Some(high_qc), None, out);
        if !self.window(voter, round)? {
            return Err(Error::WrongRound { got: round, current: self.round });
        }
        match self.timeout_votes.get(&(round, voter)) {
            Some(q) if *q == high_qc => return Ok(()),
            Some(_) => return Err(Error::Equivocation { voter, round }),
            None => {}
        }
        self.timeout_votes.insert((round, voter), high_qc);
        let votes: Vec<(usize, QcInfo)> =
            self.timeout_votes.range((round, 0)..=(round, usize::MAX)).map(|((_, i), q)| (*i, *q)).collect();
        let signers: BTreeSet<usize> = votes.iter().map(|(i, _)| *i).collect();
        if self.epoch.is_quorum(self.epoch.weigh(&signers)) {
            // Highest carried QC (ties: any; the rounds agree, so do the blocks — one QC per round).
            let best = votes.iter().map(|(_, q)| *q).max_by_key(|q| q.round).unwrap_or(self.high_qc);
            let tc = TcInfo { round, max_hqc_round: best.round, high_qc: best };
            out.push(Output::TimeoutCertified { tc, signers: votes.iter().map(|(i, q)| (*i, q.round)).collect() });
            self.advance(None, Some(tc), out);
            return Ok(());
        }
        self.maybe_vote_timer(round, out);
        Ok(())
    }

    /// LAZY path: votes of a quorum (yes or timeout) arrived in the current round, none certified.
    fn maybe_vote_timer(&mut self, round: Round, out: &mut Vec<Output>) {
        if round != self.round || self.vote_timer_started == round {
            return;
        }
        let voters: BTreeSet<usize> = self
            .yes_votes
            .range((round, 0)..=(round, usize::MAX))
            .map(|((_, i), _)| *i)
            .chain(self.timeout_votes.range((round, 0)..=(round, usize::MAX)).map(|((_, i), _)| *i))
            .collect();
        if self.epoch.is_quorum(self.epoch.weigh(&voters)) {
            self.vote_timer_started = round;
            out.push(Output::StartTimer { timer: Timer::Vote, round, backoff: self.failures });
        }
    }

    fn on_timer(&mut self, timer: Timer, round: Round, out: &mut Vec<Output>) {
        if round != self.round || self.me.is_none() {
            return;
        }
        match timer {
            Timer::Propose => {
                let kind = if self.last_voted_round == round && self.timeout_round != round {
                    TimeoutKind::Lazy
                } else {
                    TimeoutKind::None
                };
                self.cast_timeout(kind, out);
                // Repeat the timeout vote until the round ends (messages may be lost).
                out.push(Output::StartTimer { timer: Timer::Propose, round, backoff: self.failures });
            }
            Timer::Vote => self.cast_timeout(TimeoutKind::Lazy, out),
        }
    }

    fn cast_timeout(&mut self, kind: TimeoutKind, out: &mut Vec<Output>) {
        if self.me.is_none() || self.epoch_ended {
            return;
        }
        if self.timeout_round == self.round {
            // Already sent: send the same vote again (the guard returns the stored one).
            out.push(Output::CastTimeout { round: self.round, kind, high_qc: self.high_qc });
            return;
        }
        self.timeout_round = self.round;
        self.last_voted_round = self.last_voted_round.max(self.round);
        out.push(Output::CastTimeout { round: self.round, kind, high_qc: self.high_qc });
    }

    /// Verified certificates: raise the high QC (and the TC's), apply the commit rule, then enter
    /// the round after the highest of them (once, so no stale intermediate round is entered).
    fn advance(&mut self, qc: Option<QcInfo>, tc: Option<TcInfo>, out: &mut Vec<Output>) {
        let mut target: Option<(Round, Option<TcInfo>)> = None;
        for q in qc.into_iter().chain(tc.map(|t| t.high_qc)) {
            if self.raise_qc(q, out) && q.round >= self.round {
                target = Some((q.round.saturating_add(1), None));
            }
        }
        if let Some(t) = tc {
            if t.round >= self.round && target.is_none_or(|(r, _)| t.round.saturating_add(1) > r) {
                target = Some((t.round.saturating_add(1), Some(t)));
            }
        }
        match target {
            Some((round, None)) => {
                self.failures = 0;
                self.enter_round(round, None, out);
            }
            Some((round, Some(t))) => {
                self.failures = self.failures.saturating_add(1);
                self.enter_round(round, Some(t), out);
            }
            None => {}
        }
    }

    /// Records a verified QC; raises the high QC; applies the commit rule. `false` when the QC is
    /// at or below the committed block (nothing to do).
    fn raise_qc(&mut self, qc: QcInfo, out: &mut Vec<Output>) -> bool {
        if qc.round <= self.committed.round || qc.height <= self.committed.height {
            return false;
        }
        if !self.qcs.contains_key(&qc.block_hash) {
            if self.qcs.len() >= MAX_PENDING_BLOCKS {
                // Keep the highest rounds: drop the lowest (it can no longer be the high QC).
                if let Some(low) = self.qcs.iter().min_by_key(|(_, q)| q.round).map(|(h, _)| *h) {
                    self.qcs.remove(&low);
                }
            }
            self.qcs.insert(qc.block_hash, qc);
        }
        let higher = if self.faults.literal_whitepaper_rules {
            qc.height > self.high_qc.height || qc.round > self.high_qc.round
        } else {
            qc.round > self.high_qc.round
        };
        if higher {
            self.high_qc = qc;
            out.push(Output::NewCandidate { qc });
        }
        self.apply_commit_rule(qc, out);
        true
    }

    /// Commit rule: QC(B) with `B.qc.round == B.round − 1` commits B's parent and its ancestors.
    fn apply_commit_rule(&mut self, qc: QcInfo, out: &mut Vec<Output>) {
        let Some(b) = self.blocks.get(&qc.block_hash).copied() else { return };
        let commits = if self.faults.literal_whitepaper_rules { true } else { b.qc.round.saturating_add(1) == b.round };
        if commits && b.parent != self.committed.block_hash {
            let better = self.commit_target.is_none_or(|(_, e)| e.round < qc.round);
            if better {
                self.commit_target = Some((b.parent, qc));
            }
            self.retry_commit(out);
        }
    }

    fn retry_commit(&mut self, out: &mut Vec<Output>) {
        let Some((target, evidence)) = self.commit_target else { return };
        let mut chain = Vec::new();
        let mut cursor = target;
        let mut below = Height::MAX;
        while cursor != self.committed.block_hash {
            let Some(b) = self.blocks.get(&cursor) else { return }; // missing ancestor: wait for sync
            if b.height <= self.committed.height || b.height >= below {
                // Not a descendant of the committed block: a conflicting commit (only a broken core
                // or a Byzantine quorum gets here). Refuse it.
                self.commit_target = None;
                return;
            }
            below = b.height;
            chain.push(*b);
            cursor = b.parent;
        }
        self.commit_target = None;
        chain.reverse();
        // An epoch end scheduled by a committed block caps this commit (deterministically: it
        // depends only on the chain's content, not on how commits are batched).
        let mut cap = self.last_height;
        let mut keep = 0;
        for b in &chain {
            if cap.is_some_and(|c| b.height > c) {
                break;
            }
            if let Some(e) = b.epoch_end {
                cap = Some(cap.map_or(e, |c| c.min(e)));
            }
            keep += 1;
        }
        chain.truncate(keep);
        self.last_height = cap;
        let Some(top) = chain.last().copied() else { return };
        self.committed = QcInfo { round: top.round, height: top.height, block_hash: top.hash };
        let committed = self.committed;
        self.blocks.retain(|_, b| b.height > committed.height);
        self.qcs.retain(|_, q| q.round > committed.round && q.height > committed.height);
        if self.high_qc.round < committed.round {
            self.high_qc = committed;
        }
        out.push(Output::Commit { blocks: chain.iter().map(|b| b.hash).collect(), evidence });
        if self.last_height == Some(committed.height) && !self.epoch_ended {
            self.epoch_ended = true;
            out.push(Output::EpochEnded { last: committed.block_hash });
        }
    }

    fn enter_round(&mut self, round: Round, tc: Option<TcInfo>, out: &mut Vec<Output>) {
        if round <= self.round || self.epoch_ended {
            return;
        }
        self.round = round;
        self.entry_tc = tc;
        self.vote_timer_started = 0;
        let keep = round;
        self.yes_votes.retain(|(r, _), _| *r >= keep);
        self.timeout_votes.retain(|(r, _), _| *r >= keep);
        self.proposals.retain(|r, _| *r >= keep);
        self.duplicate_weight.retain(|(r, _), _| *r >= keep);
        let leader = self.epoch.proposer(round);
        out.push(Output::EnterRound { round, leader });
        out.push(Output::StartTimer { timer: Timer::Propose, round, backoff: self.failures });
        if self.me == Some(leader) {
            let tc = if self.high_qc.round.saturating_add(1) == round {
                None
            } else {
                self.entry_tc.filter(|t| t.round.saturating_add(1) == round)
            };
            let height = self.high_qc.height.saturating_add(1);
            let empty = self.scheduled_end(&self.high_qc.block_hash).is_some_and(|l| height > l);
            // Without a QC of round − 1 or a TC of round − 1 the proposal would be refused.
            if self.high_qc.round.saturating_add(1) == round || tc.is_some() {
                out.push(Output::Propose { round, height, parent: self.high_qc, tc, empty });
            }
        }
        self.check_buffered(round, out);
    }

    /// Votes buffered for a round before this node entered it may already call for the vote
    /// timer (a quorum among them would have formed its certificate on arrival).
    fn check_buffered(&mut self, round: Round, out: &mut Vec<Output>) {
        self.maybe_vote_timer(round, out);
    }
}
