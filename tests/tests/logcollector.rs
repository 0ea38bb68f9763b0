//! The log collector end to end: real nodes ship their structured events over HTTP to a real
//! `loopchain logcollector` process (no shared files); its query API, files, live tail and
//! refusals are checked against the data; a restarted collector still answers; a node pointed
//! at a dead collector keeps committing blocks and counts the events it drops.
use lc_system_tests::{now_us, spaced_ports, Cluster, Collector, Node};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

fn list(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("expected a JSON list, got {v}"))
}

fn text<'a>(e: &'a Value, key: &str) -> &'a str {
    e[key].as_str().unwrap_or_else(|| panic!("{key} of {e}"))
}

/// `GET /api/v1/events?{query}` (must be 200).
fn events(c: &Collector, query: &str) -> Vec<Value> {
    let (code, v) = c.get(&format!("/api/v1/events?{query}"));
    assert_eq!(code, 200, "events?{query}: {v}");
    list(&v).clone()
}

/// Asserts the server's answer to `query` (plus `until_us`) is exactly `full` filtered by `keep`
/// (`full` is the complete answer up to `until_us`, oldest first), keeping the newest `limit`.
fn check(c: &Collector, until_us: u64, full: &[Value], query: &str, limit: usize, keep: impl Fn(&Value) -> bool) {
    let got = events(c, &format!("{query}&until_us={until_us}&limit={limit}"));
    let want: Vec<Value> = full.iter().filter(|e| keep(e)).cloned().collect();
    assert!(!want.is_empty(), "{query}: the data has nothing to select (bad test)");
    let want = want[want.len().saturating_sub(limit)..].to_vec();
    assert_eq!(got.len(), want.len(), "{query}: {} events, expected {}", got.len(), want.len());
    assert_eq!(got, want, "{query}");
}

fn height(e: &Value) -> Option<u64> {
    e["height"].as_u64()
}

