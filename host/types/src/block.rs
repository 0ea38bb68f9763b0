use crate::{
    encode, merkle_root, sha3, Epoch, Hash, Height, PublicKey, QuorumCert, Receipt, Round, Signature, TimeoutCert,
    Transaction,
};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Current block format version.
pub const BLOCK_VERSION: u32 = 1;

/// A block header. `block_hash = sha3(borsh(BlockHeader))`; the proposer signature is beside it.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    /// Format version ([`BLOCK_VERSION`]).
    pub version: u32,
    /// Channel of the chain.
    pub channel: String,
    /// Height; genesis is 0.
    pub height: Height,
    /// Consensus round the block was proposed in.
    pub round: Round,
    /// Epoch of the proposer and voters.
    pub epoch: Epoch,
    /// Hash of the parent block (zero for genesis).
    pub prev_hash: Hash,
    /// Merkle root of the transaction hashes.
    pub tx_root: Hash,
    /// State root after executing this block on top of the parent's state.
    pub state_root: Hash,
    /// Merkle root of the receipt hashes (in transaction order).
    pub receipts_root: Hash,
    /// Certificate of the parent block (filled by LFT consensus).
    pub qc: Option<QuorumCert>,
    /// Timeout certificate of round − 1, when the proposer entered this round by a timeout.
    pub tc: Option<TimeoutCert>,
    /// Proposer's timestamp, microseconds since the Unix epoch; greater than the parent's.
    pub timestamp_us: u64,
    /// Proposer's ed25519 identity key.
    pub proposer: PublicKey,
}

impl BlockHeader {
    /// The block hash.
    pub fn hash(&self) -> Hash {
        sha3(&encode(self))
    }
}

/// A block: header, proposer signature over the block hash, and transactions.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    /// Header.
    pub header: BlockHeader,
    /// ed25519 signature of the block hash by `header.proposer`.
    pub proposer_signature: Signature,
    /// Transactions in execution order.
    pub txs: Vec<Transaction>,
}

impl Block {
    /// The block hash (of the header).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Merkle root of the transaction hashes of `txs`.
    pub fn compute_tx_root(txs: &[Transaction]) -> Hash {
        let leaves: Vec<Hash> = txs.iter().map(Transaction::hash).collect();
        merkle_root(&leaves)
    }

    /// Merkle root of `sha3(borsh(receipt))` of each receipt.
    pub fn compute_receipts_root(receipts: &[Receipt]) -> Hash {
        let leaves: Vec<Hash> = receipts.iter().map(|r| sha3(&encode(r))).collect();
        merkle_root(&leaves)
    }
}
