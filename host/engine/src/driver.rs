//! The channel driver: carries out the LFT core's commands with real time, storage, the safety
//! guard, BLS certificates and the channel's transport.
use crate::channel::{Channel, Error};
use crate::epoch::{meta_epoch_key, EpochChange, EpochRecord, EpochState, META_EPOCH_CURRENT, SYS_NEXT_EPOCH};
use crate::exec::{BlockContext, Executor, StateRead};
use crate::now_us;
use crate::replay::Recorder;
use lc_crypto::bls::{self, VerifiedSignature};
use lc_lft::{BlockInfo, Input, Lft, Output, QcInfo, Resume, TcInfo, Timer};
use lc_safety::{SafetyGuard, SignedVote};
use lc_storage::{BlockCommit, ChannelStore};
use lc_types::{
    decode, encode, merkle_root, state_root, Block, BlockHeader, ConsensusMsg, Hash, Height, QuorumCert, Receipt,
    ReceiptStatus, Round, TimeoutCert, Transaction, Vote, VoteKind, VoteMsg, WriteSet, BLOCK_VERSION,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, error, info, warn};

/// Meta key: hashes of the uncommitted blocks this node stored (see [`META_PENDING_PREFIX`]).
pub(crate) const META_PENDING_INDEX: &[u8] = b"pending_index";
/// Meta key prefix of an uncommitted block (written before this node votes for it, so a restart
/// finds the block its high QC certifies).
pub(crate) const META_PENDING_PREFIX: &[u8] = b"pending/";
/// Meta key: the latest commit evidence (the certified child of the last directly committed
/// block and its QC), for finality proofs of the newest blocks.
pub const META_COMMIT_EVIDENCE: &[u8] = b"commit_evidence";
/// Meta key: the TC through which this node entered its current round (written without fsync:
/// it serves liveness only; the next synced write makes it durable).
pub(crate) const META_LAST_TC: &[u8] = b"last_tc";

/// What committed the newest blocks: the uncommitted descendants of the last committed block up
/// to the certified block whose QC (in consecutive rounds with its parent) committed it, and that
/// QC. Usually one block: the committed tip's child.
#[derive(Debug, Clone, PartialEq, Eq, borsh::BorshSerialize, borsh::BorshDeserialize)]
pub struct CommitEvidence {
    /// Blocks above the committed tip, ascending height, ending with the certified block.
    pub blocks: Vec<Block>,
    /// QC of the last of them.
    pub qc: QuorumCert,
}

/// Most proposals kept while their parent has not arrived.
const MAX_ORPHANS: usize = 64;

/// Most messages of the next epoch kept until this node switches to it.
const MAX_EARLY: usize = 4096;
/// Most bytes (roughly: transactions + 1 KiB per message) of those messages.
const MAX_EARLY_BYTES: usize = 64 << 20;

/// Loads the record of a finished epoch and rebuilds its state (its keys verify the QC of the
/// next epoch's root block).
fn load_epoch(ch: &Channel, number: u64) -> Result<Option<Arc<EpochState>>, Error> {
    let Some(bytes) = ch.store.meta_get(&meta_epoch_key(number))? else { return Ok(None) };
    let record: EpochRecord = decode(&bytes)?;
    let state = EpochState::build(&ch.name, record.config, record.root_qc, ch.source.as_ref(), &ch.key.public())?;
    Ok(Some(Arc::new(state)))
}

/// Most consensus messages handled per loop turn before timers and proposals get a look.
const INBOX_BATCH: usize = 256;

struct PendingBlock {
    block: Block,
    receipts: Vec<Receipt>,
    writes: WriteSet,
    /// Its transactions are held in the channel's in-flight set instead of the mempool (this
    /// node's own proposals, and other leaders' blocks it accepted): they are not proposed again
    /// while the block is pending, and go back into the mempool if the block is abandoned (unless
    /// the mempool is full; blocks restored after a restart hold none).
    own_txs: bool,
}

#[derive(Clone, Copy, Debug)]
struct ProposeReq {
    round: Round,
    height: Height,
    parent: QcInfo,
    tc: Option<TcInfo>,
    empty: bool,
}

/// Uncommitted ancestors' write sets, newest first, starting at `parent`.
fn ancestor_layers<'p>(pending: &'p BTreeMap<Hash, PendingBlock>, parent: &Hash) -> Vec<&'p WriteSet> {
    let mut layers = Vec::new();
    let mut cursor = *parent;
    while let Some(p) = pending.get(&cursor) {
        layers.push(&p.writes);
        cursor = p.block.header.prev_hash;
    }
    layers
}

/// State as of a parent block: committed state overlaid by the writes of uncommitted ancestors
/// (newest first) and of the block being built.
struct Overlay<'a> {
    store: &'a ChannelStore,
    layers: Vec<&'a WriteSet>,
    current: &'a WriteSet,
}

impl StateRead for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.current.get(key) {
            return v.clone();
        }
        for layer in &self.layers {
            if let Some(v) = layer.get(key) {
                return v.clone();
            }
        }
        // A read error here would make execution non-deterministic; it is logged and treated
        // as absent, and the resulting state root mismatch is caught by voters.
        self.store.state_get(key).unwrap_or_else(|e| {
            error!(error = %e, "state read failed");
            None
        })
    }
}

/// Why a proposal was not accepted.
#[derive(Debug)]
enum Refusal {
    /// Not for us / stale / unverifiable: dropped silently (debug log).
    Ignore(String),
    /// The current round's leader sent a block that fails checks: vote NONE.
    Invalid(String),
    /// Its parent is not here (block sync arrives with the network): its verified certificates
    /// still count.
    UnknownParent(QcInfo, Option<TcInfo>),
}

/// Longest a leader holding only a few transactions waits after the last block before proposing
/// them (see `Driver::propose_due`).
pub(crate) const TX_BATCH_WAIT: Duration = Duration::from_millis(100);

pub(crate) struct Driver<'a> {
    ch: &'a Channel,
    recorder: Option<Recorder>,
    /// The current epoch (also published in the channel for readers).
    es: Arc<EpochState>,
    /// The previous epoch: the QC of the new epoch's root block is one of its certificates.
    prev: Option<Arc<EpochState>>,
    /// Messages of the next epoch that arrived before this node switched (bounded).
    early: VecDeque<ConsensusMsg>,
    early_bytes: usize,
    /// Proposals whose parent has not arrived, by parent hash (bounded by `MAX_ORPHANS`).
    orphans: BTreeMap<Hash, Vec<Block>>,
    orphan_count: usize,
    lft: Lft,
    guard: Option<SafetyGuard<ChannelStore>>,
    executor: Box<dyn Executor>,
    pending: BTreeMap<Hash, PendingBlock>,
    /// Full QCs of uncommitted blocks (and of the committed tip when known), by block hash.
    qcs: BTreeMap<Hash, QuorumCert>,
    tcs: BTreeMap<Round, TimeoutCert>,
    yes_sigs: BTreeMap<(Round, usize), (Hash, VerifiedSignature)>,
    timeout_sigs: BTreeMap<(Round, usize), (Round, VerifiedSignature)>,
    want: Option<ProposeReq>,
    last_block_at: Instant,
    propose_timer: Option<(Instant, Round)>,
    vote_timer: Option<(Instant, Round)>,
    genesis: Hash,
    /// Set by `Output::EpochEnded`: the switch happens once the current outputs are carried out.
    epoch_ended: Option<Hash>,
    last_evidence: Option<CommitEvidence>,
    /// Stored uncommitted blocks, fed back once the core has started.
    to_restore: Vec<Block>,
    /// When the end evidence of the previous epoch was last re-sent to a lagging member.
    evidence_sent: Option<Instant>,
    /// Bumped at each epoch switch: outputs of an older core still queued are dropped.
    generation: u64,
    /// Transactions of the last execution whose SCORE code was missing here (see
    /// `Executor::take_unavailable`).
    unavailable: Vec<Hash>,
}

