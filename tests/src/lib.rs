//! Harness for whole-system tests: builds the `loopchain` binary once, runs real node processes
//! on 127.0.0.1 with their own data directories, and talks to them over HTTP.
#![allow(unreachable_pub, missing_docs)]

pub mod sim;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Path of the `loopchain` binary, built (once per test process, with the `hello` and `token`
/// SCOREs it loads from its own directory) with the same profile.
pub fn binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest.parent().expect("workspace root");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "lc-node",
                "-p",
                "hello",
                "-p",
                "token",
                "-p",
                "ledger",
                "-p",
                "ledger-v2",
                "-p",
                "consensus-equal",
                "-p",
                "consensus-weighted",
                "-p",
                "consensus-groups",
                "-p",
                "radio-station",
            ])
            .current_dir(root)
            .status()
            .expect("running cargo build for the loopchain binary");
        assert!(status.success(), "cargo build of the loopchain binary failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
        let bin = target.join("debug").join("loopchain");
        assert!(bin.exists(), "binary not found at {}", bin.display());
        bin
    })
}

fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A gRPC port P such that P and P+1900 are free (tests run in parallel in one process, and
/// several test binaries may run at once: the start is spread by process id).
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 400) as u16 * 50;
    loop {
        let p = base + NEXT.fetch_add(1, Ordering::SeqCst) % 2_000;
        if port_free(p) && port_free(p + 1900) {
            return p;
        }
    }
}

/// A running node process.
#[derive(Debug)]
pub struct Node {
    child: Option<Child>,
    pub port: u16,
    pub storage: PathBuf,
    pub log: PathBuf,
    args: Vec<String>,
}

impl Node {
    /// Starts `loopchain peer -p PORT` with `DEFAULT_STORAGE_PATH=storage` and `--set` overrides.
    pub fn start(storage: &Path, port: u16, sets: &[&str]) -> Self {
        let args: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let mut node = Self {
            child: None,
            port,
            storage: storage.to_path_buf(),
            log: storage.join(format!("node-{port}.log")),
            args,
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.storage).expect("storage dir");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let mut cmd = Command::new(binary());
        cmd.arg("peer").arg("-p").arg(self.port.to_string());
        for s in &self.args {
            cmd.arg("--set").arg(s);
        }
        // An empty user file, so a loopchain_user.json in the working directory cannot leak in.
        let user_config = self.storage.join("user-config.json");
        std::fs::write(&user_config, "{}").expect("user config");
        cmd.env("DEFAULT_STORAGE_PATH", &self.storage)
            .env_remove("RUST_LOG")
            .env("LOOPCHAIN_USER_CONFIG", user_config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        self.child = Some(cmd.spawn().expect("spawn loopchain"));
        self.wait_ready();
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port + 1900)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("node exited during start ({status}); log:\n{}", self.logs());
            }
            if let Ok((200, _)) = self.try_get("/api/v1/status/peer") {
                return;
            }
            assert!(Instant::now() < deadline, "node not ready after 60 s; log:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn try_get(&self, path: &str) -> Result<(u16, Value), String> {
        let url = format!("{}{}", self.base(), path);
        response(ureq::get(&url).timeout(Duration::from_secs(30)).call())
    }

