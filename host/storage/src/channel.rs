use crate::{Backend, Cf, Error, Result, WriteOp};
use borsh::{BorshDeserialize, BorshSerialize};
use lc_types::{decode, encode, Block, BlockHeader, Hash, Height, Receipt, Signature, Transaction, WriteSet};
use std::sync::Arc;

const META_TIP: &[u8] = b"tip";
const META_TOTAL_TXS: &[u8] = b"total_txs";

/// The last committed block of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ChainTip {
    /// Height of the last committed block.
    pub height: Height,
    /// Its hash.
    pub hash: Hash,
}

/// Where a committed transaction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxLocation {
    /// Height of the block.
    pub height: Height,
    /// Hash of the block.
    pub block_hash: Hash,
    /// Position in the block.
    pub index: u32,
}

/// A committed transaction with its location.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StoredTx {
    /// The transaction.
    pub tx: Transaction,
    /// Its location.
    pub location: TxLocation,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct StoredBlock {
    header: BlockHeader,
    proposer_signature: Signature,
    tx_hashes: Vec<Hash>,
}

/// Everything a block commit writes: the block, one receipt per transaction (same order) and the
/// state writes of its successful transactions.
#[derive(Debug, Clone)]
pub struct BlockCommit {
    /// The block.
    pub block: Block,
    /// Receipts, in transaction order.
    pub receipts: Vec<Receipt>,
    /// State writes.
    pub writes: WriteSet,
}

/// One channel's view of the node database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ChannelStore {
    backend: Arc<dyn Backend>,
    channel: String,
}

fn height_key(h: Height) -> [u8; 8] {
    h.to_be_bytes()
}

impl ChannelStore {
    /// Opens the channel's stores, creating its column families when missing.
    pub fn open(backend: Arc<dyn Backend>, channel: &str) -> Result<Self> {
        backend.ensure_channel(channel)?;
        Ok(Self { backend, channel: channel.to_owned() })
    }

