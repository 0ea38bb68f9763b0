//! Structured events (#7) and the logging setup of every long-running subcommand.
//!
//! Events are ordinary `tracing` events. The ones that matter carry an `event` field with the
//! original loopchain's names where they fit (`AddBlock`, `AddTx`, `CreateTx`, `ScoreInvoke`,
//! `Query`, `DisconnectedPeer`, `Error`, ...) plus the consensus events (`RoundStart`,
//! `Candidate`, `Timeout`, `Commit`), and `channel`, `height` and `round` fields. An event
//! without an `event` field gets a name derived from its message (`"channel started"` →
//! `ChannelStarted`; any `error!` → `Error`).
//!
//! Layers, all behind one filter (`RUST_LOG`, else `LOG_LEVEL`):
//! - **stderr**: human-readable, or one JSON object per line with `LOG_JSON=true`;
//! - **log collector** (`LOG_COLLECTOR_TARGET=HOST:PORT`): every event becomes an
//!   [`EventRecord`] in a bounded queue ([`QUEUE_CAPACITY`]); a background thread POSTs batches
//!   to `http://HOST:PORT/api/v1/ingest` every [`SHIP_INTERVAL`]. A full queue drops the new
//!   event, and a batch the collector does not take after [`SHIP_ATTEMPTS`] attempts (with
//!   backoff) is dropped: both are counted in [`ShipperStats::dropped`]. Logging never waits
//!   for the network, so consensus is never held up by the collector.
//! - **OTLP** (`OTLP_ENDPOINT=http://HOST:4318`): the OpenTelemetry bridge with a batch
//!   processor and the OTLP/HTTP (protobuf) log exporter, for a collector the user already runs.
//!
//! Events of the HTTP and gRPC libraries (`hyper`, `h2`, `reqwest`, `tonic`, `tower`,
//! `opentelemetry*`) go to stderr only: shipping them would feed the shippers' own traffic back
//! into themselves.
use lc_config::Config;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing::{info, span, warn, Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Events waiting to be shipped; beyond this a new event is dropped (and counted).
pub(crate) const QUEUE_CAPACITY: usize = 10_000;
/// How often the shipper sends what has been queued.
pub(crate) const SHIP_INTERVAL: Duration = Duration::from_millis(500);
/// Attempts to deliver one batch before it is dropped (and counted).
pub(crate) const SHIP_ATTEMPTS: u32 = 3;
/// Largest batch body (the collector takes up to 4 MiB).
const SHIP_BATCH_BYTES: usize = 1024 * 1024;
/// Most records in one batch.
const SHIP_BATCH_RECORDS: usize = 2_000;
/// How long queued events wait for [`set_node_identity`] before being sent under the
/// provisional name (the peer target).
const IDENTITY_WAIT: Duration = Duration::from_secs(10);
/// The shipper reports a rising drop count at most this often (`event = "LogShipperDropped"`).
const DROP_REPORT_EVERY: Duration = Duration::from_secs(5);

/// Longest `message` kept in a record (bytes; longer ones are cut at a character boundary).
pub(crate) const RECORD_MESSAGE_MAX: usize = 4096;
/// Longest string value of one field.
pub(crate) const RECORD_FIELD_MAX: usize = 1024;
/// Most fields kept besides `event`, `channel`, `height`, `round` and the message.
pub(crate) const RECORD_FIELDS_MAX: usize = 32;
/// Longest event name.
pub(crate) const EVENT_NAME_MAX: usize = 64;

/// One structured event, as shipped to and served by `loopchain logcollector`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct EventRecord {
    /// Wall-clock time of the event at the node, µs since the Unix epoch.
    pub(crate) ts_us: u64,
    /// The node's peer id (or a name, e.g. `radiostation`).
    pub(crate) node: String,
    /// The node's `HOST:PORT`, or empty.
    #[serde(default)]
    pub(crate) node_target: String,
    /// Channel name, or empty for node-wide events.
    #[serde(default)]
    pub(crate) channel: String,
    /// Event type (`AddBlock`, `RoundStart`, ...).
    pub(crate) event: String,
    /// `TRACE`, `DEBUG`, `INFO`, `WARN` or `ERROR`.
    pub(crate) level: String,
    /// Block height, when the event is about one.
    #[serde(default)]
    pub(crate) height: Option<u64>,
    /// Consensus round, when the event is about one.
    #[serde(default)]
    pub(crate) round: Option<u64>,
    /// The human-readable message.
    #[serde(default)]
    pub(crate) message: String,
    /// Every other field of the `tracing` event.
    #[serde(default)]
    pub(crate) fields: Map<String, Value>,
}

