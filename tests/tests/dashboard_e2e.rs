//! The node's observability surface end to end, on a real 4-node network with two channels:
//! `GET /metrics` parses and carries every family with sane values, and the dashboard page,
//! opened in headless Chromium (driven over the DevTools protocol on a pipe: no extra crates),
//! updates live (heights advance in the open page), draws both charts, lists the latest blocks
//! with their QC signers and the log collector's recent events, and shows a killed peer as down
//! within a few seconds.
//!
//! Needs Debian's `chromium` (installed by `.ci/prereqs.sh`; `CHROMIUM=/path` overrides). Without
//! it the test FAILS with the command to install it: it never skips.
use lc_system_tests::Cluster;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const A: &str = "dash_a";
const B: &str = "dash_b";
const LONG: Duration = Duration::from_secs(90);

// ---- headless Chromium over --remote-debugging-pipe ---------------------------------------------

/// The Chromium binary, or a failure telling how to install it.
fn chromium() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("CHROMIUM").map(PathBuf::from).into_iter().collect();
    candidates.extend(["/usr/bin/chromium", "/usr/bin/chromium-browser"].map(PathBuf::from));
    for c in &candidates {
        let ok = Command::new(c)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return c.clone();
        }
    }
    panic!(
        "headless Chromium is required for the dashboard browser test and was not found (tried {candidates:?}). \
         Install it with `sudo apt-get install -y chromium` (or run `bash .ci/prereqs.sh`), or set CHROMIUM=/path/to/chromium."
    );
}

/// A headless Chromium whose DevTools protocol runs over fds 3 (commands in) and 4 (replies out),
/// NUL-separated JSON, attached to one page.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<Value>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn open(url: &str, log: &Path) -> Self {
        let bin = chromium();
        let profile = tempfile::tempdir().expect("profile dir");
        let log_file = std::fs::File::create(log).expect("browser log");
        // bash maps our stdin/stdout pipes to Chromium's fds 3 and 4, then becomes Chromium.
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(r#"exec "$@" 3<&0 4>&1 </dev/null >/dev/null"#)
            .arg("chromium")
            .arg(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1280,1600",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("starting chromium");
        let stdin = child.stdin.take().expect("chromium stdin");
        let stdout = child.stdout.take().expect("chromium stdout");
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut msg = Vec::new();
                match reader.read_until(0, &mut msg) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        if msg.last() == Some(&0) {
                            msg.pop();
                        }
                        if let Ok(v) = serde_json::from_slice::<Value>(&msg) {
                            if tx.send(v).is_err() {
                                return;
                            }
                        }
                    }
                }
            }
        });
        let mut b = Self { child, stdin, replies, next_id: 0, session: String::new(), _profile: profile };
        let target = b.call("Target.createTarget", json!({"url": url}), false);
        let target_id = target["targetId"].as_str().expect("targetId").to_owned();
        let attached = b.call("Target.attachToTarget", json!({"targetId": target_id, "flatten": true}), false);
        b.session = attached["sessionId"].as_str().expect("sessionId").to_owned();
        b
    }

    /// Sends a command and waits for its answer (events in between are skipped).
    fn call(&mut self, method: &str, params: Value, in_page: bool) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if in_page {
            msg["sessionId"] = json!(self.session);
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(0);
        self.stdin.write_all(&bytes).and_then(|()| self.stdin.flush()).expect("writing to chromium");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self.replies.recv_timeout(left).unwrap_or_else(|e| panic!("no answer to {method}: {e}"));
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method} failed: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates `expr` (which must produce a JSON string) in the page.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({"expression": expr, "returnByValue": true}), true);
        assert!(r.get("exceptionDetails").is_none(), "page script failed: {r}");
        let text = r["result"]["value"].as_str().unwrap_or_else(|| panic!("not a string: {r}"));
        serde_json::from_str(text).expect("page state is JSON")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.next_id += 1;
        let mut bytes = json!({"id": self.next_id, "method": "Browser.close", "params": {}}).to_string().into_bytes();
        bytes.push(0);
        let _ = self.stdin.write_all(&bytes).and_then(|()| self.stdin.flush());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the test reads from the page: the `data-*` state the dashboard exposes.
