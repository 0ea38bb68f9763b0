//! The world: nodes, a seeded network over a discrete-event queue ordered by `(time, sequence)`,
//! crashes and restarts, partitions that heal at GST, and the checkers. No wall clock, no hash
//! map iteration: every run of one configuration replays exactly.
use super::block::genesis;
use super::checker::{Checker, Violation};
use super::node::{Dest, Effects, HostFaults, Msg, Node, Role};
use super::scheme::{genesis_qc, Scheme};
use lc_lft::{EpochInfo, Faults, Timer};
use lc_types::{Height, Round};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Network and timing parameters (simulated time units; think milliseconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NetConfig {
    /// Global stabilisation time: before it messages may be dropped, delayed up to `max_delay`
    /// and partitioned; after it every message arrives within `delta`.
    pub gst: u64,
    /// Delivery bound after GST.
    pub delta: u64,
    /// Delivery bound before GST.
    pub max_delay: u64,
    /// Drop probability before GST.
    pub drop: f64,
    /// Duplicate probability (any time).
    pub duplicate: f64,
    /// Number of partition episodes before GST.
    pub partitions: u32,
    /// Number of crash/restart episodes of honest nodes before GST.
    pub crashes: u32,
    /// Base propose timeout (doubled per consecutive failed round, up to 8×).
    pub propose_timeout: u64,
    /// Base vote (LAZY) timeout.
    pub vote_timeout: u64,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            gst: 400,
            delta: 10,
            max_delay: 60,
            drop: 0.15,
            duplicate: 0.05,
            partitions: 1,
            crashes: 1,
            propose_timeout: 60,
            vote_timeout: 30,
        }
    }
}

/// Everything one run needs (built from a seed by [`super::scenario::Scenario::config`]).
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The seed: network, Byzantine choices and schedules all derive from it.
    pub seed: u64,
    /// Validators, weights, groups and proposer order.
    pub epoch: EpochInfo,
    /// Role of each validator (a twinned validator gets two [`Role::Twin`] slots).
    pub roles: Vec<Role>,
    /// Validators that run as two instances sharing one key.
    pub twins: Vec<usize>,
    /// Faults injected into the honest cores.
    pub faults: Faults,
    /// Faults of the honest host (verification) layer.
    pub host: HostFaults,
    /// Network.
    pub net: NetConfig,
    /// New commits each honest node must make after GST.
    pub progress_blocks: u64,
    /// Simulated time after GST within which they must happen.
    pub progress_window: u64,
    /// Hold every message for a script to deliver (no random network, no automatic timers).
    pub manual: bool,
    /// Manual mode: the policy of every withholding Byzantine node (see
    /// [`super::node::Node::withhold_plan`]); empty: a withholding node sends to everyone.
    pub withhold_plan: BTreeMap<Round, Vec<usize>>,
    /// Event budget: a run (or a script) processes at most this many events. Simulated time is
    /// bounded by `gst + progress_window`, but a message storm could pack unboundedly many events
    /// into it; past the budget the run stops and reports [`Violation::NoProgress`].
    pub max_events: u64,
}

/// Default [`SimConfig::max_events`]: ~50× the busiest seeds of the suites (10 validators).
pub const MAX_EVENTS: u64 = 500_000;

/// A message in flight.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// Sender slot.
    pub from: usize,
    /// Receiver slot.
    pub to: usize,
    /// The message.
    pub msg: Msg,
}

#[derive(Debug)]
enum Event {
    Deliver(Envelope),
    Timer { slot: usize, incarnation: u64, timer: Timer, round: Round },
    Crash(usize),
    Restart(usize),
    Gst,
}

/// Counters of a run.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunStats {
    /// Events processed.
    pub events: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages dropped by the network.
    pub dropped: u64,
    /// Blocks committed by honest nodes (summed over nodes).
    pub commits: u64,
    /// Simulated time at the end.
    pub end_time: u64,
    /// Lowest committed height among honest nodes at the end.
    pub min_height: Height,
    /// Highest round reached by an honest node.
    pub max_round: Round,
    /// Messages refused by honest verification layers (bad signatures, forged certificates).
    pub verify_rejected: u64,
    /// Vote requests refused by honest guards.
    pub guard_refused: u64,
    /// Host anomalies (should stay 0 with a correct core).
    pub anomalies: u64,
    /// Messages delivered by kind: proposal, vote, timeout, TC, sync request, sync response, sync
    /// info (what a message storm is made of).
    pub by_kind: [u64; 7],
}

/// Result of a run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// First violation found.
    pub violation: Option<Violation>,
    /// Hash of the full event trace (replays compare it).
    pub trace: u64,
    /// Counters.
    pub stats: RunStats,
}

