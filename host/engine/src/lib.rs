//! Per-channel runtime of a loopchain node.
//!
//! A [`Channel`] owns one chain: it admits transactions into a bounded [`Mempool`] (signature,
//! channel, size, timestamp window and duplicate checks, see [`AdmitError`]), and a dedicated
//! driver thread ([`Channel::spawn`]) drives the pure LFT core (`lc-lft`) with real timers: it
//! builds and executes proposals when this node leads, validates and re-executes other leaders'
//! proposals, verifies BLS votes and certificates, has the safety guard (`lc-safety`) sign votes
//! after persisting its state, aggregates QCs and TCs, and writes every committed block as one
//! synced batch. Consensus messages leave through the channel's [`Transport`] (`lc-network`'s
//! gRPC `ChannelNet` between processes; [`InProcessHub`] for channels of one process in tests)
//! and arrive through [`Channel::deliver`] (bounded inbox); block sync through
//! [`Channel::sync_batch`] (serving) and [`Channel::deliver_sync`] (applying, after verifying the
//! finality proof).
//!
//! Epochs ([`EpochState`]) come from the channel definition and committed `ChannelConfig`
//! transactions; a [`SchemeSource`] (the consensus plugins, [`PluginSchemes`]) supplies each
//! epoch's weights, groups and proposer order. [`replay`] records and re-runs consensus decisions.
//!
//! Pacing (DESIGN §10): rounds advance on certificates; with pending transactions, or a parent
//! carrying transactions, the leader proposes as soon as it holds the parent's QC; otherwise empty
//! blocks come every `interval` when `allow_empty_blocks` is on.
//!
//! Everything callers see ([`Channel::tx_status`], [`Channel::status`]) reflects committed state
//! plus the in-flight set: a transaction is `Pending` until its block is committed.
#![warn(missing_docs)]

mod admit;
mod channel;
mod driver;
mod epoch;
mod exec;
mod hub;
mod mempool;
pub mod metrics;
pub mod refusal;
pub mod replay;
mod score;
mod sync;

pub use admit::AdmitError;
pub use channel::{
    Channel, ChannelParams, ChannelStatus, DriverHandle, Error, Transport, TxRelay, TxStatus, INBOX_CAPACITY,
};
pub use driver::{CommitEvidence, META_COMMIT_EVIDENCE};
pub use epoch::{
    execute_channel_config, parse_channel_config, ConfiguredWeights, EpochChange, EpochConfig, EpochRecord, EpochState,
    PluginSchemes, SchemeSource, SYS_NEXT_EPOCH,
};
pub use exec::{BlockContext, BuiltinExecutor, Executor, StateRead, TxOutcome, NO_SCORE_RUNTIME};
pub use hub::InProcessHub;
pub use mempool::Mempool;
pub use metrics::{BlockSummary, ChannelMetrics, HistogramSnapshot, RoundFailure, ScoreStats};
pub use refusal::{Reason, Refusals};
pub use score::{
    ActiveScore, LibraryFetcher, QueryError, ScoreExecutor, ScoreRuntime, BAD_CHANNEL_CONFIG, NOT_ADMIN, NOT_SUPPORTED,
    SCORE_ERROR, SCORE_UNAVAILABLE, WRONG_SCORE,
};
pub use sync::{SyncBatch, MAX_SYNC_BLOCKS};

/// Microseconds since the Unix epoch from the system clock (the host's only clock reading).
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}