impl<'a> Driver<'a> {
    pub(crate) fn new(ch: &'a Channel, executor: Box<dyn Executor>) -> Result<Self, Error> {
        let store = &ch.store;
        let genesis = store.block_hash_at(0)?.ok_or(Error::MissingBlock(Hash::ZERO))?;
        let tip = store.tip()?.ok_or(Error::MissingBlock(Hash::ZERO))?;
        let (tip_header, _) = store.header(&tip.hash)?.ok_or(Error::MissingBlock(tip.hash))?;
        let committed = QcInfo { round: tip_header.round, height: tip.height, block_hash: tip.hash };
        let es = ch.epoch_state();
        let prev = match es.config.number.checked_sub(1) {
            Some(n) => load_epoch(ch, n)?,
            None => None,
        };
        let guard = match ch.take_bls_key() {
            Some(key) => Some(SafetyGuard::new(&ch.name, key, store.clone())?),
            None => None,
        };
        let mut qcs = BTreeMap::new();
        if let Some(q) = &es.root_qc {
            qcs.insert(q.block_hash, q.clone());
        }
        let mut resume = Resume { committed, high_qc: committed, last_voted_round: committed.round, last_tc: None };
        let mut tcs = BTreeMap::new();
        // The TC through which this node entered its last round (see `Resume::last_tc`).
        if let Some(bytes) = store.meta_get(META_LAST_TC)? {
            if let Ok(tc) = decode::<TimeoutCert>(&bytes) {
                if tc.epoch == es.config.number && tc.round >= committed.round {
                    qcs.entry(tc.high_qc.block_hash).or_insert_with(|| tc.high_qc.clone());
                    resume.last_tc = Some(tc_info(&tc));
                    tcs.insert(tc.round, tc);
                }
            }
        }
        if let Some(g) = &guard {
            let data = g.data();
            if data.epoch == es.config.number {
                resume.last_voted_round = resume.last_voted_round.max(data.last_voted_round);
                if let Some(q) = &data.high_qc {
                    if q.epoch == es.config.number && q.round > committed.round {
                        resume.high_qc = QcInfo { round: q.round, height: q.height, block_hash: q.block_hash };
                        qcs.insert(q.block_hash, q.clone());
                    }
                }
            }
        }
        let mut recorder = match &ch.params.consensus_log {
            Some(path) => match Recorder::open(path) {
                Ok(r) => Some(r),
                Err(e) => {
                    warn!(channel = %ch.name, path = %path.display(), error = %e, "cannot open the consensus log; not recording");
                    None
                }
            },
            None => None,
        };
        let info = match recorder.as_mut() {
            Some(r) => r.wrap(&es.info),
            None => es.info.clone(),
        };
        let lft = Lft::new(info, es.me, resume);
        if let Some(r) = recorder.as_mut() {
            r.create(&es.info, es.me, resume);
        }
        let mut driver = Self {
            recorder,
            ch,
            lft: Lft::from_root(es.info.clone(), None, committed),
            es: Arc::clone(&es),
            prev,
            early: VecDeque::new(),
            early_bytes: 0,
            orphans: BTreeMap::new(),
            orphan_count: 0,
            guard,
            executor,
            pending: BTreeMap::new(),
            qcs,
            tcs,
            yes_sigs: BTreeMap::new(),
            timeout_sigs: BTreeMap::new(),
            want: None,
            last_block_at: Instant::now(),
            propose_timer: None,
            vote_timer: None,
            genesis,
            epoch_ended: None,
            last_evidence: None,
            to_restore: Vec::new(),
            evidence_sent: None,
            generation: 0,
            unavailable: Vec::new(),
        };
        // Uncommitted blocks stored before a restart: fed back after the core started (see
        // `run`); their QCs are known now.
        let restored = driver.load_pending(tip.height)?;
        for block in &restored {
            if let Some(qc) = &block.header.qc {
                driver.qcs.insert(qc.block_hash, qc.clone());
            }
        }
        driver.to_restore = restored;
        driver.lft = lft;
        Ok(driver)
    }

    /// Feeds back the uncommitted blocks stored before a restart, in height order, like blocks
    /// fetched by sync: their outputs (a commit they complete, a jump ahead) are carried out.
    fn restore_pending(&mut self) -> Result<(), Error> {
        let blocks = std::mem::take(&mut self.to_restore);
        for block in blocks {
            if block.header.epoch != self.es.config.number {
                continue;
            }
            let hash = block.hash();
            if self.replay_execution(block)? {
                let info = match self.pending.get(&hash) {
                    Some(p) => self.block_info(&p.block, &p.writes)?,
                    None => continue,
                };
                let step = self.feed(Input::Block(info));
                self.process(step.outputs)?;
            }
        }
        Ok(())
    }

    /// A committed `ChannelConfig` whose epoch has not started yet: after a restart the core must
    /// learn the end of the current epoch again (or the switch is due right away).
    fn resume_epoch_end(&mut self) -> Result<bool, Error> {
        let Some(bytes) = self.ch.store.state_get(SYS_NEXT_EPOCH)? else { return Ok(false) };
        let change: EpochChange = decode(&bytes)?;
        if change.start_height <= self.es.config.start_height {
            return Ok(false);
        }
        let committed = self.lft.committed();
        if committed.height + 1 == change.start_height {
            // The evidence that committed the epoch's last block was written with that commit.
            if let Some(bytes) = self.ch.store.meta_get(META_COMMIT_EVIDENCE)? {
                self.last_evidence = decode(&bytes).ok();
            }
            self.switch_epoch(committed.block_hash)?;
            return Ok(true);
        }
        if committed.height + 1 < change.start_height {
            self.lft.set_last_height(change.start_height - 1);
        }
        Ok(false)
    }

    /// Feeds the core one input (recording it when the consensus log is on).
    fn feed(&mut self, input: Input) -> lc_lft::Step {
        match self.recorder.as_mut() {
            None => self.lft.handle(input),
            Some(r) => {
                r.clear();
                let step = self.lft.handle(input.clone());
                r.step(&input, &step);
                step
            }
        }
    }

    fn load_pending(&self, tip_height: Height) -> Result<Vec<Block>, Error> {
        let Some(index) = self.ch.store.meta_get(META_PENDING_INDEX)? else { return Ok(Vec::new()) };
        let hashes: Vec<Hash> = decode(&index).unwrap_or_default();
        let mut blocks = Vec::new();
        for h in hashes {
            let Some(bytes) = self.ch.store.meta_get(&pending_key(&h))? else { continue };
            match decode::<Block>(&bytes) {
                Ok(b) if b.header.height > tip_height => blocks.push(b),
                Ok(_) => {}
                Err(e) => warn!(channel = %self.ch.name, block = %h, error = %e, "ignoring an unreadable stored block"),
            }
        }
        blocks.sort_by_key(|b| b.header.height);
        Ok(blocks)
    }

    /// Re-executes a restored block on its parent (needed for its children's state); `false` when
    /// its parent is gone (an abandoned branch).
    fn replay_execution(&mut self, block: Block) -> Result<bool, Error> {
        let parent = block.header.prev_hash;
        if !self.pending.contains_key(&parent) && self.ch.store.tip()?.map(|t| t.hash) != Some(parent) {
            return Ok(false);
        }
        let (receipts, writes, dropped) = self.execute(&block.header, &block.txs)?;
        if !self.unavailable.is_empty() {
            self.unavailable.clear();
            return Ok(false);
        }
        if !self.reproduces(&block.header, &receipts, &writes, &dropped)? {
            warn!(channel = %self.ch.name, height = block.header.height, "a stored block no longer re-executes to its roots; dropped");
            return Ok(false);
        }
        self.pending.insert(block.hash(), PendingBlock { block, receipts, writes, own_txs: false });
        Ok(true)
    }

    /// Whether this node's execution of a block gives the roots its header states (nothing
    /// dropped, same transaction, state and receipts roots).
    fn reproduces(
        &self,
        header: &BlockHeader,
        receipts: &[Receipt],
        writes: &WriteSet,
        dropped: &[Hash],
    ) -> Result<bool, Error> {
        let parent_root = self.header_of(&header.prev_hash)?.state_root;
        let tx_hashes: Vec<Hash> = receipts.iter().map(|r| r.tx_hash).collect();
        Ok(dropped.is_empty()
            && merkle_root(&tx_hashes) == header.tx_root
            && state_root(&parent_root, writes) == header.state_root
            && Block::compute_receipts_root(receipts) == header.receipts_root)
    }

    fn block_info(&self, block: &Block, writes: &WriteSet) -> Result<BlockInfo, Error> {
        let h = &block.header;
        // A successful ChannelConfig in this block schedules the end of the epoch.
        let epoch_end = match writes.get(SYS_NEXT_EPOCH) {
            Some(Some(bytes)) => decode::<EpochChange>(bytes).ok().map(|c| c.start_height - 1),
            _ => None,
        };
        let proposer = self.es.info.index_of(&h.proposer).ok_or(Error::NoValidators(self.ch.name.clone()))?;
        let qc = self.qc_info_of(h);
        Ok(BlockInfo {
            hash: block.hash(),
            height: h.height,
            round: h.round,
            parent: h.prev_hash,
            qc,
            tc: h.tc.as_ref().map(tc_info),
            proposer,
            empty: block.txs.is_empty(),
            epoch_end,
        })
    }

    /// The QC a header carries, as the core sees it (genesis has an implicit root QC).
    fn qc_info_of(&self, h: &BlockHeader) -> QcInfo {
        match &h.qc {
            Some(q) => QcInfo { round: q.round, height: q.height, block_hash: q.block_hash },
            None => QcInfo { round: 0, height: 0, block_hash: self.genesis },
        }
    }

