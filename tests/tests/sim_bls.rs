//! The simulator with real BLS12-381 (`lc_crypto::bls`: dev keys, `verify_qc`, `verify_tc`,
//! aggregation) behind the same scheme abstraction: a smaller suite, as BLS costs milliseconds.
use lc_system_tests::sim::{replay_command, run_seed, BlsScheme, Order, Scenario, Weights};
use std::sync::Arc;

#[test]
fn bls_suite() {
    let only = std::env::var("LOOPCHAIN_SIM_SEED").ok().and_then(|s| s.parse::<u64>().ok());
    let started = std::time::Instant::now();
    let mut runs = 0;
    for (n, weights, order, seeds) in
        [(4, Weights::Equal, Order::RoundRobin, 12u64), (7, Weights::Configured, Order::Proportional, 8)]
    {
        let scheme = Arc::new(BlsScheme::new(n));
        let sc = Scenario { weights, order, ..Scenario::new(n) };
        for seed in only.map_or(0..seeds, |s| s..s + 1) {
            let o = run_seed(&sc, seed, scheme.clone());
            if let Some(v) = &o.violation {
                panic!("bls n={n} seed {seed}: {v}\n  replay: {}", replay_command("sim_bls", "bls_suite", seed));
            }
            assert!(o.stats.commits > 0);
            runs += 1;
        }
    }
    eprintln!("bls_suite: {runs} seeds in {:.2?}", started.elapsed());
}
