//! `loopchain bench`: the load generator.
//!
//! Pre-signs token transfers between the dev accounts funded at genesis (before the clock starts),
//! then for `--duration` seconds posts them through `/api/v1/transactions/batch` — at `--rate` tx/s
//! or flat out — with `--concurrency` requests in flight, round-robin over the targets. A block
//! watcher fetches every new block of the first target (`/api/v1/blocks?height=N`) and notes when
//! each of our transactions shows up in a committed block.
//!
//! Reported: committed tx/s (our transactions in blocks observed within the window ÷ the window,
//! the window running from the first submit for `--duration` seconds), submit→commit latency
//! p50/p99 (submit = the moment the node answered the batch that admitted the transaction; commit =
//! the moment the watcher saw its block; stragglers are awaited up to 10 s after the window, for
//! latency only), CPU of each node over the window (processes `loopchain peer ... -p PORT`, PORT =
//! REST port − 1900), and this tool's own CPU. `--json` ends stdout with one single-line JSON object.
//!
//! `--spawn` starts its own 4-peer network on free ports in a temporary directory instead.
use crate::demo;
use anyhow::{bail, Context, Result};
use clap::Args;
use lc_crypto::Keypair;
use lc_types::{Address, Hash, Payload, Transaction, TxBody};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// Pre-signing budget per second of `--duration` when running flat out (`--rate 0`).
const FLAT_OUT_PRESIGN_PER_S: u64 = 15_000;
/// How long to wait after the window for transactions still uncommitted (latency only).
const STRAGGLER_WAIT: Duration = Duration::from_secs(10);
/// Pause of the block watcher when the next height is not committed yet.
const WATCH_POLL: Duration = Duration::from_millis(5);
/// The REST port of a node is its peer (gRPC) port + this.
const REST_PORT_OFFSET: u16 = 1900;
/// Dev accounts funded at genesis by the token SCORE's dev parameters (`dev_score_params`).
const FUNDED_DEV_ACCOUNTS: u64 = 16;
/// The node's default TIMESTAMP_BOUNDARY_SECOND (lc-config), for a warning only.
const DEFAULT_TIMESTAMP_BOUNDARY_S: u64 = 900;
/// Peers of the `--spawn` network.
const SPAWN_PEERS: usize = 4;

/// Flags of `loopchain bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// REST base URL of the node to load [default: http://127.0.0.1:9000].
    #[arg(long, conflicts_with_all = ["targets", "spawn"])]
    target: Option<String>,
    /// Several REST base URLs (comma-separated): batches go round-robin; blocks are watched on the first.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "spawn")]
    targets: Vec<String>,
    /// Channel to load (the one-validator dev chain is `loopchain_default`).
    #[arg(long, default_value = "token_channel")]
    channel: String,
    /// SCORE whose `transfer` is called (the channel must run the token SCORE).
    #[arg(long, default_value = "token")]
    score: String,
    /// Offered load in transactions per second; 0 = flat out.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Length of the measurement window, seconds (from the first submit).
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Transactions per batch request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Batch requests in flight.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Closed loop: most submitted transactions not yet seen in a committed block; submitting
    /// pauses above it (0 = open loop: submit regardless, queues and latency then grow without
    /// bound once the offered load exceeds what the network commits).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    max_pending: u64,
    /// Dev accounts used as senders (funded at genesis: at most 16).
    #[arg(long, default_value_t = FUNDED_DEV_ACCOUNTS)]
    accounts: u64,
    /// Transactions to pre-sign [default: rate × duration, or 15000 × duration flat out].
    #[arg(long, value_name = "N")]
    presign: Option<u64>,
    /// Also print the results as one single-line JSON object (the last line of stdout).
    #[arg(long)]
    json: bool,
    /// Start a 4-peer network of our own on free ports (temporary directory) and load it.
    #[arg(long)]
    spawn: bool,
    /// Radio station REST URL: when it answers, the CPU of every peer registered for the channel
    /// is measured, not only the targets' (empty = targets only).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9002")]
    radio_station: String,
}

