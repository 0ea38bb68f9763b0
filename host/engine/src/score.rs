//! The SCORE runtime: executes `Call`, `Data` and `Deploy` transactions through staged SCORE
//! libraries, and answers queries over committed state.
//!
//! Which code runs is **state**: `sys/score/<name>` holds the active code hash and version, written
//! by a successful `Deploy`, so every node switches at the same height. SCORE state lives under
//! `score/<name>/...`.
use crate::exec::{BlockContext, Executor, StateRead, TxOutcome};
use borsh::{BorshDeserialize, BorshSerialize};
use lc_plugin_host::{CallContext, CallEnv, CallResult, ScoreLibrary, ScoreRegistry};
use lc_storage::ChannelStore;
use lc_types::{decode, encode, Address, Hash, Payload, PublicKey, Receipt, ReceiptStatus, Transaction, WriteSet};
use std::sync::Arc;
use thiserror::Error;

/// Receipt code: the SCORE returned an error or panicked (the original's SCORE exception).
pub const SCORE_ERROR: u32 = 9000;
/// Receipt code: no SCORE (or not its code) is available to run this transaction.
pub const SCORE_UNAVAILABLE: u32 = 9100;
/// Receipt code: the transaction needs a channel admin's signature.
pub const NOT_ADMIN: u32 = 9101;
/// Receipt code: the deployed library is not the SCORE the transaction names.
pub const WRONG_SCORE: u32 = 9102;
/// Receipt code: the payload kind is not supported on this channel yet.
pub const NOT_SUPPORTED: u32 = 9103;
/// Receipt code: a `ChannelConfig` document is invalid, or an epoch change is already pending.
pub const BAD_CHANNEL_CONFIG: u32 = 9104;

/// The active version of a SCORE on a channel (stored at `sys/score/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ActiveScore {
    /// Code hash of the running library.
    pub code_hash: Hash,
    /// Its metadata version string.
    pub version: String,
    /// Height of the block whose `Deploy` activated it.
    pub since_height: u64,
}

fn sys_key(score: &str) -> Vec<u8> {
    format!("sys/score/{score}").into_bytes()
}

/// Why a query failed.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The SCORE is not deployed on the channel.
    #[error("SCORE {0:?} is not deployed on this channel")]
    NotDeployed(String),
    /// Its active code is not staged on this node.
    #[error("code {1} of SCORE {0:?} is not staged on this node")]
    NotStaged(String, Hash),
    /// The SCORE answered with an error.
    #[error("{0}")]
    Score(String),
    /// The query tried to write state.
    #[error("query {0:?} tried to write state")]
    Wrote(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(String),
}

/// Shared SCORE runtime of one channel (cheap to clone).
#[derive(Debug, Clone)]
pub struct ScoreRuntime {
    registry: Arc<ScoreRegistry>,
    channel_score: String,
    admins: Arc<Vec<PublicKey>>,
    last_load_error: Arc<parking_lot::Mutex<Option<String>>>,
    fetcher: Arc<parking_lot::RwLock<Option<Arc<dyn LibraryFetcher>>>>,
    /// SCORE call counters (see [`crate::metrics::ScoreStats`]).
    pub(crate) score_stats: Arc<crate::metrics::ScoreStats>,
}

/// Fetches SCORE code this node lacks from the channel's other members, by code hash (the
/// network layer; blocking, bounded in time). The runtime checks the hash and stages the code.
pub trait LibraryFetcher: Send + Sync + std::fmt::Debug {
    /// The library file whose SHA3-256 is `code_hash`, if a member has it.
    fn fetch(&self, code_hash: &Hash) -> Option<Vec<u8>>;
}

impl ScoreRuntime {
    /// A runtime for a channel whose `Data` transactions go to `channel_score` (empty: none).
    pub fn new(registry: Arc<ScoreRegistry>, channel_score: &str, admins: Vec<PublicKey>) -> Self {
        Self {
            registry,
            channel_score: channel_score.to_owned(),
            admins: Arc::new(admins),
            last_load_error: Arc::default(),
            fetcher: Arc::default(),
            score_stats: Arc::default(),
        }
    }

    /// Sets where missing code is fetched from (see [`LibraryFetcher`]).
    pub fn set_fetcher(&self, fetcher: Arc<dyn LibraryFetcher>) {
        *self.fetcher.write() = Some(fetcher);
    }

    /// Whether missing code can come from other members (a networked channel): then a miss is a
    /// local condition, not a deterministic outcome.
    fn networked(&self) -> bool {
        self.fetcher.read().is_some()
    }

