//! `loopchain logcollector [-p PORT] [--dir DIR]`: gathers the structured events of any number
//! of nodes over HTTP (no shared filesystem), keeps them in rotating files per node and channel,
//! and answers queries.
//!
//! One port (default 9500) serves:
//! - `POST /api/v1/ingest`: a JSON array of [`EventRecord`]s (what nodes with
//!   `LOG_COLLECTOR_TARGET` send). At most [`MAX_INGEST_BYTES`] (413 above) and
//!   [`MAX_INGEST_RECORDS`] records; a malformed body or record is refused whole with 400 and a
//!   message saying which record and why (nothing of it is stored, nothing stored before is
//!   touched). 503 when the writer is behind: the node retries.
//! - `GET /api/v1/events?node=&channel=&event=&from_height=&to_height=&since_us=&until_us=&limit=`:
//!   the newest `limit` (default 100, at most 10,000) matching events, oldest first. `event`
//!   may list several names (`event=AddBlock,RoundStart`); `channel=_node` selects node-wide
//!   events; heights and times are inclusive bounds; empty parameters are ignored.
//! - `GET /api/v1/events/tail?...same filters...&wait_ms=`: live tail as Server-Sent Events.
//!   Each event is `id: <sequence>`, `event: <type>`, `data: <record JSON>`. A response holds
//!   the matching events that arrived after `Last-Event-ID` (header) or `after_seq`, or after
//!   the request when neither is given, as soon as there is at least one (or an empty answer
//!   carrying only the current `id` after `wait_ms`, default 25 s); an `EventSource` reconnects
//!   by itself and resumes from its last id, so no event is missed while it reconnects.
//! - `GET /api/v1/nodes`: per node: last event time, event count, channels and its last
//!   events (what a node said before it died). `GET /api/v1/status`: totals.
//!
//! Files: `DIR/<node>/<channel>.jsonl` (`_node.jsonl` for node-wide events), one record per
//! line, rotated at `--max-file-mb` into `.1` … `.<keep>`; the whole directory stays under
//! `--max-disk-mb` by deleting the oldest rotated files. Memory holds the newest
//! `--memory-events` events (reloaded from the files at start, so a restarted collector still
//! answers) and at most [`MAX_NODES`] nodes (the longest silent one is forgotten first).
use crate::events::{now_us, EventRecord, EVENT_NAME_MAX};
use anyhow::{bail, Context as _, Result};
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Args;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};
use tracing::{error, info, warn};

/// Largest ingest body.
pub(crate) const MAX_INGEST_BYTES: usize = 4 * 1024 * 1024;
/// Most records in one ingest request.
pub(crate) const MAX_INGEST_RECORDS: usize = 10_000;
/// Nodes tracked in memory.
pub(crate) const MAX_NODES: usize = 1024;
/// Default and largest `limit` of a query.
const LIMIT_DEFAULT: usize = 100;
const LIMIT_MAX: usize = 10_000;
/// Last events kept per node for `/api/v1/nodes`.
const NODE_RECENT: usize = 20;
/// Channels listed per node.
const NODE_CHANNELS_MAX: usize = 64;
/// Ingest requests handled at once, live tails open at once.
const INGEST_CONCURRENT: usize = 32;
const TAILS_CONCURRENT: usize = 64;
/// Default and longest wait of one live-tail request.
const TAIL_WAIT_DEFAULT: Duration = Duration::from_secs(25);
const TAIL_WAIT_MAX: Duration = Duration::from_secs(120);
/// Ingested batches waiting for the file writer.
const WRITER_QUEUE: usize = 256;
/// Event files kept open by the writer.
const OPEN_FILES_MAX: usize = 128;
/// Per-record bounds checked at ingest.
const NODE_MAX: usize = 128;
const TARGET_MAX: usize = 256;
const CHANNEL_MAX: usize = 128;
const MESSAGE_MAX: usize = 16 * 1024;
const FIELDS_MAX: usize = 64;
const FIELDS_BYTES_MAX: usize = 32 * 1024;
/// Bytes read from the end of one file at start, and from all files together.
const RELOAD_FILE_BYTES: u64 = 8 * 1024 * 1024;
const RELOAD_TOTAL_BYTES: u64 = 512 * 1024 * 1024;

/// Flags of `loopchain logcollector`.
#[derive(Debug, Args)]
pub(crate) struct LogCollectorArgs {
    /// Port for ingest, queries and the live tail.
    #[arg(short = 'p', long = "port", default_value_t = 9500)]
    port: u16,
    /// Directory of the event files (DIR/<node>/<channel>.jsonl).
    #[arg(long = "dir", value_name = "DIR", default_value = "./.storage/logcollector")]
    dir: PathBuf,
    /// Address to listen on (default PEER_BIND_IP, i.e. 0.0.0.0: nodes on other machines ship here).
    #[arg(long = "bind", value_name = "IP")]
    bind: Option<IpAddr>,
    /// Rotate an event file at this size (MiB).
    #[arg(long = "max-file-mb", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    max_file_mb: u64,
    /// Rotated files kept per node and channel.
    #[arg(long = "keep-files", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100))]
    keep_files: u32,
    /// Upper bound of the directory's size (MiB); the oldest rotated files are deleted first.
    #[arg(long = "max-disk-mb", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(16..))]
    max_disk_mb: u64,
    /// Events held in memory for queries.
    #[arg(long = "memory-events", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1_000..=5_000_000))]
    memory_events: u64,
}

