//! Cluster-wide invariant checkers. Each returns a typed [`Violation`]; the first one stops a run.
use super::block::{state_root, SimBlock};
use lc_safety::SignedVote;
use lc_types::{Hash, Height, Round, VoteKind};
use std::collections::BTreeMap;
use std::fmt;

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Two honest nodes committed different blocks at one height.
    Fork {
        /// Height.
        height: Height,
        /// First committer (slot) and its block.
        first: (usize, Hash),
        /// Second committer and its (different) block.
        second: (usize, Hash),
    },
    /// An honest guard signed two different yes votes, or a yes vote after a timeout, in one round.
    DoubleVote {
        /// Node slot.
        slot: usize,
        /// Round.
        round: Round,
        /// What happened.
        detail: &'static str,
    },
    /// A node's committed chain is not a hash-linked chain with correct state roots.
    BadChain {
        /// Node slot.
        slot: usize,
        /// Height of the offending block.
        height: Height,
        /// What is wrong.
        detail: &'static str,
    },
    /// An honest node did not commit enough new blocks after GST within the bound.
    NoProgress {
        /// Node slot.
        slot: usize,
        /// New commits after GST.
        committed_after_gst: u64,
        /// Required.
        required: u64,
        /// Simulated time the check gave up.
        deadline: u64,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Fork { height, first, second } => write!(
                f,
                "FORK at height {height}: node {} committed {}, node {} committed {}",
                first.0, first.1, second.0, second.1
            ),
            Violation::DoubleVote { slot, round, detail } => {
                write!(f, "DOUBLE VOTE by honest node {slot} in round {round}: {detail}")
            }
            Violation::BadChain { slot, height, detail } => {
                write!(f, "BAD CHAIN at node {slot}, height {height}: {detail}")
            }
            Violation::NoProgress { slot, committed_after_gst, required, deadline } => write!(
                f,
                "NO PROGRESS: node {slot} committed {committed_after_gst} < {required} blocks after GST by t={deadline}"
            ),
        }
    }
}

/// Records honest commits and votes; checks as it goes.
#[derive(Debug, Default)]
pub struct Checker {
    /// The first honest commit at each height.
    heights: BTreeMap<Height, (usize, Hash)>,
    /// Per honest slot: its committed chain's (hash, state root) by height.
    chains: BTreeMap<usize, Vec<(Hash, Hash)>>,
    /// Per (honest slot, round): the yes vote's block and whether a timeout vote was signed.
    votes: BTreeMap<(usize, Round), (Option<Hash>, bool)>,
    /// First violation found.
    pub violation: Option<Violation>,
}

impl Checker {
    /// A checker whose chains start at the genesis block.
    pub fn new(honest_slots: &[usize], genesis: &SimBlock) -> Self {
        let chains = honest_slots.iter().map(|s| (*s, vec![(genesis.hash, genesis.state_root)])).collect();
        Self { chains, ..Self::default() }
    }

    fn flag(&mut self, v: Violation) {
        if self.violation.is_none() {
            self.violation = Some(v);
        }
    }

    /// An honest node committed `block` (blocks arrive in commit order).
    pub fn on_commit(&mut self, slot: usize, block: &SimBlock) {
        let Some(chain) = self.chains.get_mut(&slot) else { return };
        let tip = chain.last().copied();
        let bad = match tip {
            _ if block.height != chain.len() as Height => Some("height is not tip + 1"),
            Some((h, _)) if h != block.parent => Some("parent is not the committed tip"),
            Some((_, root)) if state_root(&root, &block.payload) != block.state_root => Some("state root mismatch"),
            None => Some("empty chain"),
            _ => None,
        };
        chain.push((block.hash, block.state_root));
        if let Some(detail) = bad {
            self.flag(Violation::BadChain { slot, height: block.height, detail });
        }
        match self.heights.get(&block.height) {
            Some((other, h)) if *h != block.hash => {
                let v = Violation::Fork { height: block.height, first: (*other, *h), second: (slot, block.hash) };
                self.flag(v);
            }
            Some(_) => {}
            None => {
                self.heights.insert(block.height, (slot, block.hash));
            }
        }
    }

    /// An honest guard produced `vote` (repeats of a stored vote included).
    pub fn on_signed(&mut self, slot: usize, vote: &SignedVote) {
        let entry = self.votes.entry((slot, vote.round)).or_insert((None, false));
        match vote.kind {
            VoteKind::Yes => {
                let detail = match entry {
                    (Some(h), _) if *h != vote.block_hash => Some("two different yes votes"),
                    (None, true) => Some("yes vote after a timeout vote"),
                    _ => None,
                };
                entry.0 = Some(vote.block_hash);
                if let Some(detail) = detail {
                    self.flag(Violation::DoubleVote { slot, round: vote.round, detail });
                }
            }
            VoteKind::Timeout => entry.1 = true,
        }
    }

    /// Committed height of an honest slot.
    pub fn height(&self, slot: usize) -> Height {
        self.chains.get(&slot).map_or(0, |c| c.len() as Height - 1)
    }

    /// Final check: all honest chains are prefixes of one another (hash and state root).
    pub fn check_prefixes(&mut self) {
        let chains: Vec<(usize, Vec<(Hash, Hash)>)> = self.chains.iter().map(|(s, c)| (*s, c.clone())).collect();
        for (i, (sa, a)) in chains.iter().enumerate() {
            for (sb, b) in chains.iter().skip(i + 1) {
                if let Some(h) = a.iter().zip(b).position(|(x, y)| x != y) {
                    let v = if a[h].0 == b[h].0 {
                        Violation::BadChain { slot: *sb, height: h as Height, detail: "state roots differ" }
                    } else {
                        Violation::Fork { height: h as Height, first: (*sa, a[h].0), second: (*sb, b[h].0) }
                    };
                    self.flag(v);
                }
            }
        }
    }
}