/// REST URLs of the peers the radio station lists for `channel` (their gRPC target + 1900).
fn registered_peers(rs: &str, channel: &str) -> Vec<String> {
    let url = format!("{}/api/v1/peer/list?channel={channel}", rs.trim_end_matches('/'));
    let Some(v) = crate::demo::blocking_get(&url) else { return Vec::new() };
    let mut out: Vec<String> = v["data"]["registered_peer_list"]
        .as_array()
        .map(|peers| {
            peers
                .iter()
                .filter_map(|p| p["target"].as_str())
                .filter_map(|t| t.rsplit_once(':'))
                .filter_map(|(host, port)| {
                    let rest = port.parse::<u16>().ok()?.checked_add(REST_PORT_OFFSET)?;
                    Some(format!("http://{host}:{rest}"))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    if args.batch == 0 || args.batch > lc_rest::MAX_BATCH_TXS {
        bail!("--batch must be between 1 and {} (the node's batch limit)", lc_rest::MAX_BATCH_TXS);
    }
    if args.concurrency == 0 || args.duration == 0 {
        bail!("--concurrency and --duration must be positive");
    }
    if args.accounts == 0 || args.accounts > FUNDED_DEV_ACCOUNTS {
        bail!("--accounts must be between 1 and {FUNDED_DEV_ACCOUNTS} (the dev accounts funded at genesis)");
    }
    if args.presign == Some(0) {
        bail!("--presign must be positive");
    }
    if args.spawn {
        return run_spawned(&args);
    }
    let targets = if !args.targets.is_empty() {
        args.targets.clone()
    } else {
        vec![args.target.clone().unwrap_or_else(|| "http://127.0.0.1:9000".to_owned())]
    };
    let mut measured = targets.clone();
    if !args.radio_station.is_empty() {
        for peer in registered_peers(&args.radio_station, &args.channel) {
            let same = |t: &String| t.trim_end_matches('/').replace("localhost", "127.0.0.1") == peer;
            if !measured.iter().any(same) {
                measured.push(peer);
            }
        }
    }
    let nodes = measured.iter().map(|t| locate_node(t, None)).collect();
    run_bench(&args, &targets, nodes)
}

/// `--spawn`: a fresh network in a temporary directory, stopped afterwards (kept on failure).
fn run_spawned(args: &BenchArgs) -> Result<()> {
    let dir =
        tempfile::Builder::new().prefix("loopchain-bench-").tempdir().context("creating a temporary directory")?;
    let base_port = demo::free_base_port(SPAWN_PEERS)?;
    eprintln!("bench: starting {SPAWN_PEERS} peers (gRPC from port {base_port}) in {}", dir.path().display());
    let net = demo::Network::start(demo::NetworkOptions {
        data_dir: dir.path().to_path_buf(),
        base_port,
        peers: SPAWN_PEERS,
        radio_station: false,
        quiet: true,
        secure: false,
        auditors: 0,
        collector_port: None,
    })
    .context("starting the network")?;
    let result = net.wait_ready(Duration::from_secs(120)).context("waiting for the network").and_then(|()| {
        let targets = net.rest_urls.clone();
        let nodes = targets
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let pid = if net.pids.len() == targets.len() { net.pids.get(i).copied() } else { None };
                locate_node(t, pid)
            })
            .collect();
        run_bench(args, &targets, nodes)
    });
    let stopped = net.stop().context("stopping the network");
    match (result, stopped) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(e), _) | (Ok(()), Err(e)) => {
            let kept = dir.keep();
            Err(e.context(format!("network data and logs kept in {}", kept.display())))
        }
    }
}

/// A node process whose CPU time we read.
#[derive(Debug)]
struct NodeProc {
    /// `-p` port (gRPC), the node's name in loopchain.
    peer_port: Option<u16>,
    /// The process, or why it was not found.
    pid: Result<u32, String>,
}

