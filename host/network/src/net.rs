//! One channel's view of the network.
use crate::links::{Link, Links};
use lc_engine::{Transport, TxRelay};
use lc_types::{encode, ConsensusMsg, Transaction};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::info;

/// The other members of one channel and their links: the engine's [`Transport`] and [`TxRelay`].
#[derive(Debug)]
pub struct ChannelNet {
    name: Arc<str>,
    links: Arc<Links>,
    /// Peer id → link, every member but this node.
    members: RwLock<BTreeMap<String, Arc<Link>>>,
}

impl ChannelNet {
    /// The channel `name` with its other members `(peer id, "host:port")`.
    pub fn new(name: &str, links: Arc<Links>, members: &[(String, String)]) -> Result<Arc<Self>, String> {
        let net = Arc::new(Self { name: Arc::from(name), links, members: RwLock::new(BTreeMap::new()) });
        for (id, target) in members {
            net.set_target(id, target)?;
        }
        Ok(net)
    }

    /// Points a member at a (new) address, e.g. when the radio station reports it.
    pub fn set_target(&self, peer_id: &str, target: &str) -> Result<(), String> {
        if peer_id == self.links.me() {
            return Ok(());
        }
        let link = self.links.get(target)?;
        let mut m = self.members.write();
        let changed = m.get(peer_id).is_none_or(|l| l.target() != target);
        if changed {
            if m.contains_key(peer_id) {
                info!(channel = %self.name, peer_id, target, "member moved");
            }
            m.insert(peer_id.to_owned(), link);
        }
        Ok(())
    }

    /// Whether `peer_id` is a member of this channel (other than this node).
    pub fn is_member(&self, peer_id: &str) -> bool {
        self.members.read().contains_key(peer_id)
    }

    /// The other members' links.
    pub fn links(&self) -> Vec<(String, Arc<Link>)> {
        self.members.read().iter().map(|(k, v)| (k.clone(), Arc::clone(v))).collect()
    }

    /// Channel name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Transport for ChannelNet {
    fn broadcast(&self, msg: ConsensusMsg) {
        let bytes: Arc<[u8]> = Arc::from(encode(&msg));
        for link in self.members.read().values() {
            link.send_consensus(&self.name, Arc::clone(&bytes));
        }
    }
}

impl TxRelay for ChannelNet {
    fn relay(&self, txs: &[Transaction]) {
        if txs.is_empty() {
            return;
        }
        let members = self.members.read();
        if members.is_empty() {
            return;
        }
        // Chunks a receiver accepts (count and bytes).
        let mut chunk: Vec<Vec<u8>> = Vec::new();
        let mut bytes = 0usize;
        let flush = |chunk: &mut Vec<Vec<u8>>| {
            let batch = Arc::new(std::mem::take(chunk));
            for link in members.values() {
                link.send_txs(&self.name, Arc::clone(&batch));
            }
        };
        for tx in txs {
            let e = encode(tx);
            if !chunk.is_empty()
                && (chunk.len() >= crate::MAX_TX_BATCH || bytes + e.len() > crate::MAX_MESSAGE_BYTES / 2)
            {
                flush(&mut chunk);
                bytes = 0;
            }
            bytes += e.len();
            chunk.push(e);
        }
        if !chunk.is_empty() {
            flush(&mut chunk);
        }
    }
}
