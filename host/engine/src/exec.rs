use lc_types::{Hash, Height, Payload, PublicKey, Receipt, Transaction, WriteSet};

/// Failure code for calls that need a SCORE runtime the channel does not have.
pub const NO_SCORE_RUNTIME: u32 = 9100;

/// Read access to channel state as of the block being executed.
pub trait StateRead {
    /// Value of `key`, if any.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
}

/// Block-level facts an executor may use (never the wall clock).
#[derive(Debug, Clone)]
pub struct BlockContext {
    /// Channel.
    pub channel: String,
    /// Height of the block being executed.
    pub height: Height,
    /// Block timestamp (µs).
    pub timestamp_us: u64,
    /// Proposer key.
    pub proposer: PublicKey,
}

/// Result of one transaction: its receipt and, on success, its writes.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    /// Receipt.
    pub receipt: Receipt,
    /// Writes (empty on failure).
    pub writes: WriteSet,
}

/// Executes transactions deterministically. The SCORE runtime implements this.
pub trait Executor: Send {
    /// Executes one transaction against `state` (which already includes the writes of earlier
    /// transactions of the same block).
    fn execute(&mut self, state: &dyn StateRead, ctx: &BlockContext, tx: &Transaction, tx_hash: Hash) -> TxOutcome;

    /// Transactions executed since the last call whose outcome this node could not determine:
    /// their SCORE code is missing here and no member could supply it. Their receipts are local
    /// guesses, not results: the driver neither proposes, votes for, nor applies a block with them.
    fn take_unavailable(&mut self) -> Vec<Hash> {
        Vec::new()
    }
}

/// The executor of a channel without a SCORE: `Data` transactions succeed and are kept in the
/// chain (readable by hash); calls, deploys and channel changes fail with
/// [`NO_SCORE_RUNTIME`] because nothing on this channel can carry them out.
#[derive(Debug, Default, Clone, Copy)]
pub struct BuiltinExecutor;

impl Executor for BuiltinExecutor {
    fn execute(&mut self, _state: &dyn StateRead, _ctx: &BlockContext, tx: &Transaction, tx_hash: Hash) -> TxOutcome {
        let receipt = match &tx.body.payload {
            Payload::Data { .. } => Receipt::success(tx_hash),
            other => Receipt::failure(
                tx_hash,
                NO_SCORE_RUNTIME,
                format!("{} transactions need a SCORE runtime, which this channel does not run", other.kind()),
            ),
        };
        TxOutcome { receipt, writes: WriteSet::new() }
    }
}
