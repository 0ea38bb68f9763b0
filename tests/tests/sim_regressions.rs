//! Named regression tests: the scripted fork of `lft.md` ("Why not the whitepaper's rules
//! verbatim"), and the deliberately broken cores/verification layers the checkers must catch.
use lc_lft::{Faults, Timer};
use lc_system_tests::sim::node::Msg;
use lc_system_tests::sim::world::Envelope;
use lc_system_tests::sim::{
    replay_command, run_seed, ByzMix, Byzantine, HostFaults, Role, Scenario, SimConfig, TestScheme, Violation, World,
};
use lc_types::Round;
use std::sync::Arc;

fn round_of(e: &Envelope) -> Option<Round> {
    match &e.msg {
        Msg::Proposal(b) => Some(b.round),
        Msg::Vote { round, .. } | Msg::Timeout { round, .. } => Some(*round),
        Msg::Tc(tc) => Some(tc.round),
        _ => None,
    }
}

fn is_proposal(e: &Envelope, r: Round) -> bool {
    matches!(&e.msg, Msg::Proposal(b) if b.round == r)
}

fn is_vote(e: &Envelope, r: Round) -> bool {
    matches!(&e.msg, Msg::Vote { round, .. } if *round == r)
}

fn is_timeout(e: &Envelope, r: Round) -> bool {
    matches!(&e.msg, Msg::Timeout { round, .. } if *round == r)
}

/// The fork of lft.md, as an explicit schedule. 4 validators, node 0 Byzantine (it runs the
/// honest core and signs legal votes; only the network is adversarial). C (round 1) is certified
/// everywhere; B (round 2) and B′ (round 3) are both children of C and both gather quorums that
/// nodes learn at different times:
///
/// ```text
///            ┌── B (r2) ── D (r4, Byzantine leader, via TC(3))      node 2 sees QC(D): commits B
/// genesis ── C (r1)
///            └── B′ (r3, via TC(2)) ── D′ (r5, via TC(4))           nodes 1, 3 see QC(D′): commit B′
/// ```
///
/// With the whitepaper's literal rules (candidate replaced by any higher height or round, certifying
/// a block commits its parent) two different blocks are final at height 2. With the correct core
/// (consecutive-round commit rule), the same schedule commits neither B nor B′.
fn lft_md_fork(faults: Faults) -> (Option<Violation>, Vec<u64>) {
    let n = 4;
    let mut sc = Scenario::new(n);
    sc.faults = faults;
    let mut cfg: SimConfig = sc.config(0);
    cfg.roles = vec![Role::Byzantine(Byzantine::default()), Role::Honest, Role::Honest, Role::Honest];
    cfg.twins.clear();
    cfg.epoch = lc_lft::EpochInfo::new(
        0,
        (0..n).map(|i| lc_lft::Validator { id: lc_types::PublicKey([i as u8; 32]), weight: 1 }).collect(),
    )
    .expect("epoch");
    cfg.manual = true;
    let mut w = World::new(cfg, Arc::new(TestScheme::new(n)));
    let to = |set: &'static [usize]| move |e: &Envelope| set.contains(&e.to);
    let from = |set: &'static [usize]| move |e: &Envelope| set.contains(&e.from);
    // Round 1: C everywhere, QC(C) everywhere.
    while w.deliver_where(|e| round_of(e) == Some(1)) > 0 {}
    // Round 2: B proposed by node 2; everyone votes; only the Byzantine node sees the votes
    // (QC(B) there, it moves to round 3). Nodes 1, 2, 3 time out and form TC(2).
    w.deliver_where(|e| is_proposal(e, 2));
    w.deliver_where(|e| is_vote(e, 2) && e.to == 0);
    w.drop_where(|e| is_vote(e, 2));
    for s in [1, 2, 3] {
        w.fire(s, Timer::Propose, 2);
    }
    w.deliver_where(|e| is_timeout(e, 2) && to(&[1, 2, 3])(e) && from(&[1, 2, 3])(e));
    w.drop_where(|e| round_of(e) == Some(2));
    // Round 3: B′ (node 3, on C via TC(2)); everyone votes; votes held. Nodes 0, 2, 3 time out;
    // the Byzantine timeout carries QC(B): node 3 and node 2 adopt B; TC(3) (max hqc 2).
    w.deliver_where(|e| is_proposal(e, 3));
    for s in [0, 2, 3] {
        w.fire(s, Timer::Propose, 3);
    }
    w.deliver_where(|e| is_timeout(e, 3) && to(&[0, 2, 3])(e) && from(&[0, 2, 3])(e));
    w.drop_where(|e| matches!(e.msg, Msg::Tc(_)));
    // Round 4: D (Byzantine leader, child of B via TC(3)) to nodes 2 and 3; they vote; only node 2
    // sees QC(D).
    w.deliver_where(|e| is_proposal(e, 4) && to(&[2, 3])(e));
    w.deliver_where(|e| is_vote(e, 4) && e.to == 2);
    // Node 1 learns QC(B′) from the held round-3 votes (it is still in round 3) and moves to round 4.
    w.deliver_where(|e| is_vote(e, 3) && e.to == 1);
    w.drop_where(|e| round_of(e) == Some(3) || round_of(e) == Some(4) && !is_timeout(e, 4));
    // Round 4 timeouts of nodes 0, 1, 3: node 1's carries QC(B′), which 0 and 3 adopt; TC(4) (max 3).
    for s in [1, 3, 0] {
        w.fire(s, Timer::Propose, 4);
    }
    w.deliver_where(|e| is_timeout(e, 4) && to(&[0, 1, 3])(e) && from(&[0, 1, 3])(e));
    // Round 5: D′ (node 1, child of B′ via TC(4)) to 0 and 3; they vote; nodes 1 and 3 see QC(D′).
    w.deliver_where(|e| is_proposal(e, 5) && to(&[0, 3])(e));
    w.deliver_where(|e| is_vote(e, 5) && to(&[1, 3])(e));
    let o = w.finish(0);
    let heights = w.nodes.iter().map(|n| n.core().committed().height).collect();
    (o.violation, heights)
}

