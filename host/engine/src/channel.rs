use crate::exec::{BlockContext, Executor, StateRead};
use crate::{now_us, AdmitError, Mempool};
use lc_crypto::Keypair;
use lc_lft::{BlockInfo, EpochInfo, Input, Lft, Output, Validator};
use lc_storage::{BlockCommit, ChannelStore, StoredTx};
use lc_types::{
    genesis_block, merkle_root, state_root, Block, BlockHeader, ChannelDefinition, Hash, Height, Payload, Receipt,
    Role, Round, Transaction, TxBody, WriteSet, BLOCK_VERSION,
};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;
use tracing::{debug, error, info, warn};

/// Channel runtime errors.
#[derive(Debug, Error)]
pub enum Error {
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] lc_storage::Error),
    /// The channel definition is invalid.
    #[error(transparent)]
    Definition(#[from] lc_types::Error),
    /// The stored chain was created from a different channel definition.
    #[error("the data directory holds channel {channel} with genesis {stored}, but the configured definition gives genesis {expected}; use another DEFAULT_STORAGE_PATH or the original definition")]
    GenesisMismatch {
        /// Channel.
        channel: String,
        /// Stored genesis hash.
        stored: Hash,
        /// Genesis hash of the configured definition.
        expected: Hash,
    },
    /// The validator set cannot form an epoch (no validator, zero weight, overflow).
    #[error("channel {0} has no valid validator set")]
    NoValidators(String),
    /// A parent block the driver needs is neither committed nor pending.
    #[error("block {0} is missing")]
    MissingBlock(Hash),
    /// Executing one transaction took longer than the deadline (`SCORE_INVOKE_TIMEOUT`): the
    /// channel halts; the node's other channels keep running.
    #[error("executing {what} exceeded the deadline of {timeout:?}; the channel is halted")]
    Deadline {
        /// The transaction and height.
        what: String,
        /// The deadline.
        timeout: Duration,
    },
    /// The driver thread panicked (a bug); the channel is halted.
    #[error("channel driver thread panicked")]
    DriverPanicked,
    /// The consensus core refused the node's own input (a bug or corrupted state).
    #[error("consensus refused a local input: {0}")]
    Consensus(#[from] lc_lft::Error),
}

/// Tunables of one channel (from the node configuration).
#[derive(Debug, Clone)]
pub struct ChannelParams {
    /// Pace of empty blocks (INTERVAL_BLOCKGENERATION).
    pub interval: Duration,
    /// Whether empty blocks are produced (ALLOW_MAKE_EMPTY_BLOCK).
    pub allow_empty_blocks: bool,
    /// Most transactions per block.
    pub max_tx_count: usize,
    /// Most transaction bytes per block (MAX_BLOCK_KBYTES × 1024).
    pub max_block_bytes: usize,
    /// Largest accepted encoded transaction (MAX_TX_BYTES).
    pub max_tx_bytes: usize,
    /// Mempool capacity (MEMPOOL_MAX_TXS).
    pub mempool_max: usize,
    /// Accepted clock difference of transaction timestamps, seconds (TIMESTAMP_BOUNDARY_SECOND).
    pub timestamp_boundary_s: u64,
    /// Admission limit, transactions per second and channel; 0 = off (TPS_LIMIT_PER_SEC).
    pub tps_limit_per_sec: u64,
    /// Longest a single transaction may execute (SCORE_INVOKE_TIMEOUT); past it the channel halts.
    pub invoke_timeout: Duration,
    /// Whether the node signs raw `{"data": ...}` submissions itself (ALLOW_UNSIGNED_DATA_TX).
    pub allow_unsigned_data: bool,
}

impl Default for ChannelParams {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            allow_empty_blocks: true,
            max_tx_count: 5000,
            max_block_bytes: 3000 * 1024,
            max_tx_bytes: 64 * 1024,
            mempool_max: 200_000,
            timestamp_boundary_s: 900,
            allow_unsigned_data: true,
            tps_limit_per_sec: 0,
            invoke_timeout: Duration::from_secs(10),
        }
    }
}

/// Where a transaction stands.
#[derive(Debug, Clone)]
pub enum TxStatus {
    /// In a committed block, with its receipt.
    Committed(Box<StoredTx>, Box<Receipt>),
    /// Admitted, not yet committed (mempool or an uncommitted block).
    Pending(Box<Transaction>),
    /// Not known to this node.
    Unknown,
}