#[test]
fn collector_gathers_every_node_and_answers_queries_files_and_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cport = spaced_ports(1)[0];
    let mut collector = Collector::start(&dir.path().join("collector"), cport);
    let target = format!("LOG_COLLECTOR_TARGET=127.0.0.1:{cport}");
    let members: &[usize] = &[0, 1, 2];
    let mut cluster =
        Cluster::new(3, &[("alpha", members), ("beta", members)], &[&target, "INTERVAL_BLOCKGENERATION=0.3"]);
    for i in 0..3 {
        cluster.start(i);
    }
    cluster.wait_height("alpha", members, 5, Duration::from_secs(90));
    cluster.wait_height("beta", members, 5, Duration::from_secs(90));
    let ids: Vec<String> = (0..3).map(|i| cluster.node(i).peer_id("alpha")).collect();

    // Every node's AddBlock events for both channels arrive, up to height 5.
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &ids {
        for ch in ["alpha", "beta"] {
            loop {
                let got = events(&collector, &format!("node={id}&channel={ch}&event=AddBlock&from_height=5&limit=1"));
                if !got.is_empty() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no AddBlock ≥ 5 of {ch} from {id}; collector log:\n{}\nnodes:{}",
                    collector.logs(),
                    cluster.log_tails()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    // Freeze a point in time: everything stamped up to `t` has been shipped (every 500 ms).
    let t = now_us();
    std::thread::sleep(Duration::from_millis(2_500));
    let full = events(&collector, &format!("until_us={t}&limit=10000"));
    assert!(full.len() < 10_000, "the reference answer must be complete");
    assert!(full.windows(2).all(|w| w[0]["ts_us"].as_u64() <= w[1]["ts_us"].as_u64()), "oldest first");

    // Every node is there under its peer id, with its target, and each committed block of each
    // channel shows up once as AddBlock with its height and round.
    let (_, nodes) = collector.get("/api/v1/nodes");
    for (i, id) in ids.iter().enumerate() {
        let n =
            list(&nodes).iter().find(|n| n["node"] == id.as_str()).unwrap_or_else(|| panic!("node {id} in {nodes}"));
        assert_eq!(text(n, "node_target"), format!("127.0.0.1:{}", cluster.ports[i]));
        assert!(n["events"].as_u64().is_some_and(|c| c > 0));
        assert!(n["last_ts_us"].as_u64().is_some_and(|ts| ts >= t.saturating_sub(60_000_000)));
        let channels: BTreeSet<&str> = list(&n["channels"]).iter().filter_map(Value::as_str).collect();
        assert!(channels.contains("alpha") && channels.contains("beta"), "{n}");
        assert!(!list(&n["last_events"]).is_empty(), "{n}");
        for ch in ["alpha", "beta"] {
            let blocks: Vec<&Value> = full
                .iter()
                .filter(|e| e["node"] == id.as_str() && e["channel"] == ch && e["event"] == "AddBlock")
                .collect();
            let heights: Vec<u64> = blocks.iter().map(|e| height(e).expect("AddBlock has a height")).collect();
            let distinct: BTreeSet<u64> = heights.iter().copied().collect();
            assert_eq!(distinct.len(), heights.len(), "{id} {ch}: each block once: {heights:?}");
            assert!((1..=5).all(|h| distinct.contains(&h)), "{id} {ch}: heights 1..=5 in {heights:?}");
            assert!(blocks.iter().all(|e| e["round"].is_u64() && e["fields"]["block"].is_string()), "{blocks:?}");
            assert!(blocks
                .iter()
                .all(|e| e["level"] == "INFO" && e["node_target"] == format!("127.0.0.1:{}", cluster.ports[i])));
        }
    }
    // Consensus events and node-wide events are there too.
    for name in ["RoundStart", "Candidate", "ChannelStarted"] {
        assert!(full.iter().any(|e| e["event"] == name), "no {name} event");
    }
    assert!(full.iter().any(|e| e["channel"] == ""), "node-wide events (no channel)");

    // Filters, each checked against the reference answer.
    let all = |_: &Value| true;
    check(&collector, t, &full, "", 10_000, all);
    for id in &ids {
        check(&collector, t, &full, &format!("node={id}"), 10_000, |e| e["node"] == id.as_str());
    }
    check(&collector, t, &full, "channel=beta", 10_000, |e| e["channel"] == "beta");
    check(&collector, t, &full, "channel=_node", 10_000, |e| e["channel"] == "");
    check(&collector, t, &full, "event=AddBlock", 10_000, |e| e["event"] == "AddBlock");
    check(&collector, t, &full, "event=RoundStart,Candidate", 10_000, |e| {
        e["event"] == "RoundStart" || e["event"] == "Candidate"
    });
    check(&collector, t, &full, "from_height=2&to_height=3", 10_000, |e| {
        height(e).is_some_and(|h| (2..=3).contains(&h))
    });
    check(&collector, t, &full, "from_height=4", 10_000, |e| height(e).is_some_and(|h| h >= 4));
    let ts = |i: usize| full[i]["ts_us"].as_u64().expect("ts_us");
    let (since, until) = (ts(full.len() / 3), ts(2 * full.len() / 3));
    check(&collector, until, &full, &format!("since_us={since}"), 10_000, |e| {
        e["ts_us"].as_u64().is_some_and(|x| x >= since && x <= until)
    });
    check(&collector, t, &full, "", 5, all);
    check(&collector, t, &full, "", 100, all);
    let one = &ids[1];
    check(&collector, t, &full, &format!("node={one}&channel=alpha&event=AddBlock&from_height=2"), 3, |e| {
        e["node"] == one.as_str()
            && e["channel"] == "alpha"
            && e["event"] == "AddBlock"
            && height(e).is_some_and(|h| h >= 2)
    });
    assert_eq!(events(&collector, "").len(), 100, "default limit");
    for bad in ["limit=0", "limit=10001", "from_height=x", "from_height=5&to_height=1", "heigth=3"] {
        let (code, v) = collector.get(&format!("/api/v1/events?{bad}"));
        assert_eq!(code, 400, "{bad}: {v}");
        assert!(v["error"].as_str().is_some_and(|m| !m.is_empty()), "{bad}: {v}");
    }

    // One file per node and channel (plus node-wide events), JSON lines of that node.
    let cdir = &collector.dir;
    for id in &ids {
        for file in ["alpha.jsonl", "beta.jsonl", "_node.jsonl"] {
            let path = cdir.join(id).join(file);
            let content = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let lines: Vec<Value> =
                content.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect();
            assert!(!lines.is_empty(), "{}", path.display());
            let want_channel = file.strip_suffix(".jsonl").filter(|c| *c != "_node").unwrap_or("");
            assert!(
                lines.iter().all(|e| e["node"] == id.as_str() && e["channel"] == want_channel),
                "{}",
                path.display()
            );
        }
    }

    // Live tail: a block committed after the request arrives as a Server-Sent Event.
    let newest = |id: &str| {
        events(&collector, &format!("node={id}&channel=alpha&event=AddBlock&limit=1"))
            .first()
            .and_then(height)
            .expect("an AddBlock")
    };
    let before = newest(&ids[0]);
    let (code, ctype, body) = collector.get_text(
        &format!("/api/v1/events/tail?node={}&channel=alpha&event=AddBlock&wait_ms=30000", ids[0]),
        Duration::from_secs(60),
    );
    assert_eq!(code, 200, "{body}");
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    let data: Vec<Value> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{d}: {e}")))
        .collect();
    assert!(!data.is_empty(), "the tail delivered no event: {body:?}");
    assert!(body.contains("event: AddBlock\n") && body.contains("id: "), "{body}");
    for e in &data {
        assert_eq!(
            (e["node"].as_str(), e["event"].as_str(), e["channel"].as_str()),
            (Some(ids[0].as_str()), Some("AddBlock"), Some("alpha"))
        );
        assert!(height(e).is_some_and(|h| h > before), "only events after the request: {e} (had {before})");
    }
    // Resuming after the last id gives the events that came after it, none twice.
    let last_id: u64 = body
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("id: "))
        .and_then(|s| s.trim().parse().ok())
        .expect("an id line");
    let (_, _, again) = collector.get_text(
        &format!("/api/v1/events/tail?node={}&channel=alpha&event=AddBlock&after_seq={last_id}&wait_ms=30000", ids[0]),
        Duration::from_secs(60),
    );
    let next: Vec<u64> = again
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok().as_ref().and_then(height))
        .collect();
    let seen_max = data.iter().filter_map(height).max().expect("heights");
    assert!(!next.is_empty() && next.iter().all(|h| *h > seen_max), "{next:?} after {seen_max}");

    // Malformed input: 400 with a reason; nothing of the batch is kept, nothing else is lost.
    let probe = |ts_us: u64, level: &str| {
        json!({"ts_us": ts_us, "node": "probe", "node_target": "", "channel": "alpha", "event": "AddBlock",
               "level": level, "height": 7, "round": 1, "message": "probe", "fields": {"k": "v"}})
    };
    let (code, v) = collector.post("/api/v1/ingest", "this is not json");
    assert_eq!(code, 400, "{v}");
    assert!(text(&v, "error").contains("not a JSON array"), "{v}");
    let mixed = json!([probe(now_us(), "INFO"), probe(now_us(), "LOUD")]).to_string();
    let (code, v) = collector.post("/api/v1/ingest", &mixed);
    assert_eq!(code, 400, "{v}");
    assert!(text(&v, "error").contains("record [1]") && text(&v, "error").contains("level"), "{v}");
    assert!(events(&collector, "node=probe").is_empty(), "a refused batch leaves nothing");
    // One byte over the 4 MiB limit (all of it is read, so the answer is not lost in a reset).
    let (code, v) = collector.post("/api/v1/ingest", &"[".repeat(4 * 1024 * 1024 + 1));
    assert_eq!(code, 413, "{v}");
    assert_eq!(events(&collector, &format!("until_us={t}&limit=10000")), full, "nothing stored before was lost");
    let good = probe(now_us(), "WARN");
    let (code, v) = collector.post("/api/v1/ingest", &json!([good]).to_string());
    assert_eq!((code, v), (200, json!({"accepted": 1})));
    assert_eq!(events(&collector, "node=probe"), vec![good.clone()], "stored exactly as sent");

    // A restarted collector answers from its files, and the nodes ship to it again.
    let status = collector.stop();
    assert!(status.success(), "SIGTERM: clean exit ({status}); log:\n{}", collector.logs());
    let restarted_at = now_us();
    collector.restart();
    let sorted = |mut v: Vec<Value>| {
        v.sort_by_key(|e| e.to_string());
        v
    };
    let reloaded = events(&collector, &format!("until_us={t}&limit=10000"));
    assert_eq!(sorted(reloaded), sorted(full.clone()), "reloaded from the files");
    assert_eq!(events(&collector, "node=probe"), vec![good]);
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &ids {
        while events(&collector, &format!("node={id}&event=AddBlock&since_us={restarted_at}&limit=1")).is_empty() {
            assert!(Instant::now() < deadline, "{id} does not ship to the restarted collector");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let per_node: BTreeMap<String, u64> = list(&collector.get("/api/v1/nodes").1)
        .iter()
        .map(|n| (text(n, "node").to_owned(), n["events"].as_u64().unwrap_or(0)))
        .collect();
    assert!(ids.iter().all(|id| per_node.get(id).is_some_and(|c| *c > 0)), "{per_node:?}");
}

/// The `dropped` counts the node reported (`event = "LogShipperDropped"`, JSON logs), in order.
fn drop_reports(node: &Node) -> Vec<u64> {
    node.logs()
        .lines()
        .filter(|l| l.contains("LogShipperDropped"))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["fields"]["dropped"].as_u64())
        .collect()
}

#[test]
fn a_dead_collector_costs_dropped_events_never_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ports = spaced_ports(2);
    // Nothing listens on ports[1].
    let target = format!("LOG_COLLECTOR_TARGET=127.0.0.1:{}", ports[1]);
    let node =
        Node::start(&dir.path().join("node"), ports[0], &[&target, "INTERVAL_BLOCKGENERATION=0.2", "LOG_JSON=true"]);
    let start_height = node.progress().1;
    let deadline = Instant::now() + Duration::from_secs(60);
    while drop_reports(&node).is_empty() {
        assert!(Instant::now() < deadline, "no LogShipperDropped report; log:\n{}", node.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let first = drop_reports(&node)[0];
    assert!(first > 0);
    // Blocks keep coming while events are being dropped...
    node.wait_for("10 more blocks", Duration::from_secs(60), |n| n.progress().1 >= start_height + 10);
    // ...and the count keeps rising, never falling.
    while drop_reports(&node).last().is_none_or(|d| *d <= first) {
        assert!(Instant::now() < deadline + Duration::from_secs(30), "dropped stays at {first}; log:\n{}", node.logs());
        std::thread::sleep(Duration::from_millis(200));
    }
    let reports = drop_reports(&node);
    assert!(reports.windows(2).all(|w| w[0] <= w[1]), "{reports:?}");
    assert!(node.progress().1 >= start_height + 10);
}