/// Runs the collector until SIGINT/SIGTERM (or, when started by `loopchain demo`, until the
/// parent exits).
pub(crate) fn run(args: LogCollectorArgs) -> Result<()> {
    let user = lc_config::default_user_file();
    let loaded = lc_config::load(&lc_config::process_env, user.as_deref(), None, &lc_config::Overrides::default())?;
    let mut cfg = loaded.config;
    // The collector never ships its own events (to itself or elsewhere).
    cfg.log_collector_target.clear();
    crate::events::init_logging(&cfg);
    for w in &loaded.warnings {
        warn!("{w}");
    }
    let bind: IpAddr = match args.bind {
        Some(ip) => ip,
        None => cfg.peer_bind_ip.parse().with_context(|| format!("PEER_BIND_IP {:?}", cfg.peer_bind_ip))?,
    };
    let addr = SocketAddr::new(bind, args.port);
    crate::events::set_node_identity("logcollector", &addr.to_string());
    let limits = FileLimits {
        max_file_bytes: args.max_file_mb * 1024 * 1024,
        keep: args.keep_files,
        max_disk_bytes: args.max_disk_mb * 1024 * 1024,
    };
    let ring_max = usize::try_from(args.memory_events).context("--memory-events")?;
    fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;
    let files = Files::open(&args.dir, limits)?;
    let (reloaded, skipped) = reload(&args.dir, ring_max);
    let store = Store::new(ring_max);
    let count = reloaded.len();
    store.load(reloaded);
    if skipped > 0 {
        warn!(skipped, "unreadable lines in the event files were skipped");
    }
    let (writer, writer_thread) = spawn_writer(files)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("logcollector")
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let served = runtime.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let app = Arc::new(App::new(store, writer, stop_rx));
        info!(event = "LogCollectorStarted", %addr, dir = %args.dir.display(), reloaded = count, "log collector listening");
        let stopping = Arc::clone(&app);
        axum::serve(listener, router(Arc::clone(&app)))
            .with_graceful_shutdown(async move {
                stop_requested().await;
                let _ = stop_tx.send(true);
                stopping.close_writer();
            })
            .await
            .context("serving")?;
        app.close_writer();
        anyhow::Ok(())
    });
    drop(runtime);
    let written = writer_thread.join();
    info!(event = "LogCollectorStopped", "log collector stopped");
    crate::events::shutdown_logging();
    served?;
    match written {
        Ok(()) => Ok(()),
        Err(_) => bail!("the file writer thread panicked"),
    }
}

/// SIGINT/SIGTERM, or the parent's exit when `LOOPCHAIN_EXIT_WITH_PARENT` is set.
async fn stop_requested() {
    let parent = std::env::var_os("LOOPCHAIN_EXIT_WITH_PARENT").map(|_| std::os::unix::process::parent_id());
    let orphaned = async move {
        let Some(parent) = parent else { return std::future::pending().await };
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if std::os::unix::process::parent_id() != parent {
                warn!("parent process exited: stopping");
                return;
            }
        }
    };
    tokio::select! {
        r = crate::peer::shutdown_signal() => {
            if let Err(e) = r {
                error!(error = %e, "cannot wait for signals; stopping");
            }
        }
        () = orphaned => {}
    }
}

// ---- memory: ring of recent events, per-node summary --------------------------------------

/// One event held in memory; `seq` grows by one per event received.
#[derive(Debug)]
pub(crate) struct Stored {
    seq: u64,
    record: EventRecord,
}

#[derive(Debug, Default)]
struct NodeInfo {
    node_target: String,
    last_ts_us: u64,
    last_received_us: u64,
    events: u64,
    channels: BTreeSet<String>,
    recent: VecDeque<Arc<Stored>>,
}

#[derive(Debug)]
struct Inner {
    ring: VecDeque<Arc<Stored>>,
    next_seq: u64,
    nodes: BTreeMap<String, NodeInfo>,
}

/// Recent events and per-node summaries, bounded.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    ring_max: usize,
    /// Sequence number of the newest event (wakes live tails).
    latest: watch::Sender<u64>,
}

impl Store {
    pub(crate) fn new(ring_max: usize) -> Self {
        let inner = Inner { ring: VecDeque::new(), next_seq: 1, nodes: BTreeMap::new() };
        Self { inner: Mutex::new(inner), ring_max: ring_max.max(1), latest: watch::channel(0).0 }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds events reloaded from the files (oldest first).
    pub(crate) fn load(&self, records: Vec<EventRecord>) {
        let mut inner = self.lock();
        for r in records {
            Self::add(&mut inner, self.ring_max, r, 0);
        }
        let last = inner.next_seq - 1;
        drop(inner);
        self.latest.send_replace(last);
    }

    /// Adds freshly received events when `hand_over` takes them (the file writer); nothing is
    /// added otherwise.
    fn ingest<E>(
        &self,
        records: Vec<EventRecord>,
        hand_over: impl FnOnce(Vec<Arc<Stored>>) -> Result<(), E>,
    ) -> Result<usize, E> {
        let received = now_us();
        let mut inner = self.lock();
        let first = inner.next_seq;
        let stored: Vec<Arc<Stored>> =
            records.into_iter().zip(first..).map(|(record, seq)| Arc::new(Stored { seq, record })).collect();
        let n = stored.len();
        hand_over(stored.clone())?;
        for s in stored {
            Self::insert(&mut inner, self.ring_max, s, received);
        }
        let last = inner.next_seq - 1;
        drop(inner);
        self.latest.send_replace(last);
        Ok(n)
    }

    fn add(inner: &mut Inner, ring_max: usize, record: EventRecord, received_us: u64) {
        let s = Arc::new(Stored { seq: inner.next_seq, record });
        Self::insert(inner, ring_max, s, received_us);
    }

    fn insert(inner: &mut Inner, ring_max: usize, s: Arc<Stored>, received_us: u64) {
        inner.next_seq = s.seq + 1;
        let r = &s.record;
        if !inner.nodes.contains_key(&r.node) && inner.nodes.len() >= MAX_NODES {
            // Forget the node silent for longest (its files stay).
            let oldest =
                inner.nodes.iter().min_by_key(|(_, n)| (n.last_received_us, n.last_ts_us)).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                inner.nodes.remove(&k);
            }
        }
        let node = inner.nodes.entry(r.node.clone()).or_default();
        if !r.node_target.is_empty() {
            node.node_target.clone_from(&r.node_target);
        }
        node.last_ts_us = node.last_ts_us.max(r.ts_us);
        node.last_received_us = node.last_received_us.max(received_us);
        node.events += 1;
        if !r.channel.is_empty() && node.channels.len() < NODE_CHANNELS_MAX {
            node.channels.insert(r.channel.clone());
        }
        if node.recent.len() >= NODE_RECENT {
            node.recent.pop_front();
        }
        node.recent.push_back(Arc::clone(&s));
        if inner.ring.len() >= ring_max {
            inner.ring.pop_front();
        }
        inner.ring.push_back(s);
    }

