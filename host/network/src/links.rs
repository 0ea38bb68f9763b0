//! Outbound links to other peers: bounded queues drained by background tasks.
use crate::proto::peer_service_client::PeerServiceClient;
use crate::proto::{ConsensusBatch, TxBatch};
use crate::{MAX_CONSENSUS_BATCH, MAX_LIBRARY_BYTES, MAX_MESSAGE_BYTES, MAX_TX_BATCH};
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tonic::transport::{Channel as GrpcChannel, Endpoint};
use tracing::{debug, info, warn};

/// Consensus messages queued per peer before new ones are dropped.
pub(crate) const CONSENSUS_QUEUE: usize = 4096;
/// Transaction batches queued per peer before new ones are dropped.
pub(crate) const TX_QUEUE: usize = 1024;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Counters of one link.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Messages (consensus) and transactions delivered.
    pub sent: AtomicU64,
    /// Dropped because a queue was full or the peer was backing off.
    pub dropped: AtomicU64,
    /// Failed requests.
    pub failures: AtomicU64,
    /// Whether the last request succeeded.
    pub connected: AtomicBool,
}

type Item = (Arc<str>, Arc<[u8]>);
type TxItem = (Arc<str>, Arc<Vec<Vec<u8>>>);

/// One remote peer.
#[derive(Debug)]
pub struct Link {
    target: String,
    consensus: mpsc::Sender<Item>,
    txs: mpsc::Sender<TxItem>,
    client: PeerServiceClient<GrpcChannel>,
    /// Counters.
    pub stats: Arc<LinkStats>,
}

impl Link {
    /// The peer's gRPC address.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Queues a consensus message (borsh) of `channel`; drops it when the queue is full.
    pub fn send_consensus(&self, channel: &Arc<str>, msg: Arc<[u8]>) {
        if self.consensus.try_send((Arc::clone(channel), msg)).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Queues a batch of transactions (each borsh); drops it when the queue is full.
    pub fn send_txs(&self, channel: &Arc<str>, txs: Arc<Vec<Vec<u8>>>) {
        let n = txs.len() as u64;
        if self.txs.try_send((Arc::clone(channel), txs)).is_err() {
            self.stats.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// A client for direct requests (block sync, status, library fetch).
    pub fn client(&self) -> PeerServiceClient<GrpcChannel> {
        self.client.clone()
    }
}

/// Retry state of one sending task.
struct Backoff {
    until: Option<Instant>,
    delay: Duration,
}

impl Backoff {
    fn new() -> Self {
        Self { until: None, delay: BACKOFF_MIN }
    }
    fn waiting(&self) -> bool {
        self.until.is_some_and(|u| Instant::now() < u)
    }
    fn failed(&mut self) {
        self.until = Some(Instant::now() + self.delay);
        self.delay = (self.delay * 2).min(BACKOFF_MAX);
    }
    fn ok(&mut self) {
        self.until = None;
        self.delay = BACKOFF_MIN;
    }
}

/// Whether a failed request means the peer is unreachable (back off), rather than a refusal of
/// this request (e.g. a channel the peer does not run), which must not hold back other channels'
/// traffic on the shared link.
fn unreachable(e: &tonic::Status) -> bool {
    matches!(
        e.code(),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled | tonic::Code::Unknown
    )
}

/// Largest total of consensus message bytes in one request (half the receiver's limit).
const MAX_CONSENSUS_BATCH_BYTES: usize = MAX_MESSAGE_BYTES / 2;

fn mark(stats: &LinkStats, target: &str, ok: bool, err: Option<&tonic::Status>) {
    let was = stats.connected.swap(ok, Ordering::Relaxed);
    if ok && !was {
        info!(event = "ConnectedPeer", peer = target, "connected to peer");
    } else if !ok {
        stats.failures.fetch_add(1, Ordering::Relaxed);
        if was {
            warn!(event = "DisconnectedPeer", peer = target, error = %err.map(|e| e.message().to_owned()).unwrap_or_default(), "peer unreachable; retrying with backoff");
        }
    }
}

/// Every link of this node, one per remote target, shared by all channels.
#[derive(Debug)]
pub struct Links {
    me: Arc<str>,
    rt: Handle,
    tls: Option<lc_tls::TlsMaterial>,
    links: Mutex<BTreeMap<String, Arc<Link>>>,
}

/// A gRPC endpoint for `target` ("host:port"): plain HTTP/2, or mutual TLS with this node's
/// certificate when `tls` is given (the server's certificate must chain to the channel CA and
/// name the target's host).
pub fn endpoint(target: &str, tls: Option<&lc_tls::TlsMaterial>) -> Result<Endpoint, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{target}"))
        .map_err(|e| format!("bad peer target {target:?}: {e}"))?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(10))
        .keep_alive_while_idle(true);
    if let Some(t) = tls {
        endpoint = endpoint
            .tls_config(t.client_config(lc_tls::target_host(target)))
            .map_err(|e| format!("TLS for peer target {target:?}: {e}"))?;
    }
    Ok(endpoint)
}

impl Links {
    /// No links yet; `me` is this node's peer id (sent with every request); tasks run on `rt`.
    pub fn new(me: &str, rt: Handle) -> Arc<Self> {
        Self::with_tls(me, rt, None)
    }