/// The simulated cluster.
#[derive(Debug)]
pub struct World<S: Scheme> {
    /// Configuration.
    pub cfg: SimConfig,
    /// Node slots.
    pub nodes: Vec<Node<S>>,
    /// Checkers.
    pub checker: Checker,
    /// Current simulated time.
    pub now: u64,
    /// Held messages (manual mode).
    pub held: Vec<Envelope>,
    /// Timers started (manual mode): (slot, timer, round).
    pub armed: Vec<(usize, Timer, Round)>,
    /// Counters.
    pub stats: RunStats,
    slots_of: Vec<Vec<usize>>,
    side: Vec<usize>,
    partitions: Vec<(u64, u64, Vec<bool>)>,
    queue: BTreeMap<(u64, u64), Event>,
    seq: u64,
    net_rng: ChaCha8Rng,
    node_rng: ChaCha8Rng,
    trace: u64,
    baseline: Option<Vec<(usize, Height)>>,
    started: bool,
    /// The event budget ran out.
    exhausted: bool,
}

const FNV_PRIME: u64 = 0x100_0000_01b3;

impl<S: Scheme> World<S> {
    /// Builds the nodes and the fault schedule from the configuration.
    pub fn new(cfg: SimConfig, scheme: Arc<S>) -> Self {
        let g = Arc::new(genesis());
        let gqc = genesis_qc(&*scheme);
        let mut nodes = Vec::new();
        let mut slots_of = vec![Vec::new(); cfg.roles.len()];
        for (index, role) in cfg.roles.iter().enumerate() {
            let copies = if cfg.twins.contains(&index) { 2 } else { 1 };
            for _ in 0..copies {
                let slot = nodes.len();
                slots_of[index].push(slot);
                let (e, f, h) = (cfg.epoch.clone(), cfg.faults, cfg.host);
                nodes.push(Node::new(slot, index, *role, scheme.clone(), e, f, h, g.clone(), gqc.clone()));
            }
        }
        let first: Vec<usize> = slots_of.iter().map(|s| s[0]).collect();
        for n in nodes.iter_mut() {
            n.slot_of = first.clone();
            n.scripted = cfg.manual;
            n.withhold_plan = cfg.withhold_plan.clone();
        }
        let honest: Vec<usize> = nodes.iter().filter(|n| n.is_honest()).map(|n| n.slot).collect();
        let mut net_rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let node_rng = ChaCha8Rng::seed_from_u64(cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xb12a);
        let side = (0..nodes.len()).map(|_| net_rng.random_range(0..2usize)).collect();
        let mut w = Self {
            checker: Checker::new(&honest, &g),
            now: 0,
            held: Vec::new(),
            armed: Vec::new(),
            stats: RunStats::default(),
            slots_of,
            side,
            partitions: Vec::new(),
            queue: BTreeMap::new(),
            seq: 0,
            net_rng,
            node_rng,
            trace: 0xcbf2_9ce4_8422_2325,
            baseline: None,
            started: false,
            exhausted: false,
            nodes,
            cfg,
        };
        if !w.cfg.manual {
            w.schedule_faults(&honest);
        }
        w
    }

    fn schedule_faults(&mut self, honest: &[usize]) {
        let net = self.cfg.net;
        let slots = self.nodes.len();
        for _ in 0..net.partitions {
            let start = self.net_rng.random_range(0..net.gst.max(1));
            let end = self.net_rng.random_range(start..=net.gst);
            let sides: Vec<bool> = (0..slots).map(|_| self.net_rng.random_bool(0.5)).collect();
            self.partitions.push((start, end, sides));
        }
        for _ in 0..net.crashes {
            if honest.is_empty() {
                break;
            }
            let slot = honest[self.net_rng.random_range(0..honest.len())];
            let down = self.net_rng.random_range(0..net.gst.max(1));
            let up = self.net_rng.random_range(down + 1..=net.gst.max(down + 1));
            self.push(down, Event::Crash(slot));
            self.push(up, Event::Restart(slot));
        }
        self.push(net.gst, Event::Gst);
    }

    fn push(&mut self, at: u64, ev: Event) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    fn mix(&mut self, words: &[u64]) {
        for w in words {
            for b in w.to_le_bytes() {
                self.trace ^= u64::from(b);
                self.trace = self.trace.wrapping_mul(FNV_PRIME);
            }
        }
    }