    pub(crate) fn run(&mut self) -> Result<(), Error> {
        if !self.resume_epoch_end()? {
            let start = self.lft.start();
            if let Some(r) = self.recorder.as_mut() {
                r.start(&start);
            }
            self.process(start)?;
        }
        self.restore_pending()?;
        info!(channel = %self.ch.name, height = self.ch.status.read().height, round = self.lft.round(),
            validator = self.es.me.is_some(), "channel started");
        while !self.ch.stop.load(Ordering::SeqCst) {
            if let Some(batch) = self.ch.take_sync() {
                self.on_sync(batch)?;
            }
            let msgs = self.ch.drain_inbox(INBOX_BATCH);
            for msg in msgs {
                self.on_message(msg)?;
            }
            self.fire_timers()?;
            let mut wait_until = self.next_deadline();
            if let Some(req) = self.want {
                match self.propose_due(&req) {
                    None => {
                        self.want = None;
                        let outputs = self.propose(req)?;
                        self.process(outputs)?;
                        continue;
                    }
                    Some(at) => wait_until = wait_until.min(at),
                }
            }
            self.ch.wait_for_work(wait_until);
        }
        info!(channel = %self.ch.name, "channel driver stopped");
        Ok(())
    }

    fn next_deadline(&self) -> Instant {
        let mut at = Instant::now() + Duration::from_millis(500);
        for (t, _) in [self.propose_timer, self.vote_timer].into_iter().flatten() {
            at = at.min(t);
        }
        at
    }

    fn fire_timers(&mut self) -> Result<(), Error> {
        let now = Instant::now();
        for timer in [Timer::Propose, Timer::Vote] {
            let slot = match timer {
                Timer::Propose => &mut self.propose_timer,
                Timer::Vote => &mut self.vote_timer,
            };
            if let Some((at, round)) = *slot {
                if at <= now {
                    *slot = None;
                    info!(channel = %self.ch.name, event = "Timeout", round, cause = ?timer, "round timed out");
                    self.ch.metrics.timer_fired(timer, round, self.lft.round());
                    let step = self.feed(Input::Timeout { timer, round });
                    self.process(step.outputs)?;
                }
            }
        }
        Ok(())
    }

    /// Pacing: `None` = propose now; else when to look again. Now: an empty-block request, a TC
    /// round (re-proposed promptly or the chain stalls behind a timeout), an uncommitted ancestor
    /// carrying transactions (the blocks that commit them follow at once), or a mempool
    /// holding a good share of a block. A few waiting transactions are batched for up to
    /// [`TX_BATCH_WAIT`] after the last block, so a trickle of transactions does not cost one
    /// block (one BLS round) each. With nothing waiting, empty blocks come every `interval` when
    /// `allow_empty_blocks` is on.
    fn propose_due(&self, req: &ProposeReq) -> Option<Instant> {
        if req.empty || req.tc.is_some() {
            return None;
        }
        // Any uncommitted ancestor carrying transactions: the blocks that commit it follow at once
        // (also after a TC round, where the next two rounds alone may not commit it).
        let mut cursor = req.parent.block_hash;
        while let Some(p) = self.pending.get(&cursor) {
            if !p.block.txs.is_empty() {
                return None;
            }
            cursor = p.block.header.prev_hash;
        }
        let waiting = self.ch.pool.lock().len();
        if waiting >= (self.ch.params.max_tx_count / 4).max(1) {
            return None;
        }
        let now = Instant::now();
        if waiting > 0 {
            let due = self.last_block_at + TX_BATCH_WAIT;
            return if now >= due { None } else { Some(due) };
        }
        let due = self.last_block_at + self.ch.params.interval;
        if self.ch.params.allow_empty_blocks && now >= due {
            return None;
        }
        Some(if self.ch.params.allow_empty_blocks { due } else { now + Duration::from_millis(500) })
    }

    fn header_of(&self, hash: &Hash) -> Result<BlockHeader, Error> {
        if let Some(p) = self.pending.get(hash) {
            return Ok(p.block.header.clone());
        }
        Ok(self.ch.store.header(hash)?.ok_or(Error::MissingBlock(*hash))?.0)
    }

    /// Executes `txs` on the parent's state; returns receipts, writes and the hashes of
    /// transactions dropped because their timestamp left the window of the block timestamp.
    fn execute(
        &mut self,
        header: &BlockHeader,
        txs: &[Transaction],
    ) -> Result<(Vec<Receipt>, WriteSet, Vec<Hash>), Error> {
        let ch = self.ch;
        let ctx = BlockContext {
            channel: ch.name.clone(),
            height: header.height,
            timestamp_us: header.timestamp_us,
            proposer: header.proposer,
        };
        let window_us = ch.params.timestamp_boundary_s.saturating_mul(1_000_000);
        let mut receipts = Vec::with_capacity(txs.len());
        let mut writes = WriteSet::new();
        let mut dropped = Vec::new();
        let layers = ancestor_layers(&self.pending, &header.prev_hash);
        for tx in txs {
            let hash = tx.hash();
            if tx.body.timestamp_us.abs_diff(header.timestamp_us) > window_us {
                dropped.push(hash);
                continue;
            }
            let outcome = {
                let view = Overlay { store: &ch.store, layers: layers.clone(), current: &writes };
                let what = format!("transaction {hash} at height {}", header.height);
                *ch.watch.lock() = Some((Instant::now() + ch.params.invoke_timeout, what));
                let outcome = self.executor.execute(&view, &ctx, tx, hash);
                *ch.watch.lock() = None;
                outcome
            };
            if ch.stuck.load(Ordering::SeqCst) {
                return Err(Error::Deadline { what: format!("transaction {hash}"), timeout: ch.params.invoke_timeout });
            }
            if outcome.receipt.status == ReceiptStatus::Success {
                writes.extend(outcome.writes);
            }
            receipts.push(outcome.receipt);
        }
        self.unavailable = self.executor.take_unavailable();
        Ok((receipts, writes, dropped))
    }