const PAGE_STATE: &str = r##"(() => {
  const app = document.getElementById("app");
  if (!app || !document.getElementById("events")) return JSON.stringify({ loading: true, channels: [] });
  const num = (v) => (v === undefined || v === "" ? null : Number(v));
  return JSON.stringify({
    updates: num(app.dataset.updates),
    updatedAt: num(app.dataset.updatedAt),
    chartsRendered: num(app.dataset.chartsRendered),
    uplot: typeof uPlot,
    canvases: Array.from(document.querySelectorAll(".chart canvas")).map((c) => [c.width, c.height]),
    legends: Array.from(document.querySelectorAll(".chart .u-legend .u-series")).length,
    events: num(document.getElementById("events").dataset.count),
    eventNames: Array.from(document.querySelectorAll("#events tbody tr")).map((r) => r.dataset.event),
    channels: Array.from(document.querySelectorAll("section.channel")).map((s) => ({
      name: s.dataset.channel,
      height: num(s.dataset.height),
      first: num(s.dataset.firstHeight),
      members: Array.from(s.querySelectorAll("tr[data-peer-id]")).map((r) => ({
        id: r.dataset.peerId, state: r.dataset.state, height: num(r.dataset.height), self: r.dataset.self === "1",
      })),
      blocks: Array.from(s.querySelectorAll("table.blocks tbody tr")).map((r) => ({
        height: num(r.dataset.height), signers: num(r.dataset.signers),
      })),
    })),
  });
})()"##;

fn channel<'a>(page: &'a Value, name: &str) -> Option<&'a Value> {
    page["channels"].as_array()?.iter().find(|c| c["name"] == name)
}

fn member_state(page: &Value, channel_name: &str, peer: &str) -> Option<String> {
    let c = channel(page, channel_name)?;
    let m = c["members"].as_array()?.iter().find(|m| m["id"] == peer)?;
    m["state"].as_str().map(str::to_owned)
}

/// Polls the page until `pred` holds; returns the state that satisfied it.
fn wait_page(b: &mut Browser, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let page = b.eval(PAGE_STATE);
        if pred(&page) {
            return page;
        }
        assert!(Instant::now() < deadline, "the dashboard did not show {what} within {timeout:?}; page state: {page}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---- a stand-in log collector ------------------------------------------------------------------

/// Answers `GET /api/v1/events` with two fixed records and everything else with `{}` (so a log
/// shipper pointed at it is not disturbed). Returns its `host:port`.
fn fake_collector() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind collector");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(match stream.try_clone() {
                    Ok(s) => s,
                    Err(_) => return,
                });
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length.min(1 << 20)];
                let _ = reader.read_exact(&mut body);
                let answer = if request_line.starts_with("GET /api/v1/events") {
                    json!([
                        {"ts_us": 1_700_000_000_000_000u64, "node": "hxtestnode0001", "channel": A, "event": "AddBlock",
                         "level": "info", "height": 7, "round": 7, "message": "committed", "fields": {}},
                        {"ts_us": 1_700_000_000_500_000u64, "node": "hxtestnode0002", "channel": B, "event": "ScoreInvoke",
                         "level": "warn", "height": 8, "round": 9, "message": "slow <b>call</b>", "fields": {"ms": 12}},
                    ])
                    .to_string()
                } else {
                    "{}".to_owned()
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    addr
}

// ---- /metrics ----------------------------------------------------------------------------------

/// `GET {base}/metrics`: content type and `{"name{labels}" -> value}`.
fn scrape(base: &str) -> (String, String, BTreeMap<String, f64>) {
    let resp = ureq::get(&format!("{base}/metrics")).timeout(Duration::from_secs(10)).call().expect("GET /metrics");
    let content_type = resp.header("content-type").unwrap_or_default().to_owned();
    let text = resp.into_string().expect("metrics text");
    let mut samples = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("malformed sample line {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("malformed value in {line:?}"));
        samples.insert(key.to_owned(), value);
    }
    (content_type, text, samples)
}

fn sample(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    *samples.get(key).unwrap_or_else(|| panic!("no sample {key}; have {:?}", samples.keys().collect::<Vec<_>>()))
}

