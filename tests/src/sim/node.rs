//! One simulated node: the pure `Lft` core, a safety guard, an in-memory block store and committed
//! chain, and the host layer that does what the engine does — verify at the edge, carry out the
//! core's outputs, aggregate certificates, sync missing blocks.
use super::block::{payload, qc_info, state_root, tc_info, SimBlock};
use super::scheme::{timeout_msg, yes_msg, Scheme, VerifyError};
use lc_crypto::bls::bitmap;
use lc_lft::{EpochInfo, Error, Faults, Input, Lft, Output, QcInfo, Resume, TcInfo, Timer};
use lc_safety::{MemSafetyStore, SafetyGuard, SignedVote, VoteSigner};
use lc_types::{sha3_concat, BlsSignature, Hash, Height, QuorumCert, Round, TimeoutCert, VoteKind};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Deliberately broken host-layer rules (the verification layer's part of the regressions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFaults {
    /// Verify that a TC's `hqc_round`s are signed and proven by its QC (V1's host part). `false`
    /// is broken.
    pub bind_hqc: bool,
    /// Accept messages without checking their signatures (broken).
    pub accept_bad_signatures: bool,
    /// Sign with the raw key, without the safety guard (broken): the core's rules alone decide what
    /// is signed (at most one vote per round, the high QC a timeout vote carries), and nothing is
    /// raised or persisted beside the core. Used to show a broken core rule the guard would mask.
    pub skip_guard: bool,
}

impl Default for HostFaults {
    fn default() -> Self {
        Self { bind_hqc: true, accept_bad_signatures: false, skip_guard: false }
    }
}

/// Most core inputs one message or timer may trigger at a node (the host's local queue); beyond
/// it the rest is dropped and an anomaly recorded, so a runaway feedback loop cannot hang a run.
pub const MAX_INPUTS_PER_EVENT: usize = 10_000;

/// Most missing parents a node keeps orphans for.
pub const MAX_ORPHAN_PARENTS: usize = 256;

/// Byzantine behaviours (any combination).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Byzantine {
    /// Different blocks to different peers when leading.
    pub equivocate: bool,
    /// Yes votes for two blocks in one round; timeout votes with different `hqc_round`s.
    pub double_vote: bool,
    /// Garbage signatures, and votes claiming to come from other validators.
    pub bad_signatures: bool,
    /// Sends to only some peers (or none).
    pub withhold: bool,
    /// When proposing after a timeout, lowers the TC's `hqc_round`s and carries a lower QC (only
    /// passes a verification layer that does not bind them).
    pub forge_tc: bool,
}

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Follows the protocol; checked by the checkers.
    Honest,
    /// Runs the honest core but signs with its raw key and misbehaves.
    Byzantine(Byzantine),
    /// One of two instances sharing a key, each running honest code (Byzantine as a pair).
    Twin,
}

/// A network message.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A proposal from its proposer.
    Proposal(Arc<SimBlock>),
    /// A yes vote.
    Vote {
        /// Voter index.
        voter: usize,
        /// Round.
        round: Round,
        /// Height.
        height: Height,
        /// Block.
        hash: Hash,
        /// Signature over the vote message.
        sig: BlsSignature,
    },
    /// A timeout vote with the voter's high QC.
    Timeout {
        /// Voter index.
        voter: usize,
        /// Round.
        round: Round,
        /// Signed high-QC round.
        hqc_round: Round,
        /// Signature over the timeout message.
        sig: BlsSignature,
        /// The QC of `hqc_round`.
        high_qc: Box<QuorumCert>,
    },
    /// A timeout certificate (forwarded when formed).
    Tc(Arc<TimeoutCert>),
    /// Catch-up for a node that is behind: the sender's high QC and the TC it entered its round by.
    SyncInfo {
        /// The sender's high QC.
        qc: Box<QuorumCert>,
        /// TC of the sender's round − 1, if it entered through one.
        tc: Option<Arc<TimeoutCert>>,
    },
    /// Block sync: the blocks from `want` down to (excluding) height `have_height`.
    SyncRequest {
        /// Wanted block.
        want: Hash,
        /// Requester's committed height.
        have_height: Height,
    },
    /// Block sync answer, ascending height.
    SyncResponse(Vec<Arc<SimBlock>>),
}

impl Msg {
    /// A short digest for the trace.
    pub fn digest(&self) -> [u64; 3] {
        let h = |x: &Hash| u64::from_le_bytes(x.0[..8].try_into().unwrap_or([0; 8]));
        let s = |x: &BlsSignature| u64::from_le_bytes(x.0[..8].try_into().unwrap_or([0; 8]));
        match self {
            Msg::Proposal(b) => [1, b.round, h(&b.hash)],
            Msg::Vote { voter, round, hash, sig, .. } => [2 + ((*voter as u64) << 8), *round, h(hash) ^ s(sig)],
            Msg::Timeout { voter, round, hqc_round, sig, .. } => {
                [3 + ((*voter as u64) << 8), *round, *hqc_round ^ s(sig)]
            }
            Msg::Tc(tc) => [4, tc.round, s(&tc.aggregate_signature)],
            Msg::SyncRequest { want, have_height } => [5, *have_height, h(want)],
            Msg::SyncInfo { qc, tc } => [7, qc.round, tc.as_ref().map_or(0, |t| t.round)],
            Msg::SyncResponse(bs) => [6, bs.len() as u64, bs.last().map_or(0, |b| h(&b.hash))],
        }
    }
}

