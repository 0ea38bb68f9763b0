//! Scenarios: validator sets (equal, configured weights, trusted groups), proposer orders,
//! Byzantine mixes and network chaos, each turned into a [`SimConfig`] by a seed.
use super::node::{Byzantine, HostFaults, Role};
use super::scheme::Scheme;
use super::world::{NetConfig, Outcome, SimConfig, World};
use lc_lft::{EpochInfo, Faults, Group, ProposerSchedule, Validator};
use lc_types::{PublicKey, Round};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// How validators are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weights {
    /// All weight 1.
    Equal,
    /// Random weights 1..=4 per seed.
    Configured,
    /// Random weights 1..=4 and trusted groups (each counts its votes only with an internal quorum).
    Groups,
}

/// Proposer order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `round mod n`.
    RoundRobin,
    /// Weight-proportional (smooth weighted round-robin).
    Proportional,
}

/// Which Byzantine behaviours the Byzantine validators show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByzMix {
    /// No Byzantine validator.
    None,
    /// Each Byzantine validator gets a random combination (or becomes a twin pair).
    Random,
    /// Every Byzantine validator shows exactly these behaviours.
    Only(Byzantine),
    /// Every Byzantine validator runs as twins.
    Twins,
}

/// A weight-proportional proposer schedule: smooth weighted round-robin over one cycle of
/// `total weight` rounds (each validator proposes `weight` times per cycle, spread out).
#[derive(Debug, Clone)]
pub struct Proportional {
    cycle: Vec<usize>,
}

impl Proportional {
    /// The schedule of these weights.
    pub fn new(weights: &[u64]) -> Self {
        let total: i64 = weights.iter().map(|w| *w as i64).sum();
        let mut current = vec![0i64; weights.len()];
        let mut cycle = Vec::new();
        for _ in 0..total {
            for (c, w) in current.iter_mut().zip(weights) {
                *c += *w as i64;
            }
            let best = (0..weights.len()).max_by_key(|i| (current[*i], std::cmp::Reverse(*i))).unwrap_or(0);
            current[best] -= total;
            cycle.push(best);
        }
        Self { cycle }
    }
}

impl ProposerSchedule for Proportional {
    fn proposer(&self, round: Round) -> usize {
        if self.cycle.is_empty() {
            return 0;
        }
        self.cycle[(round % self.cycle.len() as u64) as usize]
    }
}

/// A family of runs; [`Scenario::config`] draws one from a seed.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// Validators.
    pub n: usize,
    /// Weighting.
    pub weights: Weights,
    /// Proposer order.
    pub order: Order,
    /// Byzantine behaviour.
    pub byz: ByzMix,
    /// At most this many Byzantine validators (also bounded by weight < 1/3 overall and per group).
    pub max_byzantine: usize,
    /// Faults injected into the honest cores.
    pub faults: Faults,
    /// Faults of the honest verification layer.
    pub host: HostFaults,
    /// Randomise the network per seed around these values.
    pub net: NetConfig,
    /// Randomise drop, delay, partitions and crashes per seed.
    pub chaos: bool,
    /// New commits required of every honest node after GST.
    pub progress_blocks: u64,
    /// Time after GST for them.
    pub progress_window: u64,
}

impl Scenario {
    /// `n` equal validators, `f = (n − 1) / 3` Byzantine with random behaviour, correct core,
    /// chaotic network.
    pub fn new(n: usize) -> Self {
        Self {
            n,
            weights: Weights::Equal,
            order: Order::RoundRobin,
            byz: ByzMix::Random,
            max_byzantine: n.saturating_sub(1) / 3,
            faults: Faults::default(),
            host: HostFaults::default(),
            net: NetConfig::default(),
            chaos: true,
            progress_blocks: 3,
            progress_window: 4000,
        }
    }