    /// Like [`Links::new`]; every link uses mutual TLS with `tls` when given.
    pub fn with_tls(me: &str, rt: Handle, tls: Option<lc_tls::TlsMaterial>) -> Arc<Self> {
        Arc::new(Self { me: Arc::from(me), rt, tls, links: Mutex::new(BTreeMap::new()) })
    }

    /// The TLS material links use (none: plain gRPC).
    pub fn tls(&self) -> Option<&lc_tls::TlsMaterial> {
        self.tls.as_ref()
    }

    /// This node's peer id.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The link to `target` ("host:port"), created on first use.
    pub fn get(&self, target: &str) -> Result<Arc<Link>, String> {
        let mut links = self.links.lock();
        if let Some(l) = links.get(target) {
            return Ok(Arc::clone(l));
        }
        let endpoint = endpoint(target, self.tls.as_ref())?;
        let channel = {
            let _enter = self.rt.enter();
            endpoint.connect_lazy()
        };
        let client = PeerServiceClient::new(channel)
            .max_decoding_message_size(MAX_LIBRARY_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        let (ctx, crx) = mpsc::channel(CONSENSUS_QUEUE);
        let (ttx, trx) = mpsc::channel(TX_QUEUE);
        let stats = Arc::new(LinkStats::default());
        self.rt.spawn(consensus_task(target.to_owned(), Arc::clone(&self.me), client.clone(), crx, Arc::clone(&stats)));
        self.rt.spawn(tx_task(target.to_owned(), Arc::clone(&self.me), client.clone(), trx, Arc::clone(&stats)));
        let link = Arc::new(Link { target: target.to_owned(), consensus: ctx, txs: ttx, client, stats });
        links.insert(target.to_owned(), Arc::clone(&link));
        Ok(link)
    }

    /// Every link with its target.
    pub fn all(&self) -> Vec<Arc<Link>> {
        self.links.lock().values().cloned().collect()
    }
}

/// Accounts for one request of `count` items: sent, or dropped; an unreachable peer starts (or
/// extends) the backoff, a refusal of this one request does not.
fn settle<T>(
    result: Result<T, tonic::Status>,
    count: u64,
    channel: &str,
    what: &str,
    target: &str,
    stats: &LinkStats,
    backoff: &mut Backoff,
) {
    match result {
        Ok(_) => {
            mark(stats, target, true, None);
            backoff.ok();
            stats.sent.fetch_add(count, Ordering::Relaxed);
        }
        Err(e) => {
            if unreachable(&e) {
                debug!(peer = %target, error = %e, "{what} not delivered");
                mark(stats, target, false, Some(&e));
                backoff.failed();
            } else {
                debug!(peer = %target, channel, error = %e, "{what} refused");
            }
            stats.dropped.fetch_add(count, Ordering::Relaxed);
        }
    }
}

async fn consensus_task(
    target: String,
    me: Arc<str>,
    mut client: PeerServiceClient<GrpcChannel>,
    mut rx: mpsc::Receiver<Item>,
    stats: Arc<LinkStats>,
) {
    let mut backoff = Backoff::new();
    while let Some(first) = rx.recv().await {
        // Batch whatever else is queued, per channel, in order.
        let mut bytes = first.1.len();
        let mut batches: Vec<(Arc<str>, Vec<Vec<u8>>)> = vec![(first.0, vec![first.1.to_vec()])];
        let mut n = 1;
        while n < MAX_CONSENSUS_BATCH && bytes < MAX_CONSENSUS_BATCH_BYTES {
            let Ok((ch, msg)) = rx.try_recv() else { break };
            bytes += msg.len();
            match batches.last_mut() {
                Some((c, v)) if *c == ch => v.push(msg.to_vec()),
                _ => batches.push((ch, vec![msg.to_vec()])),
            }
            n += 1;
        }
        // (A backing-off link drops each batch below without a request.)
        for (channel, messages) in batches {
            let count = messages.len() as u64;
            if backoff.waiting() {
                stats.dropped.fetch_add(count, Ordering::Relaxed);
                continue;
            }
            let req = ConsensusBatch { channel: channel.to_string(), peer_id: me.to_string(), messages };
            let result = client.consensus(req).await;
            settle(result, count, &channel, "consensus batch", &target, &stats, &mut backoff);
        }
    }
}

async fn tx_task(
    target: String,
    me: Arc<str>,
    mut client: PeerServiceClient<GrpcChannel>,
    mut rx: mpsc::Receiver<TxItem>,
    stats: Arc<LinkStats>,
) {
    let mut backoff = Backoff::new();
    while let Some((channel, first)) = rx.recv().await {
        let mut txs: Vec<Vec<u8>> = first.iter().cloned().collect();
        let mut leftover = None;
        while txs.len() < MAX_TX_BATCH {
            match rx.try_recv() {
                Ok((ch, more)) if ch == channel && txs.len() + more.len() <= MAX_TX_BATCH => {
                    txs.extend(more.iter().cloned())
                }
                Ok(other) => {
                    leftover = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        for (channel, txs) in std::iter::once((channel, txs)).chain(leftover.map(|(c, t)| (c, t.to_vec()))) {
            let count = txs.len() as u64;
            if backoff.waiting() {
                stats.dropped.fetch_add(count, Ordering::Relaxed);
                continue;
            }
            let req = TxBatch { channel: channel.to_string(), peer_id: me.to_string(), txs };
            let result = client.add_tx_list(req).await;
            settle(result, count, &channel, "transaction batch", &target, &stats, &mut backoff);
        }
    }
}