    fn propose(&mut self, req: ProposeReq) -> Result<Vec<Output>, Error> {
        let ch = self.ch;
        if req.round != self.lft.round() {
            return Ok(Vec::new());
        }
        let parent = match self.header_of(&req.parent.block_hash) {
            Ok(p) => p,
            Err(Error::MissingBlock(h)) => {
                warn!(channel = %ch.name, round = req.round, parent = %h, "cannot propose: the parent block is not here");
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let qc = if req.parent.block_hash == self.genesis {
            None
        } else {
            match self.qcs.get(&req.parent.block_hash) {
                Some(q) => Some(q.clone()),
                None => {
                    warn!(channel = %ch.name, round = req.round, "cannot propose: the parent's QC is not here");
                    return Ok(Vec::new());
                }
            }
        };
        let tc = match req.tc {
            Some(t) => match self.tcs.get(&t.round) {
                Some(tc) => Some(tc.clone()),
                None => {
                    warn!(channel = %ch.name, round = req.round, "cannot propose: the TC is not here");
                    return Ok(Vec::new());
                }
            },
            None => None,
        };
        let timestamp_us = now_us().max(parent.timestamp_us + 1);
        let candidates = if req.empty {
            Vec::new()
        } else {
            // Transactions already in an uncommitted ancestor (another leader's block) would make
            // this block invalid: they stay in the pool until that block commits or is abandoned.
            let mut in_ancestors = BTreeSet::new();
            let mut cursor = req.parent.block_hash;
            while let Some(p) = self.pending.get(&cursor) {
                in_ancestors.extend(p.receipts.iter().map(|r| r.tx_hash));
                cursor = p.block.header.prev_hash;
            }
            let mut pool = ch.pool.lock();
            let taken = pool.take(ch.params.max_tx_count, ch.params.max_block_bytes);
            let mut in_flight = ch.in_flight.write();
            let mut fresh = Vec::with_capacity(taken.len());
            for (h, tx) in taken {
                if in_ancestors.contains(&h) {
                    let len = tx.encoded_len();
                    pool.push(h, tx, len);
                } else {
                    in_flight.insert(h, tx.clone());
                    fresh.push((h, tx));
                }
            }
            fresh
        };
        let mut header = BlockHeader {
            version: BLOCK_VERSION,
            channel: ch.name.clone(),
            height: req.height,
            round: req.round,
            epoch: self.es.config.number,
            prev_hash: req.parent.block_hash,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            qc,
            tc,
            timestamp_us,
            proposer: ch.key.public(),
        };
        let mut txs: Vec<Transaction> = candidates.into_iter().map(|(_, tx)| tx).collect();
        let (mut receipts, mut writes, mut dropped) = self.execute(&header, &txs)?;
        // Transactions whose SCORE code is missing here (and no member supplied it) have no
        // outcome this node can vouch for: they wait in the mempool for a leader that has it,
        // and the block is built without them.
        let mut tries = 0;
        while !self.unavailable.is_empty() && tries < 3 {
            tries += 1;
            let missing: BTreeSet<Hash> = std::mem::take(&mut self.unavailable).into_iter().collect();
            warn!(channel = %ch.name, count = missing.len(), "leaving out transactions whose SCORE code is not available here");
            {
                let mut pool = ch.pool.lock();
                let mut in_flight = ch.in_flight.write();
                for tx in txs.iter().filter(|t| missing.contains(&t.hash())) {
                    let h = tx.hash();
                    in_flight.remove(&h);
                    pool.push(h, tx.clone(), tx.encoded_len());
                }
            }
            txs.retain(|t| !missing.contains(&t.hash()));
            (receipts, writes, dropped) = self.execute(&header, &txs)?;
        }
        if !self.unavailable.is_empty() {
            return Ok(Vec::new());
        }
        let txs: Vec<Transaction> = if dropped.is_empty() {
            txs
        } else {
            warn!(channel = %ch.name, count = dropped.len(), "dropped transactions whose timestamp left the window");
            let mut in_flight = ch.in_flight.write();
            for h in &dropped {
                in_flight.remove(h);
            }
            let dropped: BTreeSet<Hash> = dropped.into_iter().collect();
            txs.into_iter().filter(|t| !dropped.contains(&t.hash())).collect()
        };
        let tx_hashes: Vec<Hash> = receipts.iter().map(|r| r.tx_hash).collect();
        header.tx_root = merkle_root(&tx_hashes);
        header.state_root = state_root(&parent.state_root, &writes);
        header.receipts_root = Block::compute_receipts_root(&receipts);
        let block = ch.key.sign_block(header, txs);
        let info = self.block_info(&block, &writes)?;
        ch.metrics.proposal_seen(info.hash, req.height);
        debug!(channel = %ch.name, event = "Propose", height = req.height, round = req.round, txs = block.txs.len(), block = %info.hash, "proposing");
        self.store_pending(&block)?;
        ch.broadcast(ConsensusMsg::Proposal(Box::new(block.clone())));
        self.pending.insert(info.hash, PendingBlock { block, receipts, writes, own_txs: true });
        self.last_block_at = Instant::now();
        ch.status.write().made_block_count += 1;
        let step = self.feed(Input::Proposal(info));
        if let Some(e) = step.rejected {
            warn!(channel = %ch.name, error = %e, "the core refused this node's own proposal");
        }
        Ok(step.outputs)
    }

    fn store_pending(&self, block: &Block) -> Result<(), Error> {
        let hash = block.hash();
        let store = &self.ch.store;
        store.meta_put(&pending_key(&hash), Some(encode(block)))?;
        let mut index: BTreeSet<Hash> = self.pending.keys().copied().collect();
        index.insert(hash);
        store.meta_put(META_PENDING_INDEX, Some(encode(&index.into_iter().collect::<Vec<_>>())))?;
        Ok(())
    }

    // ---- inbound messages -------------------------------------------------------------------

    fn on_message(&mut self, msg: ConsensusMsg) -> Result<(), Error> {
        let epoch = msg.epoch();
        let current = self.es.config.number;
        let root = self.lft.committed().block_hash;
        let is_root_qc = matches!(&msg, ConsensusMsg::Qc(q)
            if q.block_hash == root && self.prev.as_ref().is_some_and(|p| p.config.number == q.epoch));
        if epoch == current + 1 {
            // Kept only while this epoch's end is scheduled, and bounded by count and bytes.
            let size = match &msg {
                ConsensusMsg::Proposal(b) => b.txs.iter().map(Transaction::encoded_len).sum::<usize>() + 1024,
                _ => 1024,
            };
            let scheduled = self
                .ch
                .store
                .state_get(SYS_NEXT_EPOCH)?
                .and_then(|b| decode::<EpochChange>(&b).ok())
                .is_some_and(|c| c.start_height > self.es.config.start_height);
            if scheduled && self.early.len() < MAX_EARLY && self.early_bytes + size <= MAX_EARLY_BYTES {
                self.early_bytes += size;
                self.early.push_back(msg);
            }
            return Ok(());
        }
        if epoch + 1 == current && !is_root_qc {
            self.resend_end_evidence()?;
            return Ok(());
        }
        if epoch != current && !is_root_qc {
            return Ok(());
        }
        match msg {
            ConsensusMsg::Qc(qc) => match self.check_qc(&qc) {
                Ok(()) => {
                    let step =
                        self.feed(Input::Qc(QcInfo { round: qc.round, height: qc.height, block_hash: qc.block_hash }));
                    self.process(step.outputs)
                }
                Err(e) => {
                    self.count_rejected();
                    debug!(channel = %self.ch.name, error = %e, "dropping a QC");
                    Ok(())
                }
            },
            ConsensusMsg::Proposal(block) => self.on_proposal(*block),
            ConsensusMsg::Vote(v) => self.on_vote(v, false),
            ConsensusMsg::Tc(tc) => match self.check_tc(&tc) {
                Ok(()) => {
                    let step = self.feed(Input::Tc(tc_info(&tc)));
                    self.process(step.outputs)
                }
                Err(e) => {
                    self.count_rejected();
                    debug!(channel = %self.ch.name, error = %e, "dropping a TC");
                    Ok(())
                }
            },
        }
    }

    /// Applies committed blocks fetched from another member (see [`crate::sync`]). A batch that
    /// does not link to the committed tip, or whose proof does not verify against the current
    /// epoch, is dropped; a block whose roots this node cannot reproduce halts the channel.
    fn on_sync(&mut self, batch: crate::sync::SyncBatch) -> Result<(), Error> {
        let committed = self.lft.committed();
        let epoch = self.es.config.number;
        let blocks: Vec<Block> = batch.blocks.into_iter().filter(|b| b.header.height > committed.height).collect();
        let Some(last) = blocks.last() else { return Ok(()) };
        let last_hash = last.hash();
        let mut prev = committed.block_hash;
        for b in &blocks {
            let h = &b.header;
            if h.prev_hash != prev || h.channel != self.ch.name || h.epoch != epoch {
                debug!(channel = %self.ch.name, height = h.height, "sync batch does not extend the committed chain");
                return Ok(());
            }
            prev = b.hash();
        }
        if batch.proof.block_hash != last_hash {
            debug!(channel = %self.ch.name, "sync proof is not about the batch's last block");
            return Ok(());
        }
        let verified = self
            .es
            .validator_set(&self.ch.name)
            .check()
            .map_err(|e| e.to_string())
            .and_then(|set| lc_proof::verify_with(&batch.proof, &set).map_err(|e| e.to_string()));
        match verified {
            Ok(v) if v.epoch == epoch => {}
            Ok(v) => {
                debug!(channel = %self.ch.name, proof_epoch = v.epoch, "sync proof of another epoch");
                return Ok(());
            }
            Err(e) => {
                warn!(channel = %self.ch.name, error = %e, "sync batch refused: its finality proof does not verify");
                return Ok(());
            }
        }
        // The QCs in the proof (the one certifying the epoch's last block becomes the next
        // epoch's root QC).
        for ph in &batch.proof.headers {
            if let Some(qc) = &ph.header.qc {
                self.qcs.insert(qc.block_hash, qc.clone());
            }
        }
        self.qcs.insert(batch.proof.qc.block_hash, batch.proof.qc);
        let (from, to) = (blocks[0].header.height, last.header.height);
        let mut root = committed;
        for block in blocks {
            let hash = block.hash();
            let (receipts, writes, dropped) = self.execute(&block.header, &block.txs)?;
            if !self.unavailable.is_empty() {
                // The code will be fetched again; the sync task retries the batch later.
                warn!(channel = %self.ch.name, height = block.header.height,
                    "cannot apply a synced block: SCORE code is not available here yet");
                self.unavailable.clear();
                break;
            }
            if !self.reproduces(&block.header, &receipts, &writes, &dropped)? {
                return Err(Error::Diverged { height: block.header.height, hash });
            }
            root = QcInfo { round: block.header.round, height: block.header.height, block_hash: hash };
            // Pending blocks at this height lose; this one is final.
            self.pending.insert(hash, PendingBlock { block, receipts, writes, own_txs: false });
            self.commit(vec![hash], root)?;
        }
        if root.block_hash == committed.block_hash {
            return Ok(());
        }
        // Evidence of an older tip must not be served as this tip's.
        self.ch.store.meta_put(META_COMMIT_EVIDENCE, None)?;
        self.last_evidence = None;
        info!(channel = %self.ch.name, event = "BlockSync", from, to = root.height, height = root.height, offered = to, "synced committed blocks");
        self.restart_core_at(root)
    }

    /// Starts a fresh core on `root` (committed by sync), keeping what this node's guard voted.
    fn restart_core_at(&mut self, root: QcInfo) -> Result<(), Error> {
        let mut resume = Resume { committed: root, high_qc: root, last_voted_round: root.round, last_tc: None };
        if let Some(g) = &self.guard {
            let data = g.data();
            if data.epoch == self.es.config.number {
                resume.last_voted_round = resume.last_voted_round.max(data.last_voted_round);
            }
        }
        self.generation += 1;
        let info = match self.recorder.as_mut() {
            Some(r) => r.wrap(&self.es.info),
            None => self.es.info.clone(),
        };
        self.lft = Lft::new(info, self.es.me, resume);
        if let Some(r) = self.recorder.as_mut() {
            r.create(&self.es.info, self.es.me, resume);
        }
        self.prune_abandoned()?;
        self.want = None;
        self.propose_timer = None;
        self.vote_timer = None;
        if self.resume_epoch_end()? {
            return Ok(());
        }
        let start = self.lft.start();
        if let Some(r) = self.recorder.as_mut() {
            r.start(&start);
        }
        self.process(start)?;
        // Uncommitted blocks above the new root that this node already accepted: the new core
        // learns them again (as after a restart), so proposals extending them are not refused.
        let mut above: Vec<(Height, Hash)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.block.header.height > root.height)
            .map(|(h, p)| (p.block.header.height, *h))
            .collect();
        above.sort();
        for (_, hash) in above {
            let info = match self.pending.get(&hash) {
                Some(p) => self.block_info(&p.block, &p.writes)?,
                None => continue,
            };
            let step = self.feed(Input::Block(info));
            self.process(step.outputs)?;
        }
        if let Some(children) = self.orphans.remove(&root.block_hash) {
            self.orphan_count -= children.len();
            for child in children {
                self.on_proposal(child)?;
            }
        }
        Ok(())
    }

    /// A member still in the previous epoch (its messages arrive) missed how that epoch ended:
    /// send again the blocks and the QC that committed its last block (at most once a second).
    fn resend_end_evidence(&mut self) -> Result<(), Error> {
        if self.evidence_sent.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return Ok(());
        }
        self.evidence_sent = Some(Instant::now());
        let Some(prev) = &self.prev else { return Ok(()) };
        let Some(bytes) = self.ch.store.meta_get(&meta_epoch_key(prev.config.number))? else { return Ok(()) };
        let record: EpochRecord = decode(&bytes)?;
        if let Some(ev) = record.end_evidence {
            for b in ev.blocks {
                self.ch.broadcast(ConsensusMsg::Proposal(Box::new(b)));
            }
            self.ch.broadcast(ConsensusMsg::Qc(ev.qc));
        }
        Ok(())
    }