    /// The configuration of one seed.
    pub fn config(&self, seed: u64) -> SimConfig {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ce7_a410);
        let n = self.n;
        let weights: Vec<u64> = match self.weights {
            Weights::Equal => vec![1; n],
            _ => (0..n).map(|_| rng.random_range(1..=4)).collect(),
        };
        let groups = if self.weights == Weights::Groups { make_groups(n, &mut rng) } else { Vec::new() };
        let validators = weights
            .iter()
            .enumerate()
            .map(|(i, w)| Validator { id: PublicKey([i as u8; 32]), weight: *w })
            .collect::<Vec<_>>();
        let mut epoch = EpochInfo::with_groups(0, validators, groups.clone()).expect("valid simulated epoch");
        if self.order == Order::Proportional {
            epoch = epoch.with_schedule(Arc::new(Proportional::new(&weights)));
        }
        let byz = pick_byzantine(&weights, &groups, epoch.total_weight(), self.max_byzantine, &mut rng);
        let mut roles = vec![Role::Honest; n];
        let mut twins = Vec::new();
        for &b in &byz {
            match self.byz {
                ByzMix::None => {}
                ByzMix::Only(x) => roles[b] = Role::Byzantine(x),
                ByzMix::Twins => {
                    roles[b] = Role::Twin;
                    twins.push(b);
                }
                ByzMix::Random => {
                    if rng.random_bool(0.2) {
                        roles[b] = Role::Twin;
                        twins.push(b);
                    } else {
                        roles[b] = Role::Byzantine(Byzantine {
                            equivocate: rng.random_bool(0.5),
                            double_vote: rng.random_bool(0.5),
                            bad_signatures: rng.random_bool(0.5),
                            withhold: rng.random_bool(0.5),
                            forge_tc: rng.random_bool(0.5),
                        });
                    }
                }
            }
        }
        let mut net = self.net;
        if self.chaos {
            net.gst = rng.random_range(200..=600);
            net.max_delay = rng.random_range(20..=100);
            net.drop = rng.random_range(0.0..0.3);
            net.partitions = rng.random_range(0..=2);
            net.crashes = rng.random_range(0..=2);
        }
        SimConfig {
            seed,
            epoch,
            roles,
            twins,
            faults: self.faults,
            host: self.host,
            net,
            progress_blocks: self.progress_blocks,
            progress_window: self.progress_window,
            manual: false,
            withhold_plan: std::collections::BTreeMap::new(),
            max_events: super::world::MAX_EVENTS,
        }
    }
}

/// Random trusted groups covering about two thirds of the validators (at least two members each).
fn make_groups(n: usize, rng: &mut ChaCha8Rng) -> Vec<Group> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    let grouped = (2 * n).div_ceil(3);
    let mut groups = Vec::new();
    let mut i = 0;
    while grouped - i >= 2 {
        let size = rng.random_range(2..=(grouped - i).min(5));
        let mut members: Vec<usize> = idx[i..i + size].to_vec();
        members.sort_unstable();
        groups.push(Group { members, votes: rng.random_range(1..=4) });
        i += size;
    }
    groups
}

/// Byzantine validators: random order, added while their ungrouped weight stays below 1/3 of the
/// total and their weight inside every group below 1/3 of the group's weight.
fn pick_byzantine(weights: &[u64], groups: &[Group], total: u64, max: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..weights.len()).collect();
    idx.shuffle(rng);
    let group_of = |i: usize| groups.iter().position(|g| g.members.contains(&i));
    let mut ungrouped = 0u64;
    let mut in_group = vec![0u64; groups.len()];
    let mut out = Vec::new();
    for i in idx {
        if out.len() >= max {
            break;
        }
        let w = weights[i];
        match group_of(i) {
            None if 3 * (ungrouped + w) < total => {
                ungrouped += w;
                out.push(i);
            }
            Some(g) => {
                let gw: u64 = groups[g].members.iter().map(|m| weights[*m]).sum();
                if 3 * (in_group[g] + w) < gw {
                    in_group[g] += w;
                    out.push(i);
                }
            }
            None => {}
        }
    }
    out.sort_unstable();
    out
}

/// Runs one seed of a scenario.
pub fn run_seed<S: Scheme>(scenario: &Scenario, seed: u64, scheme: Arc<S>) -> Outcome {
    World::new(scenario.config(seed), scheme).run()
}

/// The one-line command that replays `seed` of the test `test` in file `file`.
pub fn replay_command(file: &str, test: &str, seed: u64) -> String {
    format!("LOOPCHAIN_SIM_SEED={seed} cargo test -p lc-system-tests --test {file} -- --exact {test} --nocapture")
}