/// A snapshot of the channel's progress.
#[derive(Debug, Clone, Default)]
pub struct ChannelStatus {
    /// Height of the last committed block.
    pub height: Height,
    /// Hash of the last committed block.
    pub tip_hash: Hash,
    /// Timestamp of the last committed block (µs).
    pub tip_timestamp_us: u64,
    /// Current consensus round.
    pub round: Round,
    /// Current epoch.
    pub epoch: u64,
    /// Blocks this node proposed since start.
    pub made_block_count: u64,
    /// Committed transactions.
    pub total_tx: u64,
    /// Transactions in the mempool.
    pub mempool: usize,
    /// Transactions in uncommitted blocks.
    pub in_flight: usize,
    /// Whether this node votes.
    pub validator: bool,
    /// Whether this node leads the current round.
    pub leader: bool,
    /// Set when the channel stopped because of an error.
    pub halted: Option<String>,
}

/// One channel: shared by the REST layer (admission, reads) and its driver thread.
pub struct Channel {
    name: String,
    params: ChannelParams,
    store: ChannelStore,
    key: Keypair,
    epoch: EpochInfo,
    me: Option<usize>,
    pool: Mutex<Mempool>,
    wake: Condvar,
    in_flight: RwLock<HashMap<Hash, Transaction>>,
    status: RwLock<ChannelStatus>,
    stop: AtomicBool,
    nonce: AtomicU64,
    /// `(second, admitted in that second)` for `tps_limit_per_sec`; guarded by the pool lock.
    rate: Mutex<(u64, u64)>,
    /// The execution in progress and its deadline, watched by the watchdog thread.
    watch: Mutex<Option<(Instant, String)>>,
    /// Set when the watchdog halted the channel while the driver is stuck in an execution.
    stuck: AtomicBool,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Channel {
    /// Opens a channel: writes its genesis block on first start, checks it on every later start.
    pub fn open(
        params: ChannelParams,
        store: ChannelStore,
        def: &ChannelDefinition,
        key: Keypair,
    ) -> Result<Arc<Self>, Error> {
        let genesis = genesis_block(def)?;
        let genesis_hash = genesis.hash();
        match store.block_hash_at(0)? {
            Some(stored) if stored != genesis_hash => {
                return Err(Error::GenesisMismatch { channel: def.name.clone(), stored, expected: genesis_hash })
            }
            Some(_) => {}
            None => {
                store.commit(&BlockCommit { block: genesis, receipts: vec![], writes: WriteSet::new() })?;
                info!(channel = %def.name, genesis = %genesis_hash, "wrote genesis block");
            }
        }
        let validators: Vec<Validator> = def
            .members
            .iter()
            .filter(|m| m.role == Role::Validator && m.weight > 0)
            .map(|m| Validator { id: m.identity_key, weight: m.weight })
            .collect();
        let epoch = EpochInfo::new(0, validators).ok_or_else(|| Error::NoValidators(def.name.clone()))?;
        let me = epoch.index_of(&key.public());
        let channel = Arc::new(Self {
            name: def.name.clone(),
            pool: Mutex::new(Mempool::new(params.mempool_max)),
            params,
            store,
            key,
            epoch,
            me,
            wake: Condvar::new(),
            in_flight: RwLock::new(HashMap::new()),
            status: RwLock::new(ChannelStatus { validator: me.is_some(), ..ChannelStatus::default() }),
            stop: AtomicBool::new(false),
            nonce: AtomicU64::new(now_us()),
            rate: Mutex::new((0, 0)),
            watch: Mutex::new(None),
            stuck: AtomicBool::new(false),
        });
        channel.refresh_tip_status()?;
        Ok(channel)
    }

    /// Channel name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Channel parameters.
    pub fn params(&self) -> &ChannelParams {
        &self.params
    }

    /// Committed data of the channel.
    pub fn store(&self) -> &ChannelStore {
        &self.store
    }

    /// This node's identity key.
    pub fn node_key(&self) -> lc_types::PublicKey {
        self.key.public()
    }

    /// A snapshot of the channel's progress.
    pub fn status(&self) -> ChannelStatus {
        let mut s = self.status.read().clone();
        s.mempool = self.pool.lock().len();
        s.in_flight = self.in_flight.read().len();
        s
    }

    fn refresh_tip_status(&self) -> Result<(), Error> {
        let tip = self.store.tip()?.ok_or(Error::MissingBlock(Hash::ZERO))?;
        let (header, _) = self.store.header(&tip.hash)?.ok_or(Error::MissingBlock(tip.hash))?;
        let total = self.store.total_txs()?;
        let mut s = self.status.write();
        s.height = tip.height;
        s.tip_hash = tip.hash;
        s.tip_timestamp_us = header.timestamp_us;
        s.total_tx = total;
        Ok(())
    }

    /// Wraps a raw JSON document in a `Data` transaction signed by this node (the seed's
    /// unsigned `POST /api/v1/transactions`).
    pub fn data_tx(&self, json: String) -> Result<Transaction, AdmitError> {
        if !self.params.allow_unsigned_data {
            return Err(AdmitError::UnsignedDisabled);
        }
        Ok(self.sign_own(Payload::Data { json }))
    }

    /// A transaction signed by this node's identity key (e.g. its own `Deploy` as channel admin).
    pub fn sign_own(&self, payload: Payload) -> Transaction {
        let body = TxBody {
            channel: self.name.clone(),
            from: self.key.public(),
            timestamp_us: now_us(),
            nonce: self.nonce.fetch_add(1, Ordering::Relaxed),
            payload,
        };
        self.key.sign_tx(body)
    }

    /// Admits transactions into the mempool. Signatures are verified in parallel batches; one
    /// result per transaction, in order. Refused transactions leave no trace.
    pub fn submit(&self, txs: Vec<Transaction>) -> Vec<Result<Hash, AdmitError>> {
        let now = now_us();
        let window_us = self.params.timestamp_boundary_s.saturating_mul(1_000_000);
        let mut results: Vec<Result<Hash, AdmitError>> = Vec::with_capacity(txs.len());
        let mut checked: Vec<(usize, Hash, usize)> = Vec::with_capacity(txs.len());
        for (i, tx) in txs.iter().enumerate() {
            let size = tx.encoded_len();
            let r = if tx.body.channel != self.name {
                Err(AdmitError::WrongChannel { got: tx.body.channel.clone(), expected: self.name.clone() })
            } else if size > self.params.max_tx_bytes {
                Err(AdmitError::TooLarge { size, limit: self.params.max_tx_bytes })
            } else if tx.body.timestamp_us.abs_diff(now) > window_us {
                Err(AdmitError::OutOfTimeBound {
                    timestamp_us: tx.body.timestamp_us,
                    now_us: now,
                    boundary_s: self.params.timestamp_boundary_s,
                })
            } else {
                let h = tx.hash();
                checked.push((i, h, size));
                Ok(h)
            };
            results.push(r);
        }
        let items: Vec<(&Transaction, Hash)> = checked.iter().map(|(i, h, _)| (&txs[*i], *h)).collect();
        let sig_results = lc_crypto::verify_txs(&items);
        drop(items);

        let mut admitted = 0usize;
        {
            let mut pool = self.pool.lock();
            let mut rate = self.rate.lock();
            let second = now / 1_000_000;
            if rate.0 != second {
                *rate = (second, 0);
            }
            let in_flight = self.in_flight.read();
            let mut txs: Vec<Option<Transaction>> = txs.into_iter().map(Some).collect();
            for ((i, h, size), sig) in checked.into_iter().zip(sig_results) {
                let verdict = if sig.is_err() {
                    Err(AdmitError::BadSignature)
                } else if pool.contains(&h) || in_flight.contains_key(&h) {
                    Err(AdmitError::Duplicate)
                } else {
                    match self.store.contains_tx(&h) {
                        Err(e) => Err(AdmitError::Storage(e.to_string())),
                        Ok(true) => Err(AdmitError::Duplicate),
                        Ok(false) if pool.is_full() => Err(AdmitError::MempoolFull(pool.len())),
                        Ok(false) if self.params.tps_limit_per_sec > 0 && rate.1 >= self.params.tps_limit_per_sec => {
                            Err(AdmitError::OutOfTpsLimit(self.params.tps_limit_per_sec))
                        }
                        Ok(false) => {
                            if let Some(tx) = txs[i].take() {
                                pool.push(h, tx, size);
                                admitted += 1;
                                rate.1 += 1;
                            }
                            Ok(h)
                        }
                    }
                };
                results[i] = verdict;
            }
        }
        if admitted > 0 {
            self.wake.notify_all();
        }
        results
    }

    /// Where a transaction stands.
    pub fn tx_status(&self, hash: &Hash) -> Result<TxStatus, Error> {
        // Order matters: the driver writes the store before clearing the in-flight entry.
        if let Some(tx) = self.pool.lock().get(hash) {
            return Ok(TxStatus::Pending(Box::new(tx.clone())));
        }
        if let Some(tx) = self.in_flight.read().get(hash) {
            return Ok(TxStatus::Pending(Box::new(tx.clone())));
        }
        match (self.store.tx(hash)?, self.store.receipt(hash)?) {
            (Some(tx), Some(r)) => Ok(TxStatus::Committed(Box::new(tx), Box::new(r))),
            _ => Ok(TxStatus::Unknown),
        }
    }

    /// Starts the driver thread with the channel's executor.
    pub fn spawn(self: &Arc<Self>, executor: Box<dyn Executor>) -> std::io::Result<DriverHandle> {
        let channel = Arc::clone(self);
        let thread = std::thread::Builder::new().name(format!("channel-{}", self.name)).spawn(move || {
            let mut driver = match Driver::new(&channel, executor) {
                Ok(d) => d,
                Err(e) => {
                    channel.halt(&e);
                    return Err(e);
                }
            };
            let r = driver.run();
            if let Err(e) = &r {
                channel.halt(e);
            }
            r
        })?;
        let channel = Arc::clone(self);
        std::thread::Builder::new().name(format!("watchdog-{}", self.name)).spawn(move || channel.watchdog())?;
        Ok(DriverHandle { thread: Some(thread), channel: Arc::clone(self) })
    }

    /// Halts the channel when one execution overruns its deadline. The driver thread stays inside
    /// the execution; nothing of the block is committed.
    fn watchdog(&self) {
        let tick = (self.params.invoke_timeout / 4).clamp(Duration::from_millis(10), Duration::from_millis(200));
        while !self.stop.load(Ordering::SeqCst) && self.status.read().halted.is_none() {
            std::thread::sleep(tick);
            let overrun = match &*self.watch.lock() {
                Some((deadline, what)) if Instant::now() > *deadline => Some(what.clone()),
                _ => None,
            };
            if let Some(what) = overrun {
                self.stuck.store(true, Ordering::SeqCst);
                self.halt(&Error::Deadline { what, timeout: self.params.invoke_timeout });
                return;
            }
        }
    }

    fn halt(&self, e: &Error) {
        error!(channel = %self.name, error = %e, "channel halted");
        self.status.write().halted = Some(e.to_string());
    }
}

/// Owner of a running driver thread.
#[derive(Debug)]
pub struct DriverHandle {
    thread: Option<JoinHandle<Result<(), Error>>>,
    channel: Arc<Channel>,
}

impl DriverHandle {
    /// Asks the driver to stop after the step in flight (a block is either fully committed or
    /// abandoned) and waits for it.
    pub fn stop(mut self) -> Result<(), Error> {
        self.channel.stop.store(true, Ordering::SeqCst);
        {
            let _pool = self.channel.pool.lock();
            self.channel.wake.notify_all();
        }
        if self.channel.stuck.load(Ordering::SeqCst) {
            // The driver is inside an execution that never returned: leave it; the process exit
            // ends it.
            let what = self.channel.status.read().halted.clone().unwrap_or_default();
            return Err(Error::Deadline { what, timeout: self.channel.params.invoke_timeout });
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::DriverPanicked),
            None => Ok(()),
        }
    }
}

