//! SIGKILL a node while it commits blocks under load, restart it, and prove: every block and
//! transaction that was reported committed is still there, unchanged; no partial block is
//! visible; the chain links verify. Then inspect the RocksDB files directly.
use lc_storage::{ChannelStore, RocksDb, StorageConfig};
use lc_system_tests::{free_port, now_us, signed_data_tx, Node};
use lc_types::{merkle_root, Hash};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CH: &str = "loopchain_default";

#[derive(Default)]
struct Observed {
    accepted: BTreeSet<String>,
    /// tx hash → height reported by /transactions/result with code 0.
    committed_txs: BTreeMap<String, u64>,
    /// height → block hash reported by /blocks.
    committed_blocks: BTreeMap<u64, String>,
}

fn load_until_killed(base: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Observed>>, round: u64) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
    let mut nonce = round * 1_000_000;
    while !stop.load(Ordering::SeqCst) {
        let txs: Vec<Value> = (0..200)
            .map(|_| {
                nonce += 1;
                serde_json::to_value(signed_data_tx(CH, nonce % 16, nonce, &format!("{{\"n\":{nonce}}}"), now_us()))
                    .expect("json")
            })
            .collect();
        let body = json!({"signed_txs": txs}).to_string();
        let Ok(resp) = agent.post(&format!("{base}/api/v1/transactions/batch")).send_string(&body) else { return };
        let Ok(v) = resp.into_json::<Value>() else { return };
        let mut s = seen.lock().expect("lock");
        for r in v["results"].as_array().into_iter().flatten() {
            if let Some(h) = r["tx_hash"].as_str() {
                s.accepted.insert(h.to_owned());
            }
        }
    }
}

fn observe_until_killed(base: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Observed>>) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
    while !stop.load(Ordering::SeqCst) {
        let Ok(resp) = agent.get(&format!("{base}/api/v1/blocks")).call() else { return };
        let Ok(b) = resp.into_json::<Value>() else { return };
        let height = b["block_data_json"]["height"].as_u64().expect("height");
        let hash = b["block_hash"].as_str().expect("hash").to_owned();
        // Ask for a few accepted transactions; remember the ones reported committed.
        let sample: Vec<String> = seen.lock().expect("lock").accepted.iter().rev().take(5).cloned().collect();
        let mut reported = Vec::new();
        for h in sample {
            let Ok(resp) = agent.get(&format!("{base}/api/v1/transactions/result?hash={h}")).call() else { return };
            let Ok(r) = resp.into_json::<Value>() else { return };
            if r["response"]["code"] == 0 {
                reported.push((h, r["response"]["block_height"].as_u64().expect("height")));
            }
        }
        let mut s = seen.lock().expect("lock");
        s.committed_blocks.insert(height, hash);
        s.committed_txs.extend(reported);
        drop(s);
        std::thread::sleep(Duration::from_millis(30));
    }
}

#[test]
fn sigkill_under_load_loses_nothing_reported_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = Node::start(dir.path(), free_port(), &["INTERVAL_BLOCKGENERATION=0.1", "MAX_TX_COUNT_IN_BLOCK=300"]);
    let seen = Arc::new(Mutex::new(Observed::default()));

    for round in 0..3u64 {
        let stop = Arc::new(AtomicBool::new(false));
        let (base, s1, st1) = (node.base(), Arc::clone(&seen), Arc::clone(&stop));
        let loader = std::thread::spawn(move || load_until_killed(base, st1, s1, round));
        let (base, s2, st2) = (node.base(), Arc::clone(&seen), Arc::clone(&stop));
        let observer = std::thread::spawn(move || observe_until_killed(base, st2, s2));

        let (start_total, _) = node.progress();
        node.wait_for("commits under load", Duration::from_secs(60), |n| n.progress().0 > start_total + 3_000);
        std::thread::sleep(Duration::from_millis(137 * (round + 1)));
        node.kill9();
        stop.store(true, Ordering::SeqCst);
        loader.join().expect("loader");
        observer.join().expect("observer");

        node.restart();
        let s = seen.lock().expect("lock");
        assert!(!s.committed_blocks.is_empty() && !s.committed_txs.is_empty(), "observed nothing in round {round}");
        for (height, hash) in &s.committed_blocks {
            let (status, b) = node.get(&format!("/api/v1/blocks?height={height}"));
            assert_eq!(status, 200, "block {height} reported committed is gone after SIGKILL");
            assert_eq!(b["block_hash"].as_str(), Some(hash.as_str()), "block {height} changed after SIGKILL");
        }
        for (tx, height) in &s.committed_txs {
            let (status, r) = node.get(&format!("/api/v1/transactions/result?hash={tx}"));
            assert_eq!((status, &r["response"]["code"]), (200, &json!(0)), "tx {tx} reported committed is gone: {r}");
            assert_eq!(r["response"]["block_height"].as_u64(), Some(*height));
        }
        eprintln!(
            "round {round}: {} accepted, {} blocks and {} txs seen committed before SIGKILL",
            s.accepted.len(),
            s.committed_blocks.len(),
            s.committed_txs.len()
        );
        drop(s);
        // The restarted node keeps producing.
        let (_, h) = node.progress();
        node.wait_for("blocks after restart", Duration::from_secs(30), |n| n.progress().1 > h + 1);
    }

    let status = node.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "clean stop failed: {status}");

    // Direct inspection of the database files.
    let db = Arc::new(
        RocksDb::open(&dir.path().join(node.port.to_string()).join("db"), StorageConfig::default()).expect("open db"),
    );
    let store = ChannelStore::open(db, CH).expect("channel");
    let tip = store.tip().expect("tip").expect("non-empty chain");
    let mut prev = Hash::ZERO;
    let mut total = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    for height in 0..=tip.height {
        // block() fails with Corrupt if any transaction of the block is missing.
        let block = store.block_at(height).expect("readable").unwrap_or_else(|| panic!("gap at height {height}"));
        assert_eq!(block.header.height, height);
        assert_eq!(block.header.prev_hash, prev, "broken link at height {height}");
        let tx_hashes: Vec<Hash> = block.txs.iter().map(|t| t.hash()).collect();
        assert_eq!(block.header.tx_root, merkle_root(&tx_hashes), "tx root at height {height}");
        for (i, h) in tx_hashes.iter().enumerate() {
            let stored = store.tx(h).expect("read").expect("tx record");
            assert_eq!((stored.location.height, stored.location.index), (height, i as u32));
            let receipt = store.receipt(h).expect("read").expect("receipt of committed tx");
            assert_eq!(receipt.tx_hash, *h);
        }
        lc_crypto::verify_block_signature(&block)
            .or_else(|e| if height == 0 { Ok(()) } else { Err(e) })
            .expect("proposer signature");
        total += block.txs.len() as u64;
        prev = block.hash();
        assert!(Instant::now() < deadline, "verification too slow");
    }
    assert_eq!(store.block_hash_at(tip.height + 1).expect("read"), None, "a block beyond the tip is visible");
    assert_eq!(store.total_txs().expect("total"), total, "transaction counter disagrees with the blocks");
    // Every accepted transaction that reached the store sits in a block at or below the tip.
    let s = seen.lock().expect("lock");
    let mut found = 0;
    for h in &s.accepted {
        if let Some(stored) = store.tx(&Hash::from_hex(h).expect("hash")).expect("read") {
            assert!(stored.location.height <= tip.height);
            found += 1;
        }
    }
    assert!(found > 0);
}