    fn is_quorum(&self, signers: &[usize]) -> bool {
        let set: BTreeSet<usize> = signers.iter().copied().collect();
        let e = self.lft.epoch();
        e.is_quorum(e.weigh(&set))
    }

    /// Verifies a QC unless the same one is already known.
    fn check_qc(&mut self, qc: &QuorumCert) -> Result<(), String> {
        let root = self.lft.committed().block_hash;
        if (qc.epoch == self.es.config.number || qc.block_hash == root) && self.qcs.get(&qc.block_hash) == Some(qc) {
            return Ok(());
        }
        let es = if qc.epoch == self.es.config.number {
            Arc::clone(&self.es)
        } else {
            // Only the previous epoch's QC of this epoch's root block is accepted.
            match &self.prev {
                Some(p) if p.config.number == qc.epoch && qc.block_hash == self.lft.committed().block_hash => {
                    Arc::clone(p)
                }
                _ => return Err(format!("QC of epoch {}", qc.epoch)),
            }
        };
        let signers = bls::verify_qc(qc, &self.ch.name, &es.keys).map_err(|e| e.to_string())?;
        let set: BTreeSet<usize> = signers.iter().copied().collect();
        if !es.info.is_quorum(es.info.weigh(&set)) {
            return Err("QC signers are not a quorum".into());
        }
        self.qcs.insert(qc.block_hash, qc.clone());
        Ok(())
    }

    fn check_tc(&mut self, tc: &TimeoutCert) -> Result<(), String> {
        if self.tcs.get(&tc.round) == Some(tc) {
            return Ok(());
        }
        if tc.epoch != self.lft.epoch().epoch {
            return Err(format!("TC of epoch {}", tc.epoch));
        }
        if tc.high_qc.round == 0 && tc.high_qc.block_hash != self.genesis {
            return Err("TC high QC of round 0 is not the genesis".into());
        }
        let signers = bls::verify_tc_votes(tc, &self.ch.name, &self.es.keys).map_err(|e| e.to_string())?;
        if !self.is_quorum(&signers) {
            return Err("TC signers are not a quorum".into());
        }
        // The carried high QC is checked like any QC: signatures AND a quorum of weight.
        if tc.high_qc.round > 0 {
            self.check_qc(&tc.high_qc).map_err(|e| format!("TC high QC: {e}"))?;
        }
        self.tcs.insert(tc.round, tc.clone());
        Ok(())
    }

    /// Counts a consensus message that failed verification (`consensus_rejected`).
    fn count_rejected(&self) {
        if let Some(r) = self.ch.refusals() {
            r.count(crate::Reason::ConsensusRejected);
        }
    }

    fn on_proposal(&mut self, block: Block) -> Result<(), Error> {
        let hash = block.hash();
        let round = block.header.round;
        match self.validate(&block) {
            Ok(()) => {}
            Err(Refusal::Ignore(why)) => {
                debug!(channel = %self.ch.name, block = %hash, round, why, "proposal ignored");
                return Ok(());
            }
            Err(Refusal::Invalid(why)) => {
                self.count_rejected();
                warn!(channel = %self.ch.name, event = "InvalidatedBlock", block = %hash, round, height = block.header.height, why, "invalid proposal: voting NONE");
                self.ch.metrics.round_failed(crate::metrics::RoundFailure::InvalidProposal, round);
                let step = self.feed(Input::ProposalFailed { round });
                return self.process(step.outputs);
            }
            Err(Refusal::UnknownParent(qc, tc)) => {
                debug!(channel = %self.ch.name, block = %hash, round, "proposal on an unknown parent: kept until it arrives");
                let parent = block.header.prev_hash;
                if self.orphan_count < MAX_ORPHANS {
                    let siblings = self.orphans.entry(parent).or_default();
                    if !siblings.iter().any(|b| b.hash() == hash) {
                        siblings.push(block);
                        self.orphan_count += 1;
                    }
                }
                let step = self.feed(Input::Qc(qc));
                self.process(step.outputs)?;
                if let Some(tc) = tc {
                    let step = self.feed(Input::Tc(tc));
                    self.process(step.outputs)?;
                }
                return Ok(());
            }
        }
        self.ch.metrics.proposal_seen(hash, block.header.height);
        let (receipts, writes, dropped) = self.execute(&block.header, &block.txs)?;
        if !self.unavailable.is_empty() {
            // Not a verdict on the block: this node cannot check it (SCORE code missing here and
            // not fetched). It neither votes for it nor against it; the code may come later.
            warn!(channel = %self.ch.name, block = %hash, round, missing = self.unavailable.len(),
                "cannot check a proposal: SCORE code is not available here; not voting");
            self.unavailable.clear();
            return Ok(());
        }
        let info = self.block_info(&block, &writes)?;
        if !self.reproduces(&block.header, &receipts, &writes, &dropped)? {
            error!(channel = %self.ch.name, event = "InvalidatedBlock", height = block.header.height, round, block = %hash,
                "re-execution gives a different state or receipts root: voting NONE");
            self.ch.metrics.round_failed(crate::metrics::RoundFailure::InvalidProposal, round);
            let step = self.feed(Input::ProposalFailed { round });
            return self.process(step.outputs);
        }
        self.pending.insert(hash, PendingBlock { block, receipts, writes, own_txs: false });
        let step = self.feed(Input::Proposal(info));
        if let Some(e) = &step.rejected {
            debug!(channel = %self.ch.name, block = %hash, error = %e, "proposal refused by consensus");
        }
        if self.lft.block(&hash).is_some() {
            debug!(channel = %self.ch.name, event = "ProposalAccepted", block = %hash, round, "proposal accepted");
            // Kept before this node votes for it (or for a child), so a restart finds it.
            if let Some(p) = self.pending.get_mut(&hash) {
                // Its transactions leave this node's mempool while it is pending: otherwise the
                // next leader would pick the same ones and have to put them back, leaving its
                // own block nearly empty.
                {
                    let mut pool = self.ch.pool.lock();
                    let mut in_flight = self.ch.in_flight.write();
                    for (tx, r) in p.block.txs.iter().zip(&p.receipts) {
                        pool.remove(&r.tx_hash);
                        in_flight.insert(r.tx_hash, tx.clone());
                    }
                }
                p.own_txs = true;
                // Empty blocks are paced per chain, not per proposer.
                self.last_block_at = Instant::now();
                let block = p.block.clone();
                self.store_pending(&block)?;
            }
        } else {
            // Refused by the core (stale, conflicting, ...): not kept.
            self.pending.remove(&hash);
        }
        self.process(step.outputs)?;
        // Children that arrived before this block.
        if self.pending.contains_key(&hash) {
            if let Some(children) = self.orphans.remove(&hash) {
                self.orphan_count -= children.len();
                for child in children {
                    self.on_proposal(child)?;
                }
            }
        }
        Ok(())
    }