/// Histogram `name` of `channel`: buckets ascend, `+Inf` equals `_count`; returns the count.
fn histogram_count(samples: &BTreeMap<String, f64>, text: &str, name: &str, channel: &str) -> f64 {
    let label = format!("channel=\"{channel}\"");
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket{{")) && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    assert!(buckets.len() >= 2, "{name} of {channel} has buckets: {buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{name} buckets are cumulative: {buckets:?}");
    let count = sample(samples, &format!("{name}_count{{{label}}}"));
    assert_eq!(buckets.last().copied(), Some(count), "{name}: +Inf bucket equals the count");
    count
}

#[test]
fn metrics_and_dashboard_on_a_live_network() {
    let t0 = Instant::now();
    let collector = fake_collector();
    let collector_set = format!("LOG_COLLECTOR_TARGET={collector}");
    let sets =
        ["TIMEOUT_PROPOSE_MS=300", "TIMEOUT_VOTE_MS=300", "INTERVAL_BLOCKGENERATION=0.5", collector_set.as_str()];
    let mut c = Cluster::new(4, &[(A, &[0, 1, 2, 3]), (B, &[0, 1, 2, 3])], &sets);
    for i in 0..4 {
        c.start(i);
    }
    let all = [0, 1, 2, 3];
    c.wait_height(A, &all, 3, LONG);
    c.wait_height(B, &all, 3, LONG);
    // Some transactions (the hello SCORE runs them).
    let mut last = String::new();
    for i in 0..5 {
        let (code, v) =
            c.node(i % 4).post("/api/v1/transactions", &format!(r#"{{"data":"dash {i}","channel":"{A}"}}"#), None);
        assert_eq!(code, 200, "{v}");
        last = v["tx_hash"].as_str().expect("tx_hash").to_owned();
    }
    c.node(0).wait_committed(A, &last, LONG);

    // ---- /metrics ----
    let base = c.node(0).base();
    let (content_type, text, samples) = scrape(&base);
    assert!(
        content_type.starts_with("application/openmetrics-text") || content_type.starts_with("text/plain"),
        "content type {content_type}"
    );
    assert!(text.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
    for ch in [A, B] {
        let l = format!("{{channel=\"{ch}\"}}");
        assert!(sample(&samples, &format!("loopchain_block_height{l}")) >= 3.0, "{ch} height");
        assert!(sample(&samples, &format!("loopchain_round{l}")) >= 1.0, "{ch} round");
        assert!(sample(&samples, &format!("loopchain_epoch{l}")) >= 0.0);
        assert!(sample(&samples, &format!("loopchain_mempool_txs{l}")) >= 0.0);
        assert!(sample(&samples, &format!("loopchain_committed_blocks_total{l}")) >= 3.0, "{ch} blocks");
        assert!(sample(&samples, &format!("loopchain_committed_tx_total{l}")) >= 0.0);
        let finality = histogram_count(&samples, &text, "loopchain_finality_latency_seconds", ch);
        assert!(finality >= 1.0, "{ch}: commits of proposals seen here are timed");
        assert!(histogram_count(&samples, &text, "loopchain_db_write_latency_seconds", ch) >= 3.0, "{ch} writes");
        let connected = format!("loopchain_peers{{channel=\"{ch}\",state=\"connected\"}}");
        assert_eq!(sample(&samples, &connected), 3.0, "{ch}: the three other members are connected");
        for cause in ["propose_timeout", "vote_timeout", "invalid_proposal", "tc"] {
            sample(&samples, &format!("loopchain_round_failures_total{{channel=\"{ch}\",cause=\"{cause}\"}}"));
        }
        sample(&samples, &format!("loopchain_score_failures_total{l}"));
    }
    assert!(sample(&samples, &format!("loopchain_committed_tx_total{{channel=\"{A}\"}}")) >= 5.0, "txs of {A}");
    assert!(sample(&samples, &format!("loopchain_score_calls_total{{channel=\"{A}\"}}")) >= 5.0, "hello ran");
    let refusals = samples.keys().filter(|k| k.starts_with("loopchain_refusals_total{reason=")).count();
    assert!(refusals >= 10, "every refusal reason is reported (zeros included): {refusals}");
    assert!(samples.contains_key("loopchain_refusals_total{reason=\"non_member\"}"));
    // LOG_COLLECTOR_TARGET is set: the log shipper's counters are exported too.
    for counter in ["loopchain_log_events_shipped_total", "loopchain_log_events_dropped_total"] {
        assert!(samples.contains_key(counter), "{counter} is exported");
    }
    eprintln!("metrics checked after {:.1} s", t0.elapsed().as_secs_f64());

    // ---- the dashboard in a browser ----
    let victim = c.node(3).peer_id(A);
    let mut browser = Browser::open(&format!("{base}/dashboard"), &c.dir().join("chromium.log"));
    let page = wait_page(&mut browser, "both channels, charts and events", LONG, |p| {
        p["uplot"] == "function"
            && p["chartsRendered"] == 2
            && p["events"] == 2
            && [A, B].iter().all(|ch| {
                channel(p, ch).is_some_and(|c| {
                    c["members"].as_array().is_some_and(|m| m.len() == 4 && m.iter().all(|m| m["state"] == "up"))
                        && c["blocks"].as_array().is_some_and(|b| b.len() == 10)
                })
            })
    });
    let canvases = page["canvases"].as_array().expect("canvases");
    assert_eq!(canvases.len(), 2, "one canvas per chart: {page}");
    for cv in canvases {
        assert!(cv[0].as_u64() > Some(100) && cv[1].as_u64() > Some(100), "canvas has a size: {cv}");
    }
    assert!(page["legends"].as_u64() >= Some(2 * 3), "each chart has the x series and one per channel: {page}");
    assert_eq!(page["eventNames"], json!(["ScoreInvoke", "AddBlock"]), "collector events, newest first");
    for ch in [A, B] {
        let blocks = channel(&page, ch).and_then(|c| c["blocks"].as_array().cloned()).expect("blocks");
        // Newest first, consecutive; every block below the tip lists a quorum (3 of 4) of signers.
        assert!(blocks.windows(2).all(|w| w[0]["height"].as_u64() == w[1]["height"].as_u64().map(|h| h + 1)));
        for b in &blocks[1..] {
            if b["height"].as_u64() > Some(0) {
                assert!(b["signers"].as_u64() >= Some(3), "{ch} block {b} lists its QC's signers");
            }
        }
    }

    // Heights advance in the open page (it polls; nothing reloads it).
    let page = wait_page(&mut browser, "heights advancing", LONG, |p| {
        [A, B]
            .iter()
            .all(|ch| channel(p, ch).is_some_and(|c| c["height"].as_u64() >= c["first"].as_u64().map(|h| h + 2)))
    });
    let updates_before = page["updates"].as_u64().expect("updates");
    eprintln!("dashboard live after {:.1} s: {}", t0.elapsed().as_secs_f64(), page["channels"]);

    // ---- a peer goes down ----
    c.kill9(3);
    let killed = Instant::now();
    let page = wait_page(&mut browser, "the killed peer down", Duration::from_secs(10), |p| {
        [A, B].iter().all(|ch| member_state(p, ch, &victim).as_deref() == Some("down"))
    });
    let shown_after = killed.elapsed();
    eprintln!("killed peer shown down after {:.1} s", shown_after.as_secs_f64());
    assert!(page["updates"].as_u64() > Some(updates_before), "still updating");
    for ch in [A, B] {
        let members = channel(&page, ch).and_then(|c| c["members"].as_array().cloned()).expect("members");
        let up = members.iter().filter(|m| m["state"] == "up").count();
        assert_eq!(up, 3, "{ch}: the other three stay up: {members:?}");
    }
    // The chain goes on with three of four, and the page follows it.
    let before: Vec<u64> =
        [A, B].iter().map(|ch| channel(&page, ch).and_then(|c| c["height"].as_u64()).unwrap_or(0)).collect();
    wait_page(&mut browser, "heights advancing with a peer down", LONG, |p| {
        [A, B].iter().zip(&before).all(|(ch, h)| channel(p, ch).is_some_and(|c| c["height"].as_u64() > Some(*h + 1)))
    });
    // /metrics counts the dead link as down.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, samples) = scrape(&base);
        let down = sample(&samples, &format!("loopchain_peers{{channel=\"{A}\",state=\"down\"}}"));
        if down == 1.0 {
            break;
        }
        assert!(Instant::now() < deadline, "loopchain_peers down stays {down} after the kill");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(browser);
    eprintln!("dashboard e2e: {:.1} s", t0.elapsed().as_secs_f64());
}
