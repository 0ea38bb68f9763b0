//! `/metrics`, the dashboard state, its events proxy and its assets, through the router, on a
//! running one-validator channel (in-memory store): values come from the live driver.
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lc_crypto::bls::BlsKeypair;
use lc_crypto::Keypair;
use lc_engine::{BuiltinExecutor, Channel, ChannelParams, ConfiguredWeights, DriverHandle, Refusals};
use lc_rest::{ApiState, ExtraCounter, ExtraMetricsFn, LinkStatusFn, PeerHeightsFn};
use lc_storage::{Backend, ChannelStore, MemDb};
use lc_types::{Address, ChannelDefinition, Member, Role};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

const CH: &str = "obs";

fn channel() -> (Arc<Channel>, DriverHandle, String) {
    let key = Keypair::dev_account(4242);
    let bls = BlsKeypair::dev(0);
    let def = ChannelDefinition {
        name: CH.into(),
        members: vec![Member {
            peer_id: Address::of(&key.public()),
            identity_key: key.public(),
            bls_key: Some(bls.public()),
            bls_pop: Some(bls.proof_of_possession()),
            weight: 1,
            group: None,
            role: Role::Validator,
        }],
        admins: vec![key.public()],
        score: String::new(),
        score_params: "{}".into(),
        consensus: "equal".into(),
        consensus_params: "{}".into(),
        consensus_code_hash: None,
        genesis_timestamp_us: 0,
    };
    let db: Arc<dyn Backend> = Arc::new(MemDb::new());
    let store = ChannelStore::open(db, CH).expect("store");
    let params = ChannelParams { interval: Duration::from_millis(30), ..ChannelParams::default() };
    let peer_id = Address::of(&key.public()).to_string();
    let ch = Channel::open(params, store, &def, key, Some(bls), Arc::new(ConfiguredWeights)).expect("open");
    let driver = ch.spawn(Box::new(BuiltinExecutor)).expect("spawn");
    (ch, driver, peer_id)
}

fn state(ch: &Arc<Channel>, peer_id: &str, collector: &str) -> Arc<ApiState> {
    Arc::new(ApiState {
        channels: BTreeMap::from([(CH.to_owned(), Arc::clone(ch))]),
        scores: BTreeMap::new(),
        default_channel: CH.into(),
        peer_target: "127.0.0.1:7100".into(),
        max_body_bytes: 1 << 20,
        peer_id: peer_id.into(),
        refusals: Arc::new(Refusals::default()),
        members: BTreeMap::new(),
        link_status: LinkStatusFn::default(),
        peer_heights: PeerHeightsFn::default(),
        collector_target: collector.into(),
        extra_metrics: ExtraMetricsFn::new(|| {
            vec![ExtraCounter { name: "loopchain_test_extra_total".into(), help: "A test counter.".into(), value: 5 }]
        }),
        rate_limit_per_client: 0,
    })
}

async fn get(state: &Arc<ApiState>, path: &str) -> (StatusCode, String, String) {
    let resp = lc_rest::router(Arc::clone(state))
        .oneshot(Request::get(path).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, content_type, String::from_utf8_lossy(&bytes).into_owned())
}

