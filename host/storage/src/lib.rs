//! loopchain storage.
//!
//! One database per node; every channel owns six column families (`<channel>#blocks`, `#heights`,
//! `#txs`, `#receipts`, `#state`, `#meta`), created on first use, so channels can be added while
//! the node runs. All column families share one block cache and one write-buffer budget
//! ([`StorageConfig`]), so memory does not grow with the number of channels.
//!
//! A block commit is ONE synced write batch ([`ChannelStore::commit`]): the block header, the
//! height index, the transactions with their locations, the receipts, the state writes and the new
//! tip. After a crash the store shows either the whole block or none of it, and the node resumes
//! from [`ChannelStore::tip`].
//!
//! Two backends implement [`Backend`]: [`RocksDb`] (production) and [`MemDb`] (tests, simulation).
//! [`ChannelStore`] holds all record formats, so both backends store exactly the same bytes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod channel;
mod error;
mod mem;
mod rocks;

pub use channel::{BlockCommit, ChainTip, ChannelStore, StoredTx, TxLocation};
pub use error::{Error, Result};
pub use mem::MemDb;
pub use rocks::{RocksDb, StorageConfig};

/// The column families of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cf {
    /// block hash → header, proposer signature and tx hashes.
    Blocks,
    /// big-endian height → block hash.
    Heights,
    /// tx hash → transaction and its location.
    Txs,
    /// tx hash → receipt.
    Receipts,
    /// SCORE state key → value.
    State,
    /// tip, counters, safety data.
    Meta,
}

impl Cf {
    /// Every column family of a channel.
    pub const ALL: [Cf; 6] = [Cf::Blocks, Cf::Heights, Cf::Txs, Cf::Receipts, Cf::State, Cf::Meta];

    /// Suffix used in the column family name.
    pub fn suffix(self) -> &'static str {
        match self {
            Cf::Blocks => "blocks",
            Cf::Heights => "heights",
            Cf::Txs => "txs",
            Cf::Receipts => "receipts",
            Cf::State => "state",
            Cf::Meta => "meta",
        }
    }

    /// Full column family name for a channel.
    pub fn name(self, channel: &str) -> String {
        format!("{channel}#{}", self.suffix())
    }
}

/// One write of a batch: `None` deletes the key.
pub type WriteOp = (Cf, Vec<u8>, Option<Vec<u8>>);

/// A key-value database with per-channel column families.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// Creates the channel's column families if they do not exist yet.
    fn ensure_channel(&self, channel: &str) -> Result<()>;
    /// Channels that have column families in this database.
    fn channels(&self) -> Result<Vec<String>>;
    /// Reads one key.
    fn get(&self, channel: &str, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Applies all writes atomically; with `sync`, durable (fsync'd WAL) before returning.
    fn write(&self, channel: &str, ops: Vec<WriteOp>, sync: bool) -> Result<()>;
}