    /// Checks a proposal before execution: header, signature, certificates, parent, transactions.
    fn validate(&mut self, block: &Block) -> Result<(), Refusal> {
        let h = &block.header;
        let ch = self.ch;
        if h.channel != ch.name || h.version != BLOCK_VERSION {
            return Err(Refusal::Ignore("wrong channel or version".into()));
        }
        if h.epoch != self.lft.epoch().epoch {
            return Err(Refusal::Ignore(format!("epoch {}", h.epoch)));
        }
        if self.pending.contains_key(&block.hash()) {
            return Err(Refusal::Ignore("already known".into()));
        }
        let Some(proposer) = self.lft.epoch().index_of(&h.proposer) else {
            return Err(Refusal::Ignore("proposer is not a validator".into()));
        };
        // Only the round's leader may propose: anyone else's block is dropped unexecuted (it
        // must not make this node vote NONE, nor cost it an execution or a stored copy).
        if self.lft.epoch().proposer(h.round) != proposer {
            return Err(Refusal::Ignore(format!("validator {proposer} does not lead round {}", h.round)));
        }
        let current = self.lft.round();
        if h.round + lc_lft::ROUND_WINDOW < current || h.round > current + lc_lft::ROUND_WINDOW {
            return Err(Refusal::Ignore(format!("round {} is outside the window around {current}", h.round)));
        }
        if h.height <= self.lft.committed().height {
            return Err(Refusal::Ignore("at or below the committed height".into()));
        }
        if let Err(e) = lc_crypto::verify_block_signature(block) {
            self.count_rejected();
            return Err(Refusal::Ignore(format!("proposer signature: {e}")));
        }
        // Certificates (verified) may move this node ahead even when the block is refused.
        if let Some(qc) = &h.qc {
            if let Err(e) = self.check_qc(qc) {
                self.count_rejected();
                return Err(Refusal::Ignore(format!("carried QC: {e}")));
            }
        }
        if let Some(tc) = &h.tc {
            if let Err(e) = self.check_tc(tc) {
                self.count_rejected();
                return Err(Refusal::Ignore(format!("carried TC: {e}")));
            }
        }
        let qc_info = self.qc_info_of(h);
        if h.qc.is_none() && h.prev_hash != self.genesis {
            return Err(Refusal::Ignore("no QC for a non-genesis parent".into()));
        }
        // A bad block of the current round from its leader earns a NONE vote; one of another round
        // is just dropped.
        let invalid = |why: String| if h.round == current { Refusal::Invalid(why) } else { Refusal::Ignore(why) };
        let parent = match self.header_of(&h.prev_hash) {
            Ok(p) => p,
            Err(Error::MissingBlock(_)) => return Err(Refusal::UnknownParent(qc_info, h.tc.as_ref().map(tc_info))),
            Err(e) => return Err(Refusal::Ignore(format!("reading the parent: {e}"))),
        };
        if h.height != parent.height + 1 || qc_info.block_hash != h.prev_hash {
            return Err(invalid("does not extend the block its QC certifies".into()));
        }
        if h.timestamp_us <= parent.timestamp_us {
            return Err(invalid("timestamp not after the parent's".into()));
        }
        if h.timestamp_us > now_us() + ch.params.max_clock_drift.as_micros() as u64 {
            return Err(invalid("timestamp too far in the future".into()));
        }
        if block.txs.len() > ch.params.max_tx_count {
            return Err(invalid(format!("{} transactions, limit {}", block.txs.len(), ch.params.max_tx_count)));
        }
        let bytes: usize = block.txs.iter().map(Transaction::encoded_len).sum();
        if bytes > ch.params.max_block_bytes.saturating_add(ch.params.max_tx_bytes) {
            return Err(invalid(format!("{bytes} transaction bytes")));
        }
        let hashes: Vec<Hash> = block.txs.iter().map(Transaction::hash).collect();
        let mut seen = BTreeSet::new();
        for (tx, hash) in block.txs.iter().zip(&hashes) {
            if tx.body.channel != ch.name || tx.encoded_len() > ch.params.max_tx_bytes || !seen.insert(*hash) {
                return Err(invalid(format!("transaction {hash} is malformed or repeated")));
            }
            if ch.store.contains_tx(hash).unwrap_or(true) || self.in_ancestors(&h.prev_hash, hash) {
                return Err(invalid(format!("transaction {hash} is already in the chain")));
            }
        }
        // A transaction already in this node's mempool was verified on admission: the same body
        // (same hash) with the same signature bytes needs no second check; only the others are
        // verified here.
        let items: Vec<(&Transaction, Hash)> = {
            let pool = ch.pool.lock();
            block
                .txs
                .iter()
                .zip(hashes.iter().copied())
                .filter(|(tx, h)| pool.get(h).is_none_or(|known| known.signature != tx.signature))
                .collect()
        };
        if lc_crypto::verify_txs(&items).iter().any(Result::is_err) {
            return Err(invalid("a transaction signature does not verify".into()));
        }
        Ok(())
    }

    fn in_ancestors(&self, parent: &Hash, tx: &Hash) -> bool {
        let mut cursor = *parent;
        while let Some(p) = self.pending.get(&cursor) {
            if p.receipts.iter().any(|r| r.tx_hash == *tx) {
                return true;
            }
            cursor = p.block.header.prev_hash;
        }
        false
    }

    /// A vote from another member (`own == false`: its signature is verified) or this node's own,
    /// just signed by the safety guard (parsed for aggregation, not verified again).
    fn on_vote(&mut self, m: VoteMsg, own: bool) -> Result<(), Error> {
        let epoch = self.lft.epoch().epoch;
        let v = &m.vote;
        let voter = m.voter as usize;
        if v.channel != self.ch.name || v.epoch != epoch || voter >= self.es.keys.len() {
            return Ok(());
        }
        // Votes of past rounds can no longer count (and verifying them costs a pairing each).
        if v.round < self.lft.round() || v.round > self.lft.round() + lc_lft::ROUND_WINDOW {
            return Ok(());
        }
        let msg = match v.kind {
            VoteKind::Yes => bls::vote_message(&v.channel, epoch, v.round, v.height, v.block_hash),
            VoteKind::Timeout => bls::timeout_message(&v.channel, epoch, v.round, v.hqc_round),
        };
        let checked = if own {
            bls::own_signature(&m.signature)
        } else {
            bls::verify_from(&self.es.keys, voter, &msg, &m.signature)
        };
        let sig = match checked {
            Ok(s) => s,
            Err(e) => {
                self.count_rejected();
                debug!(channel = %self.ch.name, voter, round = v.round, error = %e, "dropping a vote that does not verify");
                return Ok(());
            }
        };
        let input = match v.kind {
            VoteKind::Yes => {
                self.yes_sigs.entry((v.round, voter)).or_insert((v.block_hash, sig));
                Input::Vote { voter, round: v.round, height: v.height, block_hash: v.block_hash }
            }
            VoteKind::Timeout => {
                let high_qc = match &m.high_qc {
                    Some(q) => {
                        if q.round != v.hqc_round {
                            return Ok(());
                        }
                        if let Err(e) = self.check_qc(q) {
                            debug!(channel = %self.ch.name, voter, error = %e, "dropping a timeout vote with a bad QC");
                            return Ok(());
                        }
                        QcInfo { round: q.round, height: q.height, block_hash: q.block_hash }
                    }
                    None if v.hqc_round == 0 => QcInfo { round: 0, height: 0, block_hash: self.genesis },
                    None => {
                        // The high QC is the committed root (restart): accept it if it is ours.
                        let c = self.lft.committed();
                        if c.round != v.hqc_round {
                            return Ok(());
                        }
                        c
                    }
                };
                self.timeout_sigs.entry((v.round, voter)).or_insert((v.hqc_round, sig));
                Input::TimeoutVote { voter, round: v.round, high_qc }
            }
        };
        let step = self.feed(input);
        if let Some(e) = &step.rejected {
            if matches!(e, lc_lft::Error::Equivocation { .. }) {
                self.count_rejected();
            }
            debug!(channel = %self.ch.name, voter, error = %e, "vote refused by consensus");
        }
        self.process(step.outputs)
    }

