//! Admission bounds on a live node: the per-client REST rate (`RATE_LIMIT_PER_CLIENT`, 429 with
//! code -19), `TPS_LIMIT_PER_SEC` (the original's -19) and a channel's signer allow-list
//! (`tx_allowed_signers`, -106). Every refusal is counted by reason in `/api/v1/status/peer`.
use lc_system_tests::{dev_address, now_us, signed_data_tx, Cluster, Node};
use serde_json::{json, Value};
use std::time::Duration;

const A: &str = "loopchain_default";

fn refusals(n: &Node, reason: &str) -> u64 {
    n.status(A)["refusals"][reason].as_u64().unwrap_or_else(|| panic!("no counter {reason}"))
}

#[test]
fn per_client_rate_limit_answers_429_and_counts() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = lc_system_tests::spaced_ports(1)[0];
    let node = Node::start(dir.path(), port, &["RATE_LIMIT_PER_CLIENT=10"]);
    std::thread::sleep(Duration::from_millis(1500)); // the start-up polling used up the burst
    let before = refusals(&node, "client_rate_limited");
    std::thread::sleep(Duration::from_millis(1500));
    let mut limited = 0;
    for _ in 0..40 {
        let (code, body) = node.get("/api/v1/avail/peer");
        if code == 429 {
            assert_eq!(body["response_code"], "-19", "{body}");
            assert!(body["message"].as_str().is_some_and(|m| m.contains("RATE_LIMIT_PER_CLIENT")), "{body}");
            limited += 1;
        } else {
            assert_eq!(code, 200, "{body}");
        }
    }
    assert!(limited >= 20, "40 requests in a burst against 10/s: only {limited} limited");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(refusals(&node, "client_rate_limited"), before + limited);
}

#[test]
fn tps_limit_refuses_with_minus_19_and_counts() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = lc_system_tests::spaced_ports(1)[0];
    let node = Node::start(dir.path(), port, &["TPS_LIMIT_PER_SEC=5"]);
    let before = refusals(&node, "tx_tps_limit");
    let t = now_us();
    let txs: Vec<Value> =
        (0..30).map(|i| serde_json::to_value(signed_data_tx(A, 1, 1000 + i, "{\"n\":1}", t)).expect("json")).collect();
    let (code, body) = node.post("/api/v1/transactions/batch", &json!({"signed_txs": txs}).to_string(), None);
    assert_eq!(code, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    let refused = results.iter().filter(|r| r["response_code"] == "-19").count() as u64;
    let accepted = body["accepted"].as_u64().expect("accepted");
    assert!((1..=10).contains(&accepted), "{accepted} accepted against a limit of 5/s: {body}");
    assert_eq!(accepted + refused, 30, "{body}");
    assert_eq!(refusals(&node, "tx_tps_limit"), before + refused);
}

#[test]
fn signer_allow_list_refuses_others() {
    let mut c = Cluster::new(1, &[(A, &[0])], &[]);
    let mut data: Value = serde_json::from_str(&std::fs::read_to_string(&c.channel_file).expect("read")).expect("json");
    data[A]["tx_allowed_signers"] = json!([dev_address(1)]);
    std::fs::write(&c.channel_file, data.to_string()).expect("write");
    c.start(0);
    let node = c.node(0);
    let before = refusals(node, "tx_signer_not_allowed");
    let ok = signed_data_tx(A, 1, 1, "{\"ok\":1}", now_us());
    let (code, body) = node.post("/api/v1/transactions", &json!({"signed_tx": ok}).to_string(), None);
    assert_eq!(code, 200, "{body}");
    let hash = body["tx_hash"].as_str().expect("tx_hash").to_owned();
    let other = signed_data_tx(A, 2, 1, "{\"no\":1}", now_us());
    let (code, body) = node.post("/api/v1/transactions", &json!({"signed_tx": other}).to_string(), None);
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["response_code"], "-106", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| m.contains(&dev_address(2))), "{body}");
    assert_eq!(refusals(node, "tx_signer_not_allowed"), before + 1);
    // The node's own data transactions (REST raw JSON) are still accepted.
    let (code, body) = node.post("/api/v1/transactions", "{\"data\":\"own\"}", None);
    assert_eq!(code, 200, "{body}");
    let r = node.wait_committed(A, &hash, Duration::from_secs(60));
    assert_eq!(r["code"], 0, "{r}");
}
