//! One suite, two backends: every scenario runs against RocksDB (in a temp dir) and the
//! in-memory store, so both keep exactly the same semantics.
use lc_crypto::Keypair;
use lc_storage::{Backend, BlockCommit, ChannelStore, Error, MemDb, RocksDb, StorageConfig};
use lc_types::{
    merkle_root, state_root, Block, BlockHeader, Hash, Payload, Receipt, Transaction, TxBody, WriteSet, BLOCK_VERSION,
};
use std::sync::Arc;

fn tx(channel: &str, n: u64) -> Transaction {
    let kp = Keypair::dev_account(n % 5);
    kp.sign_tx(TxBody {
        channel: channel.into(),
        from: kp.public(),
        timestamp_us: 1_000 + n,
        nonce: n,
        payload: Payload::Data { json: format!("{{\"n\":{n}}}") },
    })
}

fn block(channel: &str, height: u64, prev: Hash, txs: Vec<Transaction>, writes: WriteSet) -> BlockCommit {
    let key = Keypair::dev_account(100);
    let hashes: Vec<Hash> = txs.iter().map(Transaction::hash).collect();
    let receipts: Vec<Receipt> = hashes.iter().map(|h| Receipt::success(*h)).collect();
    let header = BlockHeader {
        version: BLOCK_VERSION,
        channel: channel.into(),
        height,
        round: height,
        epoch: 0,
        prev_hash: prev,
        tx_root: merkle_root(&hashes),
        state_root: state_root(&Hash::ZERO, &writes),
        receipts_root: Block::compute_receipts_root(&receipts),
        qc: None,
        tc: None,
        timestamp_us: 10 + height,
        proposer: key.public(),
    };
    BlockCommit { block: key.sign_block(header, txs), receipts, writes }
}

fn chain_of(store: &ChannelStore, n: u64) -> Vec<Hash> {
    let mut prev = Hash::ZERO;
    let mut hashes = Vec::new();
    for h in 0..n {
        let txs = if h == 0 { vec![] } else { (0..3).map(|i| tx(store.channel(), h * 10 + i)).collect() };
        let mut writes = WriteSet::new();
        writes.insert(format!("key{h}").into_bytes(), Some(vec![h as u8]));
        if h > 1 {
            writes.insert(format!("key{}", h - 2).into_bytes(), None);
        }
        let tip = store.commit(&block(store.channel(), h, prev, txs, writes)).expect("commit");
        assert_eq!(tip.height, h);
        prev = tip.hash;
        hashes.push(tip.hash);
    }
    hashes
}