/// Counters of the log shipper, for the metrics endpoint.
#[derive(Debug, Default)]
pub(crate) struct ShipperStats {
    /// Events the collector accepted.
    pub(crate) shipped: AtomicU64,
    /// Events lost: the queue was full, the collector was away (after [`SHIP_ATTEMPTS`]
    /// attempts), or it refused the batch.
    pub(crate) dropped: AtomicU64,
    /// Failed delivery attempts (connection errors, timeouts, non-2xx answers).
    pub(crate) failed_requests: AtomicU64,
}

impl ShipperStats {
    /// Events shipped so far.
    pub(crate) fn shipped(&self) -> u64 {
        self.shipped.load(Ordering::Relaxed)
    }

    /// Events dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The shipper's counters, when `LOG_COLLECTOR_TARGET` is set (and logging is up).
pub(crate) fn shipper_stats() -> Option<Arc<ShipperStats>> {
    SHIPPER.get().map(|s| Arc::clone(&s.stats))
}

/// Who this process is, as written into every shipped record.
#[derive(Debug)]
struct Identity {
    node: String,
    target: String,
    /// Set by [`set_node_identity`] (not the provisional name).
    known: bool,
}

static IDENTITY: Mutex<Identity> = Mutex::new(Identity { node: String::new(), target: String::new(), known: false });

/// Names this node in every record shipped from now on, including those still queued: its peer
/// id (or a role name such as `radiostation`) and its `HOST:PORT`. Until it is called (at most
/// [`IDENTITY_WAIT`] after start) queued events are held back.
pub(crate) fn set_node_identity(peer_id: &str, target: &str) {
    let mut id = IDENTITY.lock().unwrap_or_else(PoisonError::into_inner);
    id.node = peer_id.to_owned();
    id.target = target.to_owned();
    id.known = true;
}

fn provisional_identity(name: &str) {
    let mut id = IDENTITY.lock().unwrap_or_else(PoisonError::into_inner);
    if !id.known {
        id.node = name.to_owned();
        id.target = name.to_owned();
    }
}

fn identity() -> (String, String, bool) {
    let id = IDENTITY.lock().unwrap_or_else(PoisonError::into_inner);
    (id.node.clone(), id.target.clone(), id.known)
}

/// Wall clock in µs since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

// ---- set-up -------------------------------------------------------------------------------

/// The running shipper of this process.
#[derive(Debug)]
struct ShipperHandle {
    stats: Arc<ShipperStats>,
    control: Arc<Control>,
}

static SHIPPER: OnceLock<ShipperHandle> = OnceLock::new();
static OTLP: OnceLock<opentelemetry_sdk::logs::SdkLoggerProvider> = OnceLock::new();

/// Logging for every long-running subcommand: `RUST_LOG` or `LOG_LEVEL`; JSON with `LOG_JSON`;
/// shipping to `LOG_COLLECTOR_TARGET` and OTLP export to `OTLP_ENDPOINT` when set. A problem
/// with either sink is logged and leaves that sink off; it never stops the node.
pub(crate) fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log_level));
    // Colours only on a terminal: log files stay plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let human = (!cfg.log_json).then(|| tracing_subscriber::fmt::layer().with_ansi(ansi).with_writer(std::io::stderr));
    let json = cfg.log_json.then(|| tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr));
    let mut problems = Vec::new();

    let ship = match cfg.log_collector_target.trim() {
        "" => None,
        target => {
            provisional_identity(&cfg.peer_target());
            match start_shipper(target) {
                Ok(layer) => Some(layer.with_filter(tracing_subscriber::filter::filter_fn(|m| shippable(m.target())))),
                Err(e) => {
                    problems.push(format!("LOG_COLLECTOR_TARGET={target:?}: {e}; events are not shipped"));
                    None
                }
            }
        }
    };
    let otlp = match cfg.otlp_endpoint.trim() {
        "" => None,
        endpoint => match otlp_provider(endpoint, &cfg.peer_target()) {
            Ok(provider) => {
                let layer = opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider);
                let _ = OTLP.set(provider);
                Some(layer.with_filter(tracing_subscriber::filter::filter_fn(|m| shippable(m.target()))))
            }
            Err(e) => {
                problems.push(format!("OTLP_ENDPOINT={endpoint:?}: {e}; events are not exported"));
                None
            }
        },
    };
    let installed = tracing_subscriber::registry().with(filter).with(human).with(json).with(ship).with(otlp).try_init();
    if let Err(e) = installed {
        eprintln!("loopchain: logging was already set up ({e}); keeping the first set-up");
    }
    for p in problems {
        warn!(event = "Error", "{p}");
    }
}