/// Where a message goes.
#[derive(Debug, Clone)]
pub enum Dest {
    /// Every other node.
    Others,
    /// Every node of these validator indices (except the sender).
    Validators(Vec<usize>),
    /// One node slot.
    Slot(usize),
}

/// What a node asks the world to do, and what it reports to the checkers.
#[derive(Debug, Default)]
pub struct Effects {
    /// Messages to send.
    pub sends: Vec<(Dest, Msg)>,
    /// Timers to start: (timer, round, backoff).
    pub timers: Vec<(Timer, Round, u32)>,
    /// Blocks committed, in order.
    pub commits: Vec<Arc<SimBlock>>,
    /// Votes the guard signed.
    pub signed: Vec<SignedVote>,
    /// Trace words (hashed by the world).
    pub trace: Vec<u64>,
}

/// Counters of one node.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodeStats {
    /// Messages refused by the verification layer.
    pub verify_rejected: u64,
    /// Inputs refused by the core.
    pub core_rejected: u64,
    /// Vote requests the guard refused.
    pub guard_refused: u64,
    /// Proposals whose state root did not check out.
    pub bad_state_roots: u64,
    /// Host anomalies (a signature needed for aggregation was missing, ...).
    pub anomalies: u64,
}

/// The proposer-signature message of a block.
pub fn proposal_msg(hash: &Hash) -> Vec<u8> {
    sha3_concat(&[b"sim-proposal", &hash.0]).0.to_vec()
}

/// One simulated node.
#[derive(Debug)]
pub struct Node<S: Scheme> {
    /// Slot in the world (twins share a validator index, not a slot).
    pub slot: usize,
    /// Validator index.
    pub index: usize,
    /// Honest, Byzantine or twin.
    pub role: Role,
    /// Whether the node is running.
    pub up: bool,
    /// Bumped on every restart (timers of an earlier life are ignored).
    pub incarnation: u64,
    /// Counters.
    pub stats: NodeStats,
    scheme: Arc<S>,
    epoch: EpochInfo,
    faults: Faults,
    host: HostFaults,
    core: Lft,
    guard: SafetyGuard<MemSafetyStore, S::Signer>,
    store: MemSafetyStore,
    raw: S::Signer,
    genesis_qc: QuorumCert,
    blocks: BTreeMap<Hash, Arc<SimBlock>>,
    qcs: BTreeMap<Hash, QuorumCert>,
    tcs: BTreeMap<Round, TimeoutCert>,
    /// The TC through which the core entered its current round, kept across crashes (the engine
    /// keeps it in its store): a restarted node re-enters through it and can hand it on.
    kept_tc: Option<TimeoutCert>,
    yes_sigs: BTreeMap<(Round, usize), (Height, Hash, BlsSignature)>,
    timeout_sigs: BTreeMap<(Round, usize), (Round, BlsSignature)>,
    chain: Vec<Arc<SimBlock>>,
    orphans: BTreeMap<Hash, Vec<Arc<SimBlock>>>,
    requested: BTreeSet<Hash>,
    /// Hashes of the sync answer being processed (never requested while it is).
    answer: BTreeSet<Hash>,
    queue: VecDeque<Input>,
    seen_proposals: BTreeMap<Round, Vec<Arc<SimBlock>>>,
    /// A proposal waiting for its parent block: (round, height, parent, tc, empty).
    deferred: Option<(Round, Height, QcInfo, Option<TcInfo>, bool)>,
    /// Node slot of each validator's first instance (sync requests go there).
    pub slot_of: Vec<usize>,
    /// What the anomalies were (first few).
    pub notes: Vec<&'static str>,
    /// Scripted world: every message is held for the script (no random network). A withholding
    /// node then follows [`Node::withhold_plan`] instead of drawing random subsets.
    pub scripted: bool,
    /// A withholding node's own deterministic policy in a scripted world: its messages of round
    /// `r` (proposals, votes, timeout votes, TCs, catch-up help) go only to the validators
    /// `withhold_plan[r]`; rounds not listed go to everyone. The script only delays messages, so
    /// who receives the Byzantine node's messages at all is decided here, by the node.
    pub withhold_plan: BTreeMap<Round, Vec<usize>>,
}