    /// Channel name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    fn get_decoded<T: BorshDeserialize>(&self, cf: Cf, key: &[u8]) -> Result<Option<T>> {
        match self.backend.get(&self.channel, cf, key)? {
            None => Ok(None),
            Some(bytes) => decode(&bytes).map(Some).map_err(|e| Error::Corrupt {
                cf: cf.name(&self.channel),
                key: hex_key(key),
                reason: e.to_string(),
            }),
        }
    }

    /// The last committed block, or `None` for an empty chain.
    pub fn tip(&self) -> Result<Option<ChainTip>> {
        self.get_decoded(Cf::Meta, META_TIP)
    }

    /// Number of committed transactions.
    pub fn total_txs(&self) -> Result<u64> {
        Ok(self.get_decoded(Cf::Meta, META_TOTAL_TXS)?.unwrap_or(0))
    }

    /// Hash of the committed block at `height`.
    pub fn block_hash_at(&self, height: Height) -> Result<Option<Hash>> {
        self.get_decoded(Cf::Heights, &height_key(height))
    }

    /// Header and proposer signature of a committed block.
    pub fn header(&self, hash: &Hash) -> Result<Option<(BlockHeader, Signature)>> {
        Ok(self.get_decoded::<StoredBlock>(Cf::Blocks, &hash.0)?.map(|b| (b.header, b.proposer_signature)))
    }

    /// A committed block with its transactions.
    pub fn block(&self, hash: &Hash) -> Result<Option<Block>> {
        let Some(stored) = self.get_decoded::<StoredBlock>(Cf::Blocks, &hash.0)? else { return Ok(None) };
        let mut txs = Vec::with_capacity(stored.tx_hashes.len());
        for h in &stored.tx_hashes {
            let tx = self.tx(h)?.ok_or_else(|| Error::Corrupt {
                cf: Cf::Txs.name(&self.channel),
                key: h.to_hex(),
                reason: format!("transaction of block {hash} is missing"),
            })?;
            txs.push(tx.tx);
        }
        Ok(Some(Block { header: stored.header, proposer_signature: stored.proposer_signature, txs }))
    }

    /// The committed block at `height`.
    pub fn block_at(&self, height: Height) -> Result<Option<Block>> {
        match self.block_hash_at(height)? {
            Some(h) => self.block(&h),
            None => Ok(None),
        }
    }

    /// A committed transaction.
    pub fn tx(&self, hash: &Hash) -> Result<Option<StoredTx>> {
        self.get_decoded(Cf::Txs, &hash.0)
    }

    /// Whether a transaction is committed.
    pub fn contains_tx(&self, hash: &Hash) -> Result<bool> {
        Ok(self.backend.get(&self.channel, Cf::Txs, &hash.0)?.is_some())
    }

    /// Receipt of a committed transaction.
    pub fn receipt(&self, hash: &Hash) -> Result<Option<Receipt>> {
        self.get_decoded(Cf::Receipts, &hash.0)
    }

    /// Committed SCORE state.
    pub fn state_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.backend.get(&self.channel, Cf::State, key)
    }

    /// Reads a metadata record.
    pub fn meta_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.backend.get(&self.channel, Cf::Meta, key)
    }

    /// Writes a metadata record durably (fsync) before returning.
    pub fn meta_put_synced(&self, key: &[u8], value: Vec<u8>) -> Result<()> {
        self.backend.write(&self.channel, vec![(Cf::Meta, key.to_vec(), Some(value))], true)
    }

    /// Writes a metadata record without waiting for fsync (the next synced write of this node's
    /// database makes it durable; a process crash does not lose it, a power loss may).
    pub fn meta_put(&self, key: &[u8], value: Option<Vec<u8>>) -> Result<()> {
        self.backend.write(&self.channel, vec![(Cf::Meta, key.to_vec(), value)], false)
    }

    /// [`ChannelStore::commit`] plus metadata records written in the same synced batch.
    pub fn commit_with(&self, commit: &BlockCommit, meta: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<ChainTip> {
        let mut ops = self.commit_ops(commit)?;
        ops.extend(meta.into_iter().map(|(k, v)| (Cf::Meta, k, v)));
        let tip = ChainTip { height: commit.block.header.height, hash: commit.block.hash() };
        self.backend.write(&self.channel, ops, true)?;
        Ok(tip)
    }

    /// Commits a block as ONE synced write batch: header, height index, transactions, receipts,
    /// state writes, counters and tip. The block must extend the tip (or be height 0 on an empty
    /// chain); otherwise nothing is written.
    pub fn commit(&self, commit: &BlockCommit) -> Result<ChainTip> {
        let ops = self.commit_ops(commit)?;
        let tip = ChainTip { height: commit.block.header.height, hash: commit.block.hash() };
        self.backend.write(&self.channel, ops, true)?;
        Ok(tip)
    }

    fn commit_ops(&self, c: &BlockCommit) -> Result<Vec<WriteOp>> {
        let header = &c.block.header;
        let hash = header.hash();
        let (expected_height, expected_parent) = match self.tip()? {
            Some(t) => (t.height + 1, t.hash),
            None => (0, Hash::ZERO),
        };
        if header.height != expected_height || header.prev_hash != expected_parent {
            return Err(Error::NotNext { hash, height: header.height, expected_height, expected_parent });
        }
        if c.receipts.len() != c.block.txs.len() {
            return Err(Error::ReceiptCount { hash, txs: c.block.txs.len(), receipts: c.receipts.len() });
        }
        let mut ops: Vec<WriteOp> = Vec::with_capacity(3 + 2 * c.block.txs.len() + c.writes.len());
        let mut tx_hashes = Vec::with_capacity(c.block.txs.len());
        for (i, (tx, receipt)) in c.block.txs.iter().zip(&c.receipts).enumerate() {
            let tx_hash = receipt.tx_hash;
            let location = TxLocation { height: header.height, block_hash: hash, index: i as u32 };
            ops.push((Cf::Txs, tx_hash.0.to_vec(), Some(encode(&StoredTx { tx: tx.clone(), location }))));
            ops.push((Cf::Receipts, tx_hash.0.to_vec(), Some(encode(receipt))));
            tx_hashes.push(tx_hash);
        }
        let stored = StoredBlock { header: header.clone(), proposer_signature: c.block.proposer_signature, tx_hashes };
        ops.push((Cf::Blocks, hash.0.to_vec(), Some(encode(&stored))));
        ops.push((Cf::Heights, height_key(header.height).to_vec(), Some(encode(&hash))));
        for (k, v) in &c.writes {
            ops.push((Cf::State, k.clone(), v.clone()));
        }
        let total = self.total_txs()? + c.block.txs.len() as u64;
        ops.push((Cf::Meta, META_TOTAL_TXS.to_vec(), Some(encode(&total))));
        ops.push((Cf::Meta, META_TIP.to_vec(), Some(encode(&ChainTip { height: header.height, hash }))));
        Ok(ops)
    }
}

fn hex_key(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}
