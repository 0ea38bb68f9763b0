//! The deterministic simulator's main suite: thousands of seeds across 4, 7 and 10 validators with
//! `f` Byzantine, equal weights, configured weights and trusted groups, round-robin and
//! weight-proportional proposer orders, on a chaotic network (drops, delays, duplicates,
//! partitions healing at GST, crashes and restarts). Every seed must be safe (no fork, no honest
//! double vote, identical chains and state roots) and live after GST.
//!
//! Replay one seed: `LOOPCHAIN_SIM_SEED=<seed> cargo test -p lc-system-tests --test sim_random -- --exact <test>`.
use lc_system_tests::sim::{replay_command, run_seed, ByzMix, Order, Scenario, TestScheme, Weights};
use std::sync::Arc;

/// Runs `seeds` seeds (or only `LOOPCHAIN_SIM_SEED`) and fails with the seed and its replay command.
fn suite(test: &str, scenario: Scenario, seeds: std::ops::Range<u64>) {
    let scheme = Arc::new(TestScheme::new(scenario.n));
    let seeds: Vec<u64> = match std::env::var("LOOPCHAIN_SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => seeds.collect(),
    };
    let started = std::time::Instant::now();
    let (mut commits, mut rejected) = (0u64, 0u64);
    for &seed in &seeds {
        let o = run_seed(&scenario, seed, scheme.clone());
        if let Some(v) = &o.violation {
            panic!(
                "{test}: seed {seed}: {v}\n  stats: {:?}\n  replay: {}",
                o.stats,
                replay_command("sim_random", test, seed)
            );
        }
        commits += o.stats.commits;
        rejected += o.stats.verify_rejected;
    }
    eprintln!(
        "{test}: {} seeds in {:.2?} ({:.0} seeds/s), {commits} honest commits, {rejected} forged or garbage messages refused",
        seeds.len(),
        started.elapsed(),
        seeds.len() as f64 / started.elapsed().as_secs_f64()
    );
}

fn scenario(n: usize, weights: Weights, order: Order) -> Scenario {
    Scenario { weights, order, ..Scenario::new(n) }
}

#[test]
fn equal_4() {
    suite("equal_4", scenario(4, Weights::Equal, Order::RoundRobin), 0..1000);
}

#[test]
fn equal_7() {
    suite("equal_7", scenario(7, Weights::Equal, Order::RoundRobin), 0..600);
}

#[test]
fn equal_10() {
    suite("equal_10", scenario(10, Weights::Equal, Order::RoundRobin), 0..400);
}

#[test]
fn weighted_4_round_robin() {
    suite("weighted_4_round_robin", scenario(4, Weights::Configured, Order::RoundRobin), 0..400);
}

#[test]
fn weighted_4_proportional() {
    suite("weighted_4_proportional", scenario(4, Weights::Configured, Order::Proportional), 0..400);
}

#[test]
fn weighted_7_proportional() {
    suite("weighted_7_proportional", scenario(7, Weights::Configured, Order::Proportional), 0..400);
}

#[test]
fn weighted_10_proportional() {
    suite("weighted_10_proportional", scenario(10, Weights::Configured, Order::Proportional), 0..250);
}

#[test]
fn groups_7_round_robin() {
    suite("groups_7_round_robin", scenario(7, Weights::Groups, Order::RoundRobin), 0..400);
}

#[test]
fn groups_10_proportional() {
    suite("groups_10_proportional", scenario(10, Weights::Groups, Order::Proportional), 0..250);
}

#[test]
fn twins_4_and_7() {
    suite("twins_4_and_7", Scenario { byz: ByzMix::Twins, ..Scenario::new(4) }, 0..400);
    suite("twins_4_and_7", Scenario { byz: ByzMix::Twins, ..Scenario::new(7) }, 0..200);
}

#[test]
fn all_honest_4_7_10() {
    for (n, seeds) in [(4, 300), (7, 200), (10, 100)] {
        suite("all_honest_4_7_10", Scenario { byz: ByzMix::None, ..Scenario::new(n) }, 0..seeds);
    }
}

/// Re-running a seed replays it exactly: same trace hash, same outcome.
#[test]
fn replay_is_exact() {
    for (n, seed) in [(4, 7u64), (7, 11), (10, 3)] {
        let scheme = Arc::new(TestScheme::new(n));
        let sc = Scenario::new(n);
        let a = run_seed(&sc, seed, scheme.clone());
        let b = run_seed(&sc, seed, scheme);
        assert_eq!(a.trace, b.trace, "seed {seed}: traces differ");
        assert_eq!(a.stats.delivered, b.stats.delivered);
        assert_eq!(a.stats.commits, b.stats.commits);
        assert!(a.stats.commits > 0, "seed {seed} committed nothing");
        let other = run_seed(&sc, seed + 1, Arc::new(TestScheme::new(n)));
        assert_ne!(a.trace, other.trace, "different seeds should differ");
    }
}
