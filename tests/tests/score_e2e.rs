//! SCOREs in a real node: signed calls through REST change state seen through queries; a panic
//! is a failed receipt; a rebuilt library goes live (with its migration) while the node runs;
//! a broken build is refused and the active version keeps serving.
use lc_system_tests::{dev_address, free_port, install, profile_dir, signed_call_tx, Node};
use serde_json::{json, Value};
use std::time::Duration;

const CH: &str = "loopchain_default";

fn post_tx(node: &Node, tx: &lc_types::Transaction) -> String {
    let (status, v) = node.post("/api/v1/transactions", &json!({"signed_tx": tx}).to_string(), None);
    assert_eq!(status, 200, "{v}");
    v["tx_hash"].as_str().expect("hash").to_owned()
}

fn query(node: &Node, method: &str, params: Value) -> (u16, Value) {
    node.post("/api/v1/query", &json!({"method": method, "params": params}).to_string(), None)
}

fn wait_active(node: &Node, version: &str) -> Value {
    let mut last = Value::Null;
    node.wait_for(&format!("SCORE version {version} active"), Duration::from_secs(30), |n| {
        let (_, s) = n.get("/api/v1/status/score");
        last = s.clone();
        s["status"] == "active" && s["version"] == version
    });
    last
}

/// Installs `src` as `dir/name` the way cargo does: write elsewhere, then rename over.

#[test]
fn token_transfer_via_rest_changes_balances_seen_by_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), free_port(), &["INTERVAL_BLOCKGENERATION=0.2", "DEFAULT_SCORE_PACKAGE=token"]);
    let status = wait_active(&node, "1.0.0");
    assert_eq!(status["id"], "token");
    let initial: u128 = 1_000_000_000_000_000_000_000_000;

    let tx = signed_call_tx(CH, 1, 1, "token", "transfer", &json!({"to": dev_address(2), "value": "12345"}));
    let r = node.wait_result(&post_tx(&node, &tx));
    assert_eq!(r["response"]["code"], 0, "{r}");
    assert_eq!(r["response"]["result"], true);
    let event = &r["response"]["events"][0];
    assert_eq!(event["name"], "Transfer", "{r}");
    let data: Value = serde_json::from_str(event["data_json"].as_str().expect("data")).expect("json");
    assert_eq!(data, json!({"from": dev_address(1), "to": dev_address(2), "value": "12345"}));

    let balance = |who: u64| {
        let (status, v) = query(&node, "balance_of", json!({"address": dev_address(who)}));
        assert_eq!(status, 200, "{v}");
        v["response"].as_str().expect("decimal").parse::<u128>().expect("u128")
    };
    assert_eq!(balance(1), initial - 12345);
    assert_eq!(balance(2), initial + 12345);

    // Overdraft: a failure receipt, balances unchanged.
    let tx = signed_call_tx(
        CH,
        3,
        1,
        "token",
        "transfer",
        &json!({"to": dev_address(2), "value": (initial + 1).to_string()}),
    );
    let r = node.wait_result(&post_tx(&node, &tx));
    assert_eq!(r["response"]["code"], 9000, "{r}");
    assert!(r["response"]["message"].as_str().expect("message").contains("insufficient"), "{r}");
    assert_eq!(balance(3), initial);
    assert_eq!(balance(2), initial + 12345);

    let (status, v) = query(&node, "no_such_query", json!({}));
    assert_eq!((status, v["response_code"].as_str()), (400, Some("9000")), "{v}");
    let (status, v) = node.post("/api/v1/query", r#"{"method":"balance_of","bogus":1}"#, None);
    assert_eq!((status, v["response_code"].as_str()), (400, Some("-6")), "{v}");
    let (status, v) = node.post("/api/v1/query", r#"{"params":{}}"#, None);
    assert_eq!(status, 400, "{v}");
    let (status, v) = node.post("/api/v1/query", r#"{"method":"count","score":"nothing_here"}"#, None);
    assert_eq!((status, v["response_code"].as_str()), (404, Some("9100")), "{v}");
}

#[test]
fn panicking_score_gives_failure_receipt_and_node_keeps_running() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(dir.path(), free_port(), &["INTERVAL_BLOCKGENERATION=0.2"]);
    wait_active(&node, "1.0.0");
    let tx = signed_call_tx(CH, 4, 1, "hello", "panic", &json!({}));
    let r = node.wait_result(&post_tx(&node, &tx));
    assert_eq!(r["response"]["code"], 9000, "{r}");
    assert!(r["response"]["message"].as_str().expect("message").contains("SCORE panicked"), "{r}");
    // Still alive and executing.
    let (_, v) = node.post("/api/v1/transactions", r#"{"data":"after the panic"}"#, None);
    let r = node.wait_result(v["tx_hash"].as_str().expect("hash"));
    assert_eq!(r["response"]["code"], 0, "{r}");
}

#[test]
fn rebuilt_score_goes_live_with_migration_and_broken_build_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let libs = dir.path().join("libs");
    std::fs::create_dir_all(&libs).expect("libs dir");
    install(&profile_dir().join("libledger.so"), &libs, "libledger.so");
    let lib_path = format!("SCORE_PACKAGE_PATH={}", libs.display());
    let node = Node::start(
        &dir.path().join("data"),
        free_port(),
        &["INTERVAL_BLOCKGENERATION=0.2", "DEFAULT_SCORE_PACKAGE=ledger", &lib_path],
    );
    let v1 = wait_active(&node, "1.0.0");
    for (i, text) in ["one two three", "four five", "six"].iter().enumerate() {
        let tx = signed_call_tx(CH, 5, i as u64, "ledger", "append", &json!({"text": text}));
        let r = node.wait_result(&post_tx(&node, &tx));
        assert_eq!(r["response"]["code"], 0, "{r}");
    }
    assert_eq!(query(&node, "count", json!({})).1["response"], "3");
    assert_eq!(query(&node, "total_words", json!({})).0, 400, "v1 has no total_words");

    // "cargo build" of the next version: the file is replaced; nothing else happens.
    install(&profile_dir().join("libledger_v2.so"), &libs, "libledger.so");
    let v2 = wait_active(&node, "2.0.0");
    assert_ne!(v1["code_hash"], v2["code_hash"]);
    assert_eq!(v2["all_version"].as_array().expect("versions").len(), 2, "{v2}");
    assert_eq!(query(&node, "total_words", json!({})).1["response"], "6", "migration counted the words");
    assert_eq!(query(&node, "get", json!({"n": "1"})).1["response"], json!({"text": "four five", "words": "2"}));
    assert_eq!(query(&node, "count", json!({})).1["response"], "3", "state intact");

    // A broken build: refused, reported, and v2 keeps serving.
    let garbage = dir.path().join("garbage.so");
    std::fs::write(&garbage, b"\x7fELF not really a library").expect("write");
    install(&garbage, &libs, "libledger.so");
    node.wait_for("load error reported", Duration::from_secs(30), |n| {
        !n.get("/api/v1/status/score").1["last_load_error"].is_null()
    });
    let (_, s) = node.get("/api/v1/status/score");
    assert_eq!(s["version"], "2.0.0", "{s}");
    let tx = signed_call_tx(CH, 5, 10, "ledger", "append", &json!({"text": "still here"}));
    let r = node.wait_result(&post_tx(&node, &tx));
    assert_eq!(r["response"]["code"], 0, "{r}");
    assert_eq!(query(&node, "total_words", json!({})).1["response"], "8");
}
