//! Epoch switch on a real node with the real consensus plugins: a `ChannelConfig` signed by the
//! admin (`loopchain tx config`) moves the channel from the `equal` plugin to `weighted` at the
//! scheduled height; proofs of each epoch verify against that epoch's validator set only, and the
//! node restarts into the new epoch.
use lc_system_tests::{binary, free_port, install, profile_dir, verify_proof, Node};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const FAST: &[&str] = &["INTERVAL_BLOCKGENERATION=0.1", "CONSENSUS_LOG=true"];

fn tx_config(node: &Node, doc: &Value, library: Option<&str>) -> (bool, String) {
    let key = node.storage.join(node.port.to_string()).join("keys").join("identity.key");
    let mut cmd = Command::new(binary());
    cmd.args(["tx", "--target", &node.base(), "--key-file"]).arg(&key).args(["--wait", "config", &doc.to_string()]);
    if let Some(lib) = library {
        cmd.arg("--consensus-library").arg(profile_dir().join(lib));
    }
    let out = cmd.output().expect("run loopchain tx config");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn height(node: &Node) -> u64 {
    node.progress().1
}

#[test]
fn channel_config_switches_the_consensus_plugin_at_the_epoch_boundary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = Node::start(&dir.path().join("node"), free_port(), FAST);
    node.wait_for("height 2", Duration::from_secs(30), |n| height(n) >= 2);

    // Refused: too early a start height (a failure receipt, exit non-zero), nothing scheduled.
    let (ok, out) = tx_config(&node, &json!({"epoch_start_height": 1}), None);
    assert!(!ok, "an epoch start in the past must be refused: {out}");
    assert!(out.contains("epoch_start_height"), "{out}");
    let (ok, out) = tx_config(&node, &json!({"epoch_start_height": height(&node) + 50, "consensus": "weighted"}), None);
    assert!(!ok, "a plugin switch without its code hash must be refused: {out}");
    assert!(out.contains("consensus_code_hash"), "{out}");

    let start = height(&node) + 8;
    let doc = json!({"epoch_start_height": start, "consensus": "weighted", "consensus_params": {"weights": [3]}});
    let (ok, out) = tx_config(&node, &doc, Some("libconsensus_weighted.so"));
    assert!(ok, "the admin's ChannelConfig commits: {out}");

    node.wait_for("epoch 1", Duration::from_secs(60), |n| n.get("/api/v1/status/peer").1["epoch"] == 1);
    node.wait_for("blocks of epoch 1", Duration::from_secs(30), |n| height(n) >= start + 3);
    for h in [start - 1, start, start + 1] {
        let (_, b) = node.get(&format!("/api/v1/blocks?height={h}"));
        assert_eq!(b["block_data_json"]["epoch"], u64::from(h >= start), "epoch of block {h}: {b}");
    }
    let (_, set1) = node.get("/api/v1/channel/validators");
    assert_eq!(set1["epoch"], 1);
    assert_eq!(set1["validators"][0]["weight"], 3, "the weighted plugin's weights: {set1}");
    let (status, set0) = node.get("/api/v1/channel/validators?epoch=0");
    assert_eq!(status, 200, "{set0}");
    assert_eq!(set0["epoch"], 0);
    assert_eq!(set0["validators"][0]["weight"], 1);

    // The last block of epoch 0 is proved by epoch 0's set (with the blocks that committed it),
    // a block of epoch 1 by epoch 1's; never the other way round.
    let (status, last0) = node.get(&format!("/api/v1/blocks/proof?height={}", start - 1));
    assert_eq!(status, 200, "{last0}");
    let (ok, out) = verify_proof(dir.path(), &last0, &set0);
    assert!(ok, "proof of the last block of epoch 0: {out}");
    let (ok, _) = verify_proof(dir.path(), &last0, &set1);
    assert!(!ok, "epoch 1's set must not prove an epoch-0 block");
    let (status, first1) = node.get(&format!("/api/v1/blocks/proof?height={}", start + 1));
    assert_eq!(status, 200, "{first1}");
    let (ok, out) = verify_proof(dir.path(), &first1, &set1);
    assert!(ok, "proof of a block of epoch 1: {out}");

    // Restart: the node resumes in epoch 1 and keeps committing.
    let _ = node.signal_and_wait(libc::SIGTERM);
    node.restart();
    let h = height(&node);
    node.wait_for("progress after restart", Duration::from_secs(30), |n| height(n) >= h + 3);
    assert_eq!(node.get("/api/v1/status/peer").1["epoch"], 1);

    // The recorded consensus log (two epochs, a restart) replays with identical decisions.
    let _ = node.signal_and_wait(libc::SIGTERM);
    let log = node.storage.join(node.port.to_string()).join("consensus").join("loopchain_default.jsonl");
    let out = Command::new(binary()).arg("replay").arg(&log).output().expect("run loopchain replay");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay: {text}");
    assert!(text.contains("3 core starts"), "two node starts and one epoch switch: {text}");
}

/// A rebuilt consensus plugin library is staged by the watcher and nothing more: the running
/// epoch keeps its scheme and validator set until a `ChannelConfig` names the new build.
#[test]
fn a_changed_consensus_library_is_only_staged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let libs = dir.path().join("libs");
    std::fs::create_dir_all(&libs).expect("libs dir");
    install(&profile_dir().join("libhello.so"), &libs, "libhello.so");
    install(&profile_dir().join("libconsensus_equal.so"), &libs, "libconsensus_equal.so");
    let lib_path = format!("SCORE_PACKAGE_PATH={}", libs.display());
    let node = Node::start(&dir.path().join("data"), free_port(), &["INTERVAL_BLOCKGENERATION=0.1", &lib_path]);
    node.wait_for("height 2", Duration::from_secs(30), |n| height(n) >= 2);
    let (_, before) = node.get("/api/v1/channel/validators");

    // A different build appears under the plugin's file name (same code plus a trailing byte:
    // another code hash).
    let mut rebuilt = std::fs::read(profile_dir().join("libconsensus_equal.so")).expect("read library");
    rebuilt.push(0);
    let new_hash = lc_types::sha3(&rebuilt).to_hex();
    let tmp = libs.join(".rebuilt.tmp");
    std::fs::write(&tmp, &rebuilt).expect("write rebuilt library");
    std::fs::rename(&tmp, libs.join("libconsensus_equal.so")).expect("rename");
    node.wait_for("the new build staged", Duration::from_secs(30), |n| {
        n.logs().lines().any(|l| l.contains("consensus plugin build staged") && l.contains(&new_hash))
    });
    let h = height(&node);
    node.wait_for("more blocks", Duration::from_secs(30), |n| height(n) >= h + 3);
    let (_, after) = node.get("/api/v1/channel/validators");
    assert_eq!(before, after, "the validator set must not change without a ChannelConfig");
    assert_eq!(node.get("/api/v1/status/peer").1["epoch"], 0);
    let staged = std::fs::read_dir(node.storage.join(node.port.to_string()).join("plugins").join("consensus"))
        .expect("staged copies")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "so")))
        .count();
    // equal (start build), weighted and groups (next to the binary), and the new equal build.
    assert_eq!(staged, 4, "the new build is staged beside the ones found at start");
}