struct PendingBlock {
    block: Block,
    receipts: Vec<Receipt>,
    writes: WriteSet,
}

#[derive(Clone, Copy)]
struct ProposeReq {
    round: Round,
    height: Height,
    parent: Hash,
    parent_round: Round,
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

struct Driver<'a> {
    ch: &'a Channel,
    lft: Lft,
    executor: Box<dyn Executor>,
    pending: BTreeMap<Hash, PendingBlock>,
    want: Option<ProposeReq>,
    last_block_at: Instant,
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

impl<'a> Driver<'a> {
    fn new(ch: &'a Channel, executor: Box<dyn Executor>) -> Result<Self, Error> {
        let tip = ch.store.tip()?.ok_or(Error::MissingBlock(Hash::ZERO))?;
        let (header, _) = ch.store.header(&tip.hash)?.ok_or(Error::MissingBlock(tip.hash))?;
        let lft = Lft::new(ch.epoch.clone(), ch.me, tip.hash, tip.height, header.round);
        Ok(Self { ch, lft, executor, pending: BTreeMap::new(), want: None, last_block_at: Instant::now() })
    }

    fn run(&mut self) -> Result<(), Error> {
        let start = self.lft.start();
        self.process(start)?;
        info!(channel = %self.ch.name, height = self.ch.status.read().height, validator = self.ch.me.is_some(), "channel started");
        while !self.ch.stop.load(Ordering::SeqCst) {
            let Some(req) = self.want else {
                // Not the leader: nothing to drive until the network brings proposals and votes.
                let mut pool = self.ch.pool.lock();
                if !self.ch.stop.load(Ordering::SeqCst) {
                    self.ch.wake.wait_for(&mut pool, Duration::from_millis(500));
                }
                continue;
            };
            if self.ready_to_propose(&req) {
                self.want = None;
                let outputs = self.propose(req)?;
                self.process(outputs)?;
            }
        }
        info!(channel = %self.ch.name, "channel driver stopped");
        Ok(())
    }