    /// The staged library with `code_hash`, fetched from a member and staged when missing here.
    fn staged_or_fetched(&self, code_hash: &Hash) -> Option<Arc<lc_plugin_host::ScoreLibrary>> {
        if let Some(lib) = self.registry.get(code_hash) {
            return Some(lib);
        }
        let fetcher = self.fetcher.read().clone()?;
        let bytes = fetcher.fetch(code_hash)?;
        if lc_types::sha3(&bytes) != *code_hash {
            tracing::warn!(%code_hash, "fetched SCORE code does not match its hash; ignored");
            return None;
        }
        match self.registry.stage_bytes(std::path::Path::new("fetched-from-peer"), &bytes) {
            Ok(lib) => {
                tracing::info!(%code_hash, score = %lib.name, version = %lib.version, "fetched SCORE code from a peer");
                Some(lib)
            }
            Err(e) => {
                tracing::warn!(%code_hash, error = %e, "fetched SCORE code does not load");
                None
            }
        }
    }

    /// Records the outcome of the latest attempt to stage a build (`None` = it loaded).
    pub fn set_last_load_error(&self, error: Option<String>) {
        *self.last_load_error.lock() = error;
    }

    /// The error of the latest refused build, if the latest attempt failed.
    pub fn last_load_error(&self) -> Option<String> {
        self.last_load_error.lock().clone()
    }

    /// The library registry.
    pub fn registry(&self) -> &Arc<ScoreRegistry> {
        &self.registry
    }

    /// The channel's default SCORE (target of `Data` transactions).
    pub fn channel_score(&self) -> &str {
        &self.channel_score
    }

    /// Whether `key` may sign `Deploy` transactions.
    pub fn is_admin(&self, key: &PublicKey) -> bool {
        self.admins.contains(key)
    }

    /// The active version of `score` in a state view.
    pub fn active_in(read: &dyn Fn(&[u8]) -> Option<Vec<u8>>, score: &str) -> Option<ActiveScore> {
        read(&sys_key(score)).and_then(|b| decode(&b).ok())
    }

    /// The active version of `score` in committed state.
    pub fn active(&self, store: &ChannelStore, score: &str) -> Result<Option<ActiveScore>, QueryError> {
        let raw = store.state_get(&sys_key(score)).map_err(|e| QueryError::Storage(e.to_string()))?;
        Ok(raw.and_then(|b| decode(&b).ok()))
    }

    /// Runs a read-only query against committed state.
    pub fn query(&self, store: &ChannelStore, score: &str, method: &str, params: &str) -> Result<String, QueryError> {
        tracing::debug!(event = "Query", score, method, "SCORE query");
        let active = self.active(store, score)?.ok_or_else(|| QueryError::NotDeployed(score.to_owned()))?;
        let lib =
            self.registry.get(&active.code_hash).ok_or(QueryError::NotStaged(score.to_owned(), active.code_hash))?;
        let tip = store.tip().map_err(|e| QueryError::Storage(e.to_string()))?;
        let (height, ts) = match tip {
            Some(t) => {
                let ts = store.header(&t.hash).ok().flatten().map(|(h, _)| h.timestamp_us).unwrap_or(0);
                (t.height, ts)
            }
            None => (0, 0),
        };
        let read = |k: &[u8]| store.state_get(k).ok().flatten();
        let env = CallEnv { block_height: height, block_timestamp: ts, ..CallEnv::default() };
        let mut ctx = CallContext::read_only(score, &read, env);
        let out = lib.query(&mut ctx, method, params).map_err(QueryError::Score)?;
        if ctx.write_attempted {
            return Err(QueryError::Wrote(method.to_owned()));
        }
        Ok(out)
    }
}

/// [`Executor`] over the SCORE runtime.
#[derive(Debug)]
pub struct ScoreExecutor {
    runtime: ScoreRuntime,
    /// See [`Executor::take_unavailable`].
    unavailable: Vec<Hash>,
}

impl ScoreExecutor {
    /// An executor for a channel.
    pub fn new(runtime: ScoreRuntime) -> Self {
        Self { runtime, unavailable: Vec::new() }
    }

    fn outcome(tx_hash: Hash, ctx: CallContext<'_>, result: CallResult, extra: WriteSet) -> TxOutcome {
        match result {
            Ok(json) => {
                let mut writes = ctx.writes;
                writes.extend(extra);
                let receipt = Receipt {
                    tx_hash,
                    status: ReceiptStatus::Success,
                    result_json: if json.is_empty() { "null".into() } else { json },
                    events: ctx.events,
                    error: String::new(),
                };
                TxOutcome { receipt, writes }
            }
            Err(e) => {
                tracing::debug!(event = "ScoreInvoke", tx = %tx_hash, code = SCORE_ERROR, error = %e, "SCORE invocation failed");
                TxOutcome { receipt: Receipt::failure(tx_hash, SCORE_ERROR, e), writes: WriteSet::new() }
            }
        }
    }

    fn fail(tx_hash: Hash, code: u32, msg: String) -> TxOutcome {
        tracing::debug!(event = "ScoreInvoke", tx = %tx_hash, code, error = %msg, "SCORE invocation failed");
        TxOutcome { receipt: Receipt::failure(tx_hash, code, msg), writes: WriteSet::new() }
    }