fn suite(backend: Arc<dyn Backend>) {
    let a = ChannelStore::open(Arc::clone(&backend), "chan_a").expect("open a");
    assert_eq!(a.tip().expect("tip"), None);
    assert_eq!(a.total_txs().expect("total"), 0);

    let hashes = chain_of(&a, 5);
    let tip = a.tip().expect("tip").expect("some");
    assert_eq!((tip.height, tip.hash), (4, hashes[4]));
    assert_eq!(a.total_txs().expect("total"), 12);
    for (h, hash) in hashes.iter().enumerate() {
        assert_eq!(a.block_hash_at(h as u64).expect("read"), Some(*hash));
        let b = a.block(hash).expect("read").expect("block");
        assert_eq!(b.hash(), *hash);
        assert_eq!(b.header.height, h as u64);
    }
    let t = tx("chan_a", 31);
    let stored = a.tx(&t.hash()).expect("read").expect("committed tx");
    assert_eq!(stored.tx, t);
    assert_eq!((stored.location.height, stored.location.index, stored.location.block_hash), (3, 1, hashes[3]));
    assert_eq!(a.receipt(&t.hash()).expect("read"), Some(Receipt::success(t.hash())));
    assert!(a.contains_tx(&t.hash()).expect("read"));
    assert!(!a.contains_tx(&Hash([9; 32])).expect("read"));
    // State: puts and deletes applied in order.
    assert_eq!(a.state_get(b"key4").expect("read"), Some(vec![4]));
    assert_eq!(a.state_get(b"key2").expect("read"), None, "deleted by block 4");
    assert_eq!(a.state_get(b"key3").expect("read"), Some(vec![3]));

    // A block that does not extend the tip is refused and writes nothing.
    let stray = block("chan_a", 7, hashes[4], vec![tx("chan_a", 999)], WriteSet::new());
    assert!(matches!(a.commit(&stray), Err(Error::NotNext { expected_height: 5, .. })));
    let fork = block("chan_a", 5, hashes[3], vec![tx("chan_a", 998)], WriteSet::new());
    assert!(matches!(a.commit(&fork), Err(Error::NotNext { .. })));
    let mut bad_receipts = block("chan_a", 5, hashes[4], vec![tx("chan_a", 997)], WriteSet::new());
    bad_receipts.receipts.clear();
    assert!(matches!(a.commit(&bad_receipts), Err(Error::ReceiptCount { .. })));
    assert_eq!(a.tip().expect("tip").map(|t| t.height), Some(4));
    assert!(!a.contains_tx(&tx("chan_a", 999).hash()).expect("read"));
    assert_eq!(a.total_txs().expect("total"), 12);

    // A second channel added at run time is fully isolated.
    let b = ChannelStore::open(Arc::clone(&backend), "chan_b").expect("open b");
    assert_eq!(b.tip().expect("tip"), None);
    assert!(!b.contains_tx(&t.hash()).expect("read"));
    assert_eq!(b.state_get(b"key4").expect("read"), None);
    chain_of(&b, 2);
    assert_eq!(a.tip().expect("tip").map(|t| t.height), Some(4));
    let mut names = backend.channels().expect("channels");
    names.sort();
    assert_eq!(names, vec!["chan_a".to_owned(), "chan_b".to_owned()]);

    // Metadata is durable and per channel.
    a.meta_put_synced(b"safety", vec![1, 2, 3]).expect("meta");
    assert_eq!(a.meta_get(b"safety").expect("read"), Some(vec![1, 2, 3]));
    assert_eq!(b.meta_get(b"safety").expect("read"), None);

    // Bad channel names never reach the database.
    assert!(ChannelStore::open(Arc::clone(&backend), "bad/name").is_err());
    assert!(ChannelStore::open(backend, "").is_err());
}

#[test]
fn in_memory_backend() {
    suite(Arc::new(MemDb::new()));
}

#[test]
fn rocksdb_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    suite(Arc::new(RocksDb::open(dir.path(), StorageConfig::default()).expect("open")));
}

#[test]
fn rocksdb_reopen_resumes_every_channel_from_its_tip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tip_a, tip_b) = {
        let db: Arc<dyn Backend> = Arc::new(RocksDb::open(dir.path(), StorageConfig::default()).expect("open"));
        let a = ChannelStore::open(Arc::clone(&db), "alpha").expect("alpha");
        let b = ChannelStore::open(db, "beta").expect("beta");
        (*chain_of(&a, 4).last().expect("tip"), *chain_of(&b, 3).last().expect("tip"))
    };
    let db = Arc::new(
        RocksDb::open(dir.path(), StorageConfig { block_cache_bytes: 8 << 20, write_buffer_bytes: 8 << 20 })
            .expect("reopen"),
    );
    assert_eq!(db.channels().expect("channels"), vec!["alpha".to_owned(), "beta".to_owned()]);
    let a = ChannelStore::open(db.clone(), "alpha").expect("alpha");
    let b = ChannelStore::open(db, "beta").expect("beta");
    assert_eq!(a.tip().expect("tip").map(|t| (t.height, t.hash)), Some((3, tip_a)));
    assert_eq!(b.tip().expect("tip").map(|t| (t.height, t.hash)), Some((2, tip_b)));
    assert_eq!(a.block_at(3).expect("read").map(|blk| blk.txs.len()), Some(3));
}

#[test]
fn corrupt_record_is_an_error_not_a_panic() {
    let db = Arc::new(MemDb::new());
    let store = ChannelStore::open(db.clone(), "c").expect("open");
    db.write("c", vec![(lc_storage::Cf::Meta, b"tip".to_vec(), Some(vec![1, 2, 3]))], true).expect("write");
    assert!(matches!(store.tip(), Err(Error::Corrupt { .. })));
}