    /// GET, returning status and JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.try_get(path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// POST a raw body (no Content-Type unless given), returning status and JSON body.
    pub fn post(&self, path: &str, body: &str, content_type: Option<&str>) -> (u16, Value) {
        let url = format!("{}{}", self.base(), path);
        let mut req = ureq::post(&url).timeout(Duration::from_secs(60));
        if let Some(ct) = content_type {
            req = req.set("Content-Type", ct);
        }
        response(req.send_string(body)).unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// `(total_tx, block_height)` from the status endpoint.
    pub fn progress(&self) -> (u64, u64) {
        let (_, s) = self.get("/api/v1/status/peer");
        (s["total_tx"].as_u64().expect("total_tx"), s["block_height"].as_u64().expect("block_height"))
    }

    /// Waits until `pred(status)` holds.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut pred: impl FnMut(&Node) -> bool) {
        let deadline = Instant::now() + timeout;
        while !pred(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}; log:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `/transactions/result` until the transaction is no longer pending; returns the body.
    pub fn wait_result(&self, tx_hash: &str) -> Value {
        let path = format!("/api/v1/transactions/result?hash={tx_hash}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, v) = self.get(&path);
            assert!(status == 200, "result of {tx_hash}: HTTP {status} {v}");
            if v["response"]["code"] != 2 {
                return v;
            }
            assert!(Instant::now() < deadline, "{tx_hash} still pending after 30 s; log:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map(|c| c.id() as i32).expect("running")
    }

    /// SIGKILL, no chance to flush.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal and waits for the exit.
    pub fn signal_and_wait(&mut self, sig: i32) -> ExitStatus {
        let c = self.child.take().expect("running");
        signal_and_wait(c, sig, "node", || self.logs())
    }

    /// Starts the same node again (same port, data, flags).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the node first");
        self.spawn();
    }
}

/// Sends `sig` to `c` and waits up to 30 s for it to exit (then SIGKILL and panic with `logs`).
fn signal_and_wait(mut c: Child, sig: i32, what: &str, logs: impl Fn() -> String) -> ExitStatus {
    assert_eq!(unsafe_kill(c.id() as i32, sig), 0, "kill failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = c.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            panic!("{what} did not exit within 30 s of signal {sig}; log:\n{}", logs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[allow(unsafe_code)]
fn unsafe_kill(pid: i32, sig: i32) -> i32 {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, sig) }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn response(r: Result<ureq::Response, ureq::Error>) -> Result<(u16, Value), String> {
    let resp = match r {
        Ok(resp) => resp,
        Err(ureq::Error::Status(_, resp)) => resp,
        Err(e) => return Err(e.to_string()),
    };
    let status = resp.status();
    let text = resp.into_string().map_err(|e| e.to_string())?;
    let v = serde_json::from_str(&text).map_err(|e| format!("HTTP {status}: body is not JSON ({e}): {text:?}"))?;
    Ok((status, v))
}

/// A signed `Data` transaction from dev account `account`, as the REST `signed_tx` JSON.
pub fn signed_data_tx(channel: &str, account: u64, nonce: u64, json: &str, timestamp_us: u64) -> lc_types::Transaction {
    let kp = lc_crypto::Keypair::dev_account(account);
    kp.sign_tx(lc_types::TxBody {
        channel: channel.into(),
        from: kp.public(),
        timestamp_us,
        nonce,
        payload: lc_types::Payload::Data { json: json.into() },
    })
}

/// Wall clock in µs (for transaction timestamps).
pub fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// A signed `Call` transaction from dev account `account`.
pub fn signed_call_tx(
    channel: &str,
    account: u64,
    nonce: u64,
    score: &str,
    method: &str,
    params: &Value,
) -> lc_types::Transaction {
    let kp = lc_crypto::Keypair::dev_account(account);
    kp.sign_tx(lc_types::TxBody {
        channel: channel.into(),
        from: kp.public(),
        timestamp_us: now_us(),
        nonce,
        payload: lc_types::Payload::Call {
            score: score.into(),
            method: method.into(),
            params_json: params.to_string(),
        },
    })
}

/// The development identity key of a peer listed without keys in a channel file (derived from
/// its target, as `loopchain peer` does; see `host/node/src/channels.rs`).
pub fn dev_peer_key(target: &str) -> lc_crypto::Keypair {
    let seed = lc_types::sha3(format!("loopchain dev identity key v1\0{target}").as_bytes());
    lc_crypto::Keypair::from_seed(seed.0)
}

/// A `Deploy` transaction signed by `key`.
pub fn signed_deploy_tx(
    channel: &str,
    key: &lc_crypto::Keypair,
    nonce: u64,
    score: &str,
    code_hash: lc_types::Hash,
    params: &str,
) -> lc_types::Transaction {
    key.sign_tx(lc_types::TxBody {
        channel: channel.into(),
        from: key.public(),
        timestamp_us: now_us(),
        nonce,
        payload: lc_types::Payload::Deploy { score: score.into(), code_hash, params: params.into() },
    })
}

/// The `hx` address of dev account `account`.
pub fn dev_address(account: u64) -> String {
    lc_types::Address::of(&lc_crypto::Keypair::dev_account(account).public()).to_string()
}

/// Directory of the built binary and SCORE libraries.
pub fn profile_dir() -> &'static Path {
    binary().parent().expect("profile dir")
}

/// Runs `loopchain proof verify` on `proof` and `set` (written to files in `dir`): whether it
/// exited 0, and everything it printed.
pub fn verify_proof(dir: &Path, proof: &Value, set: &Value) -> (bool, String) {
    let p = dir.join("proof.json");
    let s = dir.join("validators.json");
    std::fs::write(&p, proof.to_string()).expect("write proof");
    std::fs::write(&s, set.to_string()).expect("write set");
    let out = Command::new(binary())
        .args(["proof", "verify", "--proof"])
        .arg(&p)
        .arg("--validators")
        .arg(&s)
        .output()
        .expect("run loopchain proof verify");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Installs a library file into `dir` under `name` the way cargo does (write aside, then rename).
pub fn install(src: &Path, dir: &Path, name: &str) {
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::copy(src, &tmp).expect("copy library");
    std::fs::rename(&tmp, dir.join(name)).expect("rename library");
}

// ---- multi-node clusters ----------------------------------------------------------------------

/// `n` gRPC ports for one cluster: each P with P and P+1900 free, all of them (and their REST
/// ports) at least 10 apart from each other and from every port handed out by this function
/// before in this process; below 32 768, so an outgoing connection's ephemeral port cannot be one.
pub fn spaced_ports(n: usize) -> Vec<u16> {
    static TAKEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    static NEXT: AtomicU16 = AtomicU16::new(0);
    const SPAN: u16 = 9_000;
    let base = 21_000 + (std::process::id() % 90) as u16 * 100;
    let mut taken = TAKEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = Vec::with_capacity(n);
    let mut tries = 0u32;
    while out.len() < n {
        tries += 1;
        assert!(tries < 10_000, "no {n} spaced free ports found");
        let k = NEXT.fetch_add(10, Ordering::SeqCst) % SPAN;
        let p = 21_000 + (base - 21_000 + k) % SPAN;
        let far = |c: u16| taken.iter().all(|t: &u16| t.abs_diff(c) >= 10);
        if far(p) && far(p + 1900) && port_free(p) && port_free(p + 1900) {
            taken.extend([p, p + 1900]);
            out.push(p);
        }
    }
    out
}

/// Helpers on one node for a named channel.
impl Node {
    /// Whether the process was started and not stopped by the harness.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `/api/v1/status/peer?channel=` (panics unless HTTP 200).
    pub fn status(&self, channel: &str) -> Value {
        let (code, s) = self.get(&format!("/api/v1/status/peer?channel={channel}"));
        assert_eq!(code, 200, "status of {channel} on :{}: {s}", self.port);
        s
    }

    /// Committed height of `channel`.
    pub fn height(&self, channel: &str) -> u64 {
        self.status(channel)["block_height"].as_u64().expect("block_height")
    }

    /// This node's peer id (`hx...`).
    pub fn peer_id(&self, channel: &str) -> String {
        self.status(channel)["peer_id"].as_str().expect("peer_id").to_owned()
    }

    /// Whether this node leads its current round of `channel` (`peer_type` "1").
    pub fn is_leader(&self, channel: &str) -> bool {
        self.status(channel)["peer_type"] == "1"
    }

    /// The committed block at `height` (REST JSON), or `None` when there is none (404).
    pub fn block_at(&self, channel: &str, height: u64) -> Option<Value> {
        let (code, b) = self.get(&format!("/api/v1/blocks?height={height}&channel={channel}"));
        match code {
            200 => Some(b),
            404 => None,
            _ => panic!("block {height} of {channel} on :{}: HTTP {code} {b}", self.port),
        }
    }

    /// Hash of the committed block at `height`, if any.
    pub fn block_hash_at(&self, channel: &str, height: u64) -> Option<String> {
        self.block_at(channel, height).map(|b| b["block_hash"].as_str().expect("block_hash").to_owned())
    }

    /// Peer ids of the signers of the QC carried by the block at `height` (the QC certifying
    /// block `height − 1`), mapped through the validator set of the QC's epoch; `None` when the
    /// block is not committed here or carries no QC.
    pub fn qc_signers(&self, channel: &str, height: u64) -> Option<Vec<String>> {
        let b = self.block_at(channel, height)?;
        let qc = &b["block_data_json"]["qc"];
        if qc.is_null() {
            return None;
        }
        let epoch = qc["epoch"].as_u64().expect("qc epoch");
        let (code, set) = self.get(&format!("/api/v1/channel/validators?channel={channel}&epoch={epoch}"));
        assert_eq!(code, 200, "validators of {channel} epoch {epoch}: {set}");
        let validators = set["validators"].as_array().expect("validators");
        let bitmap = qc["signer_bitmap"].as_str().expect("signer_bitmap");
        let bytes: Vec<u8> = (0..bitmap.len() / 2)
            .map(|i| u8::from_str_radix(&bitmap[2 * i..2 * i + 2], 16).expect("hex bitmap"))
            .collect();
        let signers = validators
            .iter()
            .enumerate()
            .filter(|(i, _)| bytes.get(i / 8).is_some_and(|byte| byte >> (i % 8) & 1 == 1))
            .map(|(_, v)| v["peer_id"].as_str().expect("peer_id").to_owned())
            .collect();
        Some(signers)
    }

    /// Polls `/transactions/result?hash=&channel=` until the transaction is committed here
    /// (unknown or pending answers are waited out); returns the `response` object.
    pub fn wait_committed(&self, channel: &str, tx_hash: &str, timeout: Duration) -> Value {
        let path = format!("/api/v1/transactions/result?hash={tx_hash}&channel={channel}");
        let deadline = Instant::now() + timeout;
        loop {
            let (code, v) = self.get(&path);
            if code == 200 && v["response"]["code"] != 2 {
                return v["response"].clone();
            }
            assert!(
                Instant::now() < deadline,
                "{tx_hash} not committed on :{} after {timeout:?} (last: HTTP {code} {v}); log:\n{}",
                self.port,
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Several nodes on 127.0.0.1 that share one channel file (`CHANNEL_MANAGE_DATA_PATH`), each
/// with its own data directory under one temporary directory. Members are listed without keys,
/// so every node runs with the development keys derived from its peer target. Dropping the
/// cluster kills every node; when the drop happens during a panic the directory (logs, data) is
/// kept and its path printed.
#[derive(Debug)]
pub struct Cluster {
    /// `None`: never started.
    nodes: Vec<Option<Node>>,
    pub ports: Vec<u16>,
    pub channel_file: PathBuf,
    sets: Vec<String>,
    dir: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Writes the channel file for `n` peers on spaced free ports: `channels` are
    /// `(name, member indices)` (each channel runs the `hello` SCORE and the `equal` plugin);
    /// `sets` are `--set` overrides for every node (the channel file is added). Starts nothing.
    pub fn new(n: usize, channels: &[(&str, &[usize])], sets: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = spaced_ports(n);
        let mut data = serde_json::Map::new();
        for (name, members) in channels {
            let peers: Vec<Value> = members
                .iter()
                .map(|i| serde_json::json!({"peer_target": format!("127.0.0.1:{}", ports[*i])}))
                .collect();
            data.insert(
                (*name).to_owned(),
                serde_json::json!({"score_package": "hello", "consensus": {"plugin": "equal"}, "peers": peers}),
            );
        }
        let channel_file = dir.path().join("channel_manage_data.json");
        std::fs::write(&channel_file, Value::Object(data).to_string()).expect("write channel file");
        let mut all: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
        all.push(format!("CHANNEL_MANAGE_DATA_PATH={}", channel_file.display()));
        Self { nodes: (0..n).map(|_| None).collect(), ports, channel_file, sets: all, dir: Some(dir) }
    }

    /// `n` peers, all members of the one channel `channel`, all started.
    pub fn start_all(n: usize, channel: &str, sets: &[&str]) -> Self {
        let members: Vec<usize> = (0..n).collect();
        let mut c = Self::new(n, &[(channel, &members)], sets);
        for i in 0..n {
            c.start(i);
        }
        c
    }

    /// The cluster's directory.
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("dir").path()
    }

    /// Starts node `i` (first start, or restart with the same data after [`Cluster::kill9`]).
    pub fn start(&mut self, i: usize) {
        match &mut self.nodes[i] {
            Some(node) => node.restart(),
            None => {
                let storage = self.dir.as_ref().expect("dir").path().join(format!("node{i}"));
                let sets: Vec<&str> = self.sets.iter().map(String::as_str).collect();
                self.nodes[i] = Some(Node::start(&storage, self.ports[i], &sets));
            }
        }
    }

    /// First start of node `i` with `extra` `--set` overrides on top of the cluster's.
    pub fn start_with(&mut self, i: usize, extra: &[&str]) {
        assert!(self.nodes[i].is_none(), "node {i} was already started");
        let storage = self.dir.as_ref().expect("dir").path().join(format!("node{i}"));
        let mut sets: Vec<&str> = self.sets.iter().map(String::as_str).collect();
        sets.extend_from_slice(extra);
        self.nodes[i] = Some(Node::start(&storage, self.ports[i], &sets));
    }

    /// SIGKILL node `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(node) = &mut self.nodes[i] {
            node.kill9();
        }
    }

    /// Node `i` (started at least once).
    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().unwrap_or_else(|| panic!("node {i} was never started"))
    }

    /// Indices of the running nodes.
    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| self.nodes[*i].as_ref().is_some_and(Node::is_running)).collect()
    }

    /// Committed heights of `channel` on nodes `idx`.
    pub fn heights(&self, channel: &str, idx: &[usize]) -> Vec<u64> {
        idx.iter().map(|i| self.node(*i).height(channel)).collect()
    }

    /// Waits until every node of `idx` has committed `channel` up to at least `height`.
    pub fn wait_height(&self, channel: &str, idx: &[usize], height: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let hs = self.heights(channel, idx);
            if hs.iter().all(|h| *h >= height) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "nodes {idx:?} of {channel} did not reach height {height} in {timeout:?} (at {hs:?}){}",
                    self.log_tails()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Index of a running node of `idx` that reports leading its current round, if any.
    pub fn leader(&self, channel: &str, idx: &[usize]) -> Option<usize> {
        idx.iter().copied().find(|i| self.node(*i).is_leader(channel))
    }

    /// Asserts that nodes `idx` hold identical blocks at every height from 0 up to the lowest of
    /// their committed heights; returns that height.
    pub fn assert_same_chain(&self, channel: &str, idx: &[usize]) -> u64 {
        let top = self.heights(channel, idx).into_iter().min().expect("some nodes");
        for h in 0..=top {
            let hashes: Vec<Option<String>> = idx.iter().map(|i| self.node(*i).block_hash_at(channel, h)).collect();
            assert!(hashes[0].is_some(), "node {} has no block {h} of {channel} below its height {top}", idx[0]);
            assert!(
                hashes.iter().all(|x| *x == hashes[0]),
                "FORK in {channel} at height {h}: nodes {idx:?} have {hashes:?}{}",
                self.log_tails()
            );
        }
        top
    }

    /// The last 40 lines of every started node's log, for failure messages.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(n) = node {
                let logs = n.logs();
                let lines: Vec<&str> = logs.lines().collect();
                let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                out.push_str(&format!("\n--- node {i} (:{}, running: {}) ---\n{tail}", n.port, n.is_running()));
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.iter_mut().flatten() {
            node.kill9();
        }
        if std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                eprintln!("cluster directory kept for inspection: {}", dir.keep().display());
            }
        }
    }
}

