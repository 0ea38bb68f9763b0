//! The SCORE runtime on a channel over the in-memory store: Deploy (admin-only, by code hash,
//! idempotent), Call and Data transactions through the example SCOREs, receipts and queries, and
//! deterministic execution.
//!
//! Needs the example libraries: `cargo build -p hello -p token` first.
mod common;

use lc_crypto::Keypair;
use lc_engine::{
    now_us, BlockContext, Channel, ChannelParams, DriverHandle, Executor, QueryError, ScoreExecutor, ScoreRuntime,
    StateRead, TxStatus, NOT_ADMIN, SCORE_ERROR, SCORE_UNAVAILABLE, WRONG_SCORE,
};
use lc_plugin_host::{namespaced_key, ScoreRegistry};
use lc_storage::{Backend, ChannelStore, MemDb};
use lc_types::{
    encode, sha3, state_root, Address, ChannelDefinition, Hash, Payload, Receipt, ReceiptStatus, Transaction, TxBody,
    WriteSet,
};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CH: &str = "score_channel";
const NODE: u64 = 1000;

/// `<target>/debug/lib<name>.so`; panics with instructions when it was not built.
fn score_lib(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("workspace root");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let p = target.join("debug").join(format!("lib{name}.so"));
    assert!(
        p.is_file(),
        "SCORE library {} is missing: run `cargo build -p hello -p token` before these tests",
        p.display()
    );
    p
}

/// A registry in a temp dir with both example SCOREs staged.
struct Libs {
    _dir: tempfile::TempDir,
    registry: Arc<ScoreRegistry>,
    token: Hash,
    hello: Hash,
}

fn staged() -> Libs {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Arc::new(ScoreRegistry::new(dir.path()).expect("registry"));
    let token = registry.stage(&score_lib("token")).expect("stage token").code_hash;
    let hello = registry.stage(&score_lib("hello")).expect("stage hello").code_hash;
    Libs { _dir: dir, registry, token, hello }
}

fn node_key() -> Keypair {
    Keypair::dev_account(NODE)
}

fn hx(i: u64) -> String {
    Address::of(&Keypair::dev_account(i).public()).to_string()
}

fn definition(score: &str) -> ChannelDefinition {
    let key = node_key();
    common::definition(CH, vec![common::validator(&key, 0)], &key, score)
}

/// No empty blocks: a block is made only for transactions (plus the one that commits it), so
/// identical submissions give identical heights on independent channels.
fn params() -> ChannelParams {
    ChannelParams { interval: Duration::from_millis(50), allow_empty_blocks: false, ..ChannelParams::default() }
}

struct Node {
    ch: Arc<Channel>,
    runtime: ScoreRuntime,
    driver: Option<DriverHandle>,
}

impl Node {
    fn start(score: &str, registry: &Arc<ScoreRegistry>) -> Self {
        let db: Arc<dyn Backend> = Arc::new(MemDb::new());
        let store = ChannelStore::open(db, CH).expect("store");
        let def = definition(score);
        let ch = Channel::open(
            params(),
            store,
            &def,
            node_key(),
            Some(lc_crypto::bls::BlsKeypair::dev(0)),
            Arc::new(lc_engine::ConfiguredWeights),
        )
        .expect("open channel");
        let runtime = ScoreRuntime::new(Arc::clone(registry), score, def.admins);
        let driver = ch.spawn(Box::new(ScoreExecutor::new(runtime.clone()))).expect("spawn");
        Self { ch, runtime, driver: Some(driver) }
    }

    fn store(&self) -> &ChannelStore {
        self.ch.store()
    }

    /// Submits `txs` in one batch and waits until all are committed; their receipts, in order.
    fn run(&self, txs: &[Transaction]) -> Vec<Receipt> {
        let results = self.ch.submit(txs.to_vec());
        let hashes: Vec<Hash> = txs.iter().map(Transaction::hash).collect();
        assert_eq!(results, hashes.iter().map(|h| Ok(*h)).collect::<Vec<_>>(), "admission");
        hashes.iter().map(|h| self.wait_receipt(h)).collect()
    }

    fn run1(&self, tx: &Transaction) -> Receipt {
        self.run(std::slice::from_ref(tx)).remove(0)
    }

