//! In-process transport: several [`Channel`]s of one process (each with its own store and keys)
//! exchange consensus messages through a hub (between processes, `lc-network`'s gRPC does it). Tests
//! use it to cut links and exercise timeouts.
use crate::channel::{Channel, Transport};
use lc_types::ConsensusMsg;
use parking_lot::RwLock;
use std::collections::BTreeSet;
use std::sync::{Arc, Weak};

/// Connects channels of one process. Messages are cloned to each member's bounded inbox.
#[derive(Debug, Default)]
pub struct InProcessHub {
    members: RwLock<Vec<Weak<Channel>>>,
    /// Members whose links are cut (they neither send nor receive).
    down: RwLock<BTreeSet<usize>>,
}

impl InProcessHub {
    /// An empty hub.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Adds a channel and connects it (call before [`Channel::spawn`]); returns its member id.
    pub fn join(self: &Arc<Self>, channel: &Arc<Channel>) -> usize {
        let id = {
            let mut m = self.members.write();
            m.push(Arc::downgrade(channel));
            m.len() - 1
        };
        channel.set_transport(Arc::new(HubLink { hub: Arc::clone(self), from: id }));
        id
    }

    /// Cuts (`true`) or restores a member's links.
    pub fn set_down(&self, id: usize, down: bool) {
        let mut d = self.down.write();
        if down {
            d.insert(id);
        } else {
            d.remove(&id);
        }
    }
}

#[derive(Debug)]
struct HubLink {
    hub: Arc<InProcessHub>,
    from: usize,
}

impl Transport for HubLink {
    fn broadcast(&self, msg: ConsensusMsg) {
        let down = self.hub.down.read();
        if down.contains(&self.from) {
            return;
        }
        let targets: Vec<Arc<Channel>> = self
            .hub
            .members
            .read()
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.from && !down.contains(i))
            .filter_map(|(_, w)| w.upgrade())
            .collect();
        drop(down);
        for t in targets {
            t.deliver(msg.clone());
        }
    }
}