    /// The active library of `score`; the error says whether the miss is local (code not here)
    /// rather than a fact of the chain (not deployed).
    fn library(
        &self,
        read: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
        score: &str,
    ) -> Result<Arc<ScoreLibrary>, (String, bool)> {
        let active = ScoreRuntime::active_in(read, score)
            .ok_or_else(|| (format!("SCORE {score:?} is not deployed on this channel"), false))?;
        self.runtime
            .staged_or_fetched(&active.code_hash)
            .ok_or_else(|| (format!("code {} of SCORE {score:?} is not staged on this node", active.code_hash), true))
    }

    /// A failure receipt for a SCORE that cannot run; a local miss on a networked channel is also
    /// reported through [`Executor::take_unavailable`].
    fn missing(&mut self, tx_hash: Hash, (error, local): (String, bool)) -> TxOutcome {
        if local && self.runtime.networked() {
            self.unavailable.push(tx_hash);
        }
        self.runtime.score_stats.record(false);
        Self::fail(tx_hash, SCORE_UNAVAILABLE, error)
    }

    fn deploy(
        &mut self,
        read: &dyn Fn(&[u8]) -> Option<Vec<u8>>,
        env: CallEnv,
        tx: &Transaction,
        tx_hash: Hash,
        (score, code_hash, params): (&str, &Hash, &str),
    ) -> TxOutcome {
        if !lc_plugin_host::valid_score_name(score) {
            return Self::fail(tx_hash, WRONG_SCORE, format!("invalid SCORE name {score:?}: use 1-64 of [a-z0-9_-]"));
        }
        if !self.runtime.is_admin(&tx.body.from) {
            return Self::fail(
                tx_hash,
                NOT_ADMIN,
                format!("Deploy must be signed by a channel admin; {} is not one", Address::of(&tx.body.from)),
            );
        }
        let Some(lib) = self.runtime.staged_or_fetched(code_hash) else {
            return self.missing(tx_hash, (format!("code {code_hash} is not staged on this node"), true));
        };
        if lib.name != score {
            return Self::fail(
                tx_hash,
                WRONG_SCORE,
                format!("code {code_hash} is SCORE {:?}, not {score:?}", lib.name),
            );
        }
        let previous = ScoreRuntime::active_in(read, score);
        if previous.as_ref().is_some_and(|p| p.code_hash == *code_hash) {
            // Idempotent by code hash.
            let ctx = CallContext::new(score, read, env);
            return Self::outcome(tx_hash, ctx, Ok("{\"already_active\":true}".into()), WriteSet::new());
        }
        let height = env.block_height;
        let mut ctx = CallContext::new(score, read, env);
        let result = match &previous {
            None => lib.on_install(&mut ctx, params),
            Some(p) => lib.on_update(&mut ctx, &p.version, params),
        };
        self.runtime.score_stats.record(result.is_ok());
        let mut sys = WriteSet::new();
        let active = ActiveScore { code_hash: *code_hash, version: lib.version.clone(), since_height: height };
        sys.insert(sys_key(score), Some(encode(&active)));
        Self::outcome(tx_hash, ctx, result, sys)
    }
}

impl Executor for ScoreExecutor {
    fn take_unavailable(&mut self) -> Vec<Hash> {
        std::mem::take(&mut self.unavailable)
    }

    fn execute(&mut self, state: &dyn StateRead, bctx: &BlockContext, tx: &Transaction, tx_hash: Hash) -> TxOutcome {
        let read = |k: &[u8]| state.get(k);
        let env = CallEnv {
            sender: Address::of(&tx.body.from).to_string(),
            tx_hash: tx_hash.to_hex(),
            block_height: bctx.height,
            block_timestamp: bctx.timestamp_us,
        };
        match &tx.body.payload {
            Payload::Data { json } => {
                if self.runtime.channel_score.is_empty() {
                    return TxOutcome { receipt: Receipt::success(tx_hash), writes: WriteSet::new() };
                }
                let score = self.runtime.channel_score.clone();
                match self.library(&read, &score) {
                    Ok(lib) => {
                        let mut ctx = CallContext::new(&score, &read, env);
                        let r = lib.on_data(&mut ctx, json);
                        self.runtime.score_stats.record(r.is_ok());
                        Self::outcome(tx_hash, ctx, r, WriteSet::new())
                    }
                    Err(e) => self.missing(tx_hash, e),
                }
            }
            Payload::Call { score, method, params_json } => match self.library(&read, score) {
                Ok(lib) => {
                    let mut ctx = CallContext::new(score, &read, env);
                    let r = lib.invoke(&mut ctx, method, params_json);
                    self.runtime.score_stats.record(r.is_ok());
                    Self::outcome(tx_hash, ctx, r, WriteSet::new())
                }
                Err(e) => self.missing(tx_hash, e),
            },
            Payload::Deploy { score, code_hash, params } => {
                self.deploy(&read, env, tx, tx_hash, (score, code_hash, params))
            }
            Payload::ChannelConfig { json } => {
                crate::epoch::execute_channel_config(state, &self.runtime.admins, tx, tx_hash, json, bctx.height)
            }
        }
    }
}