/// Ships what is still queued and flushes the OTLP exporter (bounded: a few seconds at most).
/// Call once, when the process is about to exit.
pub(crate) fn shutdown_logging() {
    if let Some(s) = SHIPPER.get() {
        s.control.flush(Duration::from_secs(3));
    }
    if let Some(p) = OTLP.get() {
        if let Err(e) = p.shutdown_with_timeout(Duration::from_secs(3)) {
            eprintln!("loopchain: OTLP exporter shutdown: {e}");
        }
    }
}

/// Whether events of `target` (a module path) may go to the collector or OTLP.
fn shippable(target: &str) -> bool {
    const TRANSPORT: [&str; 7] = ["hyper", "h2", "reqwest", "tonic", "tower", "opentelemetry", "rustls"];
    let krate = target.split("::").next().unwrap_or(target);
    !TRANSPORT.iter().any(|t| krate.strip_prefix(t).is_some_and(|rest| rest.is_empty() || rest.starts_with('_')))
}

/// The ingest URL of `HOST:PORT` (an `http://` prefix is tolerated).
pub(crate) fn ingest_url(target: &str) -> Result<String, String> {
    let hostport = target.strip_prefix("http://").unwrap_or(target).trim_end_matches('/');
    let url = format!("http://{hostport}/api/v1/ingest");
    let parsed = reqwest::Url::parse(&url).map_err(|e| format!("not HOST:PORT ({e})"))?;
    if parsed.host_str().is_none_or(str::is_empty) || parsed.port().is_none() || parsed.path() != "/api/v1/ingest" {
        return Err("not HOST:PORT".into());
    }
    Ok(url)
}

fn start_shipper(target: &str) -> Result<ShipLayer, String> {
    let url = ingest_url(target)?;
    let stats = Arc::new(ShipperStats::default());
    let (queue, rx) = EventQueue::bounded(QUEUE_CAPACITY, Arc::clone(&stats));
    let control = Arc::new(Control::default());
    let config = ShipperConfig::standard(url);
    let (s, c) = (Arc::clone(&stats), Arc::clone(&control));
    std::thread::Builder::new()
        .name("log-shipper".into())
        .spawn(move || run_shipper(&rx, &config, &s, &c))
        .map_err(|e| format!("cannot start the shipper thread: {e}"))?;
    // A second init_logging in one process keeps the first shipper's counters.
    let _ = SHIPPER.set(ShipperHandle { stats, control });
    Ok(ShipLayer { queue })
}

fn otlp_provider(endpoint: &str, target: &str) -> Result<opentelemetry_sdk::logs::SdkLoggerProvider, String> {
    use opentelemetry_otlp::WithExportConfig;
    let base = endpoint.trim_end_matches('/');
    let url = if base.ends_with("/v1/logs") { base.to_owned() } else { format!("{base}/v1/logs") };
    reqwest::Url::parse(&url).map_err(|e| format!("not a URL ({e})"))?;
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_http()
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| e.to_string())?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("loopchain")
        .with_attribute(opentelemetry::KeyValue::new("loopchain.node_target", target.to_owned()))
        .build();
    Ok(opentelemetry_sdk::logs::SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build())
}

// ---- capture: tracing event → record ------------------------------------------------------

