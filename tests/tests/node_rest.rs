//! One real node process: the seed's REST flow, signed and batch transactions, hostile input,
//! clean shutdown and restart.
use lc_system_tests::{free_port, now_us, signed_data_tx, Node};
use serde_json::{json, Value};
use std::time::Duration;

const CH: &str = "loopchain_default";
const FAST: &[&str] = &["INTERVAL_BLOCKGENERATION=0.2", "REST_MAX_BODY_BYTES=65536"];

fn signed(tx: &lc_types::Transaction) -> String {
    json!({"signed_tx": tx}).to_string()
}

/// `mempool + in-flight + committed` transactions: a refused request must not change it.
fn tx_count(node: &Node) -> u64 {
    let (_, s) = node.get("/api/v1/status/peer");
    s["total_tx"].as_u64().expect("total_tx") + s["unconfirmed_tx"].as_u64().expect("unconfirmed_tx")
}

#[test]
fn seed_curl_flow_data_tx_is_committed_and_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), free_port(), FAST);

    let (status, v) = node.post("/api/v1/transactions", r#"{"data":"hello"}"#, Some("application/json"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["response_code"], "0");
    assert_eq!(v["more_info"], "");
    let hash = v["tx_hash"].as_str().expect("tx_hash").to_owned();
    assert_eq!(hash.len(), 64);

    let r = node.wait_result(&hash);
    assert_eq!(r["response_code"], "0", "{r}");
    assert_eq!(r["response"]["code"], 0, "{r}");
    let height = r["response"]["block_height"].as_u64().expect("height");

    let (status, t) = node.get(&format!("/api/v1/transactions?hash={hash}"));
    assert_eq!(status, 200);
    assert_eq!(t["data"], json!({"data": "hello"}));
    assert_eq!(t["more_info"], "success");
    assert_eq!(t["meta"]["block_height"], height);

    let (status, b) = node.get(&format!("/api/v1/blocks?height={height}"));
    assert_eq!(status, 200);
    let txs = b["tx_data_json"].as_array().expect("tx list");
    assert!(txs.iter().any(|t| t["tx_hash"] == hash.as_str()), "{b}");
    assert_eq!(b["block_data_json"]["height"], height);
    let block_hash = b["block_hash"].as_str().expect("hash").to_owned();
    let (_, by_hash) = node.get(&format!("/api/v1/blocks?hash={block_hash}"));
    assert_eq!(by_hash, b);

    // The last committed block is at or above it, and the chain keeps moving (empty blocks).
    let (_, last) = node.get("/api/v1/blocks");
    assert!(last["block_data_json"]["height"].as_u64().expect("height") >= height);
    node.wait_for("more blocks", Duration::from_secs(20), |n| n.progress().1 >= height + 3);

    // No Content-Type at all (the seed's curl -d).
    let (status, v) =
        node.post("/api/v1/transactions", r#"{"data":"no content type","channel":"loopchain_default"}"#, None);
    assert_eq!(status, 200, "{v}");
    let r = node.wait_result(v["tx_hash"].as_str().expect("hash"));
    assert_eq!(r["response"]["code"], 0);

    let (status, s) = node.get("/api/v1/status/peer");
    assert_eq!(status, 200);
    assert_eq!(s["status"], "Service is online: 0");
    assert!(s["total_tx"].as_u64().expect("total") >= 2);
    assert!(s["peer_id"].as_str().expect("peer id").starts_with("hx"));
    let (status, _) = node.get("/api/v1/avail/peer");
    assert_eq!(status, 200);
}

#[test]
fn signed_and_batch_transactions_with_per_item_refusals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), free_port(), &["INTERVAL_BLOCKGENERATION=0.2"]);
    let now = now_us();

    let tx = signed_data_tx(CH, 1, 1, r#"{"k":1}"#, now);
    let (status, v) = node.post("/api/v1/transactions", &signed(&tx), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["tx_hash"], tx.hash().to_hex());
    let r = node.wait_result(&tx.hash().to_hex());
    assert_eq!(r["response"]["code"], 0);

    // Same transaction again: duplicate, whether committed or not.
    let (status, v) = node.post("/api/v1/transactions", &signed(&tx), None);
    assert_eq!((status, v["response_code"].as_str()), (400, Some("-108")), "{v}");

    let before = tx_count(&node);
    let mut bad_sig = signed_data_tx(CH, 1, 2, "{}", now);
    bad_sig.signature.0[0] ^= 1;
    let (status, v) = node.post("/api/v1/transactions", &signed(&bad_sig), None);
    assert_eq!((status, v["response_code"].as_str()), (400, Some("-106")), "{v}");

    let wrong_channel = signed_data_tx("other_channel", 1, 3, "{}", now);
    let (status, v) =
        node.post("/api/v1/transactions", &json!({"signed_tx": wrong_channel, "channel": CH}).to_string(), None);
    assert_eq!((status, v["response_code"].as_str()), (400, Some("-107")), "{v}");

    let stale = signed_data_tx(CH, 1, 4, "{}", now - 3_600_000_000);
    let (status, v) = node.post("/api/v1/transactions", &signed(&stale), None);
    assert_eq!((status, v["response_code"].as_str()), (400, Some("-109")), "{v}");
    let future = signed_data_tx(CH, 1, 5, "{}", now + 3_600_000_000);
    let (status, v) = node.post("/api/v1/transactions", &signed(&future), None);
    assert_eq!((status, v["response_code"].as_str()), (400, Some("-109")), "{v}");
    assert_eq!(tx_count(&node), before, "refused transactions left a trace");

    // A batch of 300 with one bad signature and one malformed item: 298 accepted.
    let mut txs: Vec<Value> = (0..300u64)
        .map(|i| {
            serde_json::to_value(signed_data_tx(CH, i % 7, 1000 + i, &format!("{{\"i\":{i}}}"), now)).expect("json")
        })
        .collect();
    txs[10]["signature"] = json!("00".repeat(64));
    txs[20] = json!({"not": "a tx"});
    let (status, v) = node.post("/api/v1/transactions/batch", &json!({"signed_txs": txs}).to_string(), None);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["accepted"], 298, "{v}");
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 300);
    assert_eq!(results[10]["response_code"], "-106");
    assert_eq!(results[20]["response_code"], "-107");
    let last_ok = results[299]["tx_hash"].as_str().expect("hash").to_owned();
    let r = node.wait_result(&last_ok);
    assert_eq!(r["response"]["code"], 0);
    let (total, _) = node.progress();
    node.wait_for("all 299 committed", Duration::from_secs(30), |n| n.progress().0 >= total.max(299));
}