/// Finds the process behind a REST URL: `loopchain peer ... -p (REST port − 1900)` on this host.
fn locate_node(target: &str, known_pid: Option<u32>) -> NodeProc {
    let url = match reqwest::Url::parse(target) {
        Ok(u) => u,
        Err(e) => return NodeProc { peer_port: None, pid: Err(format!("bad URL: {e}")) },
    };
    let Some(peer_port) = url.port_or_known_default().and_then(|p| p.checked_sub(REST_PORT_OFFSET)) else {
        return NodeProc { peer_port: None, pid: Err("REST port below 1900: no peer port".into()) };
    };
    if let Some(pid) = known_pid {
        return NodeProc { peer_port: Some(peer_port), pid: Ok(pid) };
    }
    let host = url.host_str().unwrap_or_default();
    let local = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let pid = if local { find_peer_process(peer_port) } else { Err("not a local node".into()) };
    NodeProc { peer_port: Some(peer_port), pid }
}

/// Scans /proc for `loopchain peer ... -p PORT` (also `-pPORT`, `--port PORT`, `--port=PORT`).
fn find_peer_process(port: u16) -> Result<u32, String> {
    let port_s = port.to_string();
    let entries = std::fs::read_dir("/proc").map_err(|e| format!("cannot list /proc: {e}"))?;
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let argv: Vec<String> =
            raw.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let Some(exe) = argv.first() else { continue };
        let is_loopchain = std::path::Path::new(exe).file_name().is_some_and(|n| n == "loopchain");
        if !is_loopchain || !argv.iter().skip(1).any(|a| a == "peer") {
            continue;
        }
        let has_port = argv.windows(2).any(|w| (w[0] == "-p" || w[0] == "--port") && w[1] == port_s)
            || argv.iter().any(|a| a.strip_prefix("--port=").or_else(|| a.strip_prefix("-p")) == Some(&port_s));
        if has_port {
            found.push(pid);
        }
    }
    match found.as_slice() {
        [pid] => Ok(*pid),
        [] => Err(format!("no `loopchain peer -p {port}` process found")),
        many => Err(format!("{} processes match `loopchain peer -p {port}`", many.len())),
    }
}

/// Clock ticks per second of /proc/PID/stat times (`getconf CLK_TCK`; 100 on Linux if that fails).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(stat_path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name (which may contain spaces), the first being field 3 (state).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[derive(Serialize)]
struct BatchBody<'a> {
    channel: &'a str,
    signed_txs: &'a [Transaction],
}

/// One pre-signed batch request.
struct Batch {
    body: String,
    hashes: Vec<Hash>,
}

/// What the node said to one batch request.
struct BatchOutcome {
    index: usize,
    /// When the answer arrived.
    at: Instant,
    /// Per transaction: admitted?
    accepted: Vec<bool>,
    /// Refusals by response code: (count, first message).
    refused: BTreeMap<String, (u64, String)>,
    /// The request itself failed (transport error or non-200 answer).
    failed: bool,
}

/// A committed block seen by the watcher.
struct SeenBlock {
    at: Instant,
    txs: usize,
    ours: Vec<Hash>,
}

async fn get_json(client: &reqwest::Client, url: &str) -> Result<(reqwest::StatusCode, Value)> {
    let resp = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = resp.status();
    let v = resp.json().await.with_context(|| format!("GET {url}: the answer is not JSON"))?;
    Ok((status, v))
}

/// Checks that a target answers and serves the channel; returns its block height.
async fn probe(client: &reqwest::Client, target: &str, channel: &str) -> Result<u64> {
    let url = format!("{target}/api/v1/status/peer?channel={channel}");
    let (status, v) = get_json(client, &url).await.with_context(|| {
        format!("cannot reach the node at {target}; is it running? (`loopchain bench --spawn` starts a network)")
    })?;
    if !status.is_success() {
        bail!("{target} refuses channel {channel:?} ({status}): {}", v["message"].as_str().unwrap_or_default());
    }
    if v["service_available"] == Value::Bool(false) {
        bail!("{target}: channel {channel} is not serving: {}", v["status"]);
    }
    v["block_height"].as_u64().with_context(|| format!("{url}: no block_height in {v}"))
}

