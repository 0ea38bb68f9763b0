//! Simulated round latency: CPU cost of the consensus path per committed block of a 4-validator
//! cluster (cores, guards, host verification and aggregation, simulated network), with the test
//! signature scheme and with real BLS. Simulated time is free; this is wall time of the work.
//!
//! `cargo bench -p lc-system-tests --profile dev --bench round_latency`
#![allow(missing_docs)]
use criterion::{criterion_group, criterion_main, Criterion};
use lc_system_tests::sim::{BlsScheme, ByzMix, NetConfig, Scenario, Scheme, TestScheme, World};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs a clean 4-validator cluster until every node committed `blocks` blocks; returns the wall
/// time per committed block.
fn per_block<S: Scheme>(scheme: &Arc<S>, blocks: u64) -> Duration {
    let sc = Scenario {
        byz: ByzMix::None,
        chaos: false,
        net: NetConfig { gst: 0, drop: 0.0, duplicate: 0.0, partitions: 0, crashes: 0, ..NetConfig::default() },
        progress_blocks: blocks,
        progress_window: 1_000_000,
        ..Scenario::new(4)
    };
    let start = Instant::now();
    let o = World::new(sc.config(1), scheme.clone()).run();
    let elapsed = start.elapsed();
    assert!(o.violation.is_none(), "{:?}", o.violation);
    elapsed / o.stats.min_height.max(1) as u32
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulated round latency (4 validators, per committed block)");
    g.sample_size(10);
    let test = Arc::new(TestScheme::new(4));
    g.bench_function("test scheme", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| per_block(&test, 50)).sum::<Duration>())
    });
    let bls = Arc::new(BlsScheme::new(4));
    g.bench_function("real BLS", |b| b.iter_custom(|iters| (0..iters).map(|_| per_block(&bls, 20)).sum::<Duration>()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