    /// The newest `filter.limit` matching events, oldest first (by time, then arrival).
    pub(crate) fn query(&self, filter: &Filter) -> Vec<Arc<Stored>> {
        let inner = self.lock();
        let mut hits: Vec<Arc<Stored>> = inner.ring.iter().filter(|s| filter.matches(&s.record)).cloned().collect();
        drop(inner);
        hits.sort_by_key(|s| (s.record.ts_us, s.seq));
        let skip = hits.len().saturating_sub(filter.limit);
        hits.drain(..skip);
        hits
    }

    /// Matching events with a sequence number above `after` (at most `filter.limit`, in
    /// arrival order), and the newest sequence number looked at.
    fn after(&self, after: u64, filter: &Filter) -> (Vec<Arc<Stored>>, u64) {
        let inner = self.lock();
        let last = inner.next_seq - 1;
        // A cursor from the future (a client's guess) means "from now".
        let after = after.min(last);
        let Some(front) = inner.ring.front().map(|s| s.seq) else { return (Vec::new(), last) };
        let start = usize::try_from((after + 1).saturating_sub(front)).unwrap_or(usize::MAX);
        let mut hits = Vec::new();
        let mut seen = after.max(front.saturating_sub(1));
        for s in inner.ring.iter().skip(start) {
            seen = s.seq;
            if filter.matches(&s.record) {
                hits.push(Arc::clone(s));
                if hits.len() >= filter.limit {
                    break;
                }
            }
        }
        (hits, seen.max(after))
    }

    fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    fn nodes(&self) -> Value {
        let inner = self.lock();
        let list: Vec<Value> = inner
            .nodes
            .iter()
            .map(|(name, n)| {
                json!({
                    "node": name,
                    "node_target": n.node_target,
                    "last_ts_us": n.last_ts_us,
                    "last_received_us": n.last_received_us,
                    "events": n.events,
                    "channels": n.channels,
                    "last_events": n.recent.iter().map(|s| &s.record).collect::<Vec<_>>(),
                })
            })
            .collect();
        Value::Array(list)
    }

    fn status(&self) -> Value {
        let inner = self.lock();
        json!({
            "events_in_memory": inner.ring.len(),
            "memory_events_max": self.ring_max,
            "nodes": inner.nodes.len(),
            "last_seq": inner.next_seq - 1,
        })
    }
}

// ---- queries ----------------------------------------------------------------------------------

/// Filters of `/api/v1/events` and `/api/v1/events/tail`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Filter {
    node: Option<String>,
    /// `Some("")`: node-wide events only (`channel=_node`).
    channel: Option<String>,
    events: Option<BTreeSet<String>>,
    from_height: Option<u64>,
    to_height: Option<u64>,
    since_us: Option<u64>,
    until_us: Option<u64>,
    limit: usize,
}

/// Extra parameters of the live tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TailParams {
    wait: Duration,
    after_seq: Option<u64>,
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            node: None,
            channel: None,
            events: None,
            from_height: None,
            to_height: None,
            since_us: None,
            until_us: None,
            limit: LIMIT_DEFAULT,
        }
    }
}

impl Filter {
    /// Parses query parameters; unknown parameters and bad values are errors.
    pub(crate) fn parse(params: &[(String, String)]) -> Result<Self, String> {
        Self::parse_with(params, false).map(|(f, _)| f)
    }

    fn parse_with(params: &[(String, String)], tail: bool) -> Result<(Self, TailParams), String> {
        let mut f = Self::default();
        let mut t = TailParams { wait: TAIL_WAIT_DEFAULT, after_seq: None };
        let number = |k: &str, v: &str| -> Result<u64, String> {
            v.trim().parse::<u64>().map_err(|_| format!("{k}={v:?}: expected a non-negative integer"))
        };
        for (k, v) in params {
            if v.is_empty() {
                continue;
            }
            match k.as_str() {
                "node" => f.node = Some(v.clone()),
                "channel" => f.channel = Some(if v == "_node" { String::new() } else { v.clone() }),
                "event" => {
                    let names: BTreeSet<String> =
                        v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect();
                    if names.is_empty() {
                        return Err(format!("event={v:?}: expected event names separated by commas"));
                    }
                    f.events = Some(names);
                }
                "from_height" => f.from_height = Some(number(k, v)?),
                "to_height" => f.to_height = Some(number(k, v)?),
                "since_us" => f.since_us = Some(number(k, v)?),
                "until_us" => f.until_us = Some(number(k, v)?),
                "limit" => {
                    let n = number(k, v)?;
                    if n == 0 || n > LIMIT_MAX as u64 {
                        return Err(format!("limit={n}: must be 1 to {LIMIT_MAX}"));
                    }
                    f.limit = usize::try_from(n).map_err(|_| format!("limit={n}: too large"))?;
                }
                "wait_ms" if tail => {
                    let ms = number(k, v)?;
                    let wait = Duration::from_millis(ms);
                    if wait > TAIL_WAIT_MAX {
                        return Err(format!("wait_ms={ms}: at most {}", TAIL_WAIT_MAX.as_millis()));
                    }
                    t.wait = wait;
                }
                "after_seq" if tail => t.after_seq = Some(number(k, v)?),
                other => {
                    let known = "node, channel, event, from_height, to_height, since_us, until_us, limit";
                    let extra = if tail { ", wait_ms, after_seq" } else { "" };
                    return Err(format!("unknown parameter {other:?} (known: {known}{extra})"));
                }
            }
        }
        if let (Some(a), Some(b)) = (f.from_height, f.to_height) {
            if a > b {
                return Err(format!("from_height {a} is above to_height {b}"));
            }
        }
        if let (Some(a), Some(b)) = (f.since_us, f.until_us) {
            if a > b {
                return Err(format!("since_us {a} is after until_us {b}"));
            }
        }
        Ok((f, t))
    }

    /// Whether `r` passes every filter (a height filter excludes events without a height).
    pub(crate) fn matches(&self, r: &EventRecord) -> bool {
        let height_ok = |h: Option<u64>| match (self.from_height, self.to_height) {
            (None, None) => true,
            (from, to) => h.is_some_and(|h| from.is_none_or(|f| h >= f) && to.is_none_or(|t| h <= t)),
        };
        self.node.as_ref().is_none_or(|n| *n == r.node)
            && self.channel.as_ref().is_none_or(|c| *c == r.channel)
            && self.events.as_ref().is_none_or(|e| e.contains(&r.event))
            && height_ok(r.height)
            && self.since_us.is_none_or(|s| r.ts_us >= s)
            && self.until_us.is_none_or(|u| r.ts_us <= u)
    }
}