#[test]
fn hostile_requests_get_clear_4xx_and_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), free_port(), FAST);
    let before = tx_count(&node);

    for (body, what) in [
        ("{not json", "malformed JSON"),
        ("[1,2,3]", "non-object"),
        ("\"text\"", "string"),
        ("", "empty body"),
        (r#"{"signed_tx": {"channel": 5}}"#, "bad signed_tx"),
        (r#"{"data": 1, "channel": 7}"#, "non-string channel"),
    ] {
        let (status, v) = node.post("/api/v1/transactions", body, Some("application/json"));
        assert_eq!(status, 400, "{what}: {v}");
        assert!(v["response_code"].is_string() && v["message"].is_string(), "{what}: {v}");
    }
    let big = format!(r#"{{"data":"{}"}}"#, "x".repeat(70_000));
    let (status, v) = node.post("/api/v1/transactions", &big, None);
    assert_eq!(status, 413, "{v}");
    assert!(v["response_code"].is_string(), "{v}");
    let (status, v) = node.post("/api/v1/transactions/batch", r#"{"signed_txs": 5}"#, None);
    assert_eq!(status, 400, "{v}");

    for path in [
        "/api/v1/transactions?hash=zz",
        "/api/v1/transactions?hash=abcd",
        "/api/v1/transactions",
        "/api/v1/transactions/result?hash=0x12",
        "/api/v1/blocks?height=abc",
        "/api/v1/blocks?height=-1",
        "/api/v1/blocks?hash=nothex",
    ] {
        let (status, v) = node.get(path);
        assert_eq!(status, 400, "{path}: {v}");
        assert_eq!(v["response_code"], "-6", "{path}: {v}");
    }
    let unknown = "ab".repeat(32);
    let (status, v) = node.get(&format!("/api/v1/transactions/result?hash={unknown}"));
    assert_eq!((status, &v["response"]["code"]), (404, &json!(3)), "{v}");
    let (status, v) = node.get(&format!("/api/v1/transactions?hash=0x{unknown}"));
    assert_eq!((status, v["response_code"].as_str()), (404, Some("3")), "{v}");
    let (status, _) = node.get("/api/v1/blocks?height=99999999");
    assert_eq!(status, 404);
    let (status, v) = node.get("/api/v1/status/peer?channel=nope");
    assert_eq!(status, 404, "{v}");
    let (status, v) = node.get("/api/v1/nothing/here");
    assert_eq!(status, 404, "{v}");

    assert_eq!(tx_count(&node), before, "a refused request stored something");
}

#[test]
fn sigterm_stops_cleanly_and_restart_resumes_from_tip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = Node::start(dir.path(), free_port(), FAST);
    let (_, v) = node.post("/api/v1/transactions", r#"{"data":"before restart"}"#, None);
    let hash = v["tx_hash"].as_str().expect("hash").to_owned();
    node.wait_result(&hash);
    let (_, blocks_before) = node.get("/api/v1/blocks");
    let h = blocks_before["block_data_json"]["height"].as_u64().expect("height");

    let status = node.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "exit status {status}; log:\n{}", node.logs());
    assert!(node.logs().contains("stopped cleanly"), "{}", node.logs());

    node.restart();
    let (_, same) = node.get(&format!("/api/v1/blocks?height={h}"));
    assert_eq!(same, blocks_before, "block {h} changed across restart");
    let r = node.wait_result(&hash);
    assert_eq!(r["response"]["code"], 0);
    node.wait_for("new blocks after restart", Duration::from_secs(20), |n| n.progress().1 > h + 2);

    let status = node.signal_and_wait(libc::SIGINT);
    assert!(status.success(), "SIGINT exit status {status}");
}
