//! The LFT core (validator 0 of the fixture epoch) driven by a byte-coded sequence of inputs, with
//! an honest host that feeds back its own proposals and votes.
//!
//! The model of the adversary (f = 1 of 4): certificates are genuine (the engine verifies every QC
//! and TC before the core sees it, and a quorum holds an honest majority), so QCs and TCs are
//! drawn from the blocks fed so far, at most one certified block per round, never more than
//! `ROUND_WINDOW` rounds ahead of this node; validators 1 and 2 send votes and timeout votes for
//! rounds near the current one (possibly stale, repeated or for the wrong block); validator 3 is
//! Byzantine: its proposals, votes and timeout votes may carry any round, height or hash, and
//! indices 4 and 5 stand for senders outside the epoch.
//!
//! Invariants: no panic; the round, the committed block, the high QC and the last voted round
//! never go back; this node casts at most one yes vote per round, never after a timeout vote in
//! that round; committed blocks are known blocks of strictly ascending height above the last
//! commit.
#![no_main]

use lc_fuzz::fixtures::{epoch, genesis_root, VALIDATORS};
use lc_lft::{BlockInfo, Input, Lft, Output, QcInfo, TcInfo, Timer, ROUND_WINDOW};
use lc_types::{sha3_concat, Hash, Round};
use libfuzzer_sys::fuzz_target;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Bound on the inputs of one run (fed back outputs included).
const MAX_STEPS: usize = 512;

/// The Byzantine validator.
const BYZANTINE: usize = 3;

/// Sender of a vote: validators 1 and 2 (honest but unreliable), 3 (Byzantine), 4 and 5 (unknown).
fn peer(b: u8) -> usize {
    1 + b as usize % (VALIDATORS + 1)
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }

    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Default)]
struct World {
    /// Blocks fed so far, by hash.
    blocks: BTreeMap<Hash, BlockInfo>,
    /// Genuine QCs: at most one certified block per round.
    certified: BTreeMap<Round, QcInfo>,
    /// Inputs waiting to be fed (the host's own proposals and votes go first).
    queue: VecDeque<Input>,
}

impl World {
    fn pick_block(&self, b: u8) -> Option<BlockInfo> {
        self.blocks.values().nth(b as usize % self.blocks.len().max(1)).copied()
    }

    fn pick_qc(&self, b: u8) -> QcInfo {
        let qcs: Vec<&QcInfo> = self.certified.values().collect();
        *qcs[b as usize % qcs.len()]
    }

    /// The highest genuine QC below `round` (a TC of `round` carries one), if any.
    fn qc_below(&self, round: Round) -> Option<QcInfo> {
        self.certified.range(..round).next_back().map(|(_, q)| *q)
    }

    fn tc(&self, round: Round) -> Option<TcInfo> {
        let q = self.qc_below(round)?;
        Some(TcInfo { round, max_hqc_round: q.round, high_qc: q })
    }

    fn block(&mut self, parent: QcInfo, round: Round, height: u64, tc: Option<TcInfo>, proposer: usize) -> BlockInfo {
        let hash = sha3_concat(&[&parent.block_hash.0, &round.to_le_bytes(), &height.to_le_bytes(), &[proposer as u8]]);
        let b = BlockInfo {
            hash,
            height,
            round,
            parent: parent.block_hash,
            qc: parent,
            tc,
            proposer,
            empty: true,
            epoch_end: None,
        };
        self.blocks.entry(hash).or_insert(b);
        b
    }

    fn certify(&mut self, b: &BlockInfo) -> Option<QcInfo> {
        self.add_qc(QcInfo { round: b.round, height: b.height, block_hash: b.hash })
    }

    /// Records a genuine QC unless another block is certified in its round.
    fn add_qc(&mut self, qc: QcInfo) -> Option<QcInfo> {
        match self.certified.get(&qc.round) {
            Some(existing) if *existing != qc => None,
            _ => {
                self.certified.insert(qc.round, qc);
                Some(qc)
            }
        }
    }
}

/// Whether honest validators could vote for `b`: it extends the block its QC certifies.
fn linked(b: &BlockInfo) -> bool {
    b.parent == b.qc.block_hash && b.qc.height.checked_add(1) == Some(b.height) && b.qc.round < b.round
}