// ---- ingest validation ------------------------------------------------------------------------

/// Parses an ingest body: a JSON array of records, each within bounds. The error names the
/// record and the problem.
pub(crate) fn parse_batch(body: &[u8]) -> Result<Vec<EventRecord>, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let records: Vec<EventRecord> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            format!("body is not a JSON array of event records: {inner}")
        } else {
            format!("record {path}: {inner}")
        }
    })?;
    de.end().map_err(|e| format!("trailing data after the JSON array: {e}"))?;
    if records.len() > MAX_INGEST_RECORDS {
        return Err(format!("{} records in one request; at most {MAX_INGEST_RECORDS}", records.len()));
    }
    for (i, r) in records.iter().enumerate() {
        check_record(r).map_err(|e| format!("record [{i}]: {e}"))?;
    }
    Ok(records)
}

fn check_record(r: &EventRecord) -> Result<(), String> {
    let text = |name: &str, v: &str, min: usize, max: usize| -> Result<(), String> {
        if v.len() < min || v.len() > max {
            return Err(format!("{name} must be {min} to {max} bytes (got {})", v.len()));
        }
        if v.chars().any(char::is_control) {
            return Err(format!("{name} contains control characters"));
        }
        Ok(())
    };
    text("node", &r.node, 1, NODE_MAX)?;
    text("node_target", &r.node_target, 0, TARGET_MAX)?;
    text("channel", &r.channel, 0, CHANNEL_MAX)?;
    if r.event.is_empty()
        || r.event.len() > EVENT_NAME_MAX
        || !r.event.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(format!("event {:?} must be 1 to {EVENT_NAME_MAX} of [A-Za-z0-9_]", r.event));
    }
    if !matches!(r.level.as_str(), "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR") {
        return Err(format!("level {:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR", r.level));
    }
    if r.message.len() > MESSAGE_MAX {
        return Err(format!("message of {} bytes; at most {MESSAGE_MAX}", r.message.len()));
    }
    if r.fields.len() > FIELDS_MAX {
        return Err(format!("{} fields; at most {FIELDS_MAX}", r.fields.len()));
    }
    let size = serde_json::to_string(&r.fields).map(|s| s.len()).unwrap_or(usize::MAX);
    if size > FIELDS_BYTES_MAX {
        return Err(format!("fields take {size} bytes; at most {FIELDS_BYTES_MAX}"));
    }
    Ok(())
}

// ---- HTTP -------------------------------------------------------------------------------------

/// Ingested batches on their way to the file writer.
pub(crate) type WriterQueue = SyncSender<Vec<Arc<Stored>>>;

/// Shared state of the HTTP handlers.
#[derive(Debug)]
pub(crate) struct App {
    store: Store,
    writer: Mutex<Option<WriterQueue>>,
    ingest_slots: Semaphore,
    tail_slots: Semaphore,
    stopping: watch::Receiver<bool>,
    refused: AtomicU64,
}

impl App {
    pub(crate) fn new(store: Store, writer: WriterQueue, stopping: watch::Receiver<bool>) -> Self {
        Self {
            store,
            writer: Mutex::new(Some(writer)),
            ingest_slots: Semaphore::new(INGEST_CONCURRENT),
            tail_slots: Semaphore::new(TAILS_CONCURRENT),
            stopping,
            refused: AtomicU64::new(0),
        }
    }

    /// No more writes: the writer thread finishes what it holds and exits.
    fn close_writer(&self) {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
    }

    fn accept(&self, records: Vec<EventRecord>) -> Result<usize, &'static str> {
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(writer) = writer else { return Err("the collector is stopping") };
        self.store.ingest(records, |batch| match writer.try_send(batch) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err("the collector's file writer is behind; retry"),
            Err(TrySendError::Disconnected(_)) => Err("the collector's file writer stopped"),
        })
    }
}

/// The collector's HTTP API.
pub(crate) fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/v1/ingest", post(ingest))
        .route("/api/v1/events", get(events))
        .route("/api/v1/events/tail", get(tail))
        .route("/api/v1/nodes", get(nodes))
        .route("/api/v1/status", get(status))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_INGEST_BYTES))
        .with_state(app)
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn ingest(State(app): State<Arc<App>>, req: Request) -> Response {
    let Ok(_slot) = app.ingest_slots.try_acquire() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many ingest requests at once; retry");
    };
    let body = match Bytes::from_request(req, &()).await {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            app.refused.fetch_add(1, Ordering::Relaxed);
            return refuse(e.status(), format!("body larger than {MAX_INGEST_BYTES} bytes"));
        }
        Err(e) => return refuse(e.status(), e.body_text()),
    };
    let records = match parse_batch(&body) {
        Ok(r) => r,
        Err(msg) => {
            app.refused.fetch_add(1, Ordering::Relaxed);
            return refuse(StatusCode::BAD_REQUEST, msg);
        }
    };
    match app.accept(records) {
        Ok(n) => Json(json!({ "accepted": n })).into_response(),
        Err(msg) => refuse(StatusCode::SERVICE_UNAVAILABLE, msg),
    }
}

type Params = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

async fn events(State(app): State<Arc<App>>, params: Params) -> Response {
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.body_text()),
    };
    match Filter::parse(&params) {
        Ok(f) => {
            let hits = app.store.query(&f);
            Json(hits.iter().map(|s| &s.record).collect::<Vec<_>>()).into_response()
        }
        Err(msg) => refuse(StatusCode::BAD_REQUEST, msg),
    }
}

async fn nodes(State(app): State<Arc<App>>) -> Response {
    Json(app.store.nodes()).into_response()
}

async fn status(State(app): State<Arc<App>>) -> Response {
    let mut s = app.store.status();
    s["ingest_refused"] = json!(app.refused.load(Ordering::Relaxed));
    Json(s).into_response()
}

