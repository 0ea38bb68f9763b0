//! Soak: `LOOPCHAIN_SIM_SOAK=100000 cargo test -p lc-system-tests --test sim_soak -- --ignored sim_soak --nocapture`
//! runs that many seeds (rotating through 4/7/10 validators, every weighting and order), starting
//! at `LOOPCHAIN_SIM_SOAK_START` (default 1,000,000, above the normal suite's seeds).
use lc_system_tests::sim::{run_seed, Order, Scenario, TestScheme, Weights};
use std::sync::Arc;

#[test]
#[ignore = "soak: set LOOPCHAIN_SIM_SOAK=<seeds> and run with --ignored"]
fn sim_soak() {
    let count: u64 = std::env::var("LOOPCHAIN_SIM_SOAK")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|c| *c > 0)
        .expect("set LOOPCHAIN_SIM_SOAK to the number of seeds (> 0)");
    let start: u64 = std::env::var("LOOPCHAIN_SIM_SOAK_START").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let schemes = [4usize, 7, 10].map(|n| Arc::new(TestScheme::new(n)));
    let kinds = [
        (Weights::Equal, Order::RoundRobin),
        (Weights::Configured, Order::Proportional),
        (Weights::Configured, Order::RoundRobin),
        (Weights::Groups, Order::Proportional),
        (Weights::Groups, Order::RoundRobin),
    ];
    let started = std::time::Instant::now();
    let (mut events, mut commits, mut max_events) = (0u64, 0u64, 0u64);
    let mut failures = Vec::new();
    for seed in start..start + count {
        let n_i = (seed % 3) as usize;
        let (weights, order) = kinds[((seed / 3) % kinds.len() as u64) as usize];
        let sc = Scenario { weights, order, ..Scenario::new([4, 7, 10][n_i]) };
        let o = run_seed(&sc, seed, schemes[n_i].clone());
        events += o.stats.events;
        commits += o.stats.commits;
        max_events = max_events.max(o.stats.events);
        if let Some(v) = o.violation {
            // Keep going: one soak reports every failing seed, not only the first.
            failures.push(format!(
                "seed {seed} (n={}, {weights:?}, {order:?}): {v}\n    replay: LOOPCHAIN_SIM_SOAK=1 LOOPCHAIN_SIM_SOAK_START={seed} cargo test -p lc-system-tests --test sim_soak -- --ignored sim_soak",
                sc.n
            ));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "sim_soak: {count} seeds in {secs:.1} s ({:.0} seeds/s), {events} events, {commits} honest commits, max {max_events} events in one seed",
        count as f64 / secs
    );
    assert!(failures.is_empty(), "{} of {count} soak seeds failed:\n{}", failures.len(), failures.join("\n"));
}