    // ---- outputs ----------------------------------------------------------------------------

    fn process(&mut self, outputs: Vec<Output>) -> Result<(), Error> {
        let generation = self.generation;
        let mut queue: VecDeque<Output> = outputs.into();
        while let Some(out) = queue.pop_front() {
            if self.generation != generation {
                // An epoch switch happened while carrying these out: they belong to the old core.
                break;
            }
            match out {
                Output::EnterRound { round, leader } => {
                    if round < self.lft.round() {
                        continue;
                    }
                    self.ch.metrics.round_entered(self.lft.entry_tc().map(|t| t.round));
                    let mut s = self.ch.status.write();
                    s.round = round;
                    s.leader = self.es.me == Some(leader);
                    drop(s);
                    info!(channel = %self.ch.name, event = "RoundStart", round, leader, is_leader = self.es.me == Some(leader),
                        via = if self.lft.entry_tc().is_some() { "timeout" } else { "qc" },
                        committed_height = self.ch.status.read().height, "round started");
                    self.want = None;
                    self.vote_timer = None;
                    self.yes_sigs.retain(|(r, _), _| *r + lc_lft::ROUND_WINDOW >= round);
                    self.timeout_sigs.retain(|(r, _), _| *r + lc_lft::ROUND_WINDOW >= round);
                    self.tcs.retain(|r, _| *r + 1 >= round);
                    // Keep the TC that opened this round: after a restart the node re-enters
                    // through it and hands it to members still in the round before.
                    if let Some(tc) = self.lft.entry_tc().and_then(|t| self.tcs.get(&t.round)) {
                        self.ch.store.meta_put(META_LAST_TC, Some(encode(tc)))?;
                    }
                }
                Output::StartTimer { timer, round, backoff } => {
                    if round < self.lft.round() {
                        // Queued before a nested step moved the core on (e.g. our own timeout vote
                        // completed a TC): the newer round's timer is already set.
                        continue;
                    }
                    let p = &self.ch.params;
                    let factor = 1u32 << backoff.min(5);
                    let at = match timer {
                        Timer::Propose => {
                            let pacing = if p.allow_empty_blocks { p.interval } else { Duration::ZERO };
                            Instant::now() + p.propose_timeout * factor + pacing
                        }
                        Timer::Vote => Instant::now() + p.vote_timeout * factor,
                    };
                    match timer {
                        Timer::Propose => self.propose_timer = Some((at, round)),
                        Timer::Vote => self.vote_timer = Some((at, round)),
                    }
                }
                Output::Propose { round, height, parent, tc, empty } => {
                    self.want = Some(ProposeReq { round, height, parent, tc, empty });
                }
                Output::CastVote { round, height, block_hash, qc } => {
                    let full_qc = self.qcs.get(&qc.block_hash).cloned();
                    let epoch = self.lft.epoch().epoch;
                    let Some(guard) = self.guard.as_mut() else { continue };
                    match guard.sign_yes(epoch, round, height, block_hash, full_qc.as_ref()) {
                        Ok(vote) => queue.extend(self.send_vote(vote, None)?),
                        Err(e) => warn!(channel = %self.ch.name, round, error = %e, "safety guard refused a yes vote"),
                    }
                }
                Output::CastTimeout { round, kind, high_qc } => {
                    let full_qc = self.qcs.get(&high_qc.block_hash).cloned();
                    let epoch = self.lft.epoch().epoch;
                    let Some(guard) = self.guard.as_mut() else { continue };
                    debug!(channel = %self.ch.name, round, ?kind, "timeout vote");
                    // Members still in an earlier round catch up through the TC that ended it (a
                    // broadcast TC may have been lost; this repeats with every timeout vote).
                    if let Some(tc) = round.checked_sub(1).and_then(|r| self.tcs.get(&r)) {
                        self.ch.broadcast(ConsensusMsg::Tc(tc.clone()));
                    }
                    match guard.sign_timeout(epoch, round, full_qc.as_ref()) {
                        Ok(vote) => {
                            let carried = self.guard.as_ref().and_then(|g| g.data().high_qc.clone());
                            let carried = carried.filter(|q| q.round == vote.hqc_round && q.epoch == epoch);
                            queue.extend(self.send_vote(vote, carried)?);
                        }
                        Err(e) => {
                            warn!(channel = %self.ch.name, round, error = %e, "safety guard refused a timeout vote")
                        }
                    }
                }
                Output::Certified { qc, signers } => self.aggregate_qc(qc, &signers),
                Output::TimeoutCertified { tc, signers } => self.aggregate_tc(tc, &signers),
                Output::NewCandidate { qc } => {
                    info!(channel = %self.ch.name, event = "Candidate", height = qc.height, round = qc.round, block = %qc.block_hash, "candidate certified");
                }
                Output::Commit { blocks, evidence } => self.commit(blocks, evidence)?,
                Output::EpochEnded { last } => {
                    info!(channel = %self.ch.name, epoch = self.es.config.number, block = %last, "epoch ended");
                    self.epoch_ended = Some(last);
                    // Whatever else the old core asked for is moot.
                    break;
                }
            }
        }
        if let Some(last) = self.epoch_ended.take() {
            self.switch_epoch(last)?;
        }
        Ok(())
    }

    /// Starts the next epoch on top of `last`, the last block of the current one (committed).
    fn switch_epoch(&mut self, last: Hash) -> Result<(), Error> {
        let ch = self.ch;
        let bytes = ch.store.state_get(SYS_NEXT_EPOCH)?.ok_or(Error::MissingBlock(last))?;
        let change: EpochChange = decode(&bytes)?;
        let last_header = self.header_of(&last)?;
        if change.start_height != last_header.height + 1 {
            return Err(Error::Scheme {
                channel: ch.name.clone(),
                epoch: self.es.config.number,
                reason: format!(
                    "the scheduled epoch starts at {} but the epoch ended at {}",
                    change.start_height, last_header.height
                ),
            });
        }
        self.generation += 1;
        let old = Arc::clone(&self.es);
        let config = old.config.next(&change);
        let root_qc = self.qcs.get(&last).cloned();
        let new = Arc::new(EpochState::build(
            &ch.name,
            config.clone(),
            root_qc.clone(),
            ch.source.as_ref(),
            &ch.key.public(),
        )?);
        let finished = EpochRecord {
            config: old.config.clone(),
            root_qc: old.root_qc.clone(),
            last_height: Some(last_header.height),
            end_evidence: self.last_evidence.clone(),
        };
        let current = EpochRecord { config, root_qc, last_height: None, end_evidence: None };
        ch.store.meta_put(&meta_epoch_key(old.config.number), Some(encode(&finished)))?;
        ch.store.meta_put_synced(META_EPOCH_CURRENT, encode(&current))?;
        if let Some(ev) = &self.last_evidence {
            ch.broadcast(ConsensusMsg::Qc(ev.qc.clone()));
        }
        info!(channel = %ch.name, epoch = new.config.number, start_height = new.config.start_height,
            consensus = %new.config.consensus, validators = new.voting.len(), validator = new.me.is_some(), "new epoch");
        // Blocks above the old epoch's end never commit: give their transactions back.
        self.prune_abandoned_above(last_header.height)?;
        self.prev = Some(old);
        self.es = Arc::clone(&new);
        ch.set_epoch_state(Arc::clone(&new));
        let root = QcInfo { round: last_header.round, height: last_header.height, block_hash: last };
        let info = match self.recorder.as_mut() {
            Some(r) => r.wrap(&new.info),
            None => new.info.clone(),
        };
        self.lft = Lft::from_root(info, new.me, root);
        if let Some(r) = self.recorder.as_mut() {
            r.create(
                &new.info,
                new.me,
                Resume { committed: root, high_qc: root, last_voted_round: root.round, last_tc: None },
            );
        }
        self.yes_sigs.clear();
        self.timeout_sigs.clear();
        self.tcs.clear();
        self.want = None;
        self.propose_timer = None;
        self.vote_timer = None;
        let start = self.lft.start();
        if let Some(r) = self.recorder.as_mut() {
            r.start(&start);
        }
        self.process(start)?;
        let early: Vec<ConsensusMsg> = self.early.drain(..).collect();
        self.early_bytes = 0;
        for msg in early {
            self.on_message(msg)?;
        }
        Ok(())
    }