// ---- log collector ------------------------------------------------------------------------------

/// A running `loopchain logcollector` process on 127.0.0.1.
#[derive(Debug)]
pub struct Collector {
    child: Option<Child>,
    pub port: u16,
    /// Its `--dir`.
    pub dir: PathBuf,
    /// Its stderr.
    pub log: PathBuf,
}

impl Collector {
    /// Starts `loopchain logcollector -p PORT --dir DIR --bind 127.0.0.1` (log next to `dir`)
    /// and waits until it answers.
    pub fn start(dir: &Path, port: u16) -> Self {
        let mut name = dir.as_os_str().to_owned();
        name.push(".log");
        let mut c = Self { child: None, port, dir: dir.to_path_buf(), log: PathBuf::from(name) };
        c.spawn();
        c
    }

    fn spawn(&mut self) {
        let parent = self.dir.parent().expect("collector dir has a parent");
        std::fs::create_dir_all(parent).expect("collector parent dir");
        let user_config = parent.join("collector-user-config.json");
        std::fs::write(&user_config, "{}").expect("user config");
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let child = Command::new(binary())
            .args(["logcollector", "-p", &self.port.to_string(), "--bind", "127.0.0.1", "--dir"])
            .arg(&self.dir)
            .env_remove("RUST_LOG")
            .env_remove("LOG_COLLECTOR_TARGET")
            .env("LOOPCHAIN_USER_CONFIG", user_config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn loopchain logcollector");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("logcollector exited during start ({status}); log:\n{}", self.logs());
            }
            if let Ok((200, _)) = response(ureq::get(&format!("{}/api/v1/status", self.base())).call()) {
                return;
            }
            assert!(Instant::now() < deadline, "logcollector not ready after 60 s; log:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET, returning status and JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        let url = format!("{}{}", self.base(), path);
        response(ureq::get(&url).timeout(Duration::from_secs(30)).call()).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    /// GET, returning status, Content-Type and the body as text (for the SSE tail).
    pub fn get_text(&self, path: &str, timeout: Duration) -> (u16, String, String) {
        let url = format!("{}{}", self.base(), path);
        let resp = match ureq::get(&url).timeout(timeout).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}"),
        };
        let (status, ctype) = (resp.status(), resp.content_type().to_owned());
        (status, ctype, resp.into_string().unwrap_or_else(|e| panic!("GET {path}: body: {e}")))
    }

    /// POST a raw JSON body, returning status and JSON body.
    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let url = format!("{}{}", self.base(), path);
        let req = ureq::post(&url).timeout(Duration::from_secs(60)).set("Content-Type", "application/json");
        response(req.send_string(body)).unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    /// SIGTERM and wait for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        let c = self.child.take().expect("running");
        signal_and_wait(c, libc::SIGTERM, "logcollector", || self.logs())
    }

    /// Starts it again (same port and directory).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the collector first");
        self.spawn();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
