//! Library fetch by code hash from a channel's other members.
use crate::links::{Link, Links};
use crate::net::ChannelNet;
use crate::proto::LibraryRequest;
use lc_engine::LibraryFetcher;
use lc_types::Hash;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tracing::debug;

/// How long one fetch (all members asked at once, the first matching copy wins) may take; below
/// the default SCORE_INVOKE_TIMEOUT (10 s), which also bounds the execution that waits for it (a
/// smaller SCORE_INVOKE_TIMEOUT halts the channel on a slow fetch).
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(8);
/// After a failed fetch, the same code hash is not asked for again for this long (every
/// transaction calling a missing SCORE would otherwise wait `FETCH_TIMEOUT`).
pub const FETCH_RETRY_AFTER: Duration = Duration::from_secs(10);

/// Asks every member at once for a library (`kind` "score" or "consensus") and returns the first
/// copy whose SHA3-256 is `code_hash`.
pub async fn fetch_library(net: &ChannelNet, kind: &str, code_hash: &Hash) -> Option<Vec<u8>> {
    fetch_from(net.links(), kind, code_hash).await
}

async fn fetch_from(links: Vec<(String, Arc<Link>)>, kind: &str, code_hash: &Hash) -> Option<Vec<u8>> {
    let mut asks = tokio::task::JoinSet::new();
    for (peer_id, link) in links {
        let mut client = link.client();
        let req = LibraryRequest { kind: kind.to_owned(), code_hash: code_hash.0.to_vec() };
        asks.spawn(async move { (peer_id, tokio::time::timeout(FETCH_TIMEOUT, client.get_library(req)).await) });
    }
    while let Some(done) = asks.join_next().await {
        let Ok((peer_id, answer)) = done else { continue };
        match answer {
            Ok(Ok(reply)) => {
                let reply = reply.into_inner();
                if reply.response_code == crate::code::SUCCESS && lc_types::sha3(&reply.library) == *code_hash {
                    return Some(reply.library);
                }
                debug!(%peer_id, code = reply.response_code, message = %reply.message, "peer has no matching library");
            }
            Ok(Err(e)) => debug!(%peer_id, error = %e, "library request failed"),
            Err(_) => debug!(%peer_id, "library request timed out"),
        }
    }
    None
}

/// Whom a [`PeerFetcher`] asks.
#[derive(Debug)]
enum Source {
    /// The members of one channel.
    Channel(Arc<ChannelNet>),
    /// Every peer this node has a link to (for libraries shared by all channels).
    All(Arc<Links>),
}

/// The engine's [`LibraryFetcher`]: fetches from other peers on the network runtime and waits
/// (bounded by [`FETCH_TIMEOUT`]) on the calling (driver) thread.
#[derive(Debug)]
pub struct PeerFetcher {
    source: Source,
    kind: &'static str,
    rt: Handle,
    /// Code hashes whose last fetch failed, and when.
    failed: parking_lot::Mutex<std::collections::BTreeMap<Hash, std::time::Instant>>,
}

impl PeerFetcher {
    /// A fetcher of SCORE code from `net`'s members, running requests on `rt`.
    pub fn new(net: Arc<ChannelNet>, rt: Handle) -> Self {
        Self::with(Source::Channel(net), "score", rt)
    }

    /// A fetcher of consensus plugin libraries from every linked peer.
    pub fn consensus(links: Arc<Links>, rt: Handle) -> Self {
        Self::with(Source::All(links), "consensus", rt)
    }

    fn with(source: Source, kind: &'static str, rt: Handle) -> Self {
        Self { source, kind, rt, failed: parking_lot::Mutex::new(std::collections::BTreeMap::new()) }
    }
}

impl LibraryFetcher for PeerFetcher {
    fn fetch(&self, code_hash: &Hash) -> Option<Vec<u8>> {
        if self.failed.lock().get(code_hash).is_some_and(|at| at.elapsed() < FETCH_RETRY_AFTER) {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let links: Vec<(String, Arc<Link>)> = match &self.source {
            Source::Channel(net) => net.links(),
            Source::All(links) => links.all().into_iter().map(|l| (l.target().to_owned(), l)).collect(),
        };
        let (kind, hash) = (self.kind, *code_hash);
        self.rt.spawn(async move {
            let _ = tx.send(fetch_from(links, kind, &hash).await);
        });
        let got = rx.recv_timeout(FETCH_TIMEOUT + Duration::from_millis(200)).ok().flatten();
        let mut failed = self.failed.lock();
        if got.is_some() {
            failed.remove(code_hash);
        } else {
            failed.insert(*code_hash, std::time::Instant::now());
            failed.retain(|_, at| at.elapsed() < FETCH_RETRY_AFTER);
        }
        got
    }
}
