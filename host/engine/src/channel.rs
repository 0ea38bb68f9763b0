use crate::driver::Driver;
use crate::epoch::{EpochConfig, EpochRecord, EpochState, SchemeSource, META_EPOCH_CURRENT};
use crate::exec::Executor;
use crate::{now_us, AdmitError, Mempool};
use lc_crypto::bls::BlsKeypair;
use lc_crypto::Keypair;
use lc_storage::{BlockCommit, ChannelStore, StoredTx};
use lc_types::{
    decode, genesis_block, ChannelDefinition, ConsensusMsg, Hash, Height, Payload, Receipt, Round, Transaction, TxBody,
    WriteSet,
};
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;
use tracing::{error, info};

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
    /// The safety guard could not load or persist its state.
    #[error("safety guard: {0}")]
    Safety(#[from] lc_safety::SafetyError),
    /// The consensus plugin could not build an epoch.
    #[error("channel {channel}, epoch {epoch}: consensus scheme: {reason}")]
    Scheme {
        /// Channel.
        channel: String,
        /// Epoch.
        epoch: u64,
        /// What went wrong.
        reason: String,
    },
    /// A validator's BLS key is missing or invalid, or this node's key does not match its entry.
    #[error("channel {channel}: {reason}")]
    BadKeys {
        /// Channel.
        channel: String,
        /// What is wrong.
        reason: String,
    },
    /// A block asked for is not committed on this node.
    #[error("block {height} is not committed (committed height {committed})")]
    NotCommitted {
        /// Height asked for.
        height: u64,
        /// This node's committed height.
        committed: u64,
    },
    /// A finality proof cannot be built from the stored chain.
    #[error("cannot build the finality proof of {0}")]
    Proof(String),
    /// A block fetched by sync does not reproduce this node's roots: the channel halts rather
    /// than apply it.
    #[error("synced block {height} ({hash}) gives a different state or receipts root here; the channel is halted")]
    Diverged {
        /// Height.
        height: u64,
        /// Block hash.
        hash: Hash,
    },
}

/// Sends this node's consensus messages of one channel to the other members (the in-process hub
/// until the network exists; gRPC afterwards). Must not block: queue and return.
pub trait Transport: Send + Sync {
    /// Sends to every other member of the channel.
    fn broadcast(&self, msg: ConsensusMsg);
}

/// Relays transactions this node admitted (from clients) to the other members, so whichever
/// validator leads next holds them. Must not block: implementations queue and drop when full.
pub trait TxRelay: Send + Sync {
    /// Called with the transactions just admitted from a client.
    fn relay(&self, txs: &[Transaction]);
}

