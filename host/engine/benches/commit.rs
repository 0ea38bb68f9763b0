//! Cost of committing a 1,000-transaction block, by stage, on a real RocksDB in a temp dir:
//! hashing + merkle roots, canonical encoding, signature verification (parallel batches), and the
//! one synced WriteBatch per block.
//!
//! Run: `cargo bench -p lc-engine --profile dev --bench commit` (the dev profile optimises
//! dependencies, so RocksDB is not compiled a second time).
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lc_crypto::Keypair;
use lc_storage::{BlockCommit, ChannelStore, RocksDb, StorageConfig};
use lc_types::{
    encode, merkle_root, state_root, Block, BlockHeader, Hash, Payload, Receipt, Transaction, TxBody, WriteSet,
    BLOCK_VERSION,
};
use std::sync::Arc;

const N: usize = 1_000;

fn txs(seed: u64) -> Vec<Transaction> {
    let accounts: Vec<Keypair> = (0..64).map(Keypair::dev_account).collect();
    (0..N as u64)
        .map(|i| {
            let kp = &accounts[(i % 64) as usize];
            kp.sign_tx(TxBody {
                channel: "bench".into(),
                from: kp.public(),
                timestamp_us: 1_700_000_000_000_000 + i,
                nonce: seed * 1_000_000 + i,
                payload: Payload::Data { json: format!("{{\"data\":\"payload number {i}\"}}") },
            })
        })
        .collect()
}

fn build(key: &Keypair, parent: Hash, height: u64, txs: Vec<Transaction>) -> BlockCommit {
    let hashes: Vec<Hash> = txs.iter().map(Transaction::hash).collect();
    let receipts: Vec<Receipt> = hashes.iter().map(|h| Receipt::success(*h)).collect();
    let mut writes = WriteSet::new();
    for (i, h) in hashes.iter().enumerate().take(N) {
        // ~3 state keys per tx in the design's model; one here keeps the data honest for Data txs.
        writes.insert(h.0.to_vec(), Some(i.to_le_bytes().to_vec()));
    }
    let header = BlockHeader {
        version: BLOCK_VERSION,
        channel: "bench".into(),
        height,
        round: height,
        epoch: 0,
        prev_hash: parent,
        tx_root: merkle_root(&hashes),
        state_root: state_root(&Hash::ZERO, &writes),
        receipts_root: Block::compute_receipts_root(&receipts),
        qc: None,
        tc: None,
        timestamp_us: 1_700_000_000_000_000 + height,
        proposer: key.public(),
    };
    BlockCommit { block: key.sign_block(header, txs), receipts, writes }
}

fn bench(c: &mut Criterion) {
    let key = Keypair::dev_account(999);
    let sample = txs(0);
    let mut g = c.benchmark_group("block_1000_txs");
    g.sample_size(20);

    g.bench_function("hash_txs_and_merkle", |b| {
        b.iter(|| {
            let hashes: Vec<Hash> = sample.iter().map(Transaction::hash).collect();
            merkle_root(&hashes)
        })
    });
    g.bench_function("verify_signatures_parallel_batches", |b| {
        let hashes: Vec<(&Transaction, Hash)> = sample.iter().map(|t| (t, t.hash())).collect();
        b.iter(|| assert!(lc_crypto::verify_txs(&hashes).iter().all(Result::is_ok)))
    });
    g.bench_function("build_block_roots_and_sign", |b| {
        b.iter_batched(|| sample.clone(), |t| build(&key, Hash::ZERO, 1, t), BatchSize::LargeInput)
    });
    g.bench_function("encode_block", |b| {
        let commit = build(&key, Hash::ZERO, 1, sample.clone());
        b.iter(|| encode(&commit.block).len())
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(RocksDb::open(dir.path(), StorageConfig::default()).expect("db"));
    let store = ChannelStore::open(db, "bench").expect("channel");
    let genesis = build(&key, Hash::ZERO, 0, vec![]);
    let tip = std::cell::Cell::new(store.commit(&genesis).expect("genesis"));
    let mut seed = 1;
    g.bench_function("commit_synced_write_batch", |b| {
        b.iter_batched(
            || {
                seed += 1;
                build(&key, tip.get().hash, tip.get().height + 1, txs(seed))
            },
            |commit| tip.set(store.commit(&commit).expect("commit")),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
