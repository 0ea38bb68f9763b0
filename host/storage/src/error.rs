use lc_types::{Hash, Height};
use thiserror::Error;

/// Storage errors.
#[derive(Debug, Error)]
pub enum Error {
    /// The database reported an error.
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// Stored bytes do not decode: the database is corrupt or from an incompatible version.
    #[error("corrupt record in {cf} for key {key}: {reason}")]
    Corrupt {
        /// Column family.
        cf: String,
        /// Key, hex.
        key: String,
        /// Decoder message.
        reason: String,
    },
    /// The block does not extend the stored tip.
    #[error("block {hash} at height {height} does not extend the tip (expected height {expected_height} on parent {expected_parent})")]
    NotNext {
        /// Offered block hash.
        hash: Hash,
        /// Offered height.
        height: Height,
        /// Height the store expects.
        expected_height: Height,
        /// Parent the store expects.
        expected_parent: Hash,
    },
    /// Receipts do not match the block's transactions.
    #[error("block {hash} has {txs} transactions but {receipts} receipts")]
    ReceiptCount {
        /// Block hash.
        hash: Hash,
        /// Transactions.
        txs: usize,
        /// Receipts.
        receipts: usize,
    },
    /// The channel has no column families (call `ensure_channel` first).
    #[error("unknown channel {0}")]
    UnknownChannel(String),
    /// A channel name that cannot name column families.
    #[error(transparent)]
    Types(#[from] lc_types::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