async fn tail(State(app): State<Arc<App>>, headers: HeaderMap, params: Params) -> Response {
    let params = match params {
        Ok(Query(p)) => p,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let (filter, opts) = match Filter::parse_with(&params, true) {
        Ok(x) => x,
        Err(msg) => return refuse(StatusCode::BAD_REQUEST, msg),
    };
    let last_event_id = match headers.get("last-event-id").map(|v| v.to_str().map(|s| s.trim().parse::<u64>())) {
        None => None,
        Some(Ok(Ok(id))) => Some(id),
        Some(_) => return refuse(StatusCode::BAD_REQUEST, "Last-Event-ID must be a sequence number"),
    };
    let Ok(_slot) = app.tail_slots.try_acquire() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many live tails open; retry later");
    };
    let mut latest = app.store.latest.subscribe();
    let mut stopping = app.stopping.clone();
    let mut cursor = last_event_id.or(opts.after_seq).unwrap_or_else(|| app.store.last_seq());
    let deadline = tokio::time::Instant::now() + opts.wait;
    loop {
        latest.mark_unchanged();
        let (hits, seen) = app.store.after(cursor, &filter);
        cursor = seen;
        if !hits.is_empty() {
            return sse(&hits, cursor);
        }
        if *stopping.borrow() {
            break;
        }
        tokio::select! {
            changed = latest.changed() => if changed.is_err() { break },
            _ = stopping.changed() => break,
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    sse(&[], cursor)
}

/// A Server-Sent Events body: each event with its sequence number as id; an empty answer
/// carries the cursor as id, so a reconnecting client resumes after it.
fn sse(hits: &[Arc<Stored>], cursor: u64) -> Response {
    let mut body = String::from("retry: 1000\n\n");
    for s in hits {
        let data = serde_json::to_string(&s.record).unwrap_or_default();
        body.push_str(&format!("id: {}\nevent: {}\ndata: {data}\n\n", s.seq, s.record.event));
    }
    if hits.is_empty() {
        body.push_str(&format!(": no new events\nid: {cursor}\n\n"));
    }
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

// ---- files ------------------------------------------------------------------------------------

/// Disk bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileLimits {
    pub(crate) max_file_bytes: u64,
    pub(crate) keep: u32,
    pub(crate) max_disk_bytes: u64,
}

/// A name safe as one path component: `[A-Za-z0-9_-]`, anything else becomes `_`.
pub(crate) fn file_component(name: &str) -> String {
    let s: String = name
        .chars()
        .take(100)
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    if s.is_empty() {
        "_".into()
    } else {
        s
    }
}

/// The file of a record: `<node>/<channel>.jsonl`, `<node>/_node.jsonl` without a channel.
pub(crate) fn file_of(dir: &Path, r: &EventRecord) -> PathBuf {
    let channel = match r.channel.as_str() {
        "" => "_node".to_owned(),
        c => match file_component(c) {
            s if s == "_node" => "__node".to_owned(),
            s => s,
        },
    };
    dir.join(file_component(&r.node)).join(format!("{channel}.jsonl"))
}

/// Appends records to rotating files; keeps the directory within its budget.
#[derive(Debug)]
pub(crate) struct Files {
    dir: PathBuf,
    limits: FileLimits,
    open: BTreeMap<PathBuf, (File, u64)>,
    disk_bytes: u64,
}

impl Files {
    pub(crate) fn open(dir: &Path, limits: FileLimits) -> Result<Self> {
        let disk_bytes = event_files(dir).iter().map(|f| f.size).sum();
        let mut files = Self { dir: dir.to_path_buf(), limits, open: BTreeMap::new(), disk_bytes };
        files.enforce_budget();
        Ok(files)
    }

    /// Appends each record to its file (one JSON line each).
    pub(crate) fn write(&mut self, batch: &[Arc<Stored>]) -> std::io::Result<()> {
        let mut by_file: BTreeMap<PathBuf, Vec<u8>> = BTreeMap::new();
        for s in batch {
            let buf = by_file.entry(file_of(&self.dir, &s.record)).or_default();
            serde_json::to_writer(&mut *buf, &s.record).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        let mut rotated = false;
        for (path, bytes) in by_file {
            let len = bytes.len() as u64;
            let size = self.handle(&path)?.1;
            if size > 0 && size + len > self.limits.max_file_bytes {
                self.rotate(&path)?;
                rotated = true;
            }
            let (file, size) = self.handle(&path)?;
            file.write_all(&bytes)?;
            *size += len;
            self.disk_bytes += len;
        }
        if rotated || self.disk_bytes > self.limits.max_disk_bytes {
            self.enforce_budget();
        }
        Ok(())
    }

    fn handle(&mut self, path: &Path) -> std::io::Result<&mut (File, u64)> {
        if !self.open.contains_key(path) {
            if self.open.len() >= OPEN_FILES_MAX {
                let _closed = self.open.pop_first();
            }
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)?;
            }
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            let size = file.metadata()?.len();
            self.open.insert(path.to_path_buf(), (file, size));
        }
        self.open.get_mut(path).ok_or_else(|| std::io::Error::other("file handle vanished"))
    }

    /// `x.jsonl` → `x.jsonl.1` → … → `x.jsonl.<keep>` (the last one is deleted).
    fn rotate(&mut self, path: &Path) -> std::io::Result<()> {
        self.open.remove(path);
        let numbered = |n: u32| {
            let mut p = path.as_os_str().to_owned();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let oldest = numbered(self.limits.keep);
        if let Ok(m) = fs::metadata(&oldest) {
            fs::remove_file(&oldest)?;
            self.disk_bytes = self.disk_bytes.saturating_sub(m.len());
        }
        for n in (1..self.limits.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                fs::rename(&from, numbered(n + 1))?;
            }
        }
        fs::rename(path, numbered(1))
    }

    /// Deletes the oldest rotated files while the directory is over its budget.
    fn enforce_budget(&mut self) {
        if self.disk_bytes <= self.limits.max_disk_bytes {
            return;
        }
        let mut all = event_files(&self.dir);
        self.disk_bytes = all.iter().map(|f| f.size).sum();
        all.retain(|f| f.rotation > 0);
        // Oldest first; a higher rotation number is older when the clock cannot tell.
        all.sort_by_key(|f| (f.modified, std::cmp::Reverse(f.rotation)));
        for f in all {
            if self.disk_bytes <= self.limits.max_disk_bytes {
                break;
            }
            match fs::remove_file(&f.path) {
                Ok(()) => self.disk_bytes = self.disk_bytes.saturating_sub(f.size),
                Err(e) => warn!(path = %f.path.display(), error = %e, "cannot delete an old event file"),
            }
        }
    }
}

#[derive(Debug)]
struct EventFile {
    path: PathBuf,
    size: u64,
    modified: std::time::SystemTime,
    /// 0 for the file being written, N for `.jsonl.N`.
    rotation: u32,
}

/// Every `<node>/<name>.jsonl[.N]` under `dir`.
fn event_files(dir: &Path) -> Vec<EventFile> {
    let mut out = Vec::new();
    let Ok(nodes) = fs::read_dir(dir) else { return out };
    for node in nodes.flatten() {
        let Ok(entries) = fs::read_dir(node.path()) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rotation = match name.rsplit_once(".jsonl.") {
                Some((_, n)) => match n.parse::<u32>() {
                    Ok(n) if n > 0 => n,
                    _ => continue,
                },
                None if name.ends_with(".jsonl") => 0,
                None => continue,
            };
            let Ok(meta) = e.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            out.push(EventFile { path: e.path(), size: meta.len(), modified, rotation });
        }
    }
    out
}

