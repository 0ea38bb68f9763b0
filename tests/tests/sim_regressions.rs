//! Named regression tests: the scripted fork of `lft.md` ("Why not the whitepaper's rules
//! verbatim"), and the deliberately broken cores/verification layers the checkers must catch —
//! V1 (random search), V2 and V3 (scripted), and one scripted schedule per Byzantine behaviour
//! (equivocating proposer, double voter, bad signatures, withholding, twins) against a rule broken
//! on purpose. (The withholding node follows its own deterministic policy of recipients; its
//! script only delays honest messages.) Each broken run must end in a violation; the same schedule with the correct rules
//! must end in none.
use lc_crypto::bls::bitmap;
use lc_lft::{EpochInfo, Faults, Timer, Validator};
use lc_safety::VoteSigner;
use lc_system_tests::sim::block::{state_root, SimBlock};
use lc_system_tests::sim::node::{proposal_msg, Msg};
use lc_system_tests::sim::scheme::{timeout_msg, yes_msg, TestSigner};
use lc_system_tests::sim::world::Envelope;
use lc_system_tests::sim::{
    replay_command, run_seed, ByzMix, Byzantine, HostFaults, Role, Scenario, SimConfig, TestScheme, Violation, World,
};
use lc_types::{BlsSignature, Hash, Height, PublicKey, QuorumCert, Round, TimeoutCert};
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
fn lft_md_fork(faults: Faults, byz: Byzantine) -> (Option<Violation>, Vec<u64>) {
    let n = 4;
    let mut sc = Scenario::new(n);
    sc.faults = faults;
    let mut cfg: SimConfig = sc.config(0);
    cfg.roles = vec![Role::Byzantine(byz), Role::Honest, Role::Honest, Role::Honest];
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
    let (correct, heights) = lft_md_fork(Faults::default(), Byzantine::default());
    assert_eq!(correct, None, "the correct core must not fork on the lft.md schedule (committed {heights:?})");
    let (literal, heights) =
        lft_md_fork(Faults { literal_whitepaper_rules: true, ..Faults::default() }, Byzantine::default());
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

// ------------------------------------------------------------------------------------------------
// Scripted schedules (manual mode): every message is held until the script delivers or drops it,
// timers fire only when the script fires them. Round-robin leaders: round r is led by r mod n.

/// A manual world of equal-weight validators with these roles (`twins`: validators run twice).
fn manual(roles: Vec<Role>, twins: Vec<usize>, faults: Faults, host: HostFaults) -> World<TestScheme> {
    let n = roles.len();
    let mut cfg: SimConfig = Scenario { faults, host, ..Scenario::new(n) }.config(0);
    cfg.roles = roles;
    cfg.twins = twins;
    let validators = (0..n).map(|i| Validator { id: PublicKey([i as u8; 32]), weight: 1 }).collect();
    cfg.epoch = EpochInfo::new(0, validators).expect("epoch");
    cfg.manual = true;
    World::new(cfg, Arc::new(TestScheme::new(n)))
}

/// The violation a script ended with, and every slot's committed height.
fn verdict(mut w: World<TestScheme>) -> (Option<Violation>, Vec<Height>) {
    let o = w.finish(0);
    (o.violation, w.nodes.iter().map(|n| n.core().committed().height).collect())
}

fn to(set: &'static [usize]) -> impl Fn(&Envelope) -> bool {
    move |e| set.contains(&e.to)
}

fn among(set: &'static [usize]) -> impl Fn(&Envelope) -> bool {
    move |e| set.contains(&e.to) && set.contains(&e.from)
}

/// Delivers every held message of round 1 (and what it causes) everywhere: C certified by all.
fn round_one(w: &mut World<TestScheme>) {
    while w.deliver_where(|e| round_of(e) == Some(1)) > 0 {}
}

/// The proposals of `round` held for delivery (distinct blocks, in order of appearance).
fn held_proposals(w: &World<TestScheme>, round: Round) -> Vec<Arc<SimBlock>> {
    let mut out: Vec<Arc<SimBlock>> = Vec::new();
    for e in &w.held {
        if let Msg::Proposal(b) = &e.msg {
            if b.round == round && !out.iter().any(|o| o.hash == b.hash) {
                out.push(b.clone());
            }
        }
    }
    out
}

/// Puts a message from slot `from` on the wire to each slot of `dests` (a Byzantine sender).
fn inject(w: &mut World<TestScheme>, from: usize, dests: &[usize], msg: &Msg) {
    w.held.extend(dests.iter().map(|&to| Envelope { from, to, msg: msg.clone() }));
}

/// A signature that verifies nowhere.
const GARBAGE: BlsSignature = BlsSignature([0xab; 96]);

/// `b` moved onto `parent` at `height` (new payload, state root and hash), signed by validator
/// `signer` (`None`: a garbage proposer signature).
fn relink(b: &SimBlock, parent: &SimBlock, height: Height, signer: Option<usize>) -> SimBlock {
    let mut f = b.clone();
    f.parent = parent.hash;
    f.height = height;
    f.payload = format!("forged:r{}:h{height}", b.round).into_bytes();
    f.state_root = state_root(&parent.state_root, &f.payload);
    f.hash = f.compute_hash();
    f.signature = signer.map_or(GARBAGE, |i| TestSigner::new(i).sign(&proposal_msg(&f.hash)));
    f
}

/// A yes vote for `b` claiming to come from `voter`, signed by `signer` (`None`: garbage).
fn vote(voter: usize, b: &SimBlock, signer: Option<usize>) -> Msg {
    let msg = yes_msg(0, b.round, b.height, b.hash);
    let sig = signer.map_or(GARBAGE, |i| TestSigner::new(i).sign(&msg));
    Msg::Vote { voter, round: b.round, height: b.height, hash: b.hash, sig }
}

/// A timeout vote of `voter` (signed with its own key) for `round` carrying `qc`.
fn timeout(voter: usize, round: Round, qc: &QuorumCert) -> Msg {
    let sig = TestSigner::new(voter).sign(&timeout_msg(0, round, qc.round));
    Msg::Timeout { voter, round, hqc_round: qc.round, sig, high_qc: Box::new(qc.clone()) }
}

/// A QC of `b` claiming all `n` validators signed, with a garbage aggregate.
fn forged_qc(n: usize, b: &SimBlock) -> QuorumCert {
    QuorumCert {
        epoch: 0,
        round: b.round,
        height: b.height,
        block_hash: b.hash,
        signer_bitmap: bitmap(n, 0..n),
        aggregate_signature: GARBAGE,
    }
}

fn block_of(w: &World<TestScheme>, slot: usize, hash: &Hash) -> Arc<SimBlock> {
    w.nodes[slot].block(hash).cloned().expect("block known to the node")
}

fn honest(n: usize) -> Vec<Role> {
    vec![Role::Honest; n]
}

const NO_GUARD: HostFaults = HostFaults { bind_hqc: true, accept_bad_signatures: false, skip_guard: true };

/// V2: voting without raising (and persisting) `high_qc` from `B.qc`. Four honest validators, no
/// Byzantine one — only the network is adversarial (messages held, as before GST):
///
/// ```text
/// r1  C (node 1) certified everywhere.
/// r2  P (node 2, on C): the votes reach only node 3, which forms QC(P) and proposes
/// r3  B (node 3, on P, carrying QC(P)): nodes 0, 1, 2 vote (the broken rule: their high QC stays
///     QC(C)); the votes reach only node 3, which forms QC(B) (B.qc.round = 2 = 3 − 1): COMMITS P.
///     Nodes 0, 1, 2 time out round 3 carrying their high QC — QC(C), round 1 — so TC(3) says
///     max_hqc_round = 1 although a quorum voted for a block carrying QC(P).
/// r4  D (node 0, on its high QC C, height 2, with TC(3)): legal by the safety rule (1 ≥ 1);
///     nodes 0, 1, 2 vote, QC(D).
/// r5  E (node 1, on D): QC(E) with E.qc.round = 4 = 5 − 1 commits D at nodes 0, 1, 2 — D and P
///     both final at height 2.
/// ```
///
/// With the rule (core or guard raising the high QC from B.qc) TC(3) carries QC(P), D extends P and
/// every commit agrees.
fn v2_schedule(faults: Faults, host: HostFaults) -> (Option<Violation>, Vec<Height>) {
    let mut w = manual(honest(4), Vec::new(), faults, host);
    round_one(&mut w);
    w.deliver_where(|e| is_proposal(e, 2));
    w.deliver_where(|e| is_vote(e, 2) && e.to == 3);
    w.drop_where(|e| round_of(e) == Some(2));
    w.deliver_where(|e| is_proposal(e, 3));
    w.deliver_where(|e| is_vote(e, 3) && e.to == 3);
    w.drop_where(|e| round_of(e) == Some(3));
    for s in [0, 1, 2] {
        w.fire(s, Timer::Propose, 3);
    }
    w.deliver_where(|e| is_timeout(e, 3) && among(&[0, 1, 2])(e));
    w.drop_where(|e| round_of(e) == Some(3));
    w.deliver_where(|e| is_proposal(e, 4) && to(&[1, 2])(e));
    w.deliver_where(|e| is_vote(e, 4) && to(&[0, 1, 2])(e));
    w.deliver_where(|e| is_proposal(e, 5) && to(&[0, 2])(e));
    w.deliver_where(|e| is_vote(e, 5) && to(&[0, 1, 2])(e));
    verdict(w)
}

#[test]
fn v2_vote_without_raising_high_qc_forks() {
    let v2 = Faults { skip_high_qc_from_proposal: true, ..Faults::default() };
    for (faults, host, what) in [
        (Faults::default(), HostFaults::default(), "correct core and guard"),
        (Faults::default(), NO_GUARD, "correct core without the guard"),
        (v2, HostFaults::default(), "V2 core, the guard still raises and persists the high QC"),
    ] {
        let (v, heights) = v2_schedule(faults, host);
        assert_eq!(v, None, "{what}: no violation expected (committed {heights:?})");
    }
    match v2_schedule(v2, NO_GUARD) {
        (Some(Violation::Fork { height: 2, .. }), _) => {}
        other => panic!("V2 without the guard must fork at height 2, got {other:?}"),
    }
}

/// V3: accepting a block whose parent is not `B.qc.block`. Node 0 Byzantine (leader of round 4):
///
/// ```text
/// r1  C (node 1) certified everywhere.       r2  P (node 2, on C) certified everywhere; C commits.
/// r3  B (node 3, on P): all vote, only node 2 sees QC(B) (B.qc.round = 2 = 3 − 1): node 2 COMMITS P.
///     Nodes 0, 1, 3 time out (high QC: QC(P)), TC(3) with max_hqc_round = 2.
/// r4  the Byzantine leader sends B′: qc = QC(P), tc = TC(3) — a legal certificate pair — but
///     parent = C and height 2 (a sibling of P). Nodes 1 and 3 vote (with the Byzantine vote: QC(B′)).
/// r5  E (node 1, on B′): QC(E) with E.qc.round = 4 = 5 − 1 commits B′'s parent chain — B′ — at
///     nodes 1 and 3: B′ and P both final at height 2.
/// ```
///
/// The correct core refuses B′ ("parent is not the block its QC certifies"), so nothing follows.
fn v3_schedule(faults: Faults) -> (Option<Violation>, Vec<Height>) {
    let mut roles = honest(4);
    roles[0] = Role::Byzantine(Byzantine::default());
    let mut w = manual(roles, Vec::new(), faults, HostFaults::default());
    round_one(&mut w);
    while w.deliver_where(|e| round_of(e) == Some(2)) > 0 {}
    w.deliver_where(|e| is_proposal(e, 3));
    w.deliver_where(|e| is_vote(e, 3) && e.to == 2);
    w.drop_where(|e| is_vote(e, 3));
    for s in [0, 1, 3] {
        w.fire(s, Timer::Propose, 3);
    }
    w.deliver_where(|e| is_timeout(e, 3) && among(&[0, 1, 3])(e));
    w.drop_where(|e| round_of(e) == Some(3));
    // The Byzantine leader's honest proposal D (on P, with TC(3)) becomes B′ (on C).
    let d = held_proposals(&w, 4).into_iter().next().expect("node 0 proposed in round 4");
    w.drop_where(|e| is_proposal(e, 4) || is_vote(e, 4));
    let c = block_of(&w, 1, &block_of(&w, 1, &d.parent).parent);
    let b2 = relink(&d, &c, 2, Some(0));
    inject(&mut w, 0, &[1, 3], &Msg::Proposal(Arc::new(b2.clone())));
    inject(&mut w, 0, &[1, 3], &vote(0, &b2, Some(0)));
    w.deliver_where(|e| is_proposal(e, 4));
    w.deliver_where(|e| is_vote(e, 4) && to(&[1, 3])(e));
    if let Some(e) = held_proposals(&w, 5).into_iter().next() {
        inject(&mut w, 0, &[1, 3], &vote(0, &e, Some(0)));
    }
    w.deliver_where(|e| is_proposal(e, 5) && e.to == 3);
    w.deliver_where(|e| is_vote(e, 5) && to(&[1, 3])(e));
    verdict(w)
}

/// V3, the height half: accepting a block whose height is not its parent's + 1. Rounds 1–3 certify
/// C, P, B (heights 1–3) everywhere; the Byzantine leader of round 4 sends D′ on B (qc = QC(B),
/// direct) at height 5. Honest nodes vote (with it: QC(D′)); E (node 1, on D′) is certified in round
/// 5 and commits D′: committed chains jump from height 3 to 5. The correct core refuses D′ (its
/// height is neither QC(B)'s height + 1 nor B's height + 1 — the second check is the one that needs
/// `skip_parent_link_check` to let it through, the first alone is skipped by that flag too).
fn v3_height_schedule(faults: Faults) -> (Option<Violation>, Vec<Height>) {
    let mut roles = honest(4);
    roles[0] = Role::Byzantine(Byzantine::default());
    let mut w = manual(roles, Vec::new(), faults, HostFaults::default());
    round_one(&mut w);
    while w.deliver_where(|e| round_of(e) == Some(2)) > 0 {}
    let b = held_proposals(&w, 3).into_iter().next().expect("node 3 proposed in round 3");
    while w.deliver_where(|e| round_of(e) == Some(3)) > 0 {}
    let d = held_proposals(&w, 4).into_iter().next().expect("node 0 proposed in round 4");
    w.drop_where(|e| round_of(e) == Some(4));
    let d2 = relink(&d, &b, b.height + 2, Some(0));
    inject(&mut w, 0, &[1, 2, 3], &Msg::Proposal(Arc::new(d2.clone())));
    inject(&mut w, 0, &[1, 2, 3], &vote(0, &d2, Some(0)));
    w.deliver_where(|e| is_proposal(e, 4));
    w.deliver_where(|e| is_vote(e, 4) && to(&[1, 2, 3])(e));
    if let Some(e) = held_proposals(&w, 5).into_iter().next() {
        inject(&mut w, 0, &[1, 2, 3], &vote(0, &e, Some(0)));
    }
    w.deliver_where(|e| is_proposal(e, 5) && to(&[2, 3])(e));
    w.deliver_where(|e| is_vote(e, 5) && to(&[1, 2, 3])(e));
    verdict(w)
}

#[test]
fn v3_accept_block_not_on_its_qc_forks() {
    let (v, heights) = v3_schedule(Faults::default());
    assert_eq!(v, None, "correct core: no violation expected (committed {heights:?})");
    match v3_schedule(Faults { skip_parent_link_check: true, ..Faults::default() }) {
        (Some(Violation::Fork { height: 2, .. }), _) => {}
        other => panic!("V3 must fork at height 2, got {other:?}"),
    }
    let (v, heights) = v3_height_schedule(Faults::default());
    assert_eq!(v, None, "correct core, height gap: no violation expected (committed {heights:?})");
    match v3_height_schedule(Faults { skip_parent_link_check: true, ..Faults::default() }) {
        (Some(Violation::BadChain { height: 5, .. }), _) => {}
        other => panic!("V3 (height) must commit a broken chain at height 5, got {other:?}"),
    }
}

/// A block of `round` by `proposer` on `parent` carrying `qc` and `tc`, signed by `signer`
/// (`None`: a garbage proposer signature).
#[allow(clippy::too_many_arguments)]
fn forge_block(
    template: &SimBlock,
    round: Round,
    proposer: usize,
    parent: &SimBlock,
    qc: QuorumCert,
    tc: Option<TimeoutCert>,
    signer: Option<usize>,
) -> SimBlock {
    let mut b = template.clone();
    b.round = round;
    b.proposer = proposer;
    b.qc = qc;
    b.tc = tc;
    relink(&b, parent, parent.height + 1, signer)
}

const EQUIVOCATE: Byzantine =
    Byzantine { equivocate: true, double_vote: false, bad_signatures: false, withhold: false, forge_tc: false };
const DOUBLE_VOTE: Byzantine =
    Byzantine { equivocate: false, double_vote: true, bad_signatures: false, withhold: false, forge_tc: false };
const BAD_SIGNATURES: Byzantine =
    Byzantine { equivocate: false, double_vote: false, bad_signatures: true, withhold: false, forge_tc: false };
const WITHHOLD: Byzantine =
    Byzantine { equivocate: false, double_vote: false, bad_signatures: false, withhold: true, forge_tc: false };

/// Asserts no violation under every `(faults, host)` of `fine`, and `broken` under the last one.
fn only_broken_fails(
    name: &str,
    run: impl Fn(Faults, HostFaults) -> (Option<Violation>, Vec<Height>),
    fine: &[(Faults, HostFaults, &str)],
    broken: (Faults, HostFaults),
    expect: impl Fn(&Violation) -> bool,
) {
    for (faults, host, what) in fine {
        let (v, heights) = run(*faults, *host);
        assert_eq!(v, None, "{name}, {what}: no violation expected (committed {heights:?})");
    }
    let (v, heights) = run(broken.0, broken.1);
    assert!(v.as_ref().is_some_and(&expect), "{name}, broken rules: got {v:?} (committed {heights:?})");
}

const VOTE_EVERY: Faults = Faults {
    literal_whitepaper_rules: false,
    skip_high_qc_from_proposal: false,
    skip_parent_link_check: false,
    skip_tc_high_qc_check: false,
    vote_every_proposal: true,
    count_duplicate_votes: false,
};

/// Equivocating proposer: node 2 (leader of round 2) signs two different blocks P1, P2 on C and
/// sends both to every honest node. A core that votes for every valid proposal of its round
/// (`vote_every_proposal`) and no safety guard behind it: every honest node signs yes votes for
/// both — the honest-double-vote checker fires. The correct core refuses the second proposal
/// (evidence of equivocation); the guard alone (broken core) refuses the second signature too.
fn equivocation_schedule(faults: Faults, host: HostFaults) -> (Option<Violation>, Vec<Height>) {
    let mut roles = honest(4);
    roles[2] = Role::Byzantine(EQUIVOCATE);
    let mut w = manual(roles, Vec::new(), faults, host);
    round_one(&mut w);
    let ps = held_proposals(&w, 2);
    assert_eq!(ps.len(), 2, "the equivocating leader signs two blocks");
    w.drop_where(|e| is_proposal(e, 2));
    for p in &ps {
        inject(&mut w, 2, &[0, 1, 3], &Msg::Proposal(p.clone()));
        w.deliver_where(|e| is_proposal(e, 2));
    }
    while w.deliver_where(|e| round_of(e) == Some(2)) > 0 {}
    verdict(w)
}

#[test]
fn equivocating_proposer_against_vote_every_proposal() {
    let (d, h) = (Faults::default(), HostFaults::default());
    only_broken_fails(
        "equivocating proposer",
        equivocation_schedule,
        &[(d, h, "correct core and guard"), (d, NO_GUARD, "correct core alone"), (VOTE_EVERY, h, "guard alone")],
        (VOTE_EVERY, NO_GUARD),
        |v| matches!(v, Violation::DoubleVote { round: 2, .. }),
    );
}

/// Copies every held message addressed to one twin (slots 3 and 4) from a non-twin to the other
/// twin, so both instances see the same traffic unless the script says otherwise.
fn mirror_twins(w: &mut World<TestScheme>) {
    let extra: Vec<Envelope> = w
        .held
        .iter()
        .filter(|e| e.from < 3 && (e.to == 3 || e.to == 4))
        .filter(|e| {
            let other = 7 - e.to;
            !w.held.iter().any(|x| x.from == e.from && x.to == other && x.msg.digest() == e.msg.digest())
        })
        .map(|e| Envelope { from: e.from, to: 7 - e.to, msg: e.msg.clone() })
        .collect();
    w.held.extend(extra);
}

/// Twins: validator 3 runs as two instances (slots 3 and 4) with one key, each honest code. Round 2:
/// P (node 2) is voted by all; only twin 3 sees QC(P) and, leading round 3, proposes B on P. Twin 4,
/// nodes 0 and 1 time out round 2 (TC(2), max hqc 1); twin 4, also leading round 3, proposes B′ on
/// C with TC(2). Both reach nodes 0, 1, 2: with `vote_every_proposal` and no guard, honest nodes sign
/// for both — honest double votes. The correct core (or the guard) signs only the first.
fn twins_schedule(faults: Faults, host: HostFaults) -> (Option<Violation>, Vec<Height>) {
    let mut roles = honest(4);
    roles[3] = Role::Twin;
    let mut w = manual(roles, vec![3], faults, host);
    w.start();
    mirror_twins(&mut w);
    while w.deliver_where(|e| round_of(e) == Some(1)) > 0 {
        mirror_twins(&mut w);
    }
    mirror_twins(&mut w);
    w.deliver_where(|e| is_proposal(e, 2));
    mirror_twins(&mut w);
    w.deliver_where(|e| is_vote(e, 2) && e.to == 3);
    w.drop_where(|e| is_vote(e, 2));
    for s in [0, 1, 4] {
        w.fire(s, Timer::Propose, 2);
    }
    mirror_twins(&mut w);
    w.deliver_where(|e| is_timeout(e, 2) && among(&[0, 1, 4])(e));
    w.drop_where(|e| round_of(e) == Some(2));
    let ps = held_proposals(&w, 3);
    assert_eq!(ps.len(), 2, "each twin proposes its own block in round 3");
    w.deliver_where(|e| is_proposal(e, 3) && to(&[0, 1, 2])(e));
    verdict(w)
}

#[test]
fn twins_against_vote_every_proposal() {
    let (d, h) = (Faults::default(), HostFaults::default());
    only_broken_fails(
        "twins",
        twins_schedule,
        &[(d, h, "correct core and guard"), (d, NO_GUARD, "correct core alone"), (VOTE_EVERY, h, "guard alone")],
        (VOTE_EVERY, NO_GUARD),
        |v| matches!(v, Violation::DoubleVote { round: 3, .. }),
    );
}

/// Double voter: node 3 (Byzantine) re-sends its yes vote and signs timeout votes that contradict
/// it. With a core that tallies vote messages instead of voters (`count_duplicate_votes`):
///
/// ```text
/// r1  C certified everywhere.    r2  P (node 2): the votes reach only node 3 (QC(P)); nodes 0, 1, 2
///     time out (TC(2), max hqc 1) and enter round 3.
/// r3  B (node 3, on P) reaches only node 2, which votes; node 3 sends its vote for B twice: node 2
///     counts {2, 3, 3} as a quorum — a false QC(B) (B.qc.round = 2 = 3 − 1): node 2 COMMITS P.
///     Nodes 0, 1 time out with QC(C); node 3 signs a timeout for round 3 carrying QC(C) (after its
///     yes vote for B on QC(P)): TC(3) with max hqc 1.
/// r4  D (node 0, on C, height 2, TC(3)): nodes 0, 1 and the double voter: QC(D).
/// r5  E (node 1, on D): QC(E) commits D at nodes 0 and 1 — D and P both final at height 2.
/// ```
///
/// The correct core counts node 3 once: no QC(B), node 2 commits nothing that conflicts.
fn double_voter_schedule(faults: Faults, host: HostFaults) -> (Option<Violation>, Vec<Height>) {
    let mut roles = honest(4);
    roles[3] = Role::Byzantine(DOUBLE_VOTE);
    let mut w = manual(roles, Vec::new(), faults, host);
    round_one(&mut w);
    w.deliver_where(|e| is_proposal(e, 2));
    w.deliver_where(|e| is_vote(e, 2) && e.to == 3);
    w.drop_where(|e| is_vote(e, 2));
    for s in [0, 1, 2] {
        w.fire(s, Timer::Propose, 2);
    }
    w.deliver_where(|e| is_timeout(e, 2) && among(&[0, 1, 2])(e));
    w.drop_where(|e| round_of(e) == Some(2));
    let b = held_proposals(&w, 3).into_iter().next().expect("node 3 proposed in round 3");
    w.drop_where(|e| e.from == 3);
    inject(&mut w, 3, &[2], &Msg::Proposal(b.clone()));
    w.deliver_where(|e| is_proposal(e, 3));
    inject(&mut w, 3, &[2, 2], &vote(3, &b, Some(3)));
    w.deliver_where(|e| is_vote(e, 3) && e.to == 2);
    w.drop_where(|e| is_vote(e, 3));
    for s in [0, 1] {
        w.fire(s, Timer::Propose, 3);
    }
    let qc_c = block_of(&w, 2, &b.parent).qc.clone();
    assert_eq!(qc_c.round, 1);
    inject(&mut w, 3, &[0, 1], &timeout(3, 3, &qc_c));
    w.deliver_where(|e| is_timeout(e, 3) && among(&[0, 1, 3])(e));
    w.drop_where(|e| round_of(e) == Some(3));
    let d = held_proposals(&w, 4).into_iter().next().expect("node 0 proposed in round 4");
    w.deliver_where(|e| is_proposal(e, 4) && e.to == 1);
    inject(&mut w, 3, &[0, 1], &vote(3, &d, Some(3)));
    w.deliver_where(|e| is_vote(e, 4) && to(&[0, 1])(e));
    let e5 = held_proposals(&w, 5).into_iter().next().expect("node 1 proposed in round 5");
    w.deliver_where(|e| is_proposal(e, 5) && e.to == 0);
    inject(&mut w, 3, &[0, 1], &vote(3, &e5, Some(3)));
    w.deliver_where(|e| is_vote(e, 5) && to(&[0, 1])(e));
    verdict(w)
}

#[test]
fn double_voter_against_count_duplicate_votes() {
    let (d, h) = (Faults::default(), HostFaults::default());
    let dup = Faults { count_duplicate_votes: true, ..Faults::default() };
    only_broken_fails("double voter", double_voter_schedule, &[(d, h, "correct core")], (dup, h), |v| {
        matches!(v, Violation::Fork { height: 2, .. })
    });
}

/// Bad signatures: node 0 (Byzantine, leader of round 4) forges what it cannot sign. With a
/// verification layer that does not check signatures (`accept_bad_signatures`):
///
/// ```text
/// r1, r2  C, P certified everywhere (C commits).
/// r3  B (node 3, on P): only node 1 sees QC(B): node 1 COMMITS P.
/// r4  node 0 forges TC(3) (all four "timed out" with hqc 1, garbage aggregate, QC(C)) and proposes
///     B′ on C (height 2) with it — legal by the safety rule if the TC were real. Nodes 2, 3 vote;
///     node 0 adds its vote and a garbage one "from node 1": QC(B′) at nodes 2, 3.
/// r5  node 0 forges node 1's proposal E on B′ (garbage proposer signature, QC(B′) with a garbage
///     aggregate) and votes "from node 1": QC(E) commits B′ at nodes 2, 3 — B′ and P final at 2.
/// ```
///
/// The correct verification layer refuses every forged message; nothing follows.
fn bad_signatures_schedule(faults: Faults, host: HostFaults) -> (Option<Violation>, Vec<Height>) {
    let mut roles = honest(4);
    roles[0] = Role::Byzantine(BAD_SIGNATURES);
    let mut w = manual(roles, Vec::new(), faults, host);
    round_one(&mut w);
    while w.deliver_where(|e| round_of(e) == Some(2)) > 0 {}
    let b = held_proposals(&w, 3).into_iter().next().expect("node 3 proposed in round 3");
    w.deliver_where(|e| is_proposal(e, 3));
    w.deliver_where(|e| is_vote(e, 3) && e.to == 1 && e.from != 0);
    w.held.clear();
    let p = block_of(&w, 2, &b.parent);
    let c = block_of(&w, 2, &p.parent);
    let tc = TimeoutCert {
        epoch: 0,
        round: 3,
        signer_bitmap: bitmap(4, 0..4),
        hqc_rounds: vec![1; 4],
        aggregate_signature: GARBAGE,
        high_qc: p.qc.clone(),
    };
    let b2 = forge_block(&b, 4, 0, &c, p.qc.clone(), Some(tc), Some(0));
    inject(&mut w, 0, &[2, 3], &Msg::Proposal(Arc::new(b2.clone())));
    w.deliver_where(|e| is_proposal(e, 4));
    inject(&mut w, 0, &[2, 3], &vote(0, &b2, Some(0)));
    inject(&mut w, 0, &[2, 3], &vote(1, &b2, None));
    w.deliver_where(|e| is_vote(e, 4) && to(&[2, 3])(e));
    let e5 = forge_block(&b, 5, 1, &b2, forged_qc(4, &b2), None, None);
    inject(&mut w, 0, &[2, 3], &Msg::Proposal(Arc::new(e5.clone())));
    w.deliver_where(|e| is_proposal(e, 5));
    inject(&mut w, 0, &[2, 3], &vote(0, &e5, Some(0)));
    inject(&mut w, 0, &[2, 3], &vote(1, &e5, None));
    w.deliver_where(|e| is_vote(e, 5) && to(&[2, 3])(e));
    verdict(w)
}

#[test]
fn bad_signatures_against_unchecked_verification() {
    let (d, h) = (Faults::default(), HostFaults::default());
    only_broken_fails(
        "bad signatures",
        bad_signatures_schedule,
        &[(d, h, "verifying layer")],
        (d, HostFaults { accept_bad_signatures: true, ..h }),
        |v| matches!(v, Violation::Fork { height: 2, .. }),
    );
}

/// Withholding, decided by the Byzantine node itself. Node 0 is Byzantine with the withholding
/// behaviour and runs the honest core; its policy (`SimConfig::withhold_plan`, carried out by the
/// node for everything it sends, catch-up help included) is: its round-2 messages go to nobody,
/// its round-3 and round-4 messages only to nodes 2 and 3 — node 1 hears nothing from it in rounds
/// 2 to 4. The script never chooses whom node 0's messages
/// reach: it delivers every message node 0 sends as soon as it is sent ([`flush_byzantine`]), and
/// it only delays honest messages (before GST; none is ever dropped — at the end everything still
/// in flight is delivered). Leaders: round r is led by r mod 4.
///
/// ```text
/// r1  C (node 1) certified everywhere.
/// r2  B (node 2, on C): all vote; the honest votes reach node 0 first — node 0 forms QC(B) and
///     moves on; its own vote (and the catch-up help it would give) goes to nobody: nodes 1, 2, 3
///     time out (LAZY, high QC C), TC(2).
/// r3  B′ (node 3, on C via TC(2)): all vote, the votes are in flight. Nodes 0, 2, 3 time out;
///     node 0's timeout (carrying QC(B)) reaches only 2 and 3, who adopt B; TC(3) (max hqc 2).
/// r4  D (node 0, on B via TC(3)) — sent to nodes 2 and 3 only — both vote; node 2 sees QC(D)
///     (votes of 0, 2, 3). Node 1, never told about B, learns QC(B′) from the round-3 votes,
///     enters round 4 and times out with QC(B′); nodes 3 and 0 adopt it; TC(4) (max hqc 3)
///     reaches node 1 from node 3.
/// r5  D′ (node 1, on B′ via TC(4)): nodes 0, 1, 3 vote; nodes 1 and 3 see QC(D′).
/// ```
///
/// With the whitepaper's literal rules node 2 commits B (QC(D) commits D's parent) and nodes 1
/// and 3 commit B′: a fork at height 2. With the correct core neither B nor B′ commits (no two
/// consecutive certified rounds). With node 0 following no plan (sending everything to everyone)
/// and the same script, nodes learn QC(B) at once and nothing conflicting commits: the withholding
/// policy is what makes this schedule fork. (Before GST: after GST every honest message arrives within Δ, and
/// a single withholding node among four cannot keep a quorum's QC from an honest node long
/// enough — a QC needs two honest votes, which reach everyone.)
fn withholding_schedule(faults: Faults, plan: bool) -> (Option<Violation>, Vec<Height>) {
    let mut cfg: SimConfig = Scenario { faults, ..Scenario::new(4) }.config(0);
    cfg.roles = vec![Role::Byzantine(WITHHOLD), Role::Honest, Role::Honest, Role::Honest];
    cfg.twins.clear();
    let validators = (0..4).map(|i| Validator { id: PublicKey([i as u8; 32]), weight: 1 }).collect();
    cfg.epoch = EpochInfo::new(0, validators).expect("epoch");
    cfg.manual = true;
    if plan {
        cfg.withhold_plan = [(2, vec![]), (3, vec![2, 3]), (4, vec![2, 3])].into_iter().collect();
    }
    let mut w = World::new(cfg, Arc::new(TestScheme::new(4)));
    let hon = |set: &'static [usize]| move |e: &Envelope| e.from != 0 && set.contains(&e.to);
    // Delivers the honest messages `pick` selects, then everything node 0 sent.
    let step = |w: &mut World<TestScheme>, pick: &dyn Fn(&Envelope) -> bool| {
        w.deliver_where(|e| e.from != 0 && pick(e));
        flush_byzantine(w);
    };
    round_one(&mut w);
    flush_byzantine(&mut w);
    // r2: B everywhere; honest votes to node 0 (QC(B) there); timeouts of 1, 2, 3 among themselves.
    step(&mut w, &|e| is_proposal(e, 2));
    step(&mut w, &|e| is_vote(e, 2) && e.to == 0);
    for s in [1, 2, 3] {
        w.fire(s, Timer::Propose, 2);
    }
    flush_byzantine(&mut w);
    step(&mut w, &|e| is_timeout(e, 2) && hon(&[1, 2, 3])(e));
    // r3: B′ everywhere; votes in flight; timeouts of 0, 2, 3 (node 0's go where it sends them).
    step(&mut w, &|e| is_proposal(e, 3));
    for s in [0, 2, 3] {
        w.fire(s, Timer::Propose, 3);
        flush_byzantine(&mut w);
    }
    step(&mut w, &|e| is_timeout(e, 3) && hon(&[0, 2, 3])(e));
    // r4: node 0 proposed D (wherever it chose); honest round-4 votes to node 2 only.
    step(&mut w, &|e| is_vote(e, 4) && e.to == 2);
    // Node 1 gets the round-3 votes (QC(B′)), enters round 4; round-4 timeouts of 1, 3, 0.
    step(&mut w, &|e| is_vote(e, 3) && e.to == 1);
    for s in [1, 3, 0] {
        w.fire(s, Timer::Propose, 4);
        flush_byzantine(&mut w);
    }
    step(&mut w, &|e| is_timeout(e, 4) && hon(&[0, 1, 3])(e));
    step(&mut w, &|e| matches!(&e.msg, Msg::Tc(tc) if tc.round == 4) && e.from == 3 && e.to == 1);
    // r5: D′ to nodes 0 and 3; round-5 votes to nodes 1 and 3.
    step(&mut w, &|e| is_proposal(e, 5) && hon(&[0, 3])(e));
    step(&mut w, &|e| is_vote(e, 5) && hon(&[1, 3])(e));
    // GST: everything still in flight arrives.
    for _ in 0..8 {
        if w.deliver_where(|_| true) == 0 {
            break;
        }
    }
    verdict(w)
}

/// Delivers everything the Byzantine node 0 has sent (to whomever it sent it), until it sends
/// nothing more: the script never delays or redirects node 0's messages.
fn flush_byzantine(w: &mut World<TestScheme>) {
    while w.deliver_where(|e| e.from == 0) > 0 {}
}

#[test]
fn withholding_node_forks_literal_whitepaper_rules() {
    let (correct, heights) = withholding_schedule(Faults::default(), true);
    assert_eq!(correct, None, "correct core (committed {heights:?})");
    let literal = Faults { literal_whitepaper_rules: true, ..Faults::default() };
    let (v, heights) = withholding_schedule(literal, true);
    assert!(matches!(v, Some(Violation::Fork { height: 2, .. })), "literal rules: {v:?} ({heights:?})");
    // The same script with node 0 sending everything to everyone: no violation, even with the
    // literal rules — the withholding policy is what makes this schedule fork.
    let (v, heights) = withholding_schedule(literal, false);
    assert_eq!(v, None, "literal rules, node 0 not withholding (committed {heights:?})");
    let (v, heights) = withholding_schedule(Faults::default(), false);
    assert_eq!(v, None, "correct core, node 0 not withholding (committed {heights:?})");
}

/// Every run is bounded: simulated time by `gst + progress_window`, the work inside it by the event
/// budget. A run (or a script) that exhausts the budget stops and reports `NoProgress`.
#[test]
fn event_budget_ends_every_run() {
    let sc = Scenario::new(4);
    let mut cfg = sc.config(1);
    cfg.max_events = 40;
    let o = World::new(cfg, Arc::new(TestScheme::new(4))).run();
    assert!(o.stats.events <= 40, "{:?}", o.stats);
    assert!(matches!(o.violation, Some(Violation::NoProgress { .. })), "{:?}", o.violation);
    // The same seed with the default budget ends by itself, live and safe.
    assert_eq!(run_seed(&sc, 1, Arc::new(TestScheme::new(4))).violation, None);
    // A script looping "until nothing is left to deliver" ends at the budget too.
    let mut w = manual(honest(4), Vec::new(), Faults::default(), HostFaults::default());
    w.cfg.max_events = 500;
    let mut rounds = 0;
    while w.deliver_where(|_| true) > 0 {
        rounds += 1;
        for s in 0..4 {
            let r = w.nodes[s].core().round();
            w.fire(s, Timer::Propose, r);
        }
    }
    assert!(w.stats.events <= 500 && rounds > 0, "{:?}", w.stats);
    assert!(matches!(verdict(w).0, Some(Violation::NoProgress { .. })));
}