/// One input from the byte stream.
fn next_input(core: &Lft, w: &mut World, bytes: &mut Bytes<'_>) -> Option<Input> {
    let now = core.round();
    let op = bytes.byte() % 10;
    let input = match op {
        0 => {
            let parent = w.pick_qc(bytes.byte());
            let round = if bytes.flag() { now } else { parent.round.saturating_add(1 + u64::from(bytes.byte() % 3)) };
            if round <= parent.round {
                return None;
            }
            let tc = if round > parent.round + 1 && bytes.flag() { w.tc(round - 1) } else { None };
            // The round's leader, or the Byzantine validator or an unknown sender posing as one.
            let proposer =
                if bytes.flag() { BYZANTINE + bytes.byte() as usize % 2 } else { epoch().info.proposer(round) };
            let b = w.block(parent, round, parent.height.checked_add(1)?, tc, proposer);
            if bytes.flag() {
                Input::Block(b)
            } else {
                Input::Proposal(b)
            }
        }
        1 => {
            // A vote for a block of its own round, as an honest validator casts it (maybe twice).
            let b = w.pick_block(bytes.byte())?;
            if !(now..=now.saturating_add(ROUND_WINDOW)).contains(&b.round) || !linked(&b) {
                return None;
            }
            Input::Vote { voter: peer(bytes.byte()), round: b.round, height: b.height, block_hash: b.hash }
        }
        2 => {
            let round = now.saturating_add(u64::from(bytes.byte() % 3));
            let high_qc = w.qc_below(round)?;
            Input::TimeoutVote { voter: peer(bytes.byte()), round, high_qc }
        }
        3 => {
            let b = w.pick_block(bytes.byte())?;
            if b.round > now.saturating_add(ROUND_WINDOW) || !linked(&b) {
                return None;
            }
            Input::Qc(w.certify(&b)?)
        }
        4 => Input::Tc(w.tc(now.saturating_add(u64::from(bytes.byte() % 3)))?),
        5 => {
            let timer = if bytes.flag() { Timer::Propose } else { Timer::Vote };
            Input::Timeout { timer, round: now.saturating_sub(u64::from(bytes.byte() % 2)) }
        }
        6 => Input::ProposalFailed { round: now },
        7 => {
            let voter = BYZANTINE + bytes.byte() as usize % 3;
            let (round, height) = (bytes.u64(), bytes.u64());
            let block_hash = w.pick_block(bytes.byte()).map(|b| b.hash).unwrap_or(Hash([bytes.byte(); 32]));
            Input::Vote { voter, round, height, block_hash }
        }
        8 => {
            // The Byzantine validator's proposal: genuine QC (and TC), any round and height.
            let parent = w.pick_qc(bytes.byte());
            let (round, height) = (bytes.u64(), bytes.u64());
            // A genuine TC is of a round honest validators reached: not far ahead of this node.
            let tc_round = round.checked_sub(1).filter(|r| *r <= now.saturating_add(ROUND_WINDOW));
            let tc = if bytes.flag() { tc_round.and_then(|r| w.tc(r)) } else { None };
            Input::Proposal(w.block(parent, round, height, tc, BYZANTINE))
        }
        _ => {
            let voter = BYZANTINE + bytes.byte() as usize % 3;
            let round = bytes.u64();
            Input::TimeoutVote { voter, round, high_qc: w.pick_qc(bytes.byte()) }
        }
    };
    Some(input)
}

#[derive(Default)]
struct Watch {
    yes_rounds: BTreeSet<Round>,
    timeout_rounds: BTreeSet<Round>,
    last_yes: Option<Round>,
    committed_height: u64,
}

/// Checks the outputs of one step and queues what an honest host feeds back.
fn host(outputs: Vec<Output>, w: &mut World, watch: &mut Watch) {
    for out in outputs {
        match out {
            Output::CastVote { round, height, block_hash, .. } => {
                assert!(
                    watch.last_yes.is_none_or(|r| r < round),
                    "second yes vote: round {round} after {:?}",
                    watch.last_yes
                );
                assert!(!watch.timeout_rounds.contains(&round), "yes vote after a timeout vote in round {round}");
                watch.last_yes = Some(round);
                watch.yes_rounds.insert(round);
                w.queue.push_back(Input::Vote { voter: 0, round, height, block_hash });
            }
            Output::CastTimeout { round, high_qc, .. } => {
                watch.timeout_rounds.insert(round);
                w.queue.push_back(Input::TimeoutVote { voter: 0, round, high_qc });
            }
            Output::Propose { round, height, parent, tc, .. } => {
                let b = w.block(parent, round, height, tc, 0);
                w.queue.push_front(Input::Proposal(b));
            }
            Output::Commit { blocks, .. } => {
                for hash in &blocks {
                    let b = w.blocks.get(hash).unwrap_or_else(|| panic!("committed unknown block {hash}"));
                    assert!(
                        b.height > watch.committed_height,
                        "commit of height {} after {}",
                        b.height,
                        watch.committed_height
                    );
                    watch.committed_height = b.height;
                }
            }
            Output::Certified { qc, .. } => {
                // Formed here from votes of a quorum: at least two of them are not Byzantine.
                let _ = w.add_qc(qc);
            }
            Output::EnterRound { .. }
            | Output::StartTimer { .. }
            | Output::TimeoutCertified { .. }
            | Output::NewCandidate { .. }
            | Output::EpochEnded { .. } => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let root = genesis_root();
    let mut core = Lft::from_root(epoch().info.clone(), Some(0), root);
    let mut w = World::default();
    w.certified.insert(0, root);
    let mut watch = Watch::default();
    let start = core.start();
    host(start, &mut w, &mut watch);
    let mut bytes = Bytes(data);
    for _ in 0..MAX_STEPS {
        let input = match w.queue.pop_front() {
            Some(i) => i,
            None if bytes.done() => break,
            None => match next_input(&core, &mut w, &mut bytes) {
                Some(i) => i,
                None => continue,
            },
        };
        let before = (core.round(), core.committed(), core.high_qc(), core.last_voted_round());
        let step = core.handle(input);
        assert!(core.round() >= before.0, "round went back from {} to {}", before.0, core.round());
        assert!(core.committed().height >= before.1.height, "committed went back");
        assert!(core.committed().round >= before.1.round, "committed round went back");
        assert!(core.high_qc().round >= before.2.round, "high QC went back");
        assert!(core.last_voted_round() >= before.3, "last voted round went back");
        host(step.outputs, &mut w, &mut watch);
    }
});