/// Reads back the newest events from the files (the end of each, newest files first, within
/// [`RELOAD_TOTAL_BYTES`]): the newest `ring_max`, oldest first; and how many lines could not
/// be read.
pub(crate) fn reload(dir: &Path, ring_max: usize) -> (Vec<EventRecord>, u64) {
    let mut files = event_files(dir);
    files.sort_by_key(|f| std::cmp::Reverse(f.modified));
    let mut budget = RELOAD_TOTAL_BYTES;
    let mut records = Vec::new();
    let mut skipped = 0u64;
    for f in files {
        if budget == 0 {
            break;
        }
        let want = f.size.min(RELOAD_FILE_BYTES).min(budget);
        budget -= want;
        let Ok(text) = read_tail(&f.path, f.size, want) else {
            skipped += 1;
            continue;
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<EventRecord>(line) {
                Ok(r) if check_record(&r).is_ok() => records.push(r),
                _ => skipped += 1,
            }
        }
    }
    records.sort_by_key(|r| r.ts_us);
    let extra = records.len().saturating_sub(ring_max);
    records.drain(..extra);
    (records, skipped)
}

/// The last `want` bytes of a file of `size` bytes, from the first whole line.
fn read_tail(path: &Path, size: u64, want: u64) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let start = size.saturating_sub(want);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(want).read_to_end(&mut bytes)?;
    if start > 0 {
        let cut = bytes.iter().position(|b| *b == b'\n').map_or(bytes.len(), |i| i + 1);
        bytes.drain(..cut);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The writer thread: appends each ingested batch to the files, in order; exits once every
/// sender is gone and the queue is written.
fn spawn_writer(mut files: Files) -> Result<(WriterQueue, std::thread::JoinHandle<()>)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Arc<Stored>>>(WRITER_QUEUE);
    let handle = std::thread::Builder::new()
        .name("logcollector-files".into())
        .spawn(move || write_loop(&mut files, &rx))
        .context("starting the file writer")?;
    Ok((tx, handle))
}

