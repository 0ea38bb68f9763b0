//! Finality proofs end to end: a running node serves its validator set and proofs over REST, and
//! `loopchain proof verify` accepts them — and rejects any altered byte, with a reason.
use lc_system_tests::{free_port, verify_proof, Node};
use serde_json::Value;
use std::time::Duration;

const FAST: &[&str] = &["INTERVAL_BLOCKGENERATION=0.1"];

/// Replaces the hex digit at `pos` of a string field with a different digit.
fn flip(v: &mut Value, pointer: &str, pos: usize) {
    let s = v.pointer_mut(pointer).unwrap_or_else(|| panic!("no field {pointer}"));
    let mut chars: Vec<char> = s.as_str().expect("hex string").chars().collect();
    chars[pos] = if chars[pos] == '0' { '1' } else { '0' };
    *s = Value::String(chars.into_iter().collect());
}

#[test]
fn node_serves_proofs_that_verify_and_tampering_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(&dir.path().join("node"), free_port(), FAST);
    for i in 0..3 {
        let (status, v) = node.post("/api/v1/transactions", &format!("{{\"data\":\"p{i}\"}}"), None);
        assert_eq!(status, 200, "{v}");
    }
    node.wait_for("height 6", Duration::from_secs(30), |n| n.progress().1 >= 6);

    let (status, set) = node.get("/api/v1/channel/validators");
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["validators"].as_array().map(Vec::len), Some(1));
    assert_eq!(set["epoch"], 0);

    let tip = node.progress().1;
    for height in [1, 2, tip] {
        let (status, proof) = node.get(&format!("/api/v1/blocks/proof?height={height}"));
        assert_eq!(status, 200, "proof of {height}: {proof}");
        assert_eq!(proof["height"], height);
        let (ok, out) = verify_proof(dir.path(), &proof, &set);
        assert!(ok, "proof of block {height} must verify: {out}");
        assert!(out.contains("is final"), "{out}");
    }

    let (_, proof) = node.get("/api/v1/blocks/proof?height=2");
    type Change = Box<dyn Fn(&mut Value)>;
    let tampered: Vec<(&str, Change)> = vec![
        ("block hash", Box::new(|v| flip(v, "/block_hash", 5))),
        ("header state root", Box::new(|v| flip(v, "/headers/0/header/state_root", 0))),
        ("header prev hash", Box::new(|v| flip(v, "/headers/1/header/prev_hash", 63))),
        ("proposer signature", Box::new(|v| flip(v, "/headers/0/proposer_signature", 10))),
        ("QC signature", Box::new(|v| flip(v, "/qc/aggregate_signature", 20))),
        ("carried QC hash", Box::new(|v| flip(v, "/headers/1/header/qc/block_hash", 7))),
        ("round", Box::new(|v| v["headers"][1]["header"]["round"] = Value::from(999))),
        ("unknown field", Box::new(|v| v["extra"] = Value::from(1))),
    ];
    for (what, change) in tampered {
        let mut p = proof.clone();
        change(&mut p);
        let (ok, out) = verify_proof(dir.path(), &p, &set);
        assert!(!ok, "a proof with a changed {what} must be refused");
        assert!(out.contains("error"), "a reason is printed for {what}: {out}");
    }
    let mut other_set = set;
    flip(&mut other_set, "/validators/0/bls_key", 9);
    let (ok, out) = verify_proof(dir.path(), &proof, &other_set);
    assert!(!ok, "a different validator key must be refused: {out}");

    let (status, _) = node.get("/api/v1/blocks/proof?height=0");
    assert_eq!(status, 400);
    let (status, _) = node.get("/api/v1/blocks/proof?height=999999");
    assert_eq!(status, 404);
    let (status, _) = node.get("/api/v1/blocks/proof?height=abc");
    assert_eq!(status, 400);
}
