//! SCORE execution costs on one core, over the in-memory state overlay:
//! - `call_overhead`: one host→SCORE→host round trip (hello's `count` query: one state read);
//! - `token_transfer`: one `transfer` through `ScoreExecutor` (two reads, two writes, one event),
//!   reported per transaction; transfers/s = 1 / time.
//!
//! Needs the SCORE libraries: `cargo build -p hello -p token` first. Run:
//! `cargo bench -p lc-engine --profile dev --bench score`.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lc_crypto::Keypair;
use lc_engine::{BlockContext, Executor, ScoreExecutor, ScoreRuntime, StateRead};
use lc_plugin_host::{CallContext, CallEnv, ScoreRegistry};
use lc_types::{Address, Payload, Transaction, TxBody, WriteSet};
use std::path::PathBuf;
use std::sync::Arc;

fn lib(name: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let p = target.join("debug").join(format!("lib{name}.so"));
    assert!(p.exists(), "{} missing: run `cargo build -p hello -p token` first", p.display());
    p
}

struct Overlay(WriteSet);

impl StateRead for Overlay {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key).cloned().flatten()
    }
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = Arc::new(ScoreRegistry::new(dir.path()).expect("registry"));
    let hello = registry.stage(&lib("hello")).expect("hello");
    let token = registry.stage(&lib("token")).expect("token");

    let mut g = c.benchmark_group("score");
    g.throughput(Throughput::Elements(1));
    let empty = |_: &[u8]| None;
    g.bench_function("call_overhead_hello_count_query", |b| {
        b.iter(|| {
            let mut ctx = CallContext::read_only("hello", &empty, CallEnv::default());
            hello.query(&mut ctx, "count", "").expect("query")
        })
    });

    // Token installed for 64 dev accounts, then transfers executed against the overlay.
    let admin = Keypair::dev_account(999);
    let runtime = ScoreRuntime::new(Arc::clone(&registry), "token", vec![admin.public()]);
    let mut exec = ScoreExecutor::new(runtime);
    let holders: Vec<_> = (0..64)
        .map(|i| serde_json::json!({"address": Address::of(&Keypair::dev_account(i).public()), "balance": "1000000000000000000"}))
        .collect();
    let ctx = BlockContext { channel: "bench".into(), height: 1, timestamp_us: 1, proposer: admin.public() };
    let deploy = admin.sign_tx(TxBody {
        channel: "bench".into(),
        from: admin.public(),
        timestamp_us: 1,
        nonce: 0,
        payload: Payload::Deploy {
            score: "token".into(),
            code_hash: token.code_hash,
            params: serde_json::json!({ "holders": holders }).to_string(),
        },
    });
    let mut state = Overlay(WriteSet::new());
    let out = exec.execute(&state, &ctx, &deploy, deploy.hash());
    assert_eq!(out.receipt.status, lc_types::ReceiptStatus::Success, "{:?}", out.receipt);
    state.0.extend(out.writes);
    let accounts: Vec<Keypair> = (0..64).map(Keypair::dev_account).collect();
    let txs: Vec<Transaction> = (0..1024u64)
        .map(|i| {
            let from = &accounts[(i % 64) as usize];
            let to = Address::of(&accounts[((i + 1) % 64) as usize].public());
            from.sign_tx(TxBody {
                channel: "bench".into(),
                from: from.public(),
                timestamp_us: 1,
                nonce: i,
                payload: Payload::Call {
                    score: "token".into(),
                    method: "transfer".into(),
                    params_json: serde_json::json!({"to": to, "value": "1"}).to_string(),
                },
            })
        })
        .collect();
    let hashes: Vec<_> = txs.iter().map(Transaction::hash).collect();
    let mut i = 0usize;
    g.bench_function("token_transfer_executed", |b| {
        b.iter(|| {
            let k = i % txs.len();
            i += 1;
            let out = exec.execute(&state, &ctx, &txs[k], hashes[k]);
            debug_assert_eq!(out.receipt.status, lc_types::ReceiptStatus::Success);
            out.writes.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
