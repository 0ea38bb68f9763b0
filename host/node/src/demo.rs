//! `loopchain demo`: a whole local network in one command.
//!
//! A radio station and 4 peers (separate processes of this binary) on 127.0.0.1 with the
//! original's ports (radio station 7102 / REST 9002, peers 7100..7400 / REST 9000..9300), two
//! channels (`loopchain_default` with the `hello` SCORE and the `equal` consensus plugin,
//! `token_channel` with the `token` SCORE and the `weighted` plugin), every peer a validator of
//! both. Sample transactions keep both channels committing; progress is shown live until Ctrl-C
//! or SIGTERM. Everything goes under one data directory (`DEFAULT_STORAGE_PATH` when set). The
//! children stop with the demo, and stop themselves if it dies (`LOOPCHAIN_EXIT_WITH_PARENT`).
use anyhow::{bail, Context, Result};
use clap::Args;
use lc_crypto::Keypair;
use lc_types::{Address, Payload, TxBody};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The demo's channels: (name, SCORE, consensus plugin).
const CHANNELS: [(&str, &str, &str); 2] =
    [("loopchain_default", "hello", "equal"), ("token_channel", "token", "weighted")];

/// The demo's log collector (ingest and query API on one port).
const DEMO_COLLECTOR_PORT: u16 = 9500;

/// Flags of `loopchain demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Data directory for everything the demo writes (default: DEFAULT_STORAGE_PATH, else ./.storage/demo).
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Sample transactions per second and channel (0 = none).
    #[arg(long, default_value_t = 4)]
    rate: u64,
    /// Start from an empty data directory (removes the demo's previous chains).
    #[arg(long)]
    fresh: bool,
    /// Secure mode: a channel CA under the data directory, mutual TLS on every gRPC link, real
    /// keys for every node, and a fifth node as auditor (gRPC 7500, REST 9400).
    #[arg(long)]
    secure: bool,
}

/// How to start a local network.
#[derive(Debug, Clone)]
pub(crate) struct NetworkOptions {
    /// Everything is written here.
    pub(crate) data_dir: PathBuf,
    /// gRPC port of peer 1; peer i (0-based) gets `base_port + 100 * i`, REST +1900.
    pub(crate) base_port: u16,
    /// Number of peers (validators of every channel).
    pub(crate) peers: usize,
    /// Start a radio station on `base_port + 2` (REST +1900) and let the peers find their channels there.
    pub(crate) radio_station: bool,
    /// Children's logs go to files under `data_dir/logs` (always; `quiet` only silences the
    /// start-up lines printed here).
    pub(crate) quiet: bool,
    /// Mutual TLS with a channel CA under `data_dir/ca`, and real keys for every node.
    pub(crate) secure: bool,
    /// Auditor nodes (members of every channel that never vote), after the peers' ports.
    pub(crate) auditors: usize,
    /// Start a log collector on this port (ingest and query API) and point every process at it.
    pub(crate) collector_port: Option<u16>,
}