    /// Pacing: propose now when there is something to commit; otherwise wait for transactions or
    /// the empty-block interval.
    fn ready_to_propose(&self, req: &ProposeReq) -> bool {
        let parent_has_txs = self.pending.get(&req.parent).is_some_and(|p| !p.block.txs.is_empty());
        let mut pool = self.ch.pool.lock();
        if !pool.is_empty() || parent_has_txs {
            return true;
        }
        let due = self.last_block_at + self.ch.params.interval;
        let now = Instant::now();
        if self.ch.params.allow_empty_blocks && now >= due {
            return true;
        }
        let wait = if self.ch.params.allow_empty_blocks { due - now } else { Duration::from_millis(500) };
        if !self.ch.stop.load(Ordering::SeqCst) {
            self.ch.wake.wait_for(&mut pool, wait);
        }
        false
    }

    fn parent_header(&self, hash: &Hash) -> Result<BlockHeader, Error> {
        if let Some(p) = self.pending.get(hash) {
            return Ok(p.block.header.clone());
        }
        Ok(self.ch.store.header(hash)?.ok_or(Error::MissingBlock(*hash))?.0)
    }

    fn propose(&mut self, req: ProposeReq) -> Result<Vec<Output>, Error> {
        let ch = self.ch;
        let parent = self.parent_header(&req.parent)?;
        let timestamp_us = now_us().max(parent.timestamp_us + 1);
        let candidates = {
            let mut pool = ch.pool.lock();
            let taken = pool.take(ch.params.max_tx_count, ch.params.max_block_bytes);
            let mut in_flight = ch.in_flight.write();
            for (h, tx) in &taken {
                in_flight.insert(*h, tx.clone());
            }
            taken
        };
        let ctx =
            BlockContext { channel: ch.name.clone(), height: req.height, timestamp_us, proposer: ch.key.public() };
        let window_us = ch.params.timestamp_boundary_s.saturating_mul(1_000_000);
        let mut txs = Vec::with_capacity(candidates.len());
        let mut receipts = Vec::with_capacity(candidates.len());
        let mut writes = WriteSet::new();
        let mut dropped = Vec::new();
        {
            let layers = ancestor_layers(&self.pending, &req.parent);
            for (hash, tx) in candidates {
                // Re-checked against the block timestamp: deterministic on every node.
                if tx.body.timestamp_us.abs_diff(timestamp_us) > window_us {
                    dropped.push(hash);
                    continue;
                }
                let outcome = {
                    let view = Overlay { store: &ch.store, layers: layers.clone(), current: &writes };
                    let what = format!("transaction {hash} at height {}", req.height);
                    *ch.watch.lock() = Some((Instant::now() + ch.params.invoke_timeout, what));
                    let outcome = self.executor.execute(&view, &ctx, &tx, hash);
                    *ch.watch.lock() = None;
                    outcome
                };
                if ch.stuck.load(Ordering::SeqCst) {
                    // The watchdog gave up on this execution; nothing of the block is kept.
                    return Err(Error::Deadline {
                        what: format!("transaction {hash}"),
                        timeout: ch.params.invoke_timeout,
                    });
                }
                if outcome.receipt.status == lc_types::ReceiptStatus::Success {
                    writes.extend(outcome.writes);
                }
                receipts.push(outcome.receipt);
                txs.push(tx);
            }
        }
        if !dropped.is_empty() {
            warn!(channel = %ch.name, count = dropped.len(), "dropped transactions whose timestamp left the window");
            let mut in_flight = ch.in_flight.write();
            for h in &dropped {
                in_flight.remove(h);
            }
        }
        let tx_hashes: Vec<Hash> = receipts.iter().map(|r| r.tx_hash).collect();
        let header = BlockHeader {
            version: BLOCK_VERSION,
            channel: ch.name.clone(),
            height: req.height,
            round: req.round,
            epoch: self.lft.epoch().epoch,
            prev_hash: req.parent,
            tx_root: merkle_root(&tx_hashes),
            state_root: state_root(&parent.state_root, &writes),
            receipts_root: Block::compute_receipts_root(&receipts),
            qc: None,
            tc: None,
            timestamp_us,
            proposer: ch.key.public(),
        };
        let block = ch.key.sign_block(header, txs);
        let hash = block.hash();
        let me = ch.me.ok_or(Error::NoValidators(ch.name.clone()))?;
        debug!(channel = %ch.name, height = req.height, round = req.round, txs = block.txs.len(), block = %hash, "proposing");
        self.pending.insert(hash, PendingBlock { block, receipts, writes });
        self.last_block_at = Instant::now();
        ch.status.write().made_block_count += 1;
        let info = BlockInfo {
            hash,
            height: req.height,
            round: req.round,
            parent: req.parent,
            qc_round: req.parent_round,
            proposer: me,
        };
        Ok(self.lft.handle(Input::Proposal(info))?)
    }