#[test]
fn fork_scenario_of_lft_md() {
    let (correct, heights) = lft_md_fork(Faults::default());
    assert_eq!(correct, None, "the correct core must not fork on the lft.md schedule (committed {heights:?})");
    let (literal, heights) = lft_md_fork(Faults { literal_whitepaper_rules: true, ..Faults::default() });
    match literal {
        Some(Violation::Fork { height: 2, .. }) => {}
        other => panic!("literal whitepaper rules should fork at height 2, got {other:?} (committed {heights:?})"),
    }
}

/// Searches seeds `0..max` for a safety violation (fork, double vote, bad chain); returns the
/// first violating seed.
fn search(test: &str, sc: &Scenario, max: u64) -> Option<(u64, Violation)> {
    let scheme = Arc::new(TestScheme::new(sc.n));
    let started = std::time::Instant::now();
    for seed in 0..max {
        let o = run_seed(sc, seed, scheme.clone());
        if let Some(v) = o.violation {
            if !matches!(v, Violation::NoProgress { .. }) {
                eprintln!(
                    "{test}: violation at seed {seed} after {:.2?}: {v}\n  replay: {}",
                    started.elapsed(),
                    replay_command("sim_regressions", test, seed)
                );
                return Some((seed, v));
            }
        }
    }
    None
}

const FORGE_TC: Byzantine =
    Byzantine { equivocate: false, double_vote: false, bad_signatures: false, withhold: false, forge_tc: true };

/// V1: a verification layer that does not bind the TC's hqc rounds to signatures, and a core that
/// skips the TC high-QC check: a Byzantine leader lowers a TC and a fork follows.
#[test]
fn v1_unbound_tc_hqc_rounds_fork() {
    let sc = Scenario {
        byz: ByzMix::Only(FORGE_TC),
        faults: Faults { skip_tc_high_qc_check: true, ..Faults::default() },
        host: HostFaults { bind_hqc: false, ..HostFaults::default() },
        ..Scenario::new(4)
    };
    let found = search("v1_unbound_tc_hqc_rounds_fork", &sc, 3000);
    assert!(matches!(found, Some((_, Violation::Fork { .. }))), "no fork found: {found:?}");
    // The same seeds with the correct verification layer and core: no violation.
    let fixed = Scenario { faults: Faults::default(), host: HostFaults::default(), ..sc };
    let seed = found.map_or(0, |(s, _)| s);
    let o = run_seed(&fixed, seed, Arc::new(TestScheme::new(4)));
    assert_eq!(o.violation, None, "seed {seed} with the correct rules");
}