    /// Sends a signed vote to every validator and delivers it to this node's own core.
    fn send_vote(&mut self, vote: SignedVote, high_qc: Option<QuorumCert>) -> Result<Vec<Output>, Error> {
        let Some(me) = self.es.me else { return Ok(Vec::new()) };
        let msg = VoteMsg {
            voter: me as u32,
            vote: Vote {
                kind: vote.kind,
                channel: self.ch.name.clone(),
                epoch: vote.epoch,
                round: vote.round,
                height: vote.height,
                block_hash: vote.block_hash,
                hqc_round: vote.hqc_round,
            },
            signature: vote.signature,
            high_qc,
        };
        self.ch.broadcast(ConsensusMsg::Vote(msg.clone()));
        self.on_vote(msg, true)?;
        Ok(Vec::new())
    }

    fn aggregate_qc(&mut self, qc: QcInfo, signers: &[usize]) {
        let mut sigs = Vec::with_capacity(signers.len());
        for i in signers {
            match self.yes_sigs.get(&(qc.round, *i)) {
                Some((h, s)) if *h == qc.block_hash => sigs.push(s.clone()),
                _ => {
                    error!(channel = %self.ch.name, round = qc.round, voter = i, "missing a vote signature for a QC");
                    return;
                }
            }
        }
        match bls::aggregate_verified(&sigs) {
            Ok(aggregate_signature) => {
                let full = QuorumCert {
                    epoch: self.lft.epoch().epoch,
                    round: qc.round,
                    height: qc.height,
                    block_hash: qc.block_hash,
                    signer_bitmap: bls::bitmap(self.es.keys.len(), signers.iter().copied()),
                    aggregate_signature,
                };
                self.qcs.insert(qc.block_hash, full);
            }
            Err(e) => error!(channel = %self.ch.name, error = %e, "aggregating a QC failed"),
        }
    }

    fn aggregate_tc(&mut self, tc: TcInfo, signers: &[(usize, Round)]) {
        let mut sigs = Vec::with_capacity(signers.len());
        for (i, hqc) in signers {
            match self.timeout_sigs.get(&(tc.round, *i)) {
                Some((r, s)) if r == hqc => sigs.push(s.clone()),
                _ => {
                    error!(channel = %self.ch.name, round = tc.round, voter = i, "missing a timeout signature for a TC");
                    return;
                }
            }
        }
        let high_qc = match self.qcs.get(&tc.high_qc.block_hash) {
            Some(q) => q.clone(),
            None if tc.high_qc.block_hash == self.genesis => QuorumCert {
                epoch: self.lft.epoch().epoch,
                round: 0,
                height: 0,
                block_hash: self.genesis,
                signer_bitmap: Vec::new(),
                aggregate_signature: lc_types::BlsSignature::ZERO,
            },
            None => {
                error!(channel = %self.ch.name, round = tc.round, "the TC's high QC is not here");
                return;
            }
        };
        match bls::aggregate_verified(&sigs) {
            Ok(aggregate_signature) => {
                let full = TimeoutCert {
                    epoch: self.lft.epoch().epoch,
                    round: tc.round,
                    signer_bitmap: bls::bitmap(self.es.keys.len(), signers.iter().map(|(i, _)| *i)),
                    hqc_rounds: signers.iter().map(|(_, r)| *r).collect(),
                    aggregate_signature,
                    high_qc,
                };
                self.ch.broadcast(ConsensusMsg::Tc(full.clone()));
                self.tcs.insert(tc.round, full);
            }
            Err(e) => error!(channel = %self.ch.name, error = %e, "aggregating a TC failed"),
        }
    }

    fn commit(&mut self, blocks: Vec<Hash>, evidence: QcInfo) -> Result<(), Error> {
        debug!(channel = %self.ch.name, event = "Commit", blocks = blocks.len(), height = evidence.height, round = evidence.round,
            qc_block = %evidence.block_hash, "commit rule fired");
        let top_height = blocks.last().and_then(|h| self.pending.get(h)).map(|p| p.block.header.height);
        let evidence_record = match (top_height, self.qcs.get(&evidence.block_hash)) {
            (Some(top), Some(qc)) => {
                let mut chain = Vec::new();
                let mut cursor = evidence.block_hash;
                while let Some(p) = self.pending.get(&cursor) {
                    if p.block.header.height <= top {
                        break;
                    }
                    chain.push(p.block.clone());
                    cursor = p.block.header.prev_hash;
                }
                chain.reverse();
                Some(CommitEvidence { blocks: chain, qc: qc.clone() })
            }
            _ => None,
        };
        self.last_evidence = evidence_record.clone();
        let last = blocks.len().saturating_sub(1);
        for (i, hash) in blocks.into_iter().enumerate() {
            let p = self.pending.remove(&hash).ok_or(Error::MissingBlock(hash))?;
            let height = p.block.header.height;
            let ntx = p.block.txs.len();
            let tx_hashes: Vec<Hash> = p.receipts.iter().map(|r| r.tx_hash).collect();
            let timestamp_us = p.block.header.timestamp_us;
            let mut meta = vec![(pending_key(&hash), None)];
            if i == last {
                let index: Vec<Hash> =
                    self.pending.iter().filter(|(_, b)| b.block.header.height > height).map(|(h, _)| *h).collect();
                meta.push((META_PENDING_INDEX.to_vec(), Some(encode(&index))));
                if let Some(ev) = &evidence_record {
                    meta.push((META_COMMIT_EVIDENCE.to_vec(), Some(encode(ev))));
                }
            }
            let timing = self.ch.metrics.commit_started(hash, &p.block, self.qcs.get(&hash));
            self.ch.store.commit_with(&BlockCommit { block: p.block, receipts: p.receipts, writes: p.writes }, meta)?;
            self.ch.metrics.commit_finished(timing);
            {
                let mut pool = self.ch.pool.lock();
                let mut in_flight = self.ch.in_flight.write();
                for h in &tx_hashes {
                    in_flight.remove(h);
                    pool.remove(h);
                }
            }
            let mut s = self.ch.status.write();
            s.height = height;
            s.tip_hash = hash;
            s.tip_timestamp_us = timestamp_us;
            s.total_tx += ntx as u64;
            drop(s);
            info!(channel = %self.ch.name, event = "AddBlock", height, round = self.qcs.get(&hash).map(|q| q.round), block = %hash,
                txs = ntx, "block committed");
            if ntx > 0 {
                debug!(channel = %self.ch.name, event = "TotalTx", height, txs = ntx, total_tx = self.ch.status.read().total_tx, "transactions committed");
            }
        }
        self.prune_abandoned()?;
        Ok(())
    }

    /// Blocks at or below the committed height that did not commit are abandoned: their
    /// transactions taken from this node's mempool go back into it.
    fn prune_abandoned(&mut self) -> Result<(), Error> {
        let height = self.ch.status.read().height;
        self.prune_where(|p| p.block.header.height <= height)
    }

    /// At an epoch's end every uncommitted block is abandoned.
    fn prune_abandoned_above(&mut self, last: Height) -> Result<(), Error> {
        self.prune_where(|p| p.block.header.height > last)?;
        self.ch.store.meta_put(META_PENDING_INDEX, Some(encode(&Vec::<Hash>::new())))?;
        Ok(())
    }

    fn prune_where(&mut self, gone: impl Fn(&PendingBlock) -> bool) -> Result<(), Error> {
        let gone: Vec<Hash> = self.pending.iter().filter(|(_, p)| gone(p)).map(|(h, _)| *h).collect();
        for h in gone {
            if let Some(p) = self.pending.remove(&h) {
                self.ch.store.meta_put(&pending_key(&h), None)?;
                if p.own_txs {
                    let mut pool = self.ch.pool.lock();
                    let mut in_flight = self.ch.in_flight.write();
                    for tx in p.block.txs {
                        let th = tx.hash();
                        in_flight.remove(&th);
                        if !self.ch.store.contains_tx(&th)? {
                            let len = tx.encoded_len();
                            pool.push(th, tx, len);
                        }
                    }
                }
            }
        }
        let committed = self.lft.committed();
        self.qcs.retain(|h, q| q.round >= committed.round || *h == committed.block_hash);
        for children in self.orphans.values_mut() {
            children.retain(|b| b.header.height > committed.height);
        }
        self.orphans.retain(|_, children| !children.is_empty());
        self.orphan_count = self.orphans.values().map(Vec::len).sum();
        Ok(())
    }
}

fn pending_key(hash: &Hash) -> Vec<u8> {
    let mut k = META_PENDING_PREFIX.to_vec();
    k.extend_from_slice(&hash.0);
    k
}

fn tc_info(tc: &TimeoutCert) -> TcInfo {
    let q = &tc.high_qc;
    TcInfo {
        round: tc.round,
        max_hqc_round: tc.hqc_rounds.iter().copied().max().unwrap_or(0),
        high_qc: QcInfo { round: q.round, height: q.height, block_hash: q.block_hash },
    }
}