    fn wait_receipt(&self, h: &Hash) -> Receipt {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.ch.tx_status(h).expect("tx status") {
                TxStatus::Committed(_, r) => return *r,
                _ => {
                    assert!(self.ch.status().halted.is_none(), "channel halted: {:?}", self.ch.status().halted);
                    assert!(Instant::now() < deadline, "timed out waiting for {h} to commit");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    fn query(&self, score: &str, method: &str, params: &Value) -> Result<Value, QueryError> {
        self.runtime
            .query(self.store(), score, method, &params.to_string())
            .map(|s| serde_json::from_str(&s).expect("query result is JSON"))
    }

    fn balance(&self, account: u64) -> String {
        match self.query("token", "balance_of", &json!({"address": hx(account)})).expect("balance_of") {
            Value::String(s) => s,
            other => panic!("balance_of must return a decimal string, got {other}"),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(d) = self.driver.take() {
            let r = d.stop();
            if !std::thread::panicking() {
                r.expect("driver stops cleanly");
            }
        }
    }
}

fn sign(signer: &Keypair, nonce: u64, payload: Payload) -> Transaction {
    signer.sign_tx(TxBody { channel: CH.into(), from: signer.public(), timestamp_us: now_us(), nonce, payload })
}

fn deploy(signer: &Keypair, nonce: u64, score: &str, code_hash: Hash, params: &Value) -> Transaction {
    sign(signer, nonce, Payload::Deploy { score: score.into(), code_hash, params: params.to_string() })
}

fn transfer(from: u64, nonce: u64, to: u64, value: &str) -> Transaction {
    sign(
        &Keypair::dev_account(from),
        nonce,
        Payload::Call {
            score: "token".into(),
            method: "transfer".into(),
            params_json: json!({"to": hx(to), "value": value}).to_string(),
        },
    )
}

fn holders(list: &[(u64, &str)]) -> Value {
    json!({"holders": list.iter().map(|(i, b)| json!({"address": hx(*i), "balance": b})).collect::<Vec<_>>()})
}

fn assert_success(r: &Receipt) {
    assert_eq!(r.status, ReceiptStatus::Success, "{r:?}");
    assert!(r.error.is_empty(), "{r:?}");
}

fn assert_failure(r: &Receipt, code: u32) {
    assert_eq!(r.status, ReceiptStatus::Failure(code), "{r:?}");
    assert!(!r.error.is_empty(), "a failure carries a message: {r:?}");
    assert!(r.events.is_empty(), "a failure carries no events: {r:?}");
}

fn sys_key(score: &str) -> Vec<u8> {
    format!("sys/score/{score}").into_bytes()
}

fn balance_key(account: u64) -> Vec<u8> {
    namespaced_key("token", format!("balance/{}", hx(account)).as_bytes())
}

#[test]
fn deploy_then_transfers_with_receipts_and_queries() {
    let libs = staged();
    let node = Node::start("token", &libs.registry);
    let admin = node_key();

    assert!(matches!(node.query("token", "balance_of", &json!({"address": hx(1)})), Err(QueryError::NotDeployed(_))));
    let r = node.run1(&deploy(&admin, 1, "token", libs.token, &holders(&[(1, "1000")])));
    assert_success(&r);
    let active = node.runtime.active(node.store(), "token").expect("read").expect("token is active");
    assert_eq!(active.code_hash, libs.token);
    assert_eq!(active.version, "1.0.0");
    assert_eq!(node.balance(1), "1000");
    assert_eq!(node.balance(2), "0");
    assert_eq!(node.query("token", "total_supply", &Value::Null).expect("total_supply"), json!("1000"));

    // 300 from account 1 to account 2.
    let r = node.run1(&transfer(1, 1, 2, "300"));
    assert_success(&r);
    assert_eq!(r.result_json, "true");
    assert_eq!(r.events.len(), 1, "{r:?}");
    assert_eq!((r.events[0].score.as_str(), r.events[0].name.as_str()), ("token", "Transfer"));
    let ev: Value = serde_json::from_str(&r.events[0].data_json).expect("event JSON");
    assert_eq!(ev, json!({"from": hx(1), "to": hx(2), "value": "300"}));
    assert_eq!((node.balance(1), node.balance(2)), ("700".to_owned(), "300".to_owned()));

    // More than the balance: SCORE error, nothing changes.
    let r = node.run1(&transfer(2, 2, 1, "301"));
    assert_failure(&r, SCORE_ERROR);
    assert!(r.error.contains("insufficient balance"), "{r:?}");
    assert_eq!((node.balance(1), node.balance(2)), ("700".to_owned(), "300".to_owned()));
    assert_eq!(
        node.store().state_get(&balance_key(2)).expect("read"),
        Some(300u128.to_le_bytes().to_vec()),
        "stored balance is 16 LE bytes under the namespaced key"
    );

    // A staged but undeployed SCORE cannot be called.
    let call = sign(
        &Keypair::dev_account(1),
        3,
        Payload::Call { score: "hello".into(), method: "store".into(), params_json: "{}".into() },
    );
    let r = node.run1(&call);
    assert_failure(&r, SCORE_UNAVAILABLE);
    assert!(r.error.contains("not deployed"), "{r:?}");
    assert!(matches!(node.query("hello", "count", &Value::Null), Err(QueryError::NotDeployed(_))));
    // Data txs go to the channel SCORE, which does not take them: a SCORE error.
    let r = node.run1(&node.ch.data_tx("{\"a\":1}".into()).expect("data tx"));
    assert_failure(&r, SCORE_ERROR);
    assert_eq!((node.balance(1), node.balance(2)), ("700".to_owned(), "300".to_owned()));
}

#[test]
fn deploy_is_admin_only_by_staged_hash_of_the_named_score_and_idempotent() {
    let libs = staged();
    let node = Node::start("token", &libs.registry);
    let admin = node_key();
    let outsider = Keypair::dev_account(1);
    let params = holders(&[(1, "1000")]);

    let r = node.run1(&deploy(&outsider, 1, "token", libs.token, &params));
    assert_failure(&r, NOT_ADMIN);
    assert_eq!(NOT_ADMIN, 9101);
    assert_eq!(node.runtime.active(node.store(), "token").expect("read"), None, "a refused Deploy activated code");
    assert_eq!(node.store().state_get(&balance_key(1)).expect("read"), None, "a refused Deploy ran on_install");

    let unstaged = sha3(b"no library has this content");
    let r = node.run1(&deploy(&admin, 1, "token", unstaged, &params));
    assert_failure(&r, SCORE_UNAVAILABLE);
    assert_eq!(node.runtime.active(node.store(), "token").expect("read"), None);

    let r = node.run1(&deploy(&admin, 2, "hello", libs.token, &params));
    assert_failure(&r, WRONG_SCORE);
    assert_eq!(node.runtime.active(node.store(), "hello").expect("read"), None);
    assert_eq!(node.runtime.active(node.store(), "token").expect("read"), None);
    assert!(matches!(node.query("token", "total_supply", &Value::Null), Err(QueryError::NotDeployed(_))));

    let r = node.run1(&deploy(&admin, 3, "token", libs.token, &params));
    assert_success(&r);
    assert_eq!(node.balance(1), "1000");
    let keys = [sys_key("token"), balance_key(1), balance_key(3), namespaced_key("token", b"total_supply")];
    let snapshot =
        |n: &Node| -> Vec<Option<Vec<u8>>> { keys.iter().map(|k| n.store().state_get(k).expect("read")).collect() };
    let before = snapshot(&node);
    assert!(before[0].is_some() && before[1].is_some() && before[3].is_some());
    let active = node.runtime.active(node.store(), "token").expect("read").expect("active");

    // The same code again, even with other params: success, nothing re-runs.
    let r = node.run1(&deploy(&admin, 4, "token", libs.token, &holders(&[(3, "5")])));
    assert_success(&r);
    assert_eq!(serde_json::from_str::<Value>(&r.result_json).expect("JSON"), json!({"already_active": true}));
    assert_eq!(snapshot(&node), before, "an idempotent Deploy changed state");
    assert_eq!(node.runtime.active(node.store(), "token").expect("read"), Some(active));
    assert_eq!((node.balance(1), node.balance(3)), ("1000".to_owned(), "0".to_owned()));
}

/// Every transaction of the determinism scenarios, in order, with an admin key.
fn scenario(libs: &Libs) -> Vec<Vec<Transaction>> {
    let admin = node_key();
    vec![
        vec![deploy(&admin, 1, "token", libs.token, &holders(&[(1, "1000"), (2, "50")]))],
        vec![transfer(1, 1, 2, "300"), transfer(2, 1, 3, "400"), transfer(2, 2, 3, "200"), transfer(3, 1, 1, "1")],
        vec![
            deploy(&Keypair::dev_account(1), 2, "token", libs.hello, &Value::Null),
            deploy(&admin, 2, "hello", libs.hello, &json!({})),
            sign(
                &Keypair::dev_account(4),
                1,
                Payload::Call { score: "hello".into(), method: "store".into(), params_json: "{\"v\":[1,2]}".into() },
            ),
            sign(
                &Keypair::dev_account(4),
                2,
                Payload::Call { score: "hello".into(), method: "panic".into(), params_json: String::new() },
            ),
            transfer(1, 3, 4, "700"),
            sign(&admin, 3, Payload::Data { json: "{\"d\":true}".into() }),
        ],
    ]
}

#[test]
fn independent_channels_reach_the_same_score_state_and_receipts() {
    let libs = staged();
    let (a, b) = (Node::start("token", &libs.registry), Node::start("token", &libs.registry));
    let batches = scenario(&libs);
    let mut receipts = Vec::new();
    for batch in &batches {
        let ra = a.run(batch);
        let rb = b.run(batch);
        receipts.extend(ra.iter().cloned());
        assert_eq!(ra, rb, "receipts differ");
    }
    // The scenario exercises successes and failures.
    assert!(receipts.iter().any(|r| r.status == ReceiptStatus::Success && !r.events.is_empty()));
    assert!(receipts.iter().any(|r| r.status == ReceiptStatus::Failure(SCORE_ERROR)));
    assert!(receipts.iter().any(|r| r.status == ReceiptStatus::Failure(NOT_ADMIN)));

    // Stored receipts by tx hash, byte for byte.
    for tx in batches.iter().flatten() {
        let h = tx.hash();
        let (ra, rb) = (a.store().receipt(&h).expect("read"), b.store().receipt(&h).expect("read"));
        let (ra, rb) = (ra.expect("receipt on a"), rb.expect("receipt on b"));
        assert_eq!(encode(&ra), encode(&rb), "receipt of {h}");
        assert_eq!((&ra.status, &ra.result_json, &ra.events), (&rb.status, &rb.result_json, &rb.events));
    }
    let mut keys = vec![sys_key("token"), sys_key("hello"), namespaced_key("token", b"total_supply")];
    keys.extend((0..6).map(balance_key));
    keys.push(namespaced_key("hello", b"count"));
    for k in &keys {
        let (va, vb) = (a.store().state_get(k).expect("read"), b.store().state_get(k).expect("read"));
        assert_eq!(va, vb, "state at {:?} differs", String::from_utf8_lossy(k));
    }
    assert!(a.store().state_get(&sys_key("token")).expect("read").is_some());
    assert!(a.store().state_get(&sys_key("hello")).expect("read").is_some());
    // Balances: 1: 1000-300+1-700 = 1, 2: 50+300-200 = 150 (the 400 failed), 3: 200-1 = 199, 4: 700.
    for (acct, want) in [(1, "1"), (2, "150"), (3, "199"), (4, "700")] {
        assert_eq!(a.balance(acct), want, "balance of account {acct}");
        assert_eq!(b.balance(acct), want);
    }
    assert_eq!(a.query("hello", "count", &Value::Null).expect("count"), json!("1"));
}

/// State as a plain map (what a block's state view looks like to the executor).
#[derive(Debug, Default)]
struct MapState(WriteSet);

impl StateRead for MapState {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key).cloned().flatten()
    }
}

/// Runs the whole scenario through a fresh executor: per-tx (receipt, writes), and all writes.
fn execute_all(libs: &Libs, txs: &[Transaction]) -> (Vec<(Receipt, WriteSet)>, WriteSet) {
    let runtime = ScoreRuntime::new(Arc::clone(&libs.registry), "token", vec![node_key().public()]);
    let mut exec = ScoreExecutor::new(runtime);
    let bctx = BlockContext {
        channel: CH.into(),
        height: 7,
        timestamp_us: 1_700_000_000_000_000,
        proposer: node_key().public(),
    };
    let mut state = MapState::default();
    let mut merged = WriteSet::new();
    let mut out = Vec::new();
    for tx in txs {
        let o = exec.execute(&state, &bctx, tx, tx.hash());
        if o.receipt.status == ReceiptStatus::Success {
            state.0.extend(o.writes.clone());
            merged.extend(o.writes.clone());
        } else {
            assert!(o.writes.is_empty(), "a failed transaction has writes: {o:?}");
        }
        out.push((o.receipt, o.writes));
    }
    (out, merged)
}

#[test]
fn executor_is_deterministic_over_the_same_state() {
    let libs = staged();
    let txs: Vec<Transaction> = scenario(&libs).into_iter().flatten().collect();
    let (first, merged1) = execute_all(&libs, &txs);
    let (second, merged2) = execute_all(&libs, &txs);
    assert_eq!(first.len(), txs.len());
    for (i, ((r1, w1), (r2, w2))) in first.iter().zip(&second).enumerate() {
        assert_eq!(encode(r1), encode(r2), "receipt of tx {i}");
        assert_eq!(encode(w1), encode(w2), "writes of tx {i}");
    }
    assert!(!merged1.is_empty());
    assert_eq!(encode(&merged1), encode(&merged2));
    let parent = sha3(b"parent");
    assert_eq!(state_root(&parent, &merged1), state_root(&parent, &merged2));
    // The same outcomes as on the channels: transfers succeed or fail on balances alone.
    let statuses: Vec<ReceiptStatus> = first.iter().map(|(r, _)| r.status).collect();
    assert_eq!(
        statuses,
        vec![
            ReceiptStatus::Success,
            ReceiptStatus::Success,
            ReceiptStatus::Failure(SCORE_ERROR),
            ReceiptStatus::Success,
            ReceiptStatus::Success,
            ReceiptStatus::Failure(NOT_ADMIN),
            ReceiptStatus::Success,
            ReceiptStatus::Success,
            ReceiptStatus::Failure(SCORE_ERROR),
            ReceiptStatus::Success,
            ReceiptStatus::Failure(SCORE_ERROR),
        ]
    );
    // The Deploy's activation record carries the block height.
    let active = ScoreRuntime::active_in(&|k: &[u8]| merged1.get(k).cloned().flatten(), "token").expect("active");
    assert_eq!((active.code_hash, active.since_height), (libs.token, 7));
    assert!(first[9].0.events.len() == 1 && first[9].0.events[0].name == "Transfer");
}

#[test]
fn data_transactions_go_to_the_channel_score() {
    let libs = staged();
    let node = Node::start("hello", &libs.registry);
    let admin = node_key();

    // Before hello is deployed, data has nowhere to go.
    let early = node.ch.data_tx("{\"early\":1}".into()).expect("data tx");
    assert_failure(&node.run1(&early), SCORE_UNAVAILABLE);

    assert_success(&node.run1(&deploy(&admin, 1, "hello", libs.hello, &json!({}))));
    let posted = json!({"message": "hi", "n": [1, 2, 3], "nested": {"ok": true}});
    let tx = node.ch.data_tx(posted.to_string()).expect("data tx");
    let r = node.run1(&tx);
    assert_success(&r);
    assert_eq!(serde_json::from_str::<Value>(&r.result_json).expect("JSON"), json!({"stored": "1"}));

    let h = tx.hash().to_hex();
    assert_eq!(node.query("hello", "get", &json!({"tx_hash": h})).expect("get"), posted);
    assert_eq!(
        node.query("hello", "get", &json!({"tx_hash": format!("0x{}", h.to_uppercase())})).expect("get 0x"),
        posted
    );
    assert_eq!(node.query("hello", "get", &json!({"tx_hash": early.hash().to_hex()})).expect("get"), Value::Null);
    assert_eq!(node.query("hello", "count", &Value::Null).expect("count"), json!("1"));
    assert!(matches!(node.query("hello", "nope", &Value::Null), Err(QueryError::Score(_))));
}