/// A running local network.
#[derive(Debug)]
pub(crate) struct Network {
    /// REST base URLs of the peers, in port order.
    pub(crate) rest_urls: Vec<String>,
    /// Process ids of the peers.
    pub(crate) pids: Vec<u32>,
    children: Vec<(String, Child)>,
    /// gRPC ports of the peers.
    pub(crate) ports: Vec<u16>,
    /// Where the logs are.
    pub(crate) log_dir: PathBuf,
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A base port such that every port a network of `peers` needs (gRPC and REST, radio station) is free.
pub(crate) fn free_base_port(peers: usize) -> Result<u16> {
    for base in (20000u16..40000).step_by(997) {
        let mut ports: Vec<u16> = (0..peers as u16).map(|i| base + 100 * i).collect();
        ports.push(base + 2);
        if ports.iter().all(|p| port_free(*p) && port_free(p + 1900)) {
            return Ok(base);
        }
    }
    bail!("no free port range found for {peers} peers")
}

/// The channel file of a network: every peer is a member of both channels (with its keys and
/// role when `members` gives them; else development keys derived from the target).
fn channel_file(ports: &[u16], members: Option<&[Value]>) -> Value {
    let mut data = serde_json::Map::new();
    for (name, score, consensus) in CHANNELS {
        let peers: Vec<Value> = match members {
            Some(m) => m.to_vec(),
            None => ports.iter().map(|p| json!({"peer_target": format!("127.0.0.1:{p}")})).collect(),
        };
        data.insert(
            name.to_owned(),
            json!({"score_package": score, "consensus": {"plugin": consensus, "params": {}}, "peers": peers}),
        );
    }
    Value::Object(data)
}

fn write_json(path: &Path, v: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// What secure mode wrote: the CA and every node's member entry.
struct Secure {
    ca_dir: PathBuf,
    members: Vec<Value>,
}

impl Secure {
    /// Configuration keys every process shares.
    fn common_config(&self) -> Vec<(&'static str, Value)> {
        vec![
            ("GRPC_SSL_TYPE", json!("mutual")),
            ("GRPC_SSL_CA_CERT", json!(self.ca_dir.join(lc_tls::files::CA_CERT))),
            ("GRPC_SSL_CRL", json!(self.ca_dir.join(lc_tls::files::CRL))),
        ]
    }
}

/// Secure mode's files: a channel CA (`dir/ca`, created once), every node's keys (generated at
/// first start where `peer -p PORT` finds them) and certificate, the radio station's
/// certificate; the first `validators` ports are validators, the rest auditors.
fn secure_setup(dir: &Path, ports: &[u16], validators: usize) -> Result<Secure> {
    let ca_dir = dir.join("ca");
    let ca = if ca_dir.join(lc_tls::files::CA_KEY).exists() {
        lc_tls::Ca::load(&ca_dir)?
    } else {
        let ca = lc_tls::Ca::create("loopchain demo", 3650)?;
        ca.save(&ca_dir)?;
        let crl = ca.crl(&[], 1, 30)?;
        lc_tls::write_file(&ca_dir.join(lc_tls::files::CRL), crl.as_bytes(), false)?;
        ca
    };
    let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
    let issue = |subject: &lc_tls::Subject, out: &Path| -> Result<()> {
        if out.join("node.pem").exists() && out.join("node.key").exists() {
            return Ok(());
        }
        let issued = ca.issue(subject, &hosts, 365)?;
        lc_tls::write_file(&out.join("node.pem"), issued.cert_pem.as_bytes(), false)?;
        lc_tls::write_file(&out.join("node.key"), issued.key_pem.as_bytes(), true)?;
        Ok(())
    };
    let rs_subject = lc_tls::Subject {
        common_name: "loopchain radiostation".into(),
        roles: vec![lc_tls::ROLE_RADIO_STATION.into()],
        ..Default::default()
    };
    issue(&rs_subject, &ca_dir.join("radiostation"))?;
    let mut members = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        let node_dir = dir.join("nodes").join(p.to_string());
        let (identity, _) = crate::keys::load_or_generate(&node_dir.join("keys").join("identity.key"))?;
        let (bls, _) = crate::keys::load_or_generate_bls(&node_dir.join("keys").join("bls.key"))?;
        issue(&crate::ca::node_subject(&identity, Some(&bls)), &node_dir.join("tls"))?;
        let role = if i < validators { "validator" } else { "auditor" };
        let mut m = json!({
            "peer_target": format!("127.0.0.1:{p}"),
            "peer_id": Address::of(&identity.public()),
            "identity_key": identity.public(),
            "role": role,
        });
        if role == "validator" {
            m["bls_key"] = json!(bls.public());
            m["bls_pop"] = json!(bls.proof_of_possession());
        }
        members.push(m);
    }
    Ok(Secure { ca_dir, members })
}

impl Network {
    /// Writes the network's files under `opts.data_dir` and starts its processes.
    pub(crate) fn start(opts: NetworkOptions) -> Result<Network> {
        let exe = std::env::current_exe().context("locating this binary")?;
        let dir = &opts.data_dir;
        let log_dir = dir.join("logs");
        std::fs::create_dir_all(&log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
        let ports: Vec<u16> = (0..(opts.peers + opts.auditors) as u16).map(|i| opts.base_port + 100 * i).collect();
        let channel_path = dir.join("channel_manage_data.json");
        let secure = if opts.secure { Some(secure_setup(dir, &ports, opts.peers)?) } else { None };
        write_json(&channel_path, &channel_file(&ports, secure.as_ref().map(|s| s.members.as_slice())))?;
        let rs_port = opts.base_port + 2;
        let mut peer_config = json!({
            "DEFAULT_STORAGE_PATH": dir.join("nodes"),
            "LOOPCHAIN_DEFAULT_CHANNEL": "loopchain_default",
            "TIMEOUT_PROPOSE_MS": 500,
            "TIMEOUT_VOTE_MS": 500,
            "INTERVAL_BLOCKGENERATION": 1,
            "ALLOW_MAKE_EMPTY_BLOCK": true,
            "ALLOW_UNSIGNED_DATA_TX": true,
            "TPS_LIMIT_PER_SEC": 0,
        });
        if let Some(sec) = &secure {
            for (k, v) in sec.common_config() {
                peer_config[k] = v;
            }
        }
        write_json(&dir.join("peer_config.json"), &peer_config)?;
        let mut children = Vec::new();
        let spawn = |args: &[String], log: &str| -> Result<Child> {
            let out = std::fs::File::create(log_dir.join(log)).with_context(|| format!("creating log {log}"))?;
            let err = out.try_clone()?;
            Command::new(&exe)
                .args(args)
                .env("LOOPCHAIN_EXIT_WITH_PARENT", "1")
                .env_remove("CHANNEL_MANAGE_DATA_PATH")
                .env_remove("DEFAULT_STORAGE_PATH")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .with_context(|| format!("starting {}", exe.display()))
        };
        let collector = opts.collector_port.map(|p| format!("127.0.0.1:{p}"));
        if let Some(port) = opts.collector_port {
            let args: Vec<String> = vec![
                "logcollector".into(),
                "-p".into(),
                port.to_string(),
                "--dir".into(),
                dir.join("logcollector").display().to_string(),
                "--bind".into(),
                "127.0.0.1".into(),
            ];
            children.push(("logcollector".to_owned(), spawn(&args, "logcollector.log")?));
            wait_port(port, Duration::from_secs(20))
                .context("the log collector did not start (see logs/logcollector.log)")?;
        }
        if opts.radio_station {
            let mut rs_config = json!({
                "PORT_RADIOSTATION": rs_port,
                "CHANNEL_MANAGE_DATA_PATH": channel_path,
                "ENABLE_CHANNEL_AUTH": true,
                "LOOPCHAIN_DEFAULT_CHANNEL": "loopchain_default",
            });
            if let Some(sec) = &secure {
                for (k, v) in sec.common_config() {
                    rs_config[k] = v;
                }
                rs_config["GRPC_SSL_CERT"] = json!(sec.ca_dir.join("radiostation").join("node.pem"));
                rs_config["GRPC_SSL_KEY"] = json!(sec.ca_dir.join("radiostation").join("node.key"));
            }
            if let Some(c) = &collector {
                rs_config["LOG_COLLECTOR_TARGET"] = json!(c);
            }
            let rs_path = dir.join("rs_config.json");
            write_json(&rs_path, &rs_config)?;
            let args: Vec<String> = vec![
                "radiostation".into(),
                "-o".into(),
                rs_path.display().to_string(),
                "-p".into(),
                rs_port.to_string(),
            ];
            children.push(("radiostation".to_owned(), spawn(&args, "radiostation.log")?));
            wait_port(rs_port, Duration::from_secs(20))
                .context("the radio station did not start (see logs/radiostation.log)")?;
        }
        let mut pids = Vec::new();
        for p in &ports {
            let mut args: Vec<String> = vec![
                "peer".into(),
                "-o".into(),
                dir.join("peer_config.json").display().to_string(),
                "-p".into(),
                p.to_string(),
            ];
            if let Some(c) = &collector {
                args.push("--set".into());
                args.push(format!("LOG_COLLECTOR_TARGET={c}"));
            }
            if secure.is_some() {
                let tls = dir.join("nodes").join(p.to_string()).join("tls");
                args.push("--set".into());
                args.push(format!("GRPC_SSL_CERT={}", tls.join("node.pem").display()));
                args.push("--set".into());
                args.push(format!("GRPC_SSL_KEY={}", tls.join("node.key").display()));
            }
            if opts.radio_station {
                args.push("-r".into());
                args.push(format!("127.0.0.1:{rs_port}"));
            } else {
                args.push("--set".into());
                args.push(format!("CHANNEL_MANAGE_DATA_PATH={}", channel_path.display()));
            }
            let child = spawn(&args, &format!("peer-{p}.log"))?;
            pids.push(child.id());
            children.push((format!("peer {p}"), child));
        }
        if !opts.quiet {
            eprintln!("started {} peers, logs in {}", ports.len(), log_dir.display());
        }
        let rest_urls = ports.iter().map(|p| format!("http://127.0.0.1:{}", p + 1900)).collect();
        Ok(Network { rest_urls, pids, children, ports, log_dir })
    }

    /// Waits until every peer's REST answers for every channel.
    pub(crate) fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for (i, port) in self.ports.iter().enumerate() {
            loop {
                if let Some(name) = self.exited() {
                    bail!("{name} exited; see {}", self.log_dir.display());
                }
                let ok = CHANNELS.iter().all(|(c, _, _)| {
                    blocking_get(&format!("{}/api/v1/status/peer?channel={c}", self.rest_urls[i])).is_some()
                });
                if ok {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "peer {port} is not ready after {timeout:?}; see {}",
                        self.log_dir.join(format!("peer-{port}.log")).display()
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        Ok(())
    }

    /// The first child that exited, if any (a zombie until waited: /proc tells without reaping).
    fn exited(&self) -> Option<String> {
        self.exited_all().into_iter().next()
    }

    /// Every child that exited.
    fn exited_all(&self) -> Vec<String> {
        self.children
            .iter()
            .filter_map(|(name, c)| {
                let stat = std::fs::read_to_string(format!("/proc/{}/stat", c.id())).ok()?;
                let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next())?;
                (state == "Z").then(|| name.clone())
            })
            .collect()
    }

    /// Stops every process (SIGTERM, then SIGKILL after 10 s), peers first.
    pub(crate) fn stop(mut self) -> Result<()> {
        let mut failed = Vec::new();
        // Children that had already exited (shown as down) are not failures of the stop.
        let gone = self.exited_all();
        self.children.reverse();
        for (_, c) in &self.children {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for (name, c) in &mut self.children {
            loop {
                match c.try_wait() {
                    Ok(Some(status)) => {
                        if !status.success() && !gone.contains(name) {
                            failed.push(format!("{name}: {status}"));
                        }
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        let _ = c.kill();
                        let _ = c.wait();
                        failed.push(format!("{name}: killed after 10 s"));
                        break;
                    }
                }
            }
        }
        self.children.clear();
        if failed.is_empty() {
            Ok(())
        } else {
            bail!("some processes did not stop cleanly: {}", failed.join("; "))
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for (_, c) in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_port(port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("nothing listens on port {port} after {timeout:?}")
}

/// A GET with a short timeout, on a throwaway runtime (used outside async code).
pub(crate) fn blocking_get(url: &str) -> Option<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().ok()?;
        let r = client.get(url).send().await.ok()?;
        if !r.status().is_success() {
            return None;
        }
        r.json::<Value>().await.ok()
    })
}

/// Live figures of one channel.
#[derive(Debug, Default)]
struct ChannelView {
    heights: Vec<Option<u64>>,
    total_tx: Option<u64>,
    tps: f64,
    latency_ms: Option<f64>,
}

/// Sample traffic: one tracked transaction at a time per channel gives the finality latency;
/// the rest are fire-and-forget.
async fn traffic(
    client: reqwest::Client,
    urls: Vec<String>,
    rate: u64,
    stop: Arc<AtomicBool>,
    latency: Arc<[AtomicU64; 2]>,
) {
    if rate == 0 {
        return;
    }
    let mut n: u64 = 0;
    let accounts: Vec<Keypair> = (0..4).map(Keypair::dev_account).collect();
    let mut tick = tokio::time::interval(Duration::from_millis((1000 / rate).max(1)));
    let mut tracked: [Option<(String, Instant)>; 2] = [None, None];
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        n += 1;
        let url = &urls[(n as usize) % urls.len()];
        for (ci, (channel, _, _)) in CHANNELS.iter().enumerate() {
            let body = if ci == 0 {
                json!({"channel": channel, "data": format!("hello #{n}")})
            } else {
                let from = &accounts[(n % 4) as usize];
                let to = Address::of(&accounts[((n + 1) % 4) as usize].public());
                let tx = from.sign_tx(TxBody {
                    channel: (*channel).to_owned(),
                    from: from.public(),
                    timestamp_us: lc_engine::now_us(),
                    nonce: n,
                    payload: Payload::Call {
                        score: "token".into(),
                        method: "transfer".into(),
                        params_json: json!({"to": to, "value": "1"}).to_string(),
                    },
                });
                json!({"signed_tx": tx})
            };
            let sent = Instant::now();
            let Ok(r) = client.post(format!("{url}/api/v1/transactions")).body(body.to_string()).send().await else {
                continue;
            };
            let Ok(v) = r.json::<Value>().await else { continue };
            if tracked[ci].is_none() {
                if let Some(h) = v.get("tx_hash").and_then(Value::as_str) {
                    tracked[ci] = Some((h.to_owned(), sent));
                }
            }
        }
        // Check the tracked transactions (committed → latency).
        for (ci, (channel, _, _)) in CHANNELS.iter().enumerate() {
            let Some((hash, sent)) = tracked[ci].clone() else { continue };
            let url = format!("{}/api/v1/transactions/result?hash={hash}&channel={channel}", urls[0]);
            if let Ok(r) = client.get(url).send().await {
                if let Ok(v) = r.json::<Value>().await {
                    // 0 committed; 2 pending and 3 not there yet (still being relayed) keep
                    // waiting; anything else failed and is not a latency sample.
                    match v.pointer("/response/code").and_then(Value::as_i64) {
                        Some(0) => {
                            latency[ci].store(sent.elapsed().as_micros() as u64, Ordering::Relaxed);
                            tracked[ci] = None;
                        }
                        Some(2 | 3) | None => {}
                        Some(_) => tracked[ci] = None,
                    }
                }
            }
        }
    }
}

async fn poll(client: &reqwest::Client, urls: &[String], views: &mut [ChannelView; 2]) {
    for (ci, (channel, _, _)) in CHANNELS.iter().enumerate() {
        let mut heights = Vec::with_capacity(urls.len());
        let mut total = None;
        for (i, url) in urls.iter().enumerate() {
            let got = async {
                let r = client.get(format!("{url}/api/v1/status/peer?channel={channel}")).send().await.ok()?;
                r.json::<Value>().await.ok()
            }
            .await;
            heights.push(got.as_ref().and_then(|v| v.get("block_height")).and_then(Value::as_u64));
            if i == 0 || total.is_none() {
                total = total.or(got.as_ref().and_then(|v| v.get("total_tx")).and_then(Value::as_u64));
            }
        }
        views[ci].heights = heights;
        views[ci].total_tx = total;
    }
}

fn render(views: &[ChannelView; 2], ports: &[u16], elapsed: Duration, tty: bool) -> String {
    let mut out = String::new();
    if tty {
        out.push_str(&format!("\x1b[1mlive\x1b[0m  {:>5.0}s  (Ctrl-C stops the network)\n", elapsed.as_secs_f64()));
    }
    for (ci, (channel, score, consensus)) in CHANNELS.iter().enumerate() {
        let v = &views[ci];
        let hs: Vec<String> = v
            .heights
            .iter()
            .zip(ports)
            .map(|(h, p)| format!("{p}:{}", h.map_or_else(|| "down".to_owned(), |h| h.to_string())))
            .collect();
        let lat = v.latency_ms.map_or_else(|| "-".to_owned(), |l| format!("{l:.0} ms"));
        out.push_str(&format!(
            "{channel:<18} ({score}/{consensus:<8}) heights [{}]  committed {:>6.1} tx/s  finality {lat}  total tx {}\n",
            hs.join(" "),
            v.tps,
            v.total_tx.map_or_else(|| "-".to_owned(), |t| t.to_string()),
        ));
    }
    out
}

pub(crate) fn run(args: DemoArgs) -> Result<()> {
    let data_dir = match (&args.data_dir, std::env::var_os("DEFAULT_STORAGE_PATH")) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => PathBuf::from(d),
        (None, None) => PathBuf::from(".storage").join("demo"),
    };
    if args.fresh && data_dir.exists() {
        std::fs::remove_dir_all(&data_dir).with_context(|| format!("removing {}", data_dir.display()))?;
    }
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let data_dir = data_dir.canonicalize()?;
    let base_port = 7100;
    let auditors = usize::from(args.secure);
    let mut needed = vec![7100u16, 7200, 7300, 7400, 7102, DEMO_COLLECTOR_PORT - 1900];
    if args.secure {
        needed.push(7500);
    }
    for p in needed {
        if !port_free(p) || !port_free(p + 1900) {
            bail!("port {p} or {} is in use: is another loopchain network running? Stop it first", p + 1900);
        }
    }
    println!("loopchain demo: a radio station and 4 peers on 127.0.0.1, channels loopchain_default (hello SCORE, equal weights) and token_channel (token SCORE, weighted)");
    println!("data directory: {}", data_dir.display());
    println!();
    println!("try:");
    println!("  curl -s localhost:9002/api/v1/peer/list");
    println!("  curl -s localhost:9000/api/v1/status/peer");
    println!("  curl -s -d '{{\"data\":\"hello\"}}' localhost:9000/api/v1/transactions");
    println!("  curl -s 'localhost:9100/api/v1/transactions/result?hash=<tx_hash>'");
    println!("  curl -s localhost:9200/api/v1/blocks");
    println!("  curl -s 'localhost:9300/api/v1/status/peer?channel=token_channel'");
    println!("  loopchain bench --duration 60      (load test against this network)");
    println!();
    println!("dashboard:      http://127.0.0.1:9000/dashboard   (every peer serves one on its REST port)");
    println!("log collector:  http://127.0.0.1:{DEMO_COLLECTOR_PORT}/api/v1/events?event=AddBlock&limit=20");
    println!();
    if args.secure {
        println!("secure mode: channel CA in {} (every gRPC link uses mutual TLS with its certificates); auditor node on 7500 (REST 9400)", data_dir.join("ca").display());
        println!("  curl -s localhost:9400/api/v1/status/peer      (the auditor: follows both channels, never votes)");
    } else {
        println!("(dev mode: gRPC without TLS and development keys; `loopchain demo --secure` runs the network with a CA, mutual TLS and an auditor)");
    }
    println!();
    let net = Network::start(NetworkOptions {
        data_dir,
        base_port,
        peers: 4,
        radio_station: true,
        quiet: false,
        secure: args.secure,
        auditors,
        collector_port: Some(DEMO_COLLECTOR_PORT),
    })?;
    if let Err(e) = net.wait_ready(Duration::from_secs(60)) {
        let _ = net.stop();
        return Err(e);
    }
    println!("network is up (logs: {})", net.log_dir.display());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let result: Result<()> = rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let latency: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        tokio::spawn(traffic(
            client.clone(),
            net.rest_urls.clone(),
            args.rate,
            Arc::clone(&stop),
            Arc::clone(&latency),
        ));
        let tty = std::io::stdout().is_terminal();
        let mut views: [ChannelView; 2] = Default::default();
        let mut history: [VecDeque<(Instant, u64)>; 2] = Default::default();
        let started = Instant::now();
        let mut last_plain = Instant::now() - Duration::from_secs(10);
        let mut drawn_lines = 0usize;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let signal = crate::peer::shutdown_signal();
        tokio::pin!(signal);
        loop {
            tokio::select! {
                r = &mut signal => { r?; break; }
                _ = tick.tick() => {}
            }
            // A peer that dies (or is killed to watch the network cope) is shown as down; the
            // rest of the network goes on. The demo ends only when every peer is gone.
            let down = net.exited_all();
            if down.iter().filter(|n| n.starts_with("peer ")).count() == net.ports.len() {
                bail!("{} exited; see {}", down.join(", "), net.log_dir.display());
            }
            poll(&client, &net.rest_urls, &mut views).await;
            for ci in 0..2 {
                if let Some(t) = views[ci].total_tx {
                    let h = &mut history[ci];
                    h.push_back((Instant::now(), t));
                    while h.len() > 10 {
                        h.pop_front();
                    }
                    if let (Some(a), Some(b)) = (h.front(), h.back()) {
                        let dt = b.0.duration_since(a.0).as_secs_f64();
                        views[ci].tps = if dt > 0.0 { b.1.saturating_sub(a.1) as f64 / dt } else { 0.0 };
                    }
                }
                let l = latency[ci].load(Ordering::Relaxed);
                views[ci].latency_ms = (l > 0).then(|| l as f64 / 1000.0);
            }
            let mut text = render(&views, &net.ports, started.elapsed(), tty);
            if !down.is_empty() {
                text.push_str(&format!("down: {} (see {})\n", down.join(", "), net.log_dir.display()));
            }
            let mut out = std::io::stdout().lock();
            if tty {
                if drawn_lines > 0 {
                    write!(out, "\x1b[{drawn_lines}A\x1b[J")?;
                }
                write!(out, "{text}")?;
                drawn_lines = text.lines().count();
            } else if last_plain.elapsed() >= Duration::from_secs(5) {
                last_plain = Instant::now();
                write!(out, "{text}")?;
            }
            out.flush()?;
        }
        Ok(())
    });
    stop.store(true, Ordering::SeqCst);
    rt.shutdown_timeout(Duration::from_secs(2));
    println!("stopping the network...");
    let stopped = net.stop();
    result?;
    stopped?;
    println!("stopped");
    Ok(())
}
