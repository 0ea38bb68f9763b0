//! What the node tells the REST layer about its peers and other subsystems for `/metrics` and
//! the dashboard, as plain data and closures (so `lc-rest` needs no dependency on
//! `lc-network` or the log shipper).
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A member of a channel as configured (channel file or radio station).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberView {
    /// Peer id (`hx...`).
    pub peer_id: String,
    /// gRPC `host:port`.
    pub target: String,
    /// `validator` or `auditor` (as listed; the dashboard shows the current epoch's role).
    pub role: String,
    /// Listed weight.
    pub weight: u64,
    /// Trusted group, if any.
    pub group: Option<String>,
}

/// This node's outbound link to one peer (`lc-network`'s `LinkStats`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct LinkView {
    /// The peer's current gRPC `host:port`.
    pub target: String,
    /// Whether the last request to it succeeded.
    pub connected: bool,
    /// Items delivered.
    pub sent: u64,
    /// Items dropped (full queue, backoff, failed request).
    pub dropped: u64,
    /// Failed requests.
    pub failures: u64,
}

type LinkFn = dyn Fn(&str, &str) -> Option<LinkView> + Send + Sync;

/// Looks up this node's link to a member of a channel: `(channel, peer id)`.
#[derive(Clone, Default)]
pub struct LinkStatusFn(Option<Arc<LinkFn>>);

impl LinkStatusFn {
    /// From a closure `(channel, peer id) -> link`.
    pub fn new(f: impl Fn(&str, &str) -> Option<LinkView> + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// The link to `peer_id` in `channel` (`None`: no such link, or no lookup configured).
    pub fn get(&self, channel: &str, peer_id: &str) -> Option<LinkView> {
        self.0.as_ref().and_then(|f| f(channel, peer_id))
    }
}

impl std::fmt::Debug for LinkStatusFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "LinkStatusFn(set)" } else { "LinkStatusFn(none)" })
    }
}

/// A future answering the heights of a channel's other members, by peer id.
pub type HeightsFuture = Pin<Box<dyn Future<Output = BTreeMap<String, u64>> + Send>>;

type HeightsFn = dyn Fn(&str) -> HeightsFuture + Send + Sync;

/// Asks a channel's other members for their committed height (the node's gRPC status call). A
/// member missing from the answer did not answer in time: it is shown down. Must be bounded in
/// time (the dashboard waits for it).
#[derive(Clone, Default)]
pub struct PeerHeightsFn(Option<Arc<HeightsFn>>);

impl PeerHeightsFn {
    /// From a closure `channel -> future of heights`.
    pub fn new(f: impl Fn(&str) -> HeightsFuture + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// The heights, or `None` when no probe is configured (then the links decide up/down).
    pub async fn probe(&self, channel: &str) -> Option<BTreeMap<String, u64>> {
        match &self.0 {
            Some(f) => Some(f(channel).await),
            None => None,
        }
    }
}

impl std::fmt::Debug for PeerHeightsFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "PeerHeightsFn(set)" } else { "PeerHeightsFn(none)" })
    }
}

/// A counter some other subsystem keeps (e.g. the log shipper's shipped / dropped events),
/// exported by `/metrics` as `<name>_total` without labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraCounter {
    /// Metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`; a trailing `_total` is accepted); others are
    /// left out.
    pub name: String,
    /// Help text.
    pub help: String,
    /// Current value.
    pub value: u64,
}

type ExtraFn = dyn Fn() -> Vec<ExtraCounter> + Send + Sync;

/// Reads extra counters at scrape time.
#[derive(Clone, Default)]
pub struct ExtraMetricsFn(Option<Arc<ExtraFn>>);

impl ExtraMetricsFn {
    /// From a closure read at every scrape (keep it cheap).
    pub fn new(f: impl Fn() -> Vec<ExtraCounter> + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    /// The current values (none when not configured).
    pub fn collect(&self) -> Vec<ExtraCounter> {
        self.0.as_ref().map(|f| f()).unwrap_or_default()
    }
}

impl std::fmt::Debug for ExtraMetricsFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "ExtraMetricsFn(set)" } else { "ExtraMetricsFn(none)" })
    }
}
