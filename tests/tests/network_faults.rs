//! Network faults on real clusters: 4 (or 5) `loopchain peer` processes on 127.0.0.1 sharing one
//! channel file (dev keys derived from the peer targets), killed with SIGKILL and restarted.
//! Asserts that transactions reach every member, that the chain goes on with one member down,
//! stops (without forking) with two of four down and resumes when one returns, and that a
//! restarted or late-joining member catches up by block sync and takes part again.
//!
//! PARALLELISM: the tests must NOT run concurrently. Each runs 4–5 nodes with 300 ms consensus
//! timeouts; several clusters at once on a small machine starve each other's timers (spurious
//! timeouts, slow progress) and make the timing assertions meaningless. Every test therefore
//! takes the `SERIAL` lock first, so plain `cargo test` (default threads) is safe; run them alone
//! with `cargo test --offline -p lc-system-tests --test network_faults -- --test-threads=1`.
use lc_system_tests::Cluster;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

const A: &str = "loopchain_default";
const B: &str = "channel_b";
const FAST: &[&str] = &["TIMEOUT_PROPOSE_MS=300", "TIMEOUT_VOTE_MS=300", "INTERVAL_BLOCKGENERATION=0.5"];
/// Deadline of anything that should take a few seconds on a quiet machine.
const LONG: Duration = Duration::from_secs(90);

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn max_height(c: &Cluster, idx: &[usize]) -> u64 {
    c.heights(A, idx).into_iter().max().expect("nodes")
}

fn done(name: &str, t0: Instant) {
    eprintln!("{name}: {:.1} s", t0.elapsed().as_secs_f64());
}