fn wait_height(ch: &Channel, height: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while ch.status().height < height {
        assert!(Instant::now() < deadline, "channel stuck at {}", ch.status().height);
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn value(text: &str, key: &str) -> f64 {
    let line = text.lines().find(|l| l.starts_with(key) && l[key.len()..].starts_with(' '));
    line.and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_reflect_the_running_channel() {
    let (ch, driver, peer_id) = channel();
    wait_height(&ch, 12);
    let st = state(&ch, &peer_id, "");
    let (status, content_type, text) = get(&st, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("application/openmetrics-text"), "{content_type}");
    let l = format!("{{channel=\"{CH}\"}}");
    assert!(value(&text, &format!("loopchain_block_height{l}")) >= 12.0);
    assert!(value(&text, &format!("loopchain_round{l}")) >= 12.0);
    assert_eq!(value(&text, &format!("loopchain_validator{l}")), 1.0);
    assert!(value(&text, &format!("loopchain_committed_blocks_total{l}")) >= 12.0);
    // Every block was proposed by this node: each commit is timed from its proposal.
    assert!(value(&text, &format!("loopchain_finality_latency_seconds_count{l}")) >= 12.0);
    assert!(value(&text, &format!("loopchain_db_write_latency_seconds_count{l}")) >= 12.0);
    assert!(value(&text, &format!("loopchain_finality_latency_seconds_sum{l}")) > 0.0);
    assert_eq!(value(&text, "loopchain_refusals_total{reason=\"non_member\"}"), 0.0);
    assert_eq!(value(&text, "loopchain_test_extra_total"), 5.0);
    assert!(!text.contains("loopchain_score_calls_total{"), "no SCORE runtime, no SCORE counters:\n{text}");
    driver.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_state_lists_blocks_with_signers() {
    let (ch, driver, peer_id) = channel();
    wait_height(&ch, 12);
    let st = state(&ch, &peer_id, "");
    let (status, content_type, body) = get(&st, "/api/v1/dashboard/state").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["node"]["peer_id"], peer_id);
    assert_eq!(v["collector"]["configured"], false);
    let c = &v["channels"][0];
    assert_eq!(c["name"], CH);
    let height = c["height"].as_u64().expect("height");
    assert!(height >= 12);
    assert_eq!(c["validator"], true);
    assert!(c["committed_blocks_total"].as_u64() >= Some(12));
    assert!(c["finality"]["count"].as_u64() >= Some(12), "{c}");
    assert!(c["finality"]["recent_mean_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{c}");
    assert_eq!(c["round_failures"].as_object().map(|m| m.len()), Some(4));
    // Without configured members: the validators, this node up and leading.
    let members = c["members"].as_array().expect("members");
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["peer_id"], peer_id);
    assert_eq!(members[0]["self"], true);
    assert_eq!(members[0]["state"], "up");
    assert_eq!(members[0]["role"], "validator");
    assert_eq!(members[0]["leader"], true);
    // Ten blocks, newest first, each with its certifying QC signed by this node.
    let blocks = c["blocks"].as_array().expect("blocks");
    assert_eq!(blocks.len(), 10, "{c}");
    let heights: Vec<u64> = blocks.iter().filter_map(|b| b["height"].as_u64()).collect();
    assert!(heights.windows(2).all(|w| w[0] == w[1] + 1), "{heights:?}");
    assert!(heights[0] >= height, "the newest block is at least the height read before");
    for b in &blocks[1..] {
        assert_eq!(b["qc"]["signers"], serde_json::json!([peer_id]), "block {b}");
        assert_eq!(b["qc"]["height"], b["height"]);
        assert!(b["hash"].as_str().is_some_and(|h| h.len() == 64), "{b}");
    }
    driver.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_proxy_says_why_it_has_nothing() {
    let (ch, driver, peer_id) = channel();
    let (status, _, body) = get(&state(&ch, &peer_id, ""), "/api/v1/dashboard/events").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["configured"], false);
    assert_eq!(v["events"], serde_json::json!([]));
    assert!(v["note"].as_str().is_some_and(|n| n.contains("LOG_COLLECTOR_TARGET")), "{v}");

    // A collector that is not there: still 200, with the reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr").to_string();
    drop(closed);
    let (status, _, body) = get(&state(&ch, &peer_id, &addr), "/api/v1/dashboard/events").await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["configured"], true);
    assert_eq!(v["events"], serde_json::json!([]));
    assert!(v["error"].as_str().is_some_and(|e| e.contains(&addr)), "{v}");
    driver.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_and_embedded_assets_are_served() {
    let (ch, driver, peer_id) = channel();
    let st = state(&ch, &peer_id, "");
    let (status, content_type, page) = get(&st, "/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for asset in ["dashboard.js", "dashboard.css", "uPlot.iife.min.js", "uPlot.min.css"] {
        assert!(page.contains(&format!("/dashboard/assets/{asset}")), "the page loads {asset}");
        let (status, _, body) = get(&st, &format!("/dashboard/assets/{asset}")).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(!body.is_empty());
    }
    assert!(!page.contains("http://") && !page.contains("https://"), "no external resources");
    let (status, content_type, _) = get(&st, "/dashboard/assets/uPlot.iife.min.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/javascript"), "{content_type}");
    for bad in ["/dashboard/assets/nope.js", "/dashboard/assets/..%2FCargo.toml", "/dashboard/assets/"] {
        let (status, _, _) = get(&st, bad).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
    driver.stop().expect("stop");
}