impl<S: Scheme> Node<S> {
    /// A node on the genesis root.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        slot: usize,
        index: usize,
        role: Role,
        scheme: Arc<S>,
        epoch: EpochInfo,
        faults: Faults,
        host: HostFaults,
        genesis: Arc<SimBlock>,
        genesis_qc: QuorumCert,
    ) -> Self {
        let store = MemSafetyStore::default();
        let guard = SafetyGuard::new(super::scheme::CHANNEL, scheme.signer(index), store.clone())
            .expect("in-memory safety store loads");
        let root = qc_info(&genesis_qc);
        let mut core = Lft::from_root(epoch.clone(), Some(index), root);
        if role == Role::Honest || role == Role::Twin {
            core.inject_faults(faults);
        }
        let mut qcs = BTreeMap::new();
        qcs.insert(genesis.hash, genesis_qc.clone());
        let mut blocks = BTreeMap::new();
        blocks.insert(genesis.hash, genesis.clone());
        Self {
            slot,
            index,
            role,
            up: true,
            incarnation: 0,
            stats: NodeStats::default(),
            raw: scheme.signer(index),
            scheme,
            epoch,
            faults,
            host,
            core,
            guard,
            store,
            genesis_qc,
            blocks,
            qcs,
            tcs: BTreeMap::new(),
            kept_tc: None,
            yes_sigs: BTreeMap::new(),
            timeout_sigs: BTreeMap::new(),
            chain: vec![genesis],
            orphans: BTreeMap::new(),
            requested: BTreeSet::new(),
            answer: BTreeSet::new(),
            queue: VecDeque::new(),
            seen_proposals: BTreeMap::new(),
            notes: Vec::new(),
            deferred: None,
            slot_of: Vec::new(),
            scripted: false,
            withhold_plan: BTreeMap::new(),
        }
    }

    /// The core (read-only).
    pub fn core(&self) -> &Lft {
        &self.core
    }

    /// The committed chain, genesis first.
    pub fn chain(&self) -> &[Arc<SimBlock>] {
        &self.chain
    }

    /// A stored block.
    pub fn block(&self, hash: &Hash) -> Option<&Arc<SimBlock>> {
        self.blocks.get(hash)
    }

    /// Whether the node checks the protocol (honest) — checkers look only at these.
    pub fn is_honest(&self) -> bool {
        self.role == Role::Honest
    }

    fn byz(&self) -> Option<Byzantine> {
        match self.role {
            Role::Byzantine(b) => Some(b),
            _ => None,
        }
    }

    /// Starts the core (at time 0 or after a restart).
    pub fn start(&mut self, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        let outs = self.core.start();
        for o in outs {
            self.carry_out(o, rng, fx);
        }
        self.drain(rng, fx);
    }

    /// A timer of this node fired.
    pub fn on_timer(&mut self, timer: Timer, round: Round, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        self.feed(Input::Timeout { timer, round }, rng, fx);
    }

    /// Crash: volatile state is lost (the guard's store, blocks and committed chain are durable).
    pub fn crash(&mut self) {
        self.up = false;
    }

    /// Restart from the guard's persisted data, the committed chain and the stored blocks.
    pub fn restart(&mut self, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        self.up = true;
        self.incarnation += 1;
        self.guard = SafetyGuard::new(super::scheme::CHANNEL, self.scheme.signer(self.index), self.store.clone())
            .expect("in-memory safety store loads");
        let tip = self.chain.last().map(|b| QcInfo { round: b.round, height: b.height, block_hash: b.hash });
        let committed = tip.unwrap_or_else(|| qc_info(&self.genesis_qc));
        let data = self.guard.data();
        let resume = if self.host.skip_guard && !matches!(self.role, Role::Byzantine(_)) {
            // No guard: what the core knew stands in for the guard's persisted state.
            Resume {
                committed,
                high_qc: self.core.high_qc(),
                last_voted_round: self.core.last_voted_round(),
                last_tc: self.kept_tc.as_ref().map(tc_info),
            }
        } else {
            let high_qc = data.high_qc.as_ref().map_or(committed, qc_info);
            Resume {
                committed,
                high_qc,
                last_voted_round: data.last_voted_round,
                last_tc: self.kept_tc.as_ref().map(tc_info),
            }
        };
        self.core = Lft::new(self.epoch.clone(), Some(self.index), resume);
        if !matches!(self.role, Role::Byzantine(_)) {
            self.core.inject_faults(self.faults);
        }
        self.yes_sigs.clear();
        self.timeout_sigs.clear();
        self.tcs.clear();
        if let Some(tc) = &self.kept_tc {
            self.tcs.insert(tc.round, tc.clone());
        }
        self.orphans.clear();
        self.requested.clear();
        self.queue.clear();
        self.deferred = None;
        self.start(rng, fx);
        let mut pending: Vec<Arc<SimBlock>> =
            self.blocks.values().filter(|b| b.height > committed.height).cloned().collect();
        pending.sort_by_key(|b| (b.height, b.round, b.hash));
        for b in pending {
            self.feed(Input::Block(b.info()), rng, fx);
        }
    }

    fn slot_hint(&self, validator: usize) -> usize {
        self.slot_of.get(validator).copied().unwrap_or(validator)
    }

    fn anomaly(&mut self, what: &'static str) {
        self.stats.anomalies += 1;
        if self.notes.len() < 8 {
            self.notes.push(what);
        }
    }

    fn committed_height(&self) -> Height {
        self.core.committed().height
    }

    // ---------------------------------------------------------------- verification (host's job)

    fn verify_sig(&self, index: usize, msg: &[u8], sig: &BlsSignature) -> Result<(), VerifyError> {
        if self.host.accept_bad_signatures {
            return if index < self.epoch.validators.len() { Ok(()) } else { Err(VerifyError::BadSigners) };
        }
        self.scheme.verify(index, msg, sig)
    }

    fn quorum(&self, who: &[usize]) -> Result<(), VerifyError> {
        let set: BTreeSet<usize> = who.iter().copied().collect();
        if self.epoch.is_quorum(self.epoch.weigh(&set)) {
            Ok(())
        } else {
            Err(VerifyError::BadSigners)
        }
    }

    fn verify_qc(&self, qc: &QuorumCert) -> Result<(), VerifyError> {
        if self.qcs.get(&qc.block_hash) == Some(qc) {
            return Ok(()); // verified before
        }
        if qc.epoch != 0 {
            return Err(VerifyError::BadSigners);
        }
        if self.host.accept_bad_signatures {
            let who = lc_crypto::bls::signers(&qc.signer_bitmap, self.epoch.validators.len())
                .map_err(|_| VerifyError::BadSigners)?;
            return self.quorum(&who);
        }
        let who = self.scheme.verify_qc(qc)?;
        self.quorum(&who)
    }

    fn verify_tc(&self, tc: &TimeoutCert) -> Result<(), VerifyError> {
        if self.tcs.get(&tc.round) == Some(tc) {
            return Ok(());
        }
        if tc.epoch != 0 {
            return Err(VerifyError::BadSigners);
        }
        self.verify_qc(&tc.high_qc)?;
        let who = if self.host.accept_bad_signatures {
            lc_crypto::bls::signers(&tc.signer_bitmap, self.epoch.validators.len())
                .map_err(|_| VerifyError::BadSigners)?
        } else {
            self.scheme.verify_tc(tc, self.host.bind_hqc)?
        };
        self.quorum(&who)
    }

    fn verify_block(&self, b: &SimBlock) -> Result<(), VerifyError> {
        if self.blocks.get(&b.hash).is_some_and(|known| **known == *b) {
            return Ok(());
        }
        if b.compute_hash() != b.hash {
            return Err(VerifyError::BadSignature);
        }
        self.verify_sig(b.proposer, &proposal_msg(&b.hash), &b.signature)?;
        self.verify_qc(&b.qc)?;
        if let Some(tc) = &b.tc {
            self.verify_tc(tc)?;
        }
        Ok(())
    }

    fn learn_qc(&mut self, qc: &QuorumCert, from: usize, fx: &mut Effects) {
        self.qcs.entry(qc.block_hash).or_insert_with(|| qc.clone());
        if !self.blocks.contains_key(&qc.block_hash) && qc.height > self.committed_height() {
            self.request(qc.block_hash, from, fx);
        }
    }

    fn request(&mut self, want: Hash, from: usize, fx: &mut Effects) {
        // A block of the sync answer being processed is not missing. Requesting it again made
        // every answer on a branch that does not connect (one that conflicts with the committed
        // chain, as forged certificates can make) fan out into one request per block in it, each
        // answered with the whole branch again: an exponential storm of sync messages (seed 618 of
        // a 4-validator run with every Byzantine behaviour and unchecked signatures).
        if self.answer.contains(&want) {
            return;
        }
        if self.requested.insert(want) {
            fx.sends.push((Dest::Slot(from), Msg::SyncRequest { want, have_height: self.committed_height() }));
        }
    }

    // ---------------------------------------------------------------- inputs

    /// Handles a message from node slot `from`.
    pub fn on_message(&mut self, from: usize, msg: &Msg, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        match msg {
            Msg::Proposal(b) => self.on_block(b.clone(), true, from, rng, fx),
            Msg::Vote { voter, round, height, hash, sig } => {
                if self.verify_sig(*voter, &yes_msg(0, *round, *height, *hash), sig).is_err() {
                    self.stats.verify_rejected += 1;
                    return;
                }
                self.yes_sigs.entry((*round, *voter)).or_insert((*height, *hash, *sig));
                let input = Input::Vote { voter: *voter, round: *round, height: *height, block_hash: *hash };
                let rejected = self.feed(input, rng, fx);
                self.help_laggard(rejected, from, fx);
            }
            Msg::Timeout { voter, round, hqc_round, sig, high_qc } => {
                let ok = self.verify_sig(*voter, &timeout_msg(0, *round, *hqc_round), sig).is_ok()
                    && self.verify_qc(high_qc).is_ok()
                    && (!self.host.bind_hqc || high_qc.round == *hqc_round);
                if !ok {
                    self.stats.verify_rejected += 1;
                    return;
                }
                self.learn_qc(high_qc, from, fx);
                self.timeout_sigs.entry((*round, *voter)).or_insert((*hqc_round, *sig));
                let input = Input::TimeoutVote { voter: *voter, round: *round, high_qc: qc_info(high_qc) };
                let rejected = self.feed(input, rng, fx);
                self.help_laggard(rejected, from, fx);
            }
            Msg::Tc(tc) => {
                if self.verify_tc(tc).is_err() {
                    self.stats.verify_rejected += 1;
                    return;
                }
                self.learn_qc(&tc.high_qc, from, fx);
                self.tcs.entry(tc.round).or_insert_with(|| (**tc).clone());
                self.feed(Input::Tc(tc_info(tc)), rng, fx);
            }
            Msg::SyncInfo { qc, tc } => {
                if self.verify_qc(qc).is_err() {
                    self.stats.verify_rejected += 1;
                    return;
                }
                self.learn_qc(qc, from, fx);
                self.feed(Input::Qc(qc_info(qc)), rng, fx);
                if let Some(tc) = tc {
                    self.on_message(from, &Msg::Tc(tc.clone()), rng, fx);
                }
            }
            Msg::SyncRequest { want, have_height } => {
                let mut out = Vec::new();
                let mut cursor = *want;
                while let Some(b) = self.blocks.get(&cursor) {
                    if b.height <= *have_height || out.len() >= 64 {
                        break;
                    }
                    out.push(b.clone());
                    cursor = b.parent;
                }
                if !out.is_empty() {
                    out.reverse();
                    fx.sends.push((Dest::Slot(from), Msg::SyncResponse(out)));
                }
            }
            Msg::SyncResponse(bs) => {
                self.answer = bs.iter().map(|b| b.hash).collect();
                for b in bs {
                    self.requested.remove(&b.hash);
                    self.on_block(b.clone(), false, from, rng, fx);
                }
                self.answer.clear();
            }
        }
    }

    /// A vote of an earlier round than ours: the sender is behind. The core only says
    /// `WrongRound`; the host answers with its high QC and the TC of its round − 1 (without that,
    /// nodes split between two rounds can stall after GST: neither side has a quorum).
    fn help_laggard(&self, rejected: Option<Error>, from: usize, fx: &mut Effects) {
        let Some(Error::WrongRound { got, current }) = rejected else { return };
        if got >= current {
            return;
        }
        let Some(qc) = self.qcs.get(&self.core.high_qc().block_hash) else { return };
        let tc = self.tcs.get(&(current - 1)).cloned().map(Arc::new);
        fx.sends.push((Dest::Slot(from), Msg::SyncInfo { qc: Box::new(qc.clone()), tc }));
    }

    /// A proposal (`vote`) or a synced block: verify, check the state root, feed, then retry the
    /// orphans it unblocks.
    fn on_block(&mut self, b: Arc<SimBlock>, vote: bool, from: usize, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        let mut work = vec![(b, vote)];
        while let Some((b, vote)) = work.pop() {
            if self.verify_block(&b).is_err() {
                self.stats.verify_rejected += 1;
                continue;
            }
            self.learn_qc(&b.qc, from, fx);
            if let Some(tc) = &b.tc {
                self.tcs.entry(tc.round).or_insert_with(|| tc.clone());
            }
            if vote {
                let seen = self.seen_proposals.entry(b.round).or_default();
                if !seen.iter().any(|s| s.hash == b.hash) && seen.len() < 4 {
                    seen.push(b.clone());
                }
            }
            let parent = self.blocks.get(&b.parent).cloned();
            if let Some(p) = &parent {
                if state_root(&p.state_root, &b.payload) != b.state_root {
                    // Execution does not check out: never store or vote; its certificates still count.
                    self.stats.bad_state_roots += 1;
                    self.feed(Input::Qc(qc_info(&b.qc)), rng, fx);
                    if let Some(tc) = &b.tc {
                        self.feed(Input::Tc(tc_info(tc)), rng, fx);
                    }
                    if vote {
                        self.feed(Input::ProposalFailed { round: b.round }, rng, fx);
                    }
                    continue;
                }
            }
            self.blocks.entry(b.hash).or_insert_with(|| b.clone());
            let info = b.info();
            let rejected = self.feed(if vote { Input::Proposal(info) } else { Input::Block(info) }, rng, fx);
            if let Some(Error::UnknownParent(p)) = rejected {
                self.blocks.remove(&b.hash);
                if self.orphans.len() < MAX_ORPHAN_PARENTS || self.orphans.contains_key(&p) {
                    let orphans = self.orphans.entry(p).or_default();
                    if orphans.len() < 8 && !orphans.iter().any(|o| o.hash == b.hash) {
                        orphans.push(b.clone());
                    }
                }
                self.request(p, from, fx);
                continue;
            }
            if let Some((round, height, parent, tc, empty)) = self.deferred {
                if parent.block_hash == b.hash {
                    self.deferred = None;
                    if round == self.core.round() {
                        self.propose(round, height, parent, tc, empty, rng, fx);
                        self.drain(rng, fx);
                    }
                }
            }
            if let Some(children) = self.orphans.remove(&b.hash) {
                // Re-fed as proposals: the core votes only if one is still for its current round.
                work.extend(children.into_iter().map(|c| (c, true)));
            }
        }
    }

    /// Feeds `input` and everything it triggers locally; returns the refusal of `input` itself.
    fn feed(&mut self, input: Input, rng: &mut ChaCha8Rng, fx: &mut Effects) -> Option<Error> {
        let step = self.core.handle(input);
        if step.rejected.is_some() {
            self.stats.core_rejected += 1;
        }
        for o in step.outputs {
            self.carry_out(o, rng, fx);
        }
        self.drain(rng, fx);
        step.rejected
    }

    fn drain(&mut self, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        let mut handled = 0;
        while let Some(i) = self.queue.pop_front() {
            handled += 1;
            if handled > MAX_INPUTS_PER_EVENT {
                self.anomaly("runaway local input queue");
                self.queue.clear();
                return;
            }
            let step = self.core.handle(i);
            if step.rejected.is_some() {
                self.stats.core_rejected += 1;
            }
            for o in step.outputs {
                self.carry_out(o, rng, fx);
            }
        }
    }

    // ---------------------------------------------------------------- outputs

    fn carry_out(&mut self, o: Output, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        match o {
            Output::EnterRound { round, leader } => {
                fx.trace.extend([10, round, leader as u64]);
                if let Some(tc) = self.core.entry_tc().filter(|tc| tc.round + 1 == round) {
                    if let Some(full) = self.tcs.get(&tc.round) {
                        self.kept_tc = Some(full.clone());
                    }
                }
            }
            Output::StartTimer { timer, round, backoff } => fx.timers.push((timer, round, backoff)),
            Output::Propose { round, height, parent, tc, empty } => {
                self.propose(round, height, parent, tc, empty, rng, fx)
            }
            Output::CastVote { round, height, block_hash, qc } => {
                self.cast_vote(round, height, block_hash, qc, rng, fx)
            }
            Output::CastTimeout { round, high_qc, .. } => self.cast_timeout(round, high_qc, rng, fx),
            Output::Certified { qc, signers } => self.certified(qc, &signers),
            Output::TimeoutCertified { tc, signers } => self.timeout_certified(tc, &signers, fx),
            Output::NewCandidate { qc } => fx.trace.extend([11, qc.round]),
            Output::Commit { blocks, .. } => {
                for h in blocks {
                    let Some(b) = self.blocks.get(&h).cloned() else {
                        self.anomaly("commit of an unknown block");
                        continue;
                    };
                    fx.trace.extend([12, b.height]);
                    self.chain.push(b.clone());
                    fx.commits.push(b);
                }
                let keep = self.core.committed().round;
                self.yes_sigs.retain(|(r, _), _| *r + 4 >= keep);
                self.timeout_sigs.retain(|(r, _), _| *r + 4 >= keep);
                self.tcs.retain(|r, _| *r + 4 >= keep);
                self.seen_proposals.retain(|r, _| *r + 4 >= keep);
            }
            Output::EpochEnded { .. } => {}
        }
    }

    /// A withholding node in a scripted world: restricts every send to the recipients its
    /// [`Node::withhold_plan`] names for the message's round (applied by the world to everything
    /// the node sends). Sync requests are never withheld (they only ask).
    pub fn apply_withhold_plan(&self, fx: &mut Effects) {
        if !self.scripted || !self.byz().is_some_and(|b| b.withhold) || self.withhold_plan.is_empty() {
            return;
        }
        let n = self.epoch.validators.len();
        for (dest, msg) in fx.sends.iter_mut() {
            let round = match msg {
                Msg::Proposal(b) => b.round,
                Msg::Vote { round, .. } | Msg::Timeout { round, .. } => *round,
                Msg::Tc(tc) => tc.round,
                // Catch-up help counts as a message of its highest certificate's round.
                Msg::SyncInfo { qc, tc } => qc.round.max(tc.as_ref().map_or(0, |t| t.round)),
                Msg::SyncResponse(bs) => bs.iter().map(|b| b.round).max().unwrap_or(0),
                Msg::SyncRequest { .. } => continue,
            };
            let Some(allowed) = self.withhold_plan.get(&round) else { continue };
            let validator_of = |slot: usize| self.slot_of.iter().position(|s| *s == slot).unwrap_or(slot);
            *dest = match dest {
                Dest::Others => Dest::Validators(allowed.clone()),
                Dest::Validators(vs) => Dest::Validators(vs.iter().copied().filter(|v| allowed.contains(v)).collect()),
                Dest::Slot(s) if allowed.contains(&validator_of(*s)) && validator_of(*s) < n => Dest::Slot(*s),
                Dest::Slot(_) => Dest::Validators(Vec::new()),
            };
        }
    }

    /// Sends to everyone, or (withholding Byzantine) to a random subset.
    fn broadcast(&self, msg: Msg, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        if self.byz().is_some_and(|b| b.withhold) && !self.scripted && rng.random_bool(0.5) {
            let n = self.epoch.validators.len();
            let some: Vec<usize> = (0..n).filter(|_| rng.random_bool(0.5)).collect();
            fx.sends.push((Dest::Validators(some), msg));
        } else {
            fx.sends.push((Dest::Others, msg));
        }
    }

    /// Splits the validators in two random halves (for equivocation).
    fn split(&self, rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<usize>) {
        (0..self.epoch.validators.len()).partition(|_| rng.random_bool(0.5))
    }

    fn garbage(rng: &mut ChaCha8Rng) -> BlsSignature {
        let mut s = [0u8; 96];
        rng.fill(&mut s[..]);
        BlsSignature(s)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        round: Round,
        height: Height,
        parent: &SimBlock,
        qc: QuorumCert,
        tc: Option<TimeoutCert>,
        empty: bool,
        variant: u8,
    ) -> SimBlock {
        let payload = if empty { Vec::new() } else { payload(self.index, round, height, variant) };
        let mut b = SimBlock {
            hash: Hash::ZERO,
            parent: parent.hash,
            height,
            round,
            proposer: self.index,
            state_root: state_root(&parent.state_root, &payload),
            payload,
            qc,
            tc,
            signature: BlsSignature([0; 96]),
        };
        b.hash = b.compute_hash();
        b.signature = self.raw.sign(&proposal_msg(&b.hash));
        b
    }

    #[allow(clippy::too_many_arguments)]
    fn propose(
        &mut self,
        round: Round,
        height: Height,
        parent: QcInfo,
        tc: Option<TcInfo>,
        empty: bool,
        rng: &mut ChaCha8Rng,
        fx: &mut Effects,
    ) {
        let Some(qc) = self.qcs.get(&parent.block_hash) else {
            self.anomaly("propose: parent QC missing");
            return;
        };
        let Some(pb) = self.blocks.get(&parent.block_hash).cloned() else {
            // The high QC came with a timeout vote or TC before its block: sync it, propose when
            // it arrives (if still in this round).
            self.deferred = Some((round, height, parent, tc, empty));
            let from = self.epoch.proposer(parent.round) % self.epoch.validators.len();
            let slot = self.slot_hint(from);
            self.request(parent.block_hash, slot, fx);
            return;
        };
        let mut qc = qc.clone();
        let mut pb = pb;
        let mut tc_full = match tc {
            Some(t) => match self.tcs.get(&t.round) {
                Some(full) => Some(full.clone()),
                None => {
                    self.anomaly("propose: TC missing");
                    return;
                }
            },
            None => None,
        };
        let byz = self.byz();
        if let (Some(true), Some(t)) = (byz.map(|b| b.forge_tc), tc_full.as_mut()) {
            // Lower every signed hqc round to the parent of the high QC's block and build on it.
            if let Some(lower) = self.blocks.get(&t.high_qc.block_hash).cloned() {
                if let (Some(gp), Some(gqc)) = (self.blocks.get(&lower.parent).cloned(), self.qcs.get(&lower.parent)) {
                    if lower.height > 0 {
                        t.hqc_rounds.iter_mut().for_each(|r| *r = gqc.round);
                        t.high_qc = gqc.clone();
                        qc = gqc.clone();
                        pb = gp;
                    }
                }
            }
        }
        let height = if pb.hash == parent.block_hash { height } else { pb.height + 1 };
        let b = Arc::new(self.build(round, height, &pb, qc.clone(), tc_full.clone(), empty, 0));
        self.blocks.insert(b.hash, b.clone());
        if byz.is_some_and(|x| x.equivocate) {
            let b2 = Arc::new(self.build(round, height, &pb, qc, tc_full, empty, 1));
            self.blocks.insert(b2.hash, b2.clone());
            let (a, other) = self.split(rng);
            fx.sends.push((Dest::Validators(a), Msg::Proposal(b.clone())));
            fx.sends.push((Dest::Validators(other), Msg::Proposal(b2)));
        } else {
            self.broadcast(Msg::Proposal(b.clone()), rng, fx);
        }
        self.queue.push_back(Input::Proposal(b.info()));
    }

    #[allow(clippy::too_many_arguments)]
    fn cast_vote(
        &mut self,
        round: Round,
        height: Height,
        hash: Hash,
        qc: QcInfo,
        rng: &mut ChaCha8Rng,
        fx: &mut Effects,
    ) {
        let sig = match self.byz() {
            Some(_) => self.raw.sign(&yes_msg(0, round, height, hash)),
            None if self.host.skip_guard => {
                let signature = self.raw.sign(&yes_msg(0, round, height, hash));
                let (kind, epoch, hqc_round, block_hash) = (VoteKind::Yes, 0, 0, hash);
                fx.signed.push(SignedVote { kind, epoch, round, height, block_hash, hqc_round, signature });
                signature
            }
            None => {
                let full = self.qcs.get(&qc.block_hash).cloned();
                match self.guard.sign_yes(0, round, height, hash, full.as_ref()) {
                    Ok(v) => {
                        let sig = v.signature;
                        fx.signed.push(v);
                        sig
                    }
                    Err(_) => {
                        self.stats.guard_refused += 1;
                        return;
                    }
                }
            }
        };
        self.yes_sigs.entry((round, self.index)).or_insert((height, hash, sig));
        let vote = Msg::Vote { voter: self.index, round, height, hash, sig };
        let byz = self.byz().unwrap_or_default();
        if byz.double_vote {
            // Another block of this round if one was seen, else a made-up one.
            let other = self.seen_proposals.get(&round).and_then(|s| s.iter().find(|b| b.hash != hash).cloned());
            let (oh, ohash) = other.map_or((height, sha3_concat(&[b"fake", &hash.0])), |b| (b.height, b.hash));
            let osig = self.raw.sign(&yes_msg(0, round, oh, ohash));
            let (a, b) = self.split(rng);
            fx.sends.push((Dest::Validators(a), vote));
            fx.sends.push((
                Dest::Validators(b),
                Msg::Vote { voter: self.index, round, height: oh, hash: ohash, sig: osig },
            ));
        } else {
            self.broadcast(vote, rng, fx);
        }
        if byz.bad_signatures {
            self.send_garbage(round, height, hash, rng, fx);
        }
        self.queue.push_back(Input::Vote { voter: self.index, round, height, block_hash: hash });
    }

    /// Votes with garbage signatures, some claiming to come from other validators.
    fn send_garbage(&self, round: Round, height: Height, hash: Hash, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        let n = self.epoch.validators.len();
        let other = self.seen_proposals.get(&round).and_then(|s| s.iter().find(|b| b.hash != hash).cloned());
        let (h, target) = other.map_or((height, hash), |b| (b.height, b.hash));
        for voter in 0..n {
            if rng.random_bool(0.7) {
                let sig = Self::garbage(rng);
                fx.sends.push((Dest::Others, Msg::Vote { voter, round, height: h, hash: target, sig }));
            }
        }
    }

    fn cast_timeout(&mut self, round: Round, high_qc: QcInfo, rng: &mut ChaCha8Rng, fx: &mut Effects) {
        let Some(full) = self.qcs.get(&high_qc.block_hash).cloned() else {
            self.anomaly("timeout: high QC missing");
            return;
        };
        let (hqc_round, sig, carried) = match self.byz() {
            Some(_) => (full.round, self.raw.sign(&timeout_msg(0, round, full.round)), full),
            None if self.host.skip_guard => {
                let signature = self.raw.sign(&timeout_msg(0, round, full.round));
                let (kind, epoch, height, block_hash, hqc_round) = (VoteKind::Timeout, 0, 0, Hash::ZERO, full.round);
                fx.signed.push(SignedVote { kind, epoch, round, height, block_hash, hqc_round, signature });
                (full.round, signature, full)
            }
            None => match self.guard.sign_timeout(0, round, Some(&full)) {
                Ok(v) => {
                    let carried = self.guard.data().high_qc.clone().unwrap_or_else(|| self.genesis_qc.clone());
                    let out = (v.hqc_round, v.signature, carried);
                    fx.signed.push(v);
                    out
                }
                Err(_) => {
                    self.stats.guard_refused += 1;
                    return;
                }
            },
        };
        if carried.round != hqc_round {
            self.anomaly("timeout: carried QC round differs from signed hqc_round");
        }
        self.timeout_sigs.entry((round, self.index)).or_insert((hqc_round, sig));
        let info = qc_info(&carried);
        let msg = Msg::Timeout { voter: self.index, round, hqc_round, sig, high_qc: Box::new(carried) };
        let byz = self.byz().unwrap_or_default();
        let lower = self.qcs.values().filter(|q| q.round < hqc_round).max_by_key(|q| q.round).cloned();
        match lower {
            Some(low) if byz.double_vote => {
                let lsig = self.raw.sign(&timeout_msg(0, round, low.round));
                let (a, b) = self.split(rng);
                fx.sends.push((Dest::Validators(a), msg));
                let m2 =
                    Msg::Timeout { voter: self.index, round, hqc_round: low.round, sig: lsig, high_qc: Box::new(low) };
                fx.sends.push((Dest::Validators(b), m2));
            }
            _ => self.broadcast(msg, rng, fx),
        }
        if byz.bad_signatures && rng.random_bool(0.5) {
            let sig = Self::garbage(rng);
            let voter = rng.random_range(0..self.epoch.validators.len());
            let m = Msg::Timeout { voter, round, hqc_round, sig, high_qc: Box::new(self.genesis_qc.clone()) };
            fx.sends.push((Dest::Others, m));
        }
        self.queue.push_back(Input::TimeoutVote { voter: self.index, round, high_qc: info });
    }

    fn certified(&mut self, qc: QcInfo, signers: &[usize]) {
        if self.qcs.contains_key(&qc.block_hash) {
            return;
        }
        let msg = yes_msg(0, qc.round, qc.height, qc.block_hash);
        let mut parts = Vec::with_capacity(signers.len());
        for s in signers {
            match self.yes_sigs.get(&(qc.round, *s)) {
                Some((h, hash, sig)) if *h == qc.height && *hash == qc.block_hash => parts.push((*s, &msg[..], *sig)),
                _ => {
                    self.anomaly("certified: a yes signature is missing");
                    return;
                }
            }
        }
        let Ok(agg) = self.scheme.aggregate(&parts) else {
            self.anomaly("certified: aggregation failed");
            return;
        };
        let full = QuorumCert {
            epoch: 0,
            round: qc.round,
            height: qc.height,
            block_hash: qc.block_hash,
            signer_bitmap: bitmap(self.epoch.validators.len(), signers.iter().copied()),
            aggregate_signature: agg,
        };
        self.qcs.insert(qc.block_hash, full);
    }

    fn timeout_certified(&mut self, tc: TcInfo, signers: &[(usize, Round)], fx: &mut Effects) {
        let Some(high_qc) = self.qcs.get(&tc.high_qc.block_hash).cloned() else {
            self.anomaly("tc: high QC missing");
            return;
        };
        let mut signed = Vec::with_capacity(signers.len());
        for (s, _) in signers {
            let Some((r, sig)) = self.timeout_sigs.get(&(tc.round, *s)) else {
                self.anomaly("tc: a timeout signature is missing");
                return;
            };
            signed.push((*s, timeout_msg(0, tc.round, *r), *r, *sig));
        }
        let parts: Vec<(usize, &[u8], BlsSignature)> = signed.iter().map(|(s, m, _, sig)| (*s, &m[..], *sig)).collect();
        let Ok(agg) = self.scheme.aggregate(&parts) else {
            self.anomaly("tc: aggregation failed");
            return;
        };
        let full = TimeoutCert {
            epoch: 0,
            round: tc.round,
            signer_bitmap: bitmap(self.epoch.validators.len(), signers.iter().map(|(s, _)| *s)),
            hqc_rounds: signed.iter().map(|(_, _, r, _)| *r).collect(),
            aggregate_signature: agg,
            high_qc,
        };
        self.tcs.insert(tc.round, full.clone());
        fx.sends.push((Dest::Others, Msg::Tc(Arc::new(full))));
    }
}