#[test]
fn tx_sent_to_any_peer_commits_on_all() {
    let _serial = serial();
    let t0 = Instant::now();
    // Channel A: all four; channel B: nodes 0, 1, 2 (node 3 is listed in A only).
    let mut c = Cluster::new(4, &[(A, &[0, 1, 2, 3]), (B, &[0, 1, 2])], FAST);
    for i in 0..4 {
        c.start(i);
    }
    let all = [0, 1, 2, 3];
    c.wait_height(A, &all, 2, LONG);
    c.wait_height(B, &[0, 1, 2], 2, LONG);

    // A data transaction posted to peer 3 commits on every member, in the same block.
    let (status, v) =
        c.node(3).post("/api/v1/transactions", &format!(r#"{{"data":"via peer 3","channel":"{A}"}}"#), None);
    assert_eq!(status, 200, "{v}");
    let tx = v["tx_hash"].as_str().expect("tx_hash").to_owned();
    let results: Vec<_> = all.iter().map(|i| c.node(*i).wait_committed(A, &tx, LONG)).collect();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r["code"], 0, "node {i}: {r}");
        assert_eq!(r["block_hash"], results[0]["block_hash"], "node {i} committed {tx} in another block");
        assert_eq!(r["block_height"], results[0]["block_height"], "node {i}");
    }
    let height = results[0]["block_height"].as_u64().expect("height");
    for i in all {
        let block = c.node(i).block_at(A, height).expect("block of the tx");
        assert_eq!(block["block_hash"], results[0]["block_hash"], "node {i}");
        let txs = block["tx_data_json"].as_array().expect("txs");
        assert!(txs.iter().any(|t| t["tx_hash"] == tx.as_str()), "node {i}: tx missing from its block: {block}");
    }

    // A transaction of channel B (sent to peer 1) commits on B's members.
    let (status, v) = c.node(1).post("/api/v1/transactions", &format!(r#"{{"data":"for B","channel":"{B}"}}"#), None);
    assert_eq!(status, 200, "{v}");
    let tx_b = v["tx_hash"].as_str().expect("tx_hash").to_owned();
    for i in [0, 1, 2] {
        assert_eq!(c.node(i).wait_committed(B, &tx_b, LONG)["code"], 0, "node {i}");
    }
    // Let both channels move on, then: A's transaction is unknown in B and B's in A.
    let hb = c.heights(B, &[0, 1, 2]).into_iter().max().expect("heights");
    c.wait_height(B, &[0, 1, 2], hb + 3, LONG);
    c.wait_height(A, &all, height + 3, LONG);
    for i in [0, 1, 2] {
        let (status, r) = c.node(i).get(&format!("/api/v1/transactions/result?hash={tx}&channel={B}"));
        assert_eq!(
            (status, &r["response"]["code"]),
            (404, &serde_json::json!(3)),
            "A's tx visible in B on node {i}: {r}"
        );
        let (status, r) = c.node(i).get(&format!("/api/v1/transactions?hash={tx}&channel={B}"));
        assert_eq!(status, 404, "A's tx visible in B on node {i}: {r}");
    }
    for i in all {
        let (status, r) = c.node(i).get(&format!("/api/v1/transactions/result?hash={tx_b}&channel={A}"));
        assert_eq!(
            (status, &r["response"]["code"]),
            (404, &serde_json::json!(3)),
            "B's tx visible in A on node {i}: {r}"
        );
    }

    // Node 3 is not listed in B: it does not run it.
    for path in [
        format!("/api/v1/status/peer?channel={B}"),
        format!("/api/v1/blocks?height=0&channel={B}"),
        format!("/api/v1/transactions/result?hash={tx_b}&channel={B}"),
    ] {
        let (status, r) = c.node(3).get(&path);
        assert_eq!(status, 404, "{path} on node 3: {r}");
        assert!(r["message"].as_str().is_some_and(|m| m.contains("not served")), "{path} on node 3: {r}");
    }
    let (status, r) = c.node(3).post("/api/v1/transactions", &format!(r#"{{"data":"x","channel":"{B}"}}"#), None);
    assert_eq!(status, 404, "node 3 accepted a transaction for B: {r}");
    assert!(c.node(3).logs().contains("not listed in this channel: not running it"), "{}", c.node(3).logs());

    c.assert_same_chain(A, &all);
    c.assert_same_chain(B, &[0, 1, 2]);
    done("tx_sent_to_any_peer_commits_on_all", t0);
}

/// Kills one of four nodes (the current leader, or a node that is not), then checks that the
/// three others commit ≥ 5 more blocks with identical hashes.
fn one_of_four_down(kill_leader: bool) {
    let all = [0, 1, 2, 3];
    let mut c = Cluster::start_all(4, A, FAST);
    c.wait_height(A, &all, 3, LONG);
    let deadline = Instant::now() + LONG;
    let leader = loop {
        if let Some(l) = c.leader(A, &all) {
            break l;
        }
        assert!(Instant::now() < deadline, "no node reports leading its round{}", c.log_tails());
        std::thread::sleep(Duration::from_millis(10));
    };
    let victim = if kill_leader { leader } else { (leader + 2) % 4 };
    c.kill9(victim);
    let rest: Vec<usize> = all.into_iter().filter(|i| *i != victim).collect();
    let h0 = max_height(&c, &rest);
    c.wait_height(A, &rest, h0 + 5, LONG);
    let top = c.assert_same_chain(A, &rest);
    assert!(top >= h0 + 5);
    eprintln!("killed node {victim} (leader: {leader}) at height {h0}; the other three reached {top}");
    // The survivors keep proposing in turn: blocks above h0 come from each of them.
    let proposers: std::collections::BTreeSet<String> = (h0 + 1..=top)
        .map(|h| c.node(rest[0]).block_at(A, h).expect("block")["block_data_json"]["peer_id"].to_string())
        .collect();
    assert!(proposers.len() >= 2, "blocks {}..={top} all from one proposer: {proposers:?}", h0 + 1);
}

#[test]
fn leader_killed_next_rounds_commit() {
    let _serial = serial();
    let t0 = Instant::now();
    one_of_four_down(true);
    done("leader_killed_next_rounds_commit", t0);
}

#[test]
fn one_of_four_down_chain_continues() {
    let _serial = serial();
    let t0 = Instant::now();
    one_of_four_down(false);
    done("one_of_four_down_chain_continues", t0);
}

/// Tip (height → hash) of every node of `idx`, remembered across samples: panics on two hashes
/// for one height.
fn record_tips(c: &Cluster, idx: &[usize], seen: &mut BTreeMap<u64, (usize, String)>) {
    for i in idx {
        let s = c.node(*i).status(A);
        let h = s["block_height"].as_u64().expect("height");
        let hash = s["block_hash"].as_str().expect("hash").to_owned();
        match seen.get(&h) {
            Some((j, other)) if *other != hash => {
                panic!("FORK at height {h}: node {j} has {other}, node {i} has {hash}{}", c.log_tails())
            }
            Some(_) => {}
            None => {
                seen.insert(h, (*i, hash));
            }
        }
    }
}

#[test]
fn two_of_four_down_no_commit_no_fork_then_resumes() {
    let _serial = serial();
    let t0 = Instant::now();
    let all = [0, 1, 2, 3];
    let mut c = Cluster::start_all(4, A, FAST);
    c.wait_height(A, &all, 3, LONG);
    let mut seen = BTreeMap::new();
    record_tips(&c, &all, &mut seen);

    c.kill9(2);
    c.kill9(3);
    let survivors = [0, 1];
    let h0 = max_height(&c, &survivors);
    // No quorum (2 of 4): at most one in-flight commit lands; nothing forks.
    let observe = Instant::now() + Duration::from_secs(4);
    while Instant::now() < observe {
        record_tips(&c, &survivors, &mut seen);
        std::thread::sleep(Duration::from_millis(100));
    }
    let h1 = max_height(&c, &survivors);
    assert!(h1 <= h0 + 1, "2 of 4 validators committed without a quorum: height {h0} -> {h1}{}", c.log_tails());
    c.assert_same_chain(A, &survivors);
    eprintln!("2 of 4 down: height {h0} at the kill, {h1} after 4 s");

    // One comes back: 3 of 4, commits resume and the returning node catches up.
    c.start(2);
    let three = [0, 1, 2];
    c.wait_height(A, &three, h1 + 3, LONG);
    let target = max_height(&c, &three);
    c.wait_height(A, &three, target + 3, LONG);
    record_tips(&c, &three, &mut seen);
    c.assert_same_chain(A, &three);

    // The other one comes back too; all four agree on every block ever committed.
    c.start(3);
    let target = max_height(&c, &three);
    c.wait_height(A, &all, target + 2, LONG);
    record_tips(&c, &all, &mut seen);
    let top = c.assert_same_chain(A, &all);
    for (h, (_, hash)) in seen.range(..=top) {
        assert_eq!(c.node(0).block_hash_at(A, *h).as_ref(), Some(hash), "tip seen at height {h} was replaced");
    }
    done("two_of_four_down_no_commit_no_fork_then_resumes", t0);
}

#[test]
fn restarted_node_syncs_and_votes_again() {
    let _serial = serial();
    let t0 = Instant::now();
    let all = [0, 1, 2, 3];
    let others = [0, 1, 2];
    let mut c = Cluster::start_all(4, A, FAST);
    c.wait_height(A, &all, 3, LONG);
    let me = c.node(3).peer_id(A);
    let stopped_at = c.node(3).height(A);
    c.kill9(3);
    let h0 = max_height(&c, &others);
    c.wait_height(A, &others, h0 + 20, LONG);
    c.start(3);
    let target = max_height(&c, &others);
    let synced_to = target;
    c.wait_height(A, &[3], target, LONG);
    assert!(
        c.node(3).logs().contains("synced committed blocks"),
        "node 3 caught up from {stopped_at} to {target} without block sync?{}",
        c.log_tails()
    );
    c.assert_same_chain(A, &all);

    // It votes again: its vote is in the QC of a later block (the QCs are whatever quorum came
    // first, so look over a stretch of blocks; its own proposals always carry its own vote).
    let from = c.node(0).height(A) + 1;
    let deadline = Instant::now() + LONG;
    let mut h = from;
    let signed_at = loop {
        c.wait_height(A, &[0], h, LONG);
        let signers = c.node(0).qc_signers(A, h).expect("block above genesis carries a QC");
        assert!(signers.len() >= 3, "QC of block {h} has {} signers: {signers:?}", signers.len());
        if signers.contains(&me) {
            break h;
        }
        assert!(Instant::now() < deadline, "node 3 ({me}) signed no QC in blocks {from}..={h}{}", c.log_tails());
        h += 1;
    };
    // And it keeps pace for 10 more blocks.
    let target = max_height(&c, &all);
    c.wait_height(A, &all, target + 10, LONG);
    c.assert_same_chain(A, &all);
    eprintln!(
        "node 3 stopped at {stopped_at}, synced to {synced_to}, in the QC of block {signed_at}, kept pace to {}",
        target + 10
    );
    done("restarted_node_syncs_and_votes_again", t0);
}

#[test]
fn new_node_joins_later_and_syncs_from_genesis() {
    let _serial = serial();
    let t0 = Instant::now();
    // Five equal validators: quorum is 4 of 5, so the first four commit alone.
    let mut c = Cluster::new(5, &[(A, &[0, 1, 2, 3, 4])], FAST);
    let first = [0, 1, 2, 3];
    for i in first {
        c.start(i);
    }
    c.wait_height(A, &first, 15, LONG);
    c.start(4);
    let target = max_height(&c, &first);
    c.wait_height(A, &[4], target, LONG);
    assert!(c.node(4).logs().contains("synced committed blocks"), "{}", c.log_tails());
    let all = [0, 1, 2, 3, 4];
    let top = c.assert_same_chain(A, &all);
    assert!(top >= target);
    // It takes part from now on: the five keep committing together.
    c.wait_height(A, &all, top + 5, LONG);
    c.assert_same_chain(A, &all);
    done("new_node_joins_later_and_syncs_from_genesis", t0);
}

/// 4 members of channel A, each with its own (empty) SCORE library directory, committing.
fn cluster_with_own_libraries() -> (Cluster, Vec<std::path::PathBuf>) {
    let mut c = Cluster::new(4, &[(A, &[0, 1, 2, 3])], FAST);
    let libs: Vec<std::path::PathBuf> = (0..4).map(|i| c.dir().join(format!("libs{i}"))).collect();
    for (i, dir) in libs.iter().enumerate() {
        std::fs::create_dir_all(dir).expect("library dir");
        let set = format!("SCORE_PACKAGE_PATH={}", dir.display());
        c.start_with(i, &[set.as_str()]);
    }
    c.wait_height(A, &[0, 1, 2, 3], 2, LONG);
    (c, libs)
}

/// A SCORE build dropped into one node's library directory is staged there, deployed by that node
/// (it holds an admin key: members without `admins` are all admins in dev), and every other node,
/// whose library directory stays empty, fetches the code from a peer by its hash when it executes
/// the `Deploy` and runs it: the SCORE is active and answers queries on all four.
#[test]
fn score_build_dropped_on_one_node_becomes_active_on_all() {
    let _serial = serial();
    let t0 = Instant::now();
    let (c, libs) = cluster_with_own_libraries();
    let all = [0, 1, 2, 3];
    for i in all {
        let (_, s) = c.node(i).get(&format!("/api/v1/status/score?channel={A}"));
        assert_eq!(s["status"], "not deployed", "node {i} has no hello build yet: {s}");
    }

    let src = lc_system_tests::profile_dir().join("libhello.so");
    assert!(src.exists(), "{} is built by the harness", src.display());
    lc_system_tests::install(&src, &libs[0], "libhello.so");
    let deadline = Instant::now() + LONG;
    let mut hashes = BTreeMap::new();
    while hashes.len() < all.len() {
        for i in all {
            let (_, s) = c.node(i).get(&format!("/api/v1/status/score?channel={A}"));
            if s["status"] == "active" {
                hashes.insert(i, s["code_hash"].clone());
            }
        }
        assert!(Instant::now() < deadline, "hello not active on all nodes: {hashes:?}{}", c.log_tails());
        std::thread::sleep(Duration::from_millis(200));
    }
    let first = hashes[&0].clone();
    assert!(hashes.values().all(|h| *h == first), "same code on every node: {hashes:?}");
    for (i, dir) in libs.iter().enumerate().skip(1) {
        let staged = std::fs::read_dir(dir).expect("lib dir").count();
        assert_eq!(staged, 0, "node {i}'s library directory stays empty: the code came from a peer");
    }

    // It runs there: a data transaction sent to node 3 is stored by the SCORE and read on node 2.
    let (status, v) = c.node(3).post("/api/v1/transactions", r#"{"data":"fetched by hash"}"#, None);
    assert_eq!(status, 200, "{v}");
    let tx = v["tx_hash"].as_str().expect("tx_hash").to_owned();
    for i in all {
        let r = c.node(i).wait_committed(A, &tx, LONG);
        assert_eq!(r["code"], 0, "node {i}: {r}");
    }
    let (status, q) = c.node(2).post(
        "/api/v1/query",
        &serde_json::json!({"method": "get", "params": {"tx_hash": tx}}).to_string(),
        None,
    );
    assert_eq!(status, 200, "{q}");
    assert!(q["response"].to_string().contains("fetched by hash"), "{q}");
    c.assert_same_chain(A, &all);
    done("score_build_dropped_on_one_node_becomes_active_on_all", t0);
}

/// A `Deploy` whose code no member has is not turned into a failure receipt by nodes that merely
/// lack the code (that guess would differ from a node that has it): it stays pending while the
/// chain goes on, and commits successfully on every node once one member has the build.
#[test]
fn deploy_of_code_no_member_has_waits_until_one_has_it() {
    let _serial = serial();
    let t0 = Instant::now();
    let (c, libs) = cluster_with_own_libraries();
    let all = [0, 1, 2, 3];

    // Node 1's admin key (every listed member is an admin in dev) deploys hello by hash.
    let src = lc_system_tests::profile_dir().join("libhello.so");
    let code_hash = lc_types::sha3(&std::fs::read(&src).expect("read libhello.so"));
    let key = lc_system_tests::dev_peer_key(&format!("127.0.0.1:{}", c.ports[1]));
    let tx = lc_system_tests::signed_deploy_tx(A, &key, 1, "hello", code_hash, "{}");
    let (status, v) = c.node(1).post("/api/v1/transactions", &serde_json::json!({"signed_tx": tx}).to_string(), None);
    assert_eq!(status, 200, "{v}");
    let hash = v["tx_hash"].as_str().expect("tx_hash").to_owned();

    // The chain goes on; the Deploy stays pending everywhere.
    let h0 = max_height(&c, &all);
    c.wait_height(A, &all, h0 + 6, LONG);
    for i in all {
        let (_, r) = c.node(i).get(&format!("/api/v1/transactions/result?hash={hash}&channel={A}"));
        assert_eq!(r["response"]["code"], 2, "node {i}: the Deploy must stay pending, not fail: {r}");
    }

    // Node 3 gets the build: the others fetch it by hash, and the same Deploy commits with success.
    lc_system_tests::install(&src, &libs[3], "libhello.so");
    for i in all {
        let r = c.node(i).wait_committed(A, &hash, LONG);
        assert_eq!(r["code"], 0, "node {i}: {r}");
    }
    c.assert_same_chain(A, &all);
    done("deploy_of_code_no_member_has_waits_until_one_has_it", t0);
}

/// A `ChannelConfig` switching to a consensus plugin build that only one member has: at the epoch
/// boundary the others fetch it by code hash (checked) and every member enters the new epoch.
#[test]
fn consensus_plugin_build_only_one_member_has_is_fetched_at_the_epoch_switch() {
    let _serial = serial();
    let t0 = Instant::now();
    let (c, libs) = cluster_with_own_libraries();
    let all = [0, 1, 2, 3];
    // A build of the weighted plugin no other node has: the standard library with trailing bytes
    // (ignored by the loader; a new code hash).
    let mut bytes =
        std::fs::read(lc_system_tests::profile_dir().join("libconsensus_weighted.so")).expect("weighted plugin built");
    bytes.extend_from_slice(b"\0a loopchain test build that only node 0 has");
    let hash = lc_types::sha3(&bytes).to_hex();
    let custom = c.dir().join("libconsensus_weighted.so");
    std::fs::write(&custom, &bytes).expect("write the custom build");
    let staged = |i: usize| -> bool {
        let dir = c.node(i).storage.join(c.ports[i].to_string()).join("plugins").join("consensus");
        std::fs::read_dir(dir)
            .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().contains(&hash)))
            .unwrap_or(false)
    };
    lc_system_tests::install(&custom, &libs[0], "libconsensus_weighted.so");
    let deadline = Instant::now() + LONG;
    while !staged(0) {
        assert!(Instant::now() < deadline, "node 0 did not stage the rebuilt plugin{}", c.log_tails());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!((1..4).all(|i| !staged(i)), "only node 0 has the build");

    // Node 0 (an admin in dev) schedules epoch 1 with that build.
    let key_file = c.dir().join("node0.key");
    let key = lc_system_tests::dev_peer_key(&format!("127.0.0.1:{}", c.ports[0]));
    std::fs::write(&key_file, key.seed_hex()).expect("key file");
    let start = max_height(&c, &all) + 10;
    let doc = serde_json::json!({"epoch_start_height": start, "consensus": "weighted", "consensus_params": {"weights": [3, 1, 1, 1]}});
    let out = std::process::Command::new(lc_system_tests::binary())
        .args(["tx", "--target", &c.node(0).base(), "--key-file"])
        .arg(&key_file)
        .args(["--wait", "config", &doc.to_string(), "--consensus-library"])
        .arg(&custom)
        .output()
        .expect("run loopchain tx config");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));

    // Every member switches (the others fetched the build) and the chain goes on in epoch 1.
    c.wait_height(A, &all, start + 3, LONG);
    for i in all {
        let (_, s) = c.node(i).get(&format!("/api/v1/status/peer?channel={A}"));
        assert_eq!(s["epoch"], 1, "node {i}: {s}");
        assert!(staged(i), "node {i} holds the build (fetched by hash)");
    }
    let (_, set) = c.node(2).get(&format!("/api/v1/channel/validators?channel={A}"));
    assert_eq!(set["validators"][0]["weight"], 3, "{set}");
    c.assert_same_chain(A, &all);
    done("consensus_plugin_build_only_one_member_has_is_fetched_at_the_epoch_switch", t0);
}