    fn process(&mut self, outputs: Vec<Output>) -> Result<(), Error> {
        let mut queue: VecDeque<Output> = outputs.into();
        while let Some(out) = queue.pop_front() {
            match out {
                Output::EnterRound { round } => {
                    let mut s = self.ch.status.write();
                    s.round = round;
                    s.leader = self.ch.me == Some(self.lft.epoch().proposer(round));
                }
                Output::Propose { round, height, parent, parent_round } => {
                    self.want = Some(ProposeReq { round, height, parent, parent_round });
                }
                Output::CastVote { round, block_hash, .. } => {
                    // The vote is delivered to ourselves; peers receive it once the network exists.
                    if let Some(me) = self.ch.me {
                        queue.extend(self.lft.handle(Input::Vote { voter: me, round, block_hash })?);
                    }
                }
                Output::Certified { height, block_hash, .. } => {
                    debug!(channel = %self.ch.name, height, block = %block_hash, "candidate");
                }
                Output::Commit { blocks } => {
                    for hash in blocks {
                        self.commit(hash)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn commit(&mut self, hash: Hash) -> Result<(), Error> {
        let p = self.pending.remove(&hash).ok_or(Error::MissingBlock(hash))?;
        let height = p.block.header.height;
        let ntx = p.block.txs.len();
        let tx_hashes: Vec<Hash> = p.receipts.iter().map(|r| r.tx_hash).collect();
        let timestamp_us = p.block.header.timestamp_us;
        self.ch.store.commit(&BlockCommit { block: p.block, receipts: p.receipts, writes: p.writes })?;
        {
            let mut in_flight = self.ch.in_flight.write();
            for h in &tx_hashes {
                in_flight.remove(h);
            }
        }
        let mut s = self.ch.status.write();
        s.height = height;
        s.tip_hash = hash;
        s.tip_timestamp_us = timestamp_us;
        s.total_tx += ntx as u64;
        if ntx > 0 {
            debug!(channel = %self.ch.name, height, txs = ntx, "committed");
        }
        Ok(())
    }
}