    /// Starts every node (time 0).
    pub fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        for slot in 0..self.nodes.len() {
            let mut fx = Effects::default();
            self.nodes[slot].start(&mut self.node_rng, &mut fx);
            self.apply(slot, fx);
        }
    }

    fn targets(&self, from: usize, dest: &Dest) -> Vec<usize> {
        let pick = |w: &Self, v: usize, out: &mut Vec<usize>| {
            let slots = &w.slots_of[v];
            if slots.len() == 1 {
                out.push(slots[0]);
            } else if slots.contains(&from) {
                out.extend(slots.iter().filter(|s| **s != from));
            } else {
                out.push(slots[w.side[from] % slots.len()]);
            }
        };
        let mut out = Vec::new();
        match dest {
            Dest::Others => (0..self.slots_of.len()).for_each(|v| pick(self, v, &mut out)),
            Dest::Validators(vs) => {
                vs.iter().filter(|v| **v < self.slots_of.len()).for_each(|v| pick(self, *v, &mut out))
            }
            Dest::Slot(s) => out.push(*s),
        }
        out.retain(|s| *s != from && *s < self.nodes.len());
        out
    }

    fn partitioned(&self, a: usize, b: usize) -> bool {
        self.partitions.iter().any(|(s, e, sides)| *s <= self.now && self.now < *e && sides[a] != sides[b])
    }

    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        if self.cfg.manual {
            self.held.push(Envelope { from, to, msg });
            return;
        }
        let net = self.cfg.net;
        let before_gst = self.now < net.gst;
        if before_gst && (self.partitioned(from, to) || self.net_rng.random_bool(net.drop)) {
            self.stats.dropped += 1;
            return;
        }
        let bound = if before_gst { net.max_delay } else { net.delta };
        let copies = if self.net_rng.random_bool(net.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.net_rng.random_range(1..=bound.max(1));
            let env = Envelope { from, to, msg: msg.clone() };
            self.push(self.now + delay, Event::Deliver(env));
        }
    }

    fn apply(&mut self, slot: usize, mut fx: Effects) {
        self.nodes[slot].apply_withhold_plan(&mut fx);
        self.mix(&fx.trace);
        for (dest, msg) in fx.sends {
            for to in self.targets(slot, &dest) {
                self.send(slot, to, msg.clone());
            }
        }
        let incarnation = self.nodes[slot].incarnation;
        for (timer, round, backoff) in fx.timers {
            if self.cfg.manual {
                self.armed.push((slot, timer, round));
                continue;
            }
            let base = match timer {
                Timer::Propose => self.cfg.net.propose_timeout,
                Timer::Vote => self.cfg.net.vote_timeout,
            };
            let at = self.now + base * (1 << backoff.min(3));
            self.push(at, Event::Timer { slot, incarnation, timer, round });
        }
        let honest = self.nodes[slot].is_honest();
        if honest {
            for v in &fx.signed {
                self.checker.on_signed(slot, v);
            }
            for b in &fx.commits {
                self.checker.on_commit(slot, b);
            }
            self.stats.commits += fx.commits.len() as u64;
            let r = self.nodes[slot].core().round();
            self.stats.max_round = self.stats.max_round.max(r);
        }
        for b in &fx.commits {
            self.mix(&[slot as u64, b.height, u64::from_le_bytes(b.hash.0[..8].try_into().unwrap_or([0; 8]))]);
        }
    }

    fn deliver(&mut self, env: Envelope) {
        let to = env.to;
        if !self.nodes[to].up {
            self.stats.dropped += 1;
            return;
        }
        self.stats.delivered += 1;
        let d = env.msg.digest();
        let kind = (d[0] & 0xff) as usize;
        if (1..=7).contains(&kind) {
            self.stats.by_kind[kind - 1] += 1;
        }
        self.mix(&[self.now, env.from as u64, to as u64, d[0], d[1], d[2]]);
        let mut fx = Effects::default();
        self.nodes[to].on_message(env.from, &env.msg, &mut self.node_rng, &mut fx);
        self.apply(to, fx);
    }

    fn process(&mut self, ev: Event) {
        self.stats.events += 1;
        match ev {
            Event::Deliver(env) => self.deliver(env),
            Event::Timer { slot, incarnation, timer, round } => {
                let n = &self.nodes[slot];
                if n.up && n.incarnation == incarnation {
                    self.mix(&[self.now, 20, slot as u64, round]);
                    let mut fx = Effects::default();
                    self.nodes[slot].on_timer(timer, round, &mut self.node_rng, &mut fx);
                    self.apply(slot, fx);
                }
            }
            Event::Crash(slot) => {
                self.mix(&[self.now, 21, slot as u64]);
                self.nodes[slot].crash();
            }
            Event::Restart(slot) => {
                if !self.nodes[slot].up {
                    self.mix(&[self.now, 22, slot as u64]);
                    let mut fx = Effects::default();
                    self.nodes[slot].restart(&mut self.node_rng, &mut fx);
                    self.apply(slot, fx);
                }
            }
            Event::Gst => {
                let base = self.honest_slots().into_iter().map(|s| (s, self.checker.height(s))).collect();
                self.baseline = Some(base);
            }
        }
    }

    fn honest_slots(&self) -> Vec<usize> {
        self.nodes.iter().filter(|n| n.is_honest()).map(|n| n.slot).collect()
    }

    fn progressed(&self) -> bool {
        let Some(base) = &self.baseline else { return false };
        base.iter().all(|(s, h)| self.checker.height(*s) >= h + self.cfg.progress_blocks)
    }

    /// Runs until a violation, until every honest node made its progress after GST, or until the
    /// deadline (`gst + progress_window`).
    pub fn run(&mut self) -> Outcome {
        self.start();
        let deadline = self.cfg.net.gst + self.cfg.progress_window;
        while let Some(((at, _), ev)) = self.queue.pop_first() {
            if at > deadline {
                break;
            }
            if self.stats.events >= self.cfg.max_events {
                self.exhausted = true;
                break;
            }
            self.now = at;
            let commits_before = self.stats.commits;
            self.process(ev);
            if self.checker.violation.is_some() {
                break;
            }
            if commits_before != self.stats.commits && self.progressed() {
                break;
            }
        }
        self.finish(deadline)
    }

    /// Final checks and the outcome.
    pub fn finish(&mut self, deadline: u64) -> Outcome {
        self.checker.check_prefixes();
        if self.checker.violation.is_none() && self.exhausted {
            // Out of events before the progress check could pass (or before GST): no progress.
            let base = self.baseline.clone().unwrap_or_default();
            let (slot, done) = self
                .honest_slots()
                .into_iter()
                .map(|s| (s, self.checker.height(s) - base.iter().find(|(b, _)| *b == s).map_or(0, |(_, h)| *h)))
                .min_by_key(|(_, d)| *d)
                .unwrap_or((0, 0));
            self.checker.violation = Some(Violation::NoProgress {
                slot,
                committed_after_gst: if self.baseline.is_some() { done } else { 0 },
                required: self.cfg.progress_blocks,
                deadline: self.now,
            });
        }
        if self.checker.violation.is_none() && !self.cfg.manual {
            if let Some(base) = self.baseline.clone() {
                for (s, h) in base {
                    let now = self.checker.height(s);
                    if now < h + self.cfg.progress_blocks {
                        self.checker.violation = Some(Violation::NoProgress {
                            slot: s,
                            committed_after_gst: now - h,
                            required: self.cfg.progress_blocks,
                            deadline,
                        });
                        break;
                    }
                }
            }
        }
        self.stats.end_time = self.now;
        let honest = self.honest_slots();
        self.stats.min_height = honest.iter().map(|s| self.checker.height(*s)).min().unwrap_or(0);
        for n in &self.nodes {
            if n.is_honest() {
                self.stats.verify_rejected += n.stats.verify_rejected;
                self.stats.guard_refused += n.stats.guard_refused;
                self.stats.anomalies += n.stats.anomalies;
            }
        }
        Outcome { seed: self.cfg.seed, violation: self.checker.violation.clone(), trace: self.trace, stats: self.stats }
    }

    // ---------------------------------------------------------------- scripted (manual) mode

    /// Delivers, in order, every held message `pick` selects (messages they cause are held).
    /// Returns how many were delivered.
    pub fn deliver_where(&mut self, mut pick: impl FnMut(&Envelope) -> bool) -> usize {
        self.start();
        let held = std::mem::take(&mut self.held);
        let (go, stay): (Vec<Envelope>, Vec<Envelope>) = held.into_iter().partition(|e| pick(e));
        self.held = stay;
        let n = go.len();
        for env in go {
            if self.stats.events >= self.cfg.max_events {
                self.exhausted = true;
                return 0;
            }
            self.stats.events += 1;
            self.now += 1;
            self.deliver(env);
        }
        n
    }

    /// Drops every held message `pick` selects.
    pub fn drop_where(&mut self, mut pick: impl FnMut(&Envelope) -> bool) -> usize {
        let before = self.held.len();
        self.held.retain(|e| !pick(e));
        before - self.held.len()
    }

    /// Fires a timer of `slot` (manual mode).
    pub fn fire(&mut self, slot: usize, timer: Timer, round: Round) {
        self.start();
        if self.stats.events >= self.cfg.max_events {
            self.exhausted = true;
            return;
        }
        self.stats.events += 1;
        self.now += 1;
        let mut fx = Effects::default();
        self.nodes[slot].on_timer(timer, round, &mut self.node_rng, &mut fx);
        self.apply(slot, fx);
    }
}