/// Most consensus messages waiting in a channel's inbox; beyond it new messages are dropped (and
/// counted): timeouts repeat, and certificates travel again inside later messages.
pub const INBOX_CAPACITY: usize = 8192;

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
    /// Base propose timeout (doubling after each consecutive failed round, up to 32×); the
    /// empty-block interval is added, since a leader with nothing to do waits that long.
    pub propose_timeout: Duration,
    /// Base vote timeout (LAZY vote after a split vote).
    pub vote_timeout: Duration,
    /// How far a proposal's timestamp may be ahead of this node's clock.
    pub max_clock_drift: Duration,
    /// Where to record every consensus input and decision (JSON lines; `loopchain replay`).
    pub consensus_log: Option<std::path::PathBuf>,
    /// Client transaction allow-list (the original's per-transaction PKI, as addresses): when
    /// set, only these signers (and this node's own key) may submit transactions. An admission
    /// policy of this node; blocks are not re-checked against it.
    pub tx_allowed_signers: Option<std::collections::BTreeSet<lc_types::Address>>,
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
            propose_timeout: Duration::from_millis(1000),
            vote_timeout: Duration::from_millis(1000),
            max_clock_drift: Duration::from_secs(5),
            consensus_log: None,
            tx_allowed_signers: None,
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
    pub(crate) name: String,
    pub(crate) params: ChannelParams,
    pub(crate) store: ChannelStore,
    pub(crate) key: Keypair,
    state: RwLock<Arc<EpochState>>,
    pub(crate) source: Arc<dyn SchemeSource>,
    bls: Mutex<Option<BlsKeypair>>,
    pub(crate) pool: Mutex<Mempool>,
    pub(crate) wake: Condvar,
    inbox: Mutex<VecDeque<ConsensusMsg>>,
    inbox_dropped: AtomicU64,
    /// A batch of synced blocks waiting for the driver.
    pub(crate) sync_slot: Mutex<Option<crate::sync::SyncBatch>>,
    /// Where admitted transactions are relayed to the other members.
    relay: RwLock<Option<Arc<dyn TxRelay>>>,
    /// The node's refusal counters (client submissions are counted here by reason).
    refusals: RwLock<Option<Arc<crate::Refusals>>>,
    transport: RwLock<Option<Arc<dyn Transport>>>,
    pub(crate) in_flight: RwLock<HashMap<Hash, Transaction>>,
    pub(crate) status: RwLock<ChannelStatus>,
    pub(crate) stop: AtomicBool,
    nonce: AtomicU64,
    /// `(second, admitted in that second)` for `tps_limit_per_sec`; guarded by the pool lock.
    rate: Mutex<(u64, u64)>,
    /// The execution in progress and its deadline, watched by the watchdog thread.
    pub(crate) watch: Mutex<Option<(Instant, String)>>,
    /// Set when the watchdog halted the channel while the driver is stuck in an execution.
    pub(crate) stuck: AtomicBool,
    /// Metric state, read by `/metrics` and the dashboard.
    pub metrics: crate::metrics::ChannelMetrics,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Channel {
    /// Opens a channel: writes its genesis block on first start, checks it on every later start.
    /// `bls` is this node's consensus key (it must match its member entry when it is a validator);
    /// the driver's safety guard becomes its only holder. `source` builds each epoch's validator
    /// set and proposer order (the channel's consensus plugin).
    pub fn open(
        params: ChannelParams,
        store: ChannelStore,
        def: &ChannelDefinition,
        key: Keypair,
        bls: Option<BlsKeypair>,
        source: Arc<dyn SchemeSource>,
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
        let record = match store.meta_get(META_EPOCH_CURRENT)? {
            Some(b) => decode::<EpochRecord>(&b)?,
            None => {
                EpochRecord { config: EpochConfig::genesis(def), root_qc: None, last_height: None, end_evidence: None }
            }
        };
        let state = EpochState::build(&def.name, record.config, record.root_qc, source.as_ref(), &key.public())?;
        if let (Some(i), Some(k)) = (state.me, &bls) {
            if state.voting[i].bls_key != Some(k.public()) {
                return Err(Error::BadKeys {
                    channel: def.name.clone(),
                    reason: "this node's BLS key differs from its member entry".into(),
                });
            }
        }
        if state.me.is_some() && bls.is_none() {
            return Err(Error::BadKeys {
                channel: def.name.clone(),
                reason: "this node is a validator but has no BLS key".into(),
            });
        }
        let me = state.me;
        let epoch_number = state.config.number;
        let channel = Arc::new(Self {
            name: def.name.clone(),
            pool: Mutex::new(Mempool::new(params.mempool_max)),
            params,
            store,
            key,
            state: RwLock::new(Arc::new(state)),
            source,
            bls: Mutex::new(bls),
            wake: Condvar::new(),
            inbox: Mutex::new(VecDeque::new()),
            inbox_dropped: AtomicU64::new(0),
            sync_slot: Mutex::new(None),
            relay: RwLock::new(None),
            refusals: RwLock::new(None),
            transport: RwLock::new(None),
            in_flight: RwLock::new(HashMap::new()),
            status: RwLock::new(ChannelStatus {
                validator: me.is_some(),
                epoch: epoch_number,
                ..ChannelStatus::default()
            }),
            stop: AtomicBool::new(false),
            nonce: AtomicU64::new(now_us()),
            rate: Mutex::new((0, 0)),
            watch: Mutex::new(None),
            stuck: AtomicBool::new(false),
            metrics: crate::metrics::ChannelMetrics::default(),
        });
        channel.refresh_tip_status()?;
        Ok(channel)
    }

    /// Counts refused client submissions in `refusals` (by [`AdmitError::reason`]).
    pub fn set_refusals(&self, refusals: Arc<crate::Refusals>) {
        *self.refusals.write() = Some(refusals);
    }

    /// The node's refusal counters, when set.
    pub fn refusals(&self) -> Option<Arc<crate::Refusals>> {
        self.refusals.read().clone()
    }

    /// Sets where client transactions are relayed (see [`TxRelay`]).
    pub fn set_relay(&self, relay: Arc<dyn TxRelay>) {
        *self.relay.write() = Some(relay);
    }

    /// Connects the channel to the other members (before [`Channel::spawn`]).
    pub fn set_transport(&self, transport: Arc<dyn Transport>) {
        *self.transport.write() = Some(transport);
    }

    /// Queues a consensus message from another member for the driver (bounded: see
    /// [`INBOX_CAPACITY`]). Returns `false` when it was dropped.
    pub fn deliver(&self, msg: ConsensusMsg) -> bool {
        {
            let mut inbox = self.inbox.lock();
            if inbox.len() >= INBOX_CAPACITY {
                self.inbox_dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            inbox.push_back(msg);
        }
        let _pool = self.pool.lock();
        self.wake.notify_all();
        true
    }

    /// Consensus messages dropped because the inbox was full.
    pub fn inbox_dropped(&self) -> u64 {
        self.inbox_dropped.load(Ordering::Relaxed)
    }

    pub(crate) fn broadcast(&self, msg: ConsensusMsg) {
        if let Some(t) = self.transport.read().as_ref() {
            t.broadcast(msg);
        }
    }

    pub(crate) fn drain_inbox(&self, max: usize) -> Vec<ConsensusMsg> {
        let mut inbox = self.inbox.lock();
        let n = inbox.len().min(max);
        inbox.drain(..n).collect()
    }

    /// Sleeps until `until`, a new transaction, a consensus message or stop.
    pub(crate) fn wait_for_work(&self, until: Instant) {
        let mut pool = self.pool.lock();
        if self.stop.load(Ordering::SeqCst) || !self.inbox.lock().is_empty() || self.sync_slot.lock().is_some() {
            return;
        }
        let now = Instant::now();
        if until > now {
            self.wake.wait_for(&mut pool, until - now);
        }
    }

    pub(crate) fn take_bls_key(&self) -> Option<BlsKeypair> {
        self.bls.lock().take()
    }

    /// The current epoch: validators, weights, keys, this node's index.
    pub fn epoch_state(&self) -> Arc<EpochState> {
        Arc::clone(&self.state.read())
    }

    /// A finished epoch, rebuilt from its record (`None` if unknown).
    pub fn past_epoch(&self, number: u64) -> Result<Option<Arc<EpochState>>, Error> {
        let Some(bytes) = self.store.meta_get(&crate::epoch::meta_epoch_key(number))? else { return Ok(None) };
        let record: EpochRecord = decode(&bytes)?;
        let state =
            EpochState::build(&self.name, record.config, record.root_qc, self.source.as_ref(), &self.key.public())?;
        Ok(Some(Arc::new(state)))
    }

    /// The finished epoch that contains `height`: its last height and the evidence that committed
    /// it (`None` when `height` is in the current epoch).
    pub fn epoch_ending_at_or_after(
        &self,
        height: Height,
    ) -> Result<Option<(Height, Option<crate::CommitEvidence>)>, Error> {
        let current = self.epoch_state().config.number;
        for n in 0..current {
            let Some(bytes) = self.store.meta_get(&crate::epoch::meta_epoch_key(n))? else { continue };
            let record: EpochRecord = decode(&bytes)?;
            if let Some(last) = record.last_height {
                if record.config.start_height <= height && height <= last {
                    return Ok(Some((last, record.end_evidence)));
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn set_epoch_state(&self, state: Arc<EpochState>) {
        let mut s = self.status.write();
        s.epoch = state.config.number;
        s.validator = state.me.is_some();
        drop(s);
        *self.state.write() = state;
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
            if let Some(r) = self.refusals.read().as_ref() {
                r.count(crate::Reason::TxUnsigned);
            }
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

    /// Admits transactions from a client into the mempool and relays the admitted ones to the
    /// other members. Signatures are verified in parallel batches; one result per transaction, in
    /// order. Refused transactions leave no trace.
    pub fn submit(&self, txs: Vec<Transaction>) -> Vec<Result<Hash, AdmitError>> {
        tracing::debug!(channel = %self.name, event = "CreateTx", txs = txs.len(), "client transactions received");
        let results = self.submit_uncounted(txs);
        if let Some(r) = self.refusals.read().as_ref() {
            for e in results.iter().filter_map(|r| r.as_ref().err()) {
                r.count(e.reason());
            }
        }
        results
    }

    fn submit_uncounted(&self, txs: Vec<Transaction>) -> Vec<Result<Hash, AdmitError>> {
        let relay = self.relay.read().clone();
        match relay {
            None => self.admit(txs, None),
            Some(r) => {
                let mut admitted = Vec::new();
                let results = self.admit(txs, Some(&mut admitted));
                if !admitted.is_empty() {
                    r.relay(&admitted);
                }
                results
            }
        }
    }

    /// `Some(address)` when the allow-list is on and `from` is neither on it nor this node.
    fn signer_denied(&self, from: &lc_types::PublicKey) -> Option<String> {
        let allowed = self.params.tx_allowed_signers.as_ref()?;
        let a = lc_types::Address::of(from);
        (!allowed.contains(&a) && *from != self.key.public()).then(|| a.to_string())
    }

    /// Admits transactions relayed by another member (not relayed again).
    pub fn submit_relayed(&self, txs: Vec<Transaction>) -> Vec<Result<Hash, AdmitError>> {
        self.admit(txs, None)
    }

    fn admit(&self, txs: Vec<Transaction>, mut copies: Option<&mut Vec<Transaction>>) -> Vec<Result<Hash, AdmitError>> {
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
            } else if let Some(denied) = self.signer_denied(&tx.body.from) {
                Err(AdmitError::NotAllowed(denied))
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
        // Already known (mempool or in flight): a duplicate, refused below without spending a
        // signature check (relayed copies of transactions a block already carried are common).
        let known: Vec<bool> = {
            let pool = self.pool.lock();
            let in_flight = self.in_flight.read();
            checked.iter().map(|(_, h, _)| pool.contains(h) || in_flight.contains_key(h)).collect()
        };
        let items: Vec<(&Transaction, Hash)> =
            checked.iter().zip(&known).filter(|(_, k)| !**k).map(|((i, h, _), _)| (&txs[*i], *h)).collect();
        let verified = lc_crypto::verify_txs(&items);
        drop(items);
        let mut verified = verified.into_iter();
        // `None`: not verified yet (it was known a moment ago; checked below if no longer so).
        let sig_results: Vec<Option<Result<(), lc_crypto::Error>>> =
            known.iter().map(|k| if *k { None } else { verified.next() }).collect();

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
                let sig = match (sig, &txs[i]) {
                    (Some(r), _) => r,
                    (None, _) if pool.contains(&h) || in_flight.contains_key(&h) => Ok(()),
                    (None, Some(tx)) => lc_crypto::verify_tx(tx, &h),
                    (None, None) => Ok(()),
                };
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
                                if let Some(c) = copies.as_deref_mut() {
                                    c.push(tx.clone());
                                }
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
            tracing::debug!(channel = %self.name, event = "AddTx", added = admitted, offered = results.len(), "transactions added to the mempool");
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
            let peer = lc_types::Address::of(&channel.key.public()).to_string();
            let _span = tracing::info_span!("driver", peer = %peer.get(..10).unwrap_or(&peer)).entered();
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