fn write_loop(files: &mut Files, rx: &Receiver<Vec<Arc<Stored>>>) {
    let mut last_error: Option<Instant> = None;
    let mut failed = 0u64;
    while let Ok(batch) = rx.recv() {
        if let Err(e) = files.write(&batch) {
            failed += batch.len() as u64;
            // One report per 10 s at most: a full disk fails every batch.
            if last_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                last_error = Some(Instant::now());
                error!(error = %e, events_not_written = failed, "cannot write event files (queries still answer from memory)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{run_shipper, Control, EventQueue, ShipperConfig, ShipperStats};
    use serde_json::Map;
    use std::future::IntoFuture;

    fn rec(node: &str, channel: &str, event: &str, ts_us: u64, height: Option<u64>) -> EventRecord {
        EventRecord {
            ts_us,
            node: node.into(),
            node_target: format!("{node}:7100"),
            channel: channel.into(),
            event: event.into(),
            level: "INFO".into(),
            height,
            round: height.map(|h| h + 1),
            message: format!("{event} at {ts_us}"),
            fields: Map::new(),
        }
    }

    fn params(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn sample() -> Vec<EventRecord> {
        let mut out = Vec::new();
        for i in 0..60u64 {
            let node = ["a", "b", "c"][(i % 3) as usize];
            let channel = if i % 2 == 0 { "alpha" } else { "beta" };
            let (event, height) = if i % 5 == 0 { ("RoundStart", None) } else { ("AddBlock", Some(i / 3)) };
            out.push(rec(node, channel, event, 1_000 + i, height));
        }
        out.push(rec("a", "", "ChannelStarted", 2_000, None));
        out
    }

    fn store_with(records: Vec<EventRecord>) -> Store {
        let s = Store::new(1_000);
        s.ingest(records, |_| Ok::<(), ()>(())).expect("accepted");
        s
    }

    fn check(store: &Store, q: &[(&str, &str)], expected: impl Fn(&EventRecord) -> bool) {
        let f = Filter::parse(&params(q)).expect("valid filter");
        let got: Vec<EventRecord> = store.query(&f).iter().map(|s| s.record.clone()).collect();
        let mut want: Vec<EventRecord> = sample().into_iter().filter(|r| expected(r)).collect();
        want.sort_by_key(|r| r.ts_us);
        let skip = want.len().saturating_sub(f.limit);
        assert!(!want.is_empty(), "query {q:?} should match something in the sample");
        assert_eq!(got, want[skip..].to_vec(), "query {q:?}");
    }

    #[test]
    fn filters_select_exactly_the_matching_events() {
        let store = store_with(sample());
        check(&store, &[], |_| true);
        check(&store, &[("limit", "10000")], |_| true);
        check(&store, &[("node", "b")], |r| r.node == "b");
        check(&store, &[("channel", "beta")], |r| r.channel == "beta");
        check(&store, &[("channel", "_node")], |r| r.channel.is_empty());
        check(&store, &[("event", "RoundStart")], |r| r.event == "RoundStart");
        check(&store, &[("event", "RoundStart,ChannelStarted")], |r| r.event != "AddBlock");
        check(&store, &[("from_height", "5"), ("to_height", "9")], |r| r.height.is_some_and(|h| (5..=9).contains(&h)));
        check(&store, &[("from_height", "15")], |r| r.height.is_some_and(|h| h >= 15));
        check(&store, &[("since_us", "1010"), ("until_us", "1020")], |r| (1010..=1020).contains(&r.ts_us));
        check(&store, &[("limit", "7")], |_| true);
        check(&store, &[("node", "a"), ("channel", "alpha"), ("event", "AddBlock"), ("limit", "3")], |r| {
            r.node == "a" && r.channel == "alpha" && r.event == "AddBlock"
        });
        // Empty parameters are no filter.
        check(&store, &[("node", ""), ("channel", "")], |_| true);
        let f = Filter::parse(&params(&[("node", "nobody")])).expect("valid");
        assert!(store.query(&f).is_empty());
    }

    #[test]
    fn bad_filters_are_errors() {
        for q in [
            vec![("limit", "0")],
            vec![("limit", "10001")],
            vec![("limit", "ten")],
            vec![("from_height", "-1")],
            vec![("from_height", "9"), ("to_height", "2")],
            vec![("since_us", "9"), ("until_us", "2")],
            vec![("height", "3")],
            vec![("wait_ms", "10")],
            vec![("event", ",,")],
        ] {
            assert!(Filter::parse(&params(&q)).is_err(), "{q:?} must be refused");
        }
        let (_, t) = Filter::parse_with(&params(&[("wait_ms", "10"), ("after_seq", "4")]), true).expect("tail");
        assert_eq!(t, TailParams { wait: Duration::from_millis(10), after_seq: Some(4) });
        assert!(Filter::parse_with(&params(&[("wait_ms", "999999999")]), true).is_err());
    }

    #[test]
    fn memory_and_nodes_are_bounded() {
        let store = Store::new(50);
        let many: Vec<EventRecord> = (0..120).map(|i| rec("a", "alpha", "AddBlock", i, Some(i))).collect();
        store.ingest(many, |_| Ok::<(), ()>(())).expect("accepted");
        let all = store.query(&Filter { limit: LIMIT_MAX, ..Filter::default() });
        assert_eq!(all.len(), 50, "the ring keeps the newest 50");
        assert_eq!(all.first().map(|s| s.record.ts_us), Some(70));
        let nodes = store.nodes();
        assert_eq!(nodes[0]["events"], 120);
        assert_eq!(nodes[0]["last_events"].as_array().map(Vec::len), Some(NODE_RECENT));
        assert_eq!(nodes[0]["last_events"][NODE_RECENT - 1]["ts_us"], 119);

        let store = Store::new(10_000);
        let nodes: Vec<EventRecord> =
            (0..MAX_NODES as u64 + 5).map(|i| rec(&format!("n{i}"), "", "X", i, None)).collect();
        store.ingest(nodes, |_| Ok::<(), ()>(())).expect("accepted");
        assert_eq!(store.nodes().as_array().map(Vec::len), Some(MAX_NODES));
    }

    #[test]
    fn a_refused_hand_over_stores_nothing() {
        let store = store_with(sample());
        let before = store.query(&Filter { limit: LIMIT_MAX, ..Filter::default() }).len();
        let r = store.ingest(vec![rec("z", "alpha", "AddBlock", 5, Some(1))], |_| Err("busy"));
        assert_eq!(r, Err("busy"));
        assert_eq!(store.query(&Filter { limit: LIMIT_MAX, ..Filter::default() }).len(), before);
        assert_eq!(store.last_seq(), before as u64, "no sequence number was used");
    }

    #[test]
    fn tail_cursor_walks_new_events_only() {
        let store = store_with(sample());
        let f = Filter { events: Some(BTreeSet::from(["ChannelStarted".to_owned()])), ..Filter::default() };
        let (hits, seen) = store.after(0, &f);
        assert_eq!(hits.len(), 1);
        assert_eq!(seen, store.last_seq());
        let (hits, seen2) = store.after(seen, &f);
        assert!(hits.is_empty());
        assert_eq!(seen2, seen);
        store.ingest(vec![rec("c", "", "ChannelStarted", 3_000, None)], |_| Ok::<(), ()>(())).expect("accepted");
        let (hits, _) = store.after(seen, &f);
        assert_eq!(hits.iter().map(|s| s.record.node.as_str()).collect::<Vec<_>>(), ["c"]);
    }

    #[test]
    fn malformed_batches_are_refused_with_a_reason() {
        let good = serde_json::to_string(&vec![rec("a", "alpha", "AddBlock", 1, Some(1))]).expect("json");
        assert_eq!(parse_batch(good.as_bytes()).map(|v| v.len()), Ok(1));
        let minimal = r#"[{"ts_us":1,"node":"a","event":"AddBlock","level":"INFO"}]"#;
        let parsed = parse_batch(minimal.as_bytes()).expect("optional fields default");
        assert_eq!((parsed[0].height, parsed[0].channel.as_str()), (None, ""));
        let cases: [(&str, &str); 9] = [
            ("not json", "not a JSON array"),
            (r#"{"ts_us":1}"#, "not a JSON array"),
            (r#"[{"ts_us":"x","node":"a","event":"E","level":"INFO"}]"#, "record [0].ts_us"),
            (r#"[{"node":"a","event":"E","level":"INFO"}]"#, "ts_us"),
            (r#"[{"ts_us":1,"node":"","event":"E","level":"INFO"}]"#, "record [0]: node"),
            (r#"[{"ts_us":1,"node":"a","event":"Add Block","level":"INFO"}]"#, "record [0]: event"),
            (r#"[{"ts_us":1,"node":"a","event":"E","level":"LOUD"}]"#, "level"),
            (r#"[{"ts_us":1,"node":"a","event":"E","level":"INFO","height":-3}]"#, "height"),
            (r#"[] []"#, "trailing"),
        ];
        for (body, why) in cases {
            let e = parse_batch(body.as_bytes()).expect_err(body);
            assert!(e.contains(why), "{body}: {e:?} should mention {why:?}");
        }
        let second_bad =
            format!("[{},{}]", &good[1..good.len() - 1], r#"{"ts_us":1,"node":"a","event":"E","level":"x"}"#);
        assert!(parse_batch(second_bad.as_bytes()).expect_err("bad").starts_with("record [1]"));
    }

    #[test]
    fn files_rotate_and_stay_within_budget_and_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let limits = FileLimits { max_file_bytes: 4_096, keep: 2, max_disk_bytes: 1 << 30 };
        let mut files = Files::open(dir.path(), limits).expect("files");
        let mut seq = 0;
        let mut batch = |n: u64, node: &str, channel: &str| -> Vec<Arc<Stored>> {
            (0..n)
                .map(|_| {
                    seq += 1;
                    Arc::new(Stored { seq, record: rec(node, channel, "AddBlock", seq, Some(seq)) })
                })
                .collect()
        };
        for _ in 0..40 {
            files.write(&batch(5, "hx01", "alpha")).expect("write");
        }
        files.write(&batch(3, "hx:02", "")).expect("write");
        let node = dir.path().join("hx01");
        assert!(node.join("alpha.jsonl").exists());
        assert!(node.join("alpha.jsonl.1").exists());
        assert!(node.join("alpha.jsonl.2").exists());
        assert!(!node.join("alpha.jsonl.3").exists(), "only `keep` rotated files");
        for f in ["alpha.jsonl", "alpha.jsonl.1", "alpha.jsonl.2"] {
            let len = fs::metadata(node.join(f)).expect("meta").len();
            assert!(len <= 4_096 + 1_024, "{f}: {len} bytes");
        }
        assert!(dir.path().join("hx_02").join("_node.jsonl").exists(), "node-wide events, node name made safe");

        // Reload: the newest events come back, oldest first, exactly as written.
        let (back, skipped) = reload(dir.path(), 10);
        assert_eq!(skipped, 0);
        assert_eq!(back.iter().map(|r| r.ts_us).collect::<Vec<_>>(), (194..=203).collect::<Vec<_>>());
        let (all, _) = reload(dir.path(), 100_000);
        let on_disk = all.iter().filter(|r| r.node == "hx01").count();
        assert!(on_disk < 200 && on_disk > 40, "the oldest rotated file is gone: {on_disk}");

        // A budget below the total deletes rotated files, oldest first, never the active one.
        drop(files);
        let tight = FileLimits { max_file_bytes: 4_096, keep: 2, max_disk_bytes: 5_000 };
        let files = Files::open(dir.path(), tight).expect("files");
        assert!(node.join("alpha.jsonl").exists());
        assert!(!node.join("alpha.jsonl.2").exists(), "the oldest rotated file went first");
        assert!(!node.join("alpha.jsonl.1").exists(), "then the next oldest, until within budget");
        assert!(files.disk_bytes <= 5_000, "{} bytes", files.disk_bytes);

        // A torn last line (crash while writing) is skipped, the rest reloads.
        let mut f = OpenOptions::new().append(true).open(node.join("alpha.jsonl")).expect("open");
        f.write_all(b"{\"ts_us\":99999,\"node\"").expect("write");
        let (_, skipped) = reload(dir.path(), 100);
        assert_eq!(skipped, 1);
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_component("hx0123abc"), "hx0123abc");
        assert_eq!(file_component("../etc"), "___etc");
        assert_eq!(file_component(""), "_");
        let d = Path::new("/d");
        assert_eq!(file_of(d, &rec("..", "_node", "E", 1, None)), Path::new("/d/__/__node.jsonl"));
        assert_eq!(file_of(d, &rec("a", "", "E", 1, None)), Path::new("/d/a/_node.jsonl"));
        assert_eq!(file_of(d, &rec("a", "ch/1", "E", 1, None)), Path::new("/d/a/ch_1.jsonl"));
    }

    /// The node-side shipper and the collector together: records pushed on one side come out of
    /// the query API on the other, with the node's identity filled in; a batch the collector
    /// refuses is dropped and counted, not retried forever.
    #[test]
    fn shipper_delivers_to_the_collector() {
        crate::events::set_node_identity("hx-shipper-test", "127.0.0.1:1");
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
        let (writer, rx) = std::sync::mpsc::sync_channel(16);
        let (_stop_tx, stop_rx) = watch::channel(false);
        let app = Arc::new(App::new(Store::new(1_000), writer, stop_rx));
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        runtime.spawn(axum::serve(listener, router(Arc::clone(&app))).into_future());

        let stats = Arc::new(ShipperStats::default());
        let (queue, qrx) = EventQueue::bounded(100, Arc::clone(&stats));
        let control = Arc::new(Control::default());
        let config = ShipperConfig {
            url: format!("http://127.0.0.1:{port}/api/v1/ingest"),
            interval: Duration::from_millis(20),
            attempts: 2,
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(20),
            identity_wait: Duration::ZERO,
            request_timeout: Duration::from_secs(5),
        };
        let (s, c) = (Arc::clone(&stats), Arc::clone(&control));
        let shipper = std::thread::spawn(move || run_shipper(&qrx, &config, &s, &c));
        for i in 0..30 {
            let mut r = rec("", "alpha", "AddBlock", 10 + i, Some(i));
            r.node_target.clear();
            assert!(queue.push(r));
        }
        // A record the collector refuses (bad level): its batch is dropped, counted.
        let deadline = Instant::now() + Duration::from_secs(20);
        while stats.shipped() < 30 {
            assert!(Instant::now() < deadline, "shipped only {}", stats.shipped());
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut bad = rec("x", "alpha", "AddBlock", 1, None);
        bad.level = "LOUD".into();
        assert!(queue.push(bad));
        while stats.dropped() < 1 {
            assert!(Instant::now() < deadline, "the refused batch was not counted");
            std::thread::sleep(Duration::from_millis(10));
        }
        control.flush(Duration::from_secs(5));
        drop(queue);
        shipper.join().expect("shipper");
        assert_eq!((stats.shipped(), stats.dropped()), (30, 1));

        let got = app.store.query(&Filter { limit: LIMIT_MAX, ..Filter::default() });
        assert_eq!(got.len(), 30);
        assert!(got.iter().all(|s| s.record.node == "hx-shipper-test" && s.record.node_target == "127.0.0.1:1"));
        assert!(got.iter().all(|s| s.record.height.is_some() && s.record.channel == "alpha"));
        let written: usize = rx.try_iter().map(|b: Vec<Arc<Stored>>| b.len()).sum();
        assert_eq!(written, 30, "everything accepted went to the file writer");
    }
}