/// Signs `count` transfers in batches of `batch`, in parallel.
fn presign(args: &BenchArgs, count: u64) -> Result<Vec<Batch>> {
    let accounts: Vec<Keypair> = (0..args.accounts).map(Keypair::dev_account).collect();
    let addresses: Vec<String> = accounts.iter().map(|k| Address::of(&k.public()).to_string()).collect();
    let run_id = lc_engine::now_us();
    let batch = args.batch as u64;
    let n_batches = count.div_ceil(batch);
    (0..n_batches)
        .into_par_iter()
        .map(|b| {
            let txs: Vec<Transaction> = (b * batch..count.min((b + 1) * batch))
                .map(|i| {
                    let from = (i % args.accounts) as usize;
                    let to = ((i + 1) % args.accounts) as usize;
                    accounts[from].sign_tx(TxBody {
                        channel: args.channel.clone(),
                        from: accounts[from].public(),
                        timestamp_us: lc_engine::now_us(),
                        nonce: run_id.wrapping_add(i),
                        payload: Payload::Call {
                            score: args.score.clone(),
                            method: "transfer".into(),
                            params_json: format!(r#"{{"to":"{}","value":"1"}}"#, addresses[to]),
                        },
                    })
                })
                .collect();
            let body = serde_json::to_string(&BatchBody { channel: &args.channel, signed_txs: &txs })?;
            Ok(Batch { body, hashes: txs.iter().map(Transaction::hash).collect() })
        })
        .collect()
}

async fn post_batch(client: reqwest::Client, url: String, index: usize, body: String, n: usize) -> BatchOutcome {
    let mut out =
        BatchOutcome { index, at: Instant::now(), accepted: vec![false; n], refused: BTreeMap::new(), failed: false };
    let fail = |out: &mut BatchOutcome, code: String, msg: String| {
        out.failed = true;
        out.refused.insert(code, (n as u64, msg));
    };
    let resp = match client.post(&url).body(body).send().await {
        Ok(r) => r,
        Err(e) => {
            fail(&mut out, "transport".into(), format!("POST {url}: {e}"));
            return out;
        }
    };
    out.at = Instant::now();
    let status = resp.status();
    let v: Value = match resp.json().await {
        Ok(v) => v,
        Err(e) => {
            fail(&mut out, format!("http {}", status.as_u16()), format!("answer is not JSON: {e}"));
            return out;
        }
    };
    let results = match v["results"].as_array() {
        Some(r) if status.is_success() => r,
        _ => {
            let code = v["response_code"].as_str().unwrap_or("?");
            let msg = v["message"].as_str().unwrap_or_default().to_owned();
            fail(&mut out, format!("{code} (http {})", status.as_u16()), msg);
            return out;
        }
    };
    for (i, r) in results.iter().enumerate().take(n) {
        let code = r["response_code"].as_str().unwrap_or("?");
        if code == "0" {
            out.accepted[i] = true;
        } else {
            let e = out.refused.entry(code.to_owned()).or_insert_with(|| (0, String::new()));
            e.0 += 1;
            if e.1.is_empty() {
                e.1 = r["message"].as_str().unwrap_or_default().to_owned();
            }
        }
    }
    if results.len() < n {
        fail(&mut out, "short answer".into(), format!("{} results for {n} transactions", results.len()));
    }
    out
}

/// Fetches every block from `next` on as it is committed; stops when `stop` is set.
async fn watch_blocks(
    client: reqwest::Client,
    target: String,
    channel: String,
    mut next: u64,
    ours: Arc<HashMap<Hash, (u32, u32)>>,
    seen_ours: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> (Vec<SeenBlock>, u64) {
    let mut blocks = Vec::new();
    let mut errors = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let url = format!("{target}/api/v1/blocks?height={next}&channel={channel}");
        let resp = match client.get(&url).send().await {
            Ok(r) => r,
            Err(_) => {
                errors += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let at = Instant::now();
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            tokio::time::sleep(WATCH_POLL).await;
            continue;
        }
        let v: Value = match resp.json().await {
            Ok(v) => v,
            Err(_) => {
                errors += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(txs) = v["tx_data_json"].as_array() else {
            errors += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mine: Vec<Hash> = txs
            .iter()
            .filter_map(|t| t["tx_hash"].as_str().and_then(|h| Hash::from_hex(h).ok()))
            .filter(|h| ours.contains_key(h))
            .collect();
        seen_ours.fetch_add(mine.len() as u64, Ordering::Relaxed);
        blocks.push(SeenBlock { at, txs: txs.len(), ours: mine });
        next += 1;
    }
    (blocks, errors)
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn run_bench(args: &BenchArgs, targets: &[String], nodes: Vec<NodeProc>) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(bench(args, targets, nodes))
}

async fn bench(args: &BenchArgs, targets: &[String], nodes: Vec<NodeProc>) -> Result<()> {
    let targets: Vec<String> = targets.iter().map(|t| t.trim_end_matches('/').to_owned()).collect();
    let Some(watch_target) = targets.first().cloned() else { bail!("no target") };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(args.concurrency + 2)
        .build()?;
    let mut start_height = 0;
    for (i, t) in targets.iter().enumerate() {
        let h = probe(&client, t, &args.channel).await?;
        if i == 0 {
            start_height = h;
        }
    }

    // Pre-sign the whole run before the clock starts.
    let count = args.presign.unwrap_or_else(|| {
        let per_s = if args.rate > 0 { args.rate } else { FLAT_OUT_PRESIGN_PER_S };
        per_s.saturating_mul(args.duration)
    });
    let sign_start = Instant::now();
    let batches = tokio::task::block_in_place(|| presign(args, count))?;
    let n_batches = batches.len();
    let signing = sign_start.elapsed();
    eprintln!(
        "bench: signed {count} transfers from {} dev accounts in {:.2} s ({:.0}/s) as {} batches of ≤ {}",
        args.accounts,
        signing.as_secs_f64(),
        count as f64 / signing.as_secs_f64().max(1e-9),
        batches.len(),
        args.batch
    );
    if signing.as_secs() + args.duration + STRAGGLER_WAIT.as_secs() > DEFAULT_TIMESTAMP_BOUNDARY_S {
        eprintln!(
            "bench: warning: transactions are timestamped when signed; a node with the default \
             TIMESTAMP_BOUNDARY_SECOND ({DEFAULT_TIMESTAMP_BOUNDARY_S} s) refuses the late ones (-109)"
        );
    }
    // Our transactions: hash → (batch, position in the batch).
    let mut ours: HashMap<Hash, (u32, u32)> = HashMap::with_capacity(count as usize);
    for (b, batch) in batches.iter().enumerate() {
        for (i, h) in batch.hashes.iter().enumerate() {
            ours.insert(*h, (b as u32, i as u32));
        }
    }
    let ours = Arc::new(ours);

    // Block watcher on the first target.
    let seen_ours = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_blocks(
        client.clone(),
        watch_target.clone(),
        args.channel.clone(),
        start_height + 1,
        Arc::clone(&ours),
        Arc::clone(&seen_ours),
        Arc::clone(&stop),
    ));

    // The window.
    let ticks = clock_ticks();
    let node_start: Vec<Option<u64>> =
        nodes.iter().map(|n| n.pid.as_ref().ok().and_then(|pid| cpu_ticks(&format!("/proc/{pid}/stat")))).collect();
    let self_start = cpu_ticks("/proc/self/stat");
    let window = Duration::from_secs(args.duration);
    let t0 = Instant::now();
    let end = t0 + window;
    let urls: Vec<String> = targets.iter().map(|t| format!("{t}/api/v1/transactions/batch")).collect();
    let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let mut tasks = JoinSet::new();
    let mut outcomes: Vec<BatchOutcome> = Vec::new();
    let mut sent_batches = 0usize;
    let mut submitted = 0u64;
    let mut ran_out = false;
    for (k, batch) in batches.into_iter().enumerate() {
        if args.rate > 0 {
            let due = t0 + Duration::from_secs_f64((k * args.batch) as f64 / args.rate as f64);
            if due >= end {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
        }
        // Closed loop: wait until the network has committed enough of what was sent.
        if args.max_pending > 0 {
            let mut past_end = false;
            while submitted.saturating_sub(seen_ours.load(Ordering::Relaxed)) > args.max_pending {
                if Instant::now() >= end {
                    past_end = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if past_end {
                break;
            }
        }
        let permit = tokio::select! {
            p = Arc::clone(&sem).acquire_owned() => p?,
            () = tokio::time::sleep_until(end.into()) => break,
        };
        if Instant::now() >= end {
            break;
        }
        let n = batch.hashes.len();
        let (client, url) = (client.clone(), urls[k % urls.len()].clone());
        tasks.spawn(async move {
            let out = post_batch(client, url, k, batch.body, n).await;
            drop(permit);
            out
        });
        sent_batches += 1;
        submitted += n as u64;
        if sent_batches == n_batches {
            // Out of pre-signed transactions; at a fixed rate that is expected at the very end.
            let next_due = (n_batches * args.batch) as f64 / args.rate.max(1) as f64;
            ran_out = args.rate == 0 || next_due < window.as_secs_f64();
        }
        // Collect finished requests as we go (keeps the set small).
        while let Some(r) = tasks.try_join_next() {
            outcomes.push(r?);
        }
    }
    if ran_out {
        eprintln!(
            "bench: all {count} pre-signed transactions were sent before the end of the window (raise --presign)"
        );
    }
    tokio::time::sleep_until(end.into()).await;
    let window_end = Instant::now();
    let self_end = cpu_ticks("/proc/self/stat");
    let node_end: Vec<Option<u64>> =
        nodes.iter().map(|n| n.pid.as_ref().ok().and_then(|pid| cpu_ticks(&format!("/proc/{pid}/stat")))).collect();
    let window_s = window_end.duration_since(t0).as_secs_f64();

    // Requests still in flight at the end of the window.
    while let Some(r) = tasks.join_next().await {
        outcomes.push(r?);
    }
    let mut submit_at: Vec<Option<(Instant, Vec<bool>)>> = (0..n_batches).map(|_| None).collect();
    let (mut accepted, mut failed_requests) = (0u64, 0u64);
    let mut refused: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for o in outcomes {
        accepted += o.accepted.iter().filter(|a| **a).count() as u64;
        failed_requests += u64::from(o.failed);
        for (code, (n, msg)) in o.refused {
            let e = refused.entry(code).or_insert_with(|| (0, msg));
            e.0 += n;
        }
        submit_at[o.index] = Some((o.at, o.accepted));
    }
    let rejected = submitted - accepted;

    // Stragglers, for latency only.
    let drain_start = Instant::now();
    while seen_ours.load(Ordering::Relaxed) < accepted && drain_start.elapsed() < STRAGGLER_WAIT {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drained = drain_start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (blocks, watch_errors) = watcher.await?;

    // Committed in the window, latencies over everything seen.
    let mut committed = 0u64;
    let mut committed_total = 0u64;
    let mut blocks_in_window = 0u64;
    let mut txs_in_window = 0u64;
    let mut latencies: Vec<f64> = Vec::new();
    for b in &blocks {
        if b.at <= window_end {
            committed += b.ours.len() as u64;
            blocks_in_window += 1;
            txs_in_window += b.txs as u64;
        }
        committed_total += b.ours.len() as u64;
        for h in &b.ours {
            let Some(&(bi, pos)) = ours.get(h) else { continue };
            let Some((at, acc)) = &submit_at[bi as usize] else { continue };
            if acc.get(pos as usize).copied().unwrap_or(false) {
                latencies.push(b.at.saturating_duration_since(*at).as_secs_f64() * 1000.0);
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    let committed_tps = committed as f64 / window_s;

    let cpu_pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => Some(round2(b.saturating_sub(a) as f64 / ticks / window_s * 100.0)),
        _ => None,
    };
    let cpu_self = cpu_pct(self_start, self_end);
    let cpu_nodes: Vec<(String, Option<f64>, String)> = nodes
        .iter()
        .enumerate()
        .zip(node_start.iter().zip(node_end.iter()))
        .map(|((i, n), (a, b))| {
            let key = n.peer_port.map_or_else(|| format!("node{i}"), |p| p.to_string());
            let pct = cpu_pct(*a, *b);
            let why = match (&n.pid, pct) {
                (Err(e), _) => e.clone(),
                (Ok(pid), None) => format!("pid {pid}: /proc/{pid}/stat unreadable (process gone?)"),
                (Ok(pid), Some(_)) => format!("pid {pid}"),
            };
            (key, pct, why)
        })
        .collect();

    // Text report.
    let ms = |x: Option<f64>| x.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.1} ms"));
    println!("target:          {} (blocks watched on {watch_target})", targets.join(", "));
    println!("channel:         {} (SCORE {}.transfer from {} dev accounts)", args.channel, args.score, args.accounts);
    let offered = match (args.rate, args.max_pending) {
        (0, 0) => "flat out (open loop)".to_owned(),
        (0, m) => format!("flat out, at most {m} uncommitted"),
        (r, 0) => format!("{r} tx/s"),
        (r, m) => format!("{r} tx/s, at most {m} uncommitted"),
    };
    println!(
        "load:            {offered}, batches of {}, {} in flight, window {window_s:.2} s",
        args.batch, args.concurrency
    );
    println!("signing:         {count} transfers pre-signed in {:.2} s", signing.as_secs_f64());
    println!("submitted:       {submitted} in {sent_batches} batches; accepted {accepted}, rejected {rejected}");
    for (code, (n, msg)) in &refused {
        println!("  rejected {n} with code {code}: {msg}");
    }
    println!(
        "committed:       {committed} in the window ({blocks_in_window} blocks, {txs_in_window} txs in all); {committed_total} of {accepted} accepted after {:.1} s more",
        drained.as_secs_f64()
    );
    println!("committed tx/s:  {committed_tps:.1}");
    println!("latency:         p50 {}, p99 {} (submit→commit, {} samples)", ms(p50), ms(p99), latencies.len());
    for (key, pct, why) in &cpu_nodes {
        let label = format!("cpu node {key}:");
        match pct {
            Some(p) => println!("{label:<16} {p:.1} % of one core ({why})"),
            None => println!("{label:<16} unknown ({why})"),
        }
    }
    match cpu_self {
        Some(p) => println!("cpu bench:       {p:.1} % of one core"),
        None => println!("cpu bench:       unknown (/proc/self/stat unreadable)"),
    }
    if watch_errors > 0 {
        println!("block watcher:   {watch_errors} failed requests");
    }
    if args.json {
        let mut nodes_json = Map::new();
        for (key, pct, _) in &cpu_nodes {
            nodes_json.insert(key.clone(), json!(pct));
        }
        let refused_json: Map<String, Value> = refused.iter().map(|(c, (n, _))| (c.clone(), json!(n))).collect();
        let v = json!({
            "committed_tps": round2(committed_tps),
            "latency_p50_ms": p50.map(round2),
            "latency_p99_ms": p99.map(round2),
            "duration_s": round2(window_s),
            "submitted": submitted,
            "accepted": accepted,
            "rejected": rejected,
            "rejected_by_code": refused_json,
            "failed_requests": failed_requests,
            "committed": committed,
            "committed_total": committed_total,
            "latency_samples": latencies.len(),
            "blocks": blocks_in_window,
            "cpu_nodes": nodes_json,
            "cpu_self": cpu_self,
            "rate": args.rate,
            "max_pending": args.max_pending,
            "batch": args.batch,
            "concurrency": args.concurrency,
            "accounts": args.accounts,
            "presigned": count,
            "presign_exhausted": ran_out,
            "signing_s": round2(signing.as_secs_f64()),
            "targets": targets,
            "channel": args.channel,
        });
        println!("{v}");
    }
    Ok(())
}
