//! The channel runtime on the in-memory store: admission, pacing, execution, commit, restart.
mod common;

use lc_crypto::Keypair;
use lc_engine::{now_us, AdmitError, BlockContext, Channel, ChannelParams, Executor, StateRead, TxOutcome, TxStatus};
use lc_storage::{Backend, ChannelStore, MemDb};
use lc_types::{merkle_root, ChannelDefinition, Hash, Payload, Receipt, ReceiptStatus, Transaction, TxBody, WriteSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CH: &str = "test_channel";

fn definition(key: &Keypair) -> ChannelDefinition {
    common::definition(CH, vec![common::validator(key, 0)], key, "")
}

fn params() -> ChannelParams {
    ChannelParams { interval: Duration::from_millis(50), max_tx_count: 40, ..ChannelParams::default() }
}

fn data(account: u64, nonce: u64) -> Transaction {
    let kp = Keypair::dev_account(account);
    kp.sign_tx(TxBody {
        channel: CH.into(),
        from: kp.public(),
        timestamp_us: now_us(),
        nonce,
        payload: Payload::Data { json: format!("{{\"n\":{nonce}}}") },
    })
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Counts per-sender writes, to check execution order and the state overlay across pending blocks.
#[derive(Debug, Default)]
struct Counter;

impl Executor for Counter {
    fn execute(&mut self, state: &dyn StateRead, _ctx: &BlockContext, tx: &Transaction, tx_hash: Hash) -> TxOutcome {
        if let Payload::Call { method, .. } = &tx.body.payload {
            if method == "fail" {
                return TxOutcome {
                    receipt: Receipt::failure(tx_hash, 9000, "asked to fail"),
                    writes: WriteSet::new(),
                };
            }
        }
        let key = tx.body.from.0.to_vec();
        let n = state.get(&key).map(|v| u64::from_le_bytes(v.try_into().unwrap_or([0; 8]))).unwrap_or(0);
        let mut writes = WriteSet::new();
        writes.insert(key, Some((n + 1).to_le_bytes().to_vec()));
        TxOutcome { receipt: Receipt::success(tx_hash), writes }
    }
}

#[test]
fn transactions_commit_in_order_and_survive_restart() {
    let db: Arc<dyn Backend> = Arc::new(MemDb::new());
    let key = Keypair::dev_account(1000);
    let def = definition(&key);
    let store = ChannelStore::open(Arc::clone(&db), CH).expect("store");
    let ch = Channel::open(
        params(),
        store.clone(),
        &def,
        key.clone(),
        Some(lc_crypto::bls::BlsKeypair::dev(0)),
        Arc::new(lc_engine::ConfiguredWeights),
    )
    .expect("open");
    let genesis = store.block_hash_at(0).expect("read").expect("genesis written");
    let driver = ch.spawn(Box::new(Counter)).expect("spawn");

    // 100 txs from 2 senders: more than two blocks' worth (max 40 per block).
    let txs: Vec<Transaction> = (0..100).map(|i| data(i % 2, i)).collect();
    let results = ch.submit(txs.clone());
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let last = txs[99].hash();
    wait_until("all committed", || matches!(ch.tx_status(&last), Ok(TxStatus::Committed(..))));

    let kp0 = Keypair::dev_account(0).public();
    assert_eq!(store.state_get(&kp0.0).expect("read"), Some(50u64.to_le_bytes().to_vec()), "50 increments of sender 0");
    // Every block links and its roots match; txs appear in submission order.
    let tip = store.tip().expect("tip").expect("some");
    let mut prev = Hash::ZERO;
    let mut order = Vec::new();
    for h in 0..=tip.height {
        let b = store.block_at(h).expect("read").expect("block");
        assert_eq!(b.header.prev_hash, prev);
        assert!(b.txs.len() <= 40);
        let hashes: Vec<Hash> = b.txs.iter().map(Transaction::hash).collect();
        assert_eq!(b.header.tx_root, merkle_root(&hashes));
        lc_crypto::verify_block_signature(&b).or_else(|e| if h == 0 { Ok(()) } else { Err(e) }).expect("signed");
        order.extend(hashes);
        prev = b.hash();
    }
    assert_eq!(order, txs.iter().map(Transaction::hash).collect::<Vec<_>>());

    // Duplicates are refused whether committed or queued.
    assert_eq!(ch.submit(vec![txs[0].clone()]), vec![Err(AdmitError::Duplicate)]);

    driver.stop().expect("clean stop");
    let height = store.tip().expect("tip").expect("some").height;

    // Restart: the same definition resumes from the tip; another definition is refused.
    let ch2 = Channel::open(
        params(),
        store.clone(),
        &def,
        key.clone(),
        Some(lc_crypto::bls::BlsKeypair::dev(0)),
        Arc::new(lc_engine::ConfiguredWeights),
    )
    .expect("reopen");
    assert_eq!(ch2.status().height, height);
    assert_eq!(store.block_hash_at(0).expect("read"), Some(genesis));
    let driver = ch2.spawn(Box::new(Counter)).expect("spawn");
    wait_until("empty blocks after restart", || ch2.status().height >= height + 2);
    driver.stop().expect("stop");
    let other = definition(&Keypair::dev_account(2000));
    assert!(matches!(
        Channel::open(
            params(),
            store,
            &other,
            key,
            Some(lc_crypto::bls::BlsKeypair::dev(0)),
            Arc::new(lc_engine::ConfiguredWeights)
        ),
        Err(lc_engine::Error::GenesisMismatch { .. })
    ));
}

#[test]
fn failed_transaction_gets_failure_receipt_and_no_writes() {
    let db: Arc<dyn Backend> = Arc::new(MemDb::new());
    let key = Keypair::dev_account(1000);
    let store = ChannelStore::open(db, CH).expect("store");
    let ch = Channel::open(
        params(),
        store.clone(),
        &definition(&key),
        key,
        Some(lc_crypto::bls::BlsKeypair::dev(0)),
        Arc::new(lc_engine::ConfiguredWeights),
    )
    .expect("open");
    let driver = ch.spawn(Box::new(Counter)).expect("spawn");
    let kp = Keypair::dev_account(7);
    let fail = kp.sign_tx(TxBody {
        channel: CH.into(),
        from: kp.public(),
        timestamp_us: now_us(),
        nonce: 1,
        payload: Payload::Call { score: "x".into(), method: "fail".into(), params_json: "{}".into() },
    });
    let h = fail.hash();
    assert_eq!(ch.submit(vec![fail]), vec![Ok(h)]);
    wait_until("committed", || matches!(ch.tx_status(&h), Ok(TxStatus::Committed(..))));
    let Ok(TxStatus::Committed(_, receipt)) = ch.tx_status(&h) else { unreachable!() };
    assert_eq!(receipt.status, ReceiptStatus::Failure(9000));
    assert_eq!(store.state_get(&kp.public().0).expect("read"), None, "failed tx wrote state");
    driver.stop().expect("stop");
}

#[test]
fn admission_refusals_leave_no_trace() {
    let db: Arc<dyn Backend> = Arc::new(MemDb::new());
    let key = Keypair::dev_account(1000);
    let store = ChannelStore::open(db, CH).expect("store");
    let small = ChannelParams { mempool_max: 3, max_tx_bytes: 400, ..params() };
    let ch = Channel::open(
        small,
        store,
        &definition(&key),
        key,
        Some(lc_crypto::bls::BlsKeypair::dev(0)),
        Arc::new(lc_engine::ConfiguredWeights),
    )
    .expect("open");
    // No driver: the mempool only fills.
    let mut bad = data(1, 1);
    bad.signature.0[3] ^= 0x40;
    let mut wrong = data(1, 2);
    wrong.body.channel = "elsewhere".into();
    let mut old = data(1, 3);
    old.body.timestamp_us -= 2_000 * 1_000_000;
    let old = Keypair::dev_account(1).sign_tx(old.body);
    let big =
        Keypair::dev_account(1).sign_tx(TxBody { payload: Payload::Data { json: "x".repeat(500) }, ..data(1, 4).body });
    let r = ch.submit(vec![bad, wrong, old, big]);
    assert!(matches!(r[0], Err(AdmitError::BadSignature)));
    assert!(matches!(r[1], Err(AdmitError::WrongChannel { .. })));
    assert!(matches!(r[2], Err(AdmitError::OutOfTimeBound { .. })));
    assert!(matches!(r[3], Err(AdmitError::TooLarge { .. })));
    assert_eq!(ch.status().mempool, 0);
    let r = ch.submit((10..14).map(|n| data(2, n)).collect());
    assert_eq!(r.iter().filter(|r| r.is_ok()).count(), 3);
    assert!(matches!(r[3], Err(AdmitError::MempoolFull(3))));
    assert_eq!(AdmitError::MempoolFull(3).code(), -19);
    assert_eq!(AdmitError::Duplicate.code(), -108);
}

#[test]
fn tps_limit_refuses_with_the_original_code() {
    let db: Arc<dyn Backend> = Arc::new(MemDb::new());
    let key = Keypair::dev_account(1000);
    let store = ChannelStore::open(db, CH).expect("store");
    let limited = ChannelParams { tps_limit_per_sec: 5, ..params() };
    let ch = Channel::open(
        limited,
        store,
        &definition(&key),
        key,
        Some(lc_crypto::bls::BlsKeypair::dev(0)),
        Arc::new(lc_engine::ConfiguredWeights),
    )
    .expect("open");
    let r = ch.submit((0..8).map(|n| data(3, n)).collect());
    // A second boundary may fall inside the call: at least 5 and at most 8 accepted, and when
    // every transaction landed in one second exactly 5.
    let ok = r.iter().filter(|r| r.is_ok()).count();
    assert!((5..=8).contains(&ok), "{r:?}");
    if ok == 5 {
        assert!(r[5..].iter().all(|r| matches!(r, Err(AdmitError::OutOfTpsLimit(5)))));
        assert_eq!(AdmitError::OutOfTpsLimit(5).code(), -19);
    }
}

/// Sleeps on the `Data` payload "slow", succeeds otherwise.
#[derive(Debug)]
struct Sleepy;

impl Executor for Sleepy {
    fn execute(&mut self, _state: &dyn StateRead, _ctx: &BlockContext, tx: &Transaction, tx_hash: Hash) -> TxOutcome {
        if matches!(&tx.body.payload, Payload::Data { json } if json == "\"slow\"") {
            std::thread::sleep(Duration::from_secs(3));
        }
        TxOutcome { receipt: Receipt::success(tx_hash), writes: WriteSet::new() }
    }
}

#[test]
fn execution_deadline_halts_only_that_channel() {
    let db: Arc<dyn Backend> = Arc::new(MemDb::new());
    let key = Keypair::dev_account(1000);
    let params = ChannelParams { invoke_timeout: Duration::from_millis(300), ..params() };
    let slow_def = definition(&key);
    let slow = Channel::open(
        params.clone(),
        ChannelStore::open(Arc::clone(&db), CH).expect("store"),
        &slow_def,
        key.clone(),
        Some(lc_crypto::bls::BlsKeypair::dev(0)),
        Arc::new(lc_engine::ConfiguredWeights),
    )
    .expect("open");
    let other_def = ChannelDefinition { name: "other".into(), ..definition(&key) };
    let other = Channel::open(
        params,
        ChannelStore::open(db, "other").expect("store"),
        &other_def,
        key,
        Some(lc_crypto::bls::BlsKeypair::dev(0)),
        Arc::new(lc_engine::ConfiguredWeights),
    )
    .expect("open");
    let slow_driver = slow.spawn(Box::new(Sleepy)).expect("spawn");
    let other_driver = other.spawn(Box::new(Sleepy)).expect("spawn");

    let kp = Keypair::dev_account(9);
    let tx = kp.sign_tx(TxBody {
        channel: CH.into(),
        from: kp.public(),
        timestamp_us: now_us(),
        nonce: 1,
        payload: Payload::Data { json: "\"slow\"".into() },
    });
    let h = tx.hash();
    assert_eq!(slow.submit(vec![tx]), vec![Ok(h)]);
    wait_until("channel halted", || slow.status().halted.is_some());
    let reason = slow.status().halted.unwrap_or_default();
    assert!(reason.contains("exceeded the deadline") && reason.contains(&h.to_hex()), "{reason}");
    assert!(matches!(slow.tx_status(&h), Ok(TxStatus::Pending(_))), "nothing of the block was committed");

    // The other channel keeps committing.
    let before = other.status().height;
    let tx = data(9, 2);
    let tx = Keypair::dev_account(9).sign_tx(TxBody { channel: "other".into(), ..tx.body });
    let h2 = tx.hash();
    assert_eq!(other.submit(vec![tx]), vec![Ok(h2)]);
    wait_until("other channel commits", || matches!(other.tx_status(&h2), Ok(TxStatus::Committed(..))));
    assert!(other.status().height > before);
    assert!(other.status().halted.is_none());

    assert!(matches!(slow_driver.stop(), Err(lc_engine::Error::Deadline { .. })));
    other_driver.stop().expect("stop");
}