/// The bounded queue between the logging call sites and the shipper thread. Pushing never
/// waits: a full queue drops the event and counts it.
#[derive(Debug, Clone)]
pub(crate) struct EventQueue {
    tx: SyncSender<EventRecord>,
    stats: Arc<ShipperStats>,
}

impl EventQueue {
    /// A queue of `capacity` records and its receiving end.
    pub(crate) fn bounded(capacity: usize, stats: Arc<ShipperStats>) -> (Self, Receiver<EventRecord>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        (Self { tx, stats }, rx)
    }

    /// Queues `record`; `false` (and one more dropped) when the queue is full or the shipper
    /// is gone.
    pub(crate) fn push(&self, record: EventRecord) -> bool {
        match self.tx.try_send(record) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// The `tracing` layer that turns events into [`EventRecord`]s for the shipper.
#[derive(Debug)]
pub(crate) struct ShipLayer {
    queue: EventQueue,
}

impl ShipLayer {
    #[cfg(test)]
    pub(crate) fn new(queue: EventQueue) -> Self {
        Self { queue }
    }
}

/// The `channel` field of a span, kept for the events inside it.
#[derive(Debug)]
struct SpanChannel(String);

#[derive(Default)]
struct ChannelOnly(Option<String>);

impl Visit for ChannelOnly {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "channel" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "channel" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for ShipLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut v = ChannelOnly::default();
        attrs.record(&mut v);
        if let (Some(channel), Some(span)) = (v.0, ctx.span(id)) {
            span.extensions_mut().insert(SpanChannel(cut(channel, RECORD_FIELD_MAX)));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut record = record_of(event);
        if record.channel.is_empty() {
            if let Some(scope) = ctx.event_scope(event) {
                for span in scope {
                    if let Some(c) = span.extensions().get::<SpanChannel>() {
                        record.channel.clone_from(&c.0);
                        break;
                    }
                }
            }
        }
        self.queue.push(record);
    }
}

/// The record of one `tracing` event (node identity is filled in when it is shipped).
pub(crate) fn record_of(event: &Event<'_>) -> EventRecord {
    let meta = event.metadata();
    let mut v = FieldVisitor::default();
    event.record(&mut v);
    let name = event_name(v.event.as_deref(), meta.level(), &v.message, meta.target());
    EventRecord {
        ts_us: now_us(),
        node: String::new(),
        node_target: String::new(),
        channel: v.channel.unwrap_or_default(),
        event: name,
        level: meta.level().as_str().to_owned(),
        height: v.height,
        round: v.round,
        message: v.message,
        fields: v.fields,
    }
}

#[derive(Default)]
struct FieldVisitor {
    event: Option<String>,
    channel: Option<String>,
    height: Option<u64>,
    round: Option<u64>,
    message: String,
    fields: Map<String, Value>,
}

impl FieldVisitor {
    fn put(&mut self, name: &str, value: Value) {
        match name {
            "message" => {
                let text = match value {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                self.message = cut(text, RECORD_MESSAGE_MAX);
            }
            "event" => self.event = Some(text_of(value)),
            "channel" => self.channel = Some(text_of(value)),
            "height" | "round" => match number_of(&value) {
                Some(n) if name == "height" => self.height = Some(n),
                Some(n) => self.round = Some(n),
                None => self.other(name, value),
            },
            _ => self.other(name, value),
        }
    }

    fn other(&mut self, name: &str, value: Value) {
        let value = match value {
            Value::String(s) => Value::String(cut(s, RECORD_FIELD_MAX)),
            other => other,
        };
        if self.fields.len() < RECORD_FIELDS_MAX || self.fields.contains_key(name) {
            self.fields.insert(name.to_owned(), value);
        }
    }
}

fn text_of(value: Value) -> String {
    let text = match value {
        Value::String(s) => s,
        other => other.to_string(),
    };
    cut(text, RECORD_FIELD_MAX)
}

fn number_of(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl Visit for FieldVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), Value::from(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field.name(), u64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field.name(), i64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), Value::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field.name(), serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), Value::String(cut_str(value, RECORD_MESSAGE_MAX).to_owned()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field.name(), Value::String(format!("{value:?}")));
    }
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut_str(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn cut(mut s: String, max: usize) -> String {
    let len = cut_str(&s, max).len();
    s.truncate(len);
    s
}

/// The event type of a record: the `event` field when it is a usable name, else `Error` for
/// errors, else the first words of the message in CamelCase (up to a `:`, `;` or `(`), else the last part
/// of the target.
pub(crate) fn event_name(explicit: Option<&str>, level: &Level, message: &str, target: &str) -> String {
    if let Some(e) = explicit {
        let clean: String = e.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(EVENT_NAME_MAX).collect();
        if !clean.is_empty() {
            return clean;
        }
    }
    if *level == Level::ERROR {
        return "Error".into();
    }
    let head = message.split([':', ';', '(']).next().unwrap_or_default();
    let from_message = camel(head);
    if !from_message.is_empty() {
        return from_message;
    }
    let from_target = camel(target.rsplit("::").next().unwrap_or(target));
    if from_target.is_empty() {
        "Log".into()
    } else {
        from_target
    }
}

/// Up to 5 words of `text` (letters first, digits allowed after) in CamelCase, at most
/// [`EVENT_NAME_MAX`] characters.
fn camel(text: &str) -> String {
    let mut out = String::new();
    let words = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .take(5);
    for w in words {
        let mut chars = w.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    cut(out, EVENT_NAME_MAX)
}

// ---- the shipper ----------------------------------------------------------------------------

/// Flush requests from [`shutdown_logging`] to the shipper thread.
#[derive(Debug, Default)]
pub(crate) struct Control {
    requested: AtomicU64,
    done: AtomicU64,
    stopped: AtomicBool,
}

impl Control {
    /// Asks the shipper to send everything queued now, and waits (at most `timeout`).
    pub(crate) fn flush(&self, timeout: Duration) {
        let ticket = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let deadline = Instant::now() + timeout;
        while self.done.load(Ordering::SeqCst) < ticket
            && !self.stopped.load(Ordering::SeqCst)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn pending(&self) -> Option<u64> {
        let r = self.requested.load(Ordering::SeqCst);
        (r > self.done.load(Ordering::SeqCst)).then_some(r)
    }
}

/// Timing and size of shipping (tests use short delays).
#[derive(Debug, Clone)]
pub(crate) struct ShipperConfig {
    pub(crate) url: String,
    pub(crate) interval: Duration,
    pub(crate) attempts: u32,
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) identity_wait: Duration,
    pub(crate) request_timeout: Duration,
}

impl ShipperConfig {
    /// The production settings for `url`.
    pub(crate) fn standard(url: String) -> Self {
        Self {
            url,
            interval: SHIP_INTERVAL,
            attempts: SHIP_ATTEMPTS,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            identity_wait: IDENTITY_WAIT,
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// What became of one delivery attempt.
enum Delivery {
    Accepted,
    /// The collector answered 4xx: this batch will never be taken.
    Refused(u16),
    /// Connection error, timeout or 5xx: worth retrying.
    Failed(String),
}

/// Batches queued records to the collector until the queue's senders are gone (then ships what
/// is left, once). Runs on its own thread with its own small runtime.
pub(crate) fn run_shipper(rx: &Receiver<EventRecord>, config: &ShipperConfig, stats: &ShipperStats, control: &Control) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let client = reqwest::Client::builder().timeout(config.request_timeout).build();
    let (runtime, client) = match (runtime, client) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) => return shipper_failed(control, &e.to_string()),
        (_, Err(e)) => return shipper_failed(control, &e.to_string()),
    };
    let started = Instant::now();
    let mut carry: Vec<EventRecord> = Vec::new();
    let mut closed = false;
    let mut attempt = 0u32;
    let mut backoff = config.backoff_min;
    let mut next_send = Instant::now() + config.interval;
    let mut reachable = true;
    let mut reported_dropped = 0u64;
    let mut last_report: Option<Instant> = None;
    loop {
        closed |= gather(rx, &mut carry, next_send, control);
        let flush = control.pending();
        let last_chance = flush.is_some() || closed;
        if carry.is_empty() {
            if let Some(ticket) = flush {
                control.done.store(ticket, Ordering::SeqCst);
            }
            if closed {
                break;
            }
            next_send = Instant::now() + config.interval;
            continue;
        }
        let (mut node, target, known) = identity();
        if node.is_empty() {
            node = format!("pid-{}", std::process::id());
        }
        if !known && started.elapsed() < config.identity_wait && !last_chance {
            // Hold back until the node knows its peer id, so one node is not shown as two.
            next_send = Instant::now() + config.interval;
            continue;
        }
        let batch = batch_body(&carry, &node, &target);
        let delivery = runtime.block_on(deliver(&client, &config.url, batch.body));
        let (consumed, included) = (batch.consumed, batch.included);
        stats.dropped.fetch_add((consumed - included) as u64, Ordering::Relaxed);
        match delivery {
            Delivery::Accepted => {
                stats.shipped.fetch_add(included as u64, Ordering::Relaxed);
                carry.drain(..consumed);
                attempt = 0;
                backoff = config.backoff_min;
                if !reachable {
                    reachable = true;
                    info!(event = "LogCollectorReachable", url = %config.url, "log collector reachable again");
                }
                next_send = Instant::now() + config.interval;
            }
            Delivery::Refused(status) => {
                stats.failed_requests.fetch_add(1, Ordering::Relaxed);
                stats.dropped.fetch_add(included as u64, Ordering::Relaxed);
                carry.drain(..consumed);
                attempt = 0;
                warn!(event = "LogShipperRefused", url = %config.url, status, records = included, "the log collector refused a batch; dropped");
                next_send = Instant::now() + config.interval;
            }
            Delivery::Failed(error) => {
                stats.failed_requests.fetch_add(1, Ordering::Relaxed);
                attempt += 1;
                if reachable {
                    reachable = false;
                    warn!(event = "LogCollectorUnreachable", url = %config.url, %error, "log collector unreachable; retrying with backoff, dropping what does not fit");
                }
                if attempt >= config.attempts || last_chance {
                    stats.dropped.fetch_add(included as u64, Ordering::Relaxed);
                    carry.drain(..consumed);
                    attempt = 0;
                }
                next_send = Instant::now() + backoff;
                backoff = (backoff * 2).min(config.backoff_max);
            }
        }
        let dropped = stats.dropped();
        if dropped > reported_dropped && last_report.is_none_or(|t| t.elapsed() >= DROP_REPORT_EVERY) {
            reported_dropped = dropped;
            last_report = Some(Instant::now());
            warn!(event = "LogShipperDropped", dropped, shipped = stats.shipped(), url = %config.url, "log events dropped (queue full or log collector away)");
        }
        if let Some(ticket) = flush.filter(|_| carry.is_empty()) {
            control.done.store(ticket, Ordering::SeqCst);
        }
    }
    control.stopped.store(true, Ordering::SeqCst);
}

fn shipper_failed(control: &Control, error: &str) {
    eprintln!("loopchain: log shipper cannot start: {error}");
    control.stopped.store(true, Ordering::SeqCst);
}

/// Moves queued records into `carry` (at most one batch) until `next_send`, or at once when a
/// flush is asked for; `true` when every sender is gone and the queue is empty.
fn gather(rx: &Receiver<EventRecord>, carry: &mut Vec<EventRecord>, next_send: Instant, control: &Control) -> bool {
    const TICK: Duration = Duration::from_millis(50);
    loop {
        let now = Instant::now();
        let due = now >= next_send || control.pending().is_some();
        if carry.len() >= SHIP_BATCH_RECORDS {
            // A full batch waits in `carry`; the rest waits in the bounded queue.
            if due {
                return false;
            }
            std::thread::sleep((next_send - now).min(TICK));
            continue;
        }
        if due {
            match rx.try_recv() {
                Ok(r) => carry.push(r),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Disconnected) => return true,
            }
            continue;
        }
        match rx.recv_timeout((next_send - now).min(TICK)) {
            Ok(r) => carry.push(r),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return true,
        }
    }
}

/// One request's worth of records.
struct Batch {
    /// JSON array of the records, with the node's identity filled in.
    body: String,
    /// Records of `carry` this batch accounts for.
    consumed: usize,
    /// Of those, records in `body` (the others could not be serialized).
    included: usize,
}

/// The first records of `carry` that fit in one request.
fn batch_body(carry: &[EventRecord], node: &str, target: &str) -> Batch {
    let mut body = String::from("[");
    let (mut consumed, mut included) = (0, 0);
    for r in carry.iter().take(SHIP_BATCH_RECORDS) {
        let json = if r.node.is_empty() {
            let mut filled = r.clone();
            node.clone_into(&mut filled.node);
            target.clone_into(&mut filled.node_target);
            serde_json::to_string(&filled)
        } else {
            serde_json::to_string(r)
        };
        let Ok(json) = json else {
            consumed += 1;
            continue;
        };
        if included > 0 && body.len() + json.len() + 2 > SHIP_BATCH_BYTES {
            break;
        }
        if included > 0 {
            body.push(',');
        }
        body.push_str(&json);
        consumed += 1;
        included += 1;
    }
    body.push(']');
    Batch { body, consumed, included }
}

async fn deliver(client: &reqwest::Client, url: &str, body: String) -> Delivery {
    let sent = client.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body).send().await;
    match sent {
        Ok(resp) if resp.status().is_success() => Delivery::Accepted,
        Ok(resp)
            if resp.status().is_client_error() && resp.status().as_u16() != 408 && resp.status().as_u16() != 429 =>
        {
            Delivery::Refused(resp.status().as_u16())
        }
        Ok(resp) => Delivery::Failed(format!("HTTP {}", resp.status())),
        Err(e) => Delivery::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64) -> EventRecord {
        EventRecord {
            ts_us: i,
            node: "n".into(),
            node_target: String::new(),
            channel: String::new(),
            event: "AddBlock".into(),
            level: "INFO".into(),
            height: Some(i),
            round: None,
            message: String::new(),
            fields: Map::new(),
        }
    }

    #[test]
    fn full_queue_drops_and_counts_exactly_the_overflow() {
        let stats = Arc::new(ShipperStats::default());
        let (queue, rx) = EventQueue::bounded(8, Arc::clone(&stats));
        let accepted = (0..20).filter(|i| queue.push(record(*i))).count();
        assert_eq!(accepted, 8);
        assert_eq!(stats.dropped(), 12, "every record beyond the capacity is counted once");
        let kept: Vec<u64> = rx.try_iter().map(|r| r.ts_us).collect();
        assert_eq!(kept, (0..8).collect::<Vec<_>>(), "the first 8 are kept, in order");
        // Room again after draining: no more drops.
        assert!(queue.push(record(99)));
        assert_eq!(stats.dropped(), 12);
        drop(rx);
        assert!(!queue.push(record(100)), "a gone shipper counts as a drop");
        assert_eq!(stats.dropped(), 13);
    }

    fn capture(f: impl FnOnce()) -> Vec<EventRecord> {
        let stats = Arc::new(ShipperStats::default());
        let (queue, rx) = EventQueue::bounded(100, stats);
        let subscriber = tracing_subscriber::registry().with(ShipLayer::new(queue));
        tracing::subscriber::with_default(subscriber, f);
        rx.try_iter().collect()
    }

    #[test]
    fn tracing_events_become_records() {
        let got = capture(|| {
            tracing::info!(event = "AddBlock", channel = "alpha", height = 5u64, round = 7u64, block = %"0xab", txs = 3usize, "block added");
            tracing::warn!(peer = "127.0.0.1:7100", "peer unreachable; retrying with backoff");
            tracing::error!(error = "disk full", "channel halted");
            let span = tracing::info_span!("driver", channel = "beta");
            let _in = span.enter();
            tracing::info!(height = "12", "channel started");
        });
        assert_eq!(got.len(), 4);
        let b = &got[0];
        assert_eq!((b.event.as_str(), b.channel.as_str(), b.level.as_str()), ("AddBlock", "alpha", "INFO"));
        assert_eq!((b.height, b.round), (Some(5), Some(7)));
        assert_eq!(b.message, "block added");
        assert_eq!(b.fields.get("block"), Some(&Value::String("0xab".into())));
        assert_eq!(b.fields.get("txs"), Some(&Value::from(3u64)));
        assert!(!b.fields.contains_key("event") && !b.fields.contains_key("height"));
        assert!(b.ts_us > 1_600_000_000_000_000, "wall-clock µs");
        assert_eq!(got[1].event, "PeerUnreachable");
        assert_eq!(got[1].level, "WARN");
        assert_eq!(got[1].fields.get("peer"), Some(&Value::String("127.0.0.1:7100".into())));
        assert_eq!(got[2].event, "Error");
        assert_eq!(
            (got[3].event.as_str(), got[3].channel.as_str(), got[3].height),
            ("ChannelStarted", "beta", Some(12))
        );
    }

    #[test]
    fn records_are_bounded() {
        let long = "x".repeat(RECORD_MESSAGE_MAX * 3);
        let got = capture(|| {
            tracing::info!(big = %long, "{long}");
        });
        assert_eq!(got[0].message.len(), RECORD_MESSAGE_MAX);
        assert_eq!(got[0].fields["big"].as_str().map(str::len), Some(RECORD_FIELD_MAX));
        assert_eq!(cut("héllo".into(), 2), "h", "cut at a character boundary");
    }

    #[test]
    fn event_names() {
        let n = |e: Option<&str>, l: Level, m: &str| event_name(e, &l, m, "lc_network::links");
        assert_eq!(n(Some("AddBlock"), Level::INFO, "x"), "AddBlock");
        assert_eq!(n(Some("bad name!"), Level::INFO, "x"), "badname");
        assert_eq!(n(None, Level::ERROR, "whatever"), "Error");
        assert_eq!(n(None, Level::INFO, "parent process exited: stopping"), "ParentProcessExited");
        assert_eq!(n(None, Level::WARN, "cannot propose (parent missing)"), "CannotPropose");
        assert_eq!(
            n(None, Level::INFO, "synced 12 committed blocks from the peer now"),
            "SyncedCommittedBlocksFromThe"
        );
        assert_eq!(n(None, Level::DEBUG, ""), "Links");
        assert_eq!(n(Some(""), Level::INFO, "   "), "Links");
    }

    #[test]
    fn ingest_urls() {
        assert_eq!(ingest_url("127.0.0.1:9500").as_deref(), Ok("http://127.0.0.1:9500/api/v1/ingest"));
        assert_eq!(ingest_url("http://logs.local:9500/").as_deref(), Ok("http://logs.local:9500/api/v1/ingest"));
        assert!(ingest_url("logs.local").is_err(), "a port is required");
        assert!(ingest_url("a b:1").is_err());
        assert!(ingest_url("host:9500/x").is_err());
    }

    #[test]
    fn transport_crates_are_not_shipped() {
        assert!(shippable("lc_engine::driver"));
        assert!(shippable("lc_node::events"));
        assert!(!shippable("hyper::proto::h1"));
        assert!(!shippable("hyper_util::client"));
        assert!(!shippable("opentelemetry_sdk"));
        assert!(!shippable("h2::codec"));
    }

    #[test]
    fn an_unreachable_collector_costs_dropped_batches_not_waiting() {
        // Nothing listens on this port (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let stats = Arc::new(ShipperStats::default());
        let (queue, rx) = EventQueue::bounded(1000, Arc::clone(&stats));
        let control = Arc::new(Control::default());
        let config = ShipperConfig {
            url: format!("http://127.0.0.1:{port}/api/v1/ingest"),
            interval: Duration::from_millis(20),
            attempts: 2,
            backoff_min: Duration::from_millis(10),
            backoff_max: Duration::from_millis(40),
            identity_wait: Duration::ZERO,
            request_timeout: Duration::from_secs(2),
        };
        let (s, c) = (Arc::clone(&stats), Arc::clone(&control));
        let shipper = std::thread::spawn(move || run_shipper(&rx, &config, &s, &c));
        let start = Instant::now();
        for i in 0..50 {
            assert!(queue.push(record(i)));
        }
        assert!(start.elapsed() < Duration::from_millis(100), "pushing never waits for the network");
        let deadline = Instant::now() + Duration::from_secs(20);
        while stats.dropped() < 50 {
            assert!(Instant::now() < deadline, "dropped only {} of 50", stats.dropped());
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(stats.dropped(), 50);
        assert_eq!(stats.shipped(), 0);
        assert!(stats.failed_requests.load(Ordering::Relaxed) >= 2, "each batch was tried before being dropped");
        drop(queue);
        shipper.join().expect("shipper thread");
        assert!(control.stopped.load(Ordering::SeqCst));
    }
}
