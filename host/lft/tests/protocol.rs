//! Step tables of the LFT core: each test feeds inputs and asserts the exact commands or refusals.
use lc_lft::{BlockInfo, EpochInfo, Error, Input, Lft, Output, QcInfo, Resume, TcInfo, TimeoutKind, Timer, Validator};
use lc_types::{Hash, Height, PublicKey, Round};

fn epoch(n: usize) -> EpochInfo {
    let vs = (0..n).map(|i| Validator { id: PublicKey([i as u8; 32]), weight: 1 }).collect();
    EpochInfo::new(0, vs).expect("epoch")
}

fn h(x: u8) -> Hash {
    Hash([x; 32])
}

const GENESIS: QcInfo = QcInfo { round: 0, height: 0, block_hash: Hash([0; 32]) };

fn qc(x: u8, height: Height, round: Round) -> QcInfo {
    QcInfo { round, height, block_hash: h(x) }
}

/// Block `x` at `round` on the block `parent` certifies, proposed by the round's leader (n = 4).
fn block(x: u8, round: Round, parent: QcInfo, tc: Option<TcInfo>) -> BlockInfo {
    BlockInfo {
        hash: h(x),
        height: parent.height + 1,
        round,
        parent: parent.block_hash,
        qc: parent,
        tc,
        proposer: (round % 4) as usize,
        empty: false,
        epoch_end: None,
    }
}

fn ok(lft: &mut Lft, input: Input) -> Vec<Output> {
    let step = lft.handle(input.clone());
    assert_eq!(step.rejected, None, "input {input:?} refused");
    step.outputs
}

fn vote(voter: usize, round: Round, b: &BlockInfo) -> Input {
    Input::Vote { voter, round, height: b.height, block_hash: b.hash }
}

fn timer(round: Round, backoff: u32) -> Output {
    Output::StartTimer { timer: Timer::Propose, round, backoff }
}

#[test]
fn single_validator_proposes_votes_certifies_and_commits_the_parent() {
    let mut e1 = epoch(1);
    e1 = e1.clone();
    let mut lft = Lft::from_root(e1, Some(0), GENESIS);
    let b1 = BlockInfo { proposer: 0, ..block(1, 1, GENESIS, None) };
    assert_eq!(
        lft.start(),
        vec![
            Output::EnterRound { round: 1, leader: 0 },
            timer(1, 0),
            Output::Propose { round: 1, height: 1, parent: GENESIS, tc: None, empty: false },
        ]
    );
    assert_eq!(
        ok(&mut lft, Input::Proposal(b1)),
        vec![Output::CastVote { round: 1, height: 1, block_hash: h(1), qc: GENESIS }]
    );
    let q1 = qc(1, 1, 1);
    assert_eq!(
        ok(&mut lft, vote(0, 1, &b1)),
        vec![
            Output::Certified { qc: q1, signers: vec![0] },
            Output::NewCandidate { qc: q1 },
            Output::EnterRound { round: 2, leader: 0 },
            timer(2, 0),
            Output::Propose { round: 2, height: 2, parent: q1, tc: None, empty: false },
        ]
    );
    let b2 = BlockInfo { proposer: 0, ..block(2, 2, q1, None) };
    let _ = ok(&mut lft, Input::Proposal(b2));
    let out = ok(&mut lft, vote(0, 2, &b2));
    assert!(out.contains(&Output::Commit { blocks: vec![h(1)], evidence: qc(2, 2, 2) }), "{out:?}");
    assert_eq!(lft.committed(), q1);
    assert_eq!(lft.high_qc(), qc(2, 2, 2));
}

#[test]
fn four_validators_need_three_votes_and_count_duplicates_once() {
    let mut lft = Lft::from_root(epoch(4), Some(2), GENESIS);
    let _ = lft.start();
    let b1 = block(1, 1, GENESIS, None);
    assert!(matches!(ok(&mut lft, Input::Proposal(b1)).as_slice(), [Output::CastVote { .. }]));
    assert_eq!(ok(&mut lft, vote(0, 1, &b1)), vec![]);
    assert_eq!(ok(&mut lft, vote(0, 1, &b1)), vec![], "duplicate counts once");
    // Two yes votes of four: no quorum yet.
    assert_eq!(ok(&mut lft, vote(1, 1, &b1)), vec![]);
    let out = ok(&mut lft, vote(2, 1, &b1));
    assert_eq!(out[0], Output::Certified { qc: qc(1, 1, 1), signers: vec![0, 1, 2] });
    assert_eq!(lft.round(), 2);
}

#[test]
fn byzantine_inputs_are_refused_without_state_change() {
    let mut lft = Lft::from_root(epoch(4), Some(0), GENESIS);
    let _ = lft.start();
    let refused = |lft: &mut Lft, input: Input| lft.handle(input).rejected;
    let b1 = block(1, 1, GENESIS, None);
    assert_eq!(
        refused(&mut lft, Input::Proposal(BlockInfo { proposer: 3, ..b1 })),
        Some(Error::WrongProposer { round: 1, got: 3, leader: 1 })
    );
    assert!(matches!(refused(&mut lft, Input::Proposal(BlockInfo { parent: h(9), ..b1 })), Some(Error::BadLink(_))));
    assert!(matches!(refused(&mut lft, Input::Proposal(BlockInfo { height: 2, ..b1 })), Some(Error::BadLink(_))));
    assert_eq!(refused(&mut lft, vote(9, 1, &b1)), Some(Error::UnknownVoter(9)));
    assert!(matches!(refused(&mut lft, vote(3, 100, &b1)), Some(Error::TooFarAhead { .. })));
    assert_eq!(refused(&mut lft, vote(3, 1, &b1)), None);
    assert_eq!(
        refused(&mut lft, vote(3, 1, &block(2, 1, GENESIS, None))),
        Some(Error::Equivocation { voter: 3, round: 1 })
    );
    // An equivocating leader: the first proposal is voted, the second is evidence.
    assert!(matches!(ok(&mut lft, Input::Proposal(b1)).as_slice(), [Output::CastVote { .. }]));
    assert_eq!(
        refused(&mut lft, Input::Proposal(block(2, 1, GENESIS, None))),
        Some(Error::Equivocation { voter: 1, round: 1 })
    );
    assert!(lft.block(&h(2)).is_some(), "the second proposal joins the tree (a quorum may certify it)");
    assert_eq!(lft.round(), 1);
    assert_eq!(lft.last_voted_round(), 1);
}

/// The propose timer fires: NONE vote (repeated while the round lasts); a quorum of timeout votes
/// forms TC(1); the leader of round 2 proposes on its high QC with the TC.
#[test]
fn timeouts_form_a_tc_and_the_next_leader_carries_it() {
    let mut lft = Lft::from_root(epoch(4), Some(2), GENESIS);
    let _ = lft.start();
    assert_eq!(
        ok(&mut lft, Input::Timeout { timer: Timer::Propose, round: 1 }),
        vec![Output::CastTimeout { round: 1, kind: TimeoutKind::None, high_qc: GENESIS }, timer(1, 0)]
    );
    // A proposal after the node's own timeout vote gets no yes vote.
    assert_eq!(ok(&mut lft, Input::Proposal(block(1, 1, GENESIS, None))), vec![]);
    for v in [0, 1] {
        assert_eq!(ok(&mut lft, Input::TimeoutVote { voter: v, round: 1, high_qc: GENESIS }), vec![]);
    }
    let out = ok(&mut lft, Input::TimeoutVote { voter: 2, round: 1, high_qc: GENESIS });
    let tc = TcInfo { round: 1, max_hqc_round: 0, high_qc: GENESIS };
    assert_eq!(
        out,
        vec![
            Output::TimeoutCertified { tc, signers: vec![(0, 0), (1, 0), (2, 0)] },
            Output::EnterRound { round: 2, leader: 2 },
            timer(2, 1),
            Output::Propose { round: 2, height: 1, parent: GENESIS, tc: Some(tc), empty: false },
        ]
    );
}

/// Safety rule through a TC: the block must extend a QC at least as high as the TC's highest
/// signed high-QC round.
#[test]
fn safety_rule_with_tc() {
    let q1 = qc(1, 1, 1);
    let b1 = block(1, 1, GENESIS, None);
    let setup = || {
        let mut lft = Lft::from_root(epoch(4), Some(0), GENESIS);
        let _ = lft.start();
        let _ = ok(&mut lft, Input::Proposal(b1));
        lft
    };
    // TC(2) whose highest signed QC is round 1; a round-3 block on genesis (qc round 0) is unsafe.
    let tc2 = TcInfo { round: 2, max_hqc_round: 1, high_qc: q1 };
    let mut lft = setup();
    let step = lft.handle(Input::Proposal(block(3, 3, GENESIS, Some(tc2))));
    assert_eq!(step.rejected, Some(Error::Unsafe { round: 3, qc_round: 0, tc: Some((2, 1)) }));
    assert!(step.outputs.contains(&Output::CastTimeout { round: 3, kind: TimeoutKind::None, high_qc: q1 }));
    // On q1 it is safe.
    let mut lft = setup();
    let out = ok(&mut lft, Input::Proposal(block(3, 3, q1, Some(tc2))));
    assert!(out.contains(&Output::CastVote { round: 3, height: 2, block_hash: h(3), qc: q1 }), "{out:?}");
    // Without a TC in the block, a QC of round 1 in round 3 is unsafe (even in round 3).
    let mut lft = setup();
    let _ = ok(&mut lft, Input::Tc(tc2));
    assert_eq!(lft.round(), 3);
    assert_eq!(
        lft.handle(Input::Proposal(block(3, 3, q1, None))).rejected,
        Some(Error::Unsafe { round: 3, qc_round: 1, tc: None })
    );
}

/// V1 (core part): a TC whose carried QC is not of its highest signed round is refused.
#[test]
fn v1_tc_must_carry_the_qc_of_its_highest_round() {
    let mut lft = Lft::from_root(epoch(4), Some(0), GENESIS);
    let _ = lft.start();
    let forged = TcInfo { round: 2, max_hqc_round: 1, high_qc: GENESIS };
    assert!(matches!(lft.handle(Input::Tc(forged)).rejected, Some(Error::BadTc(_))));
    assert!(matches!(lft.handle(Input::Proposal(block(3, 3, GENESIS, Some(forged)))).rejected, Some(Error::BadTc(_))));
    assert_eq!(lft.round(), 1);
}

/// V3: the parent must be the block the QC certifies, at height + 1.
#[test]
fn v3_parent_must_be_the_certified_block() {
    let mut lft = Lft::from_root(epoch(4), Some(0), GENESIS);
    let _ = lft.start();
    let b = BlockInfo { parent: h(7), ..block(1, 1, GENESIS, None) };
    assert_eq!(
        lft.handle(Input::Proposal(b)).rejected,
        Some(Error::BadLink("parent is not the block its QC certifies"))
    );
}

/// V2: voting raises the high QC from the block's QC, so a later timeout vote carries it.
#[test]
fn v2_voting_raises_high_qc_from_the_block() {
    let mut lft = Lft::from_root(epoch(4), Some(0), GENESIS);
    let _ = lft.start();
    let b1 = block(1, 1, GENESIS, None);
    let _ = ok(&mut lft, Input::Proposal(b1));
    let q1 = qc(1, 1, 1);
    // Round-2 proposal carrying QC(b1), seen before any vote of round 1 arrived here.
    let out = ok(&mut lft, Input::Proposal(block(2, 2, q1, None)));
    assert_eq!(lft.high_qc(), q1);
    assert!(out.contains(&Output::CastVote { round: 2, height: 2, block_hash: h(2), qc: q1 }));
    let out = ok(&mut lft, Input::Timeout { timer: Timer::Propose, round: 2 });
    assert_eq!(out[0], Output::CastTimeout { round: 2, kind: TimeoutKind::Lazy, high_qc: q1 });
}

/// Commit needs consecutive rounds: B certified in round 3 on a round-1 parent commits nothing;
/// its child certified in round 4 commits the parent chain.
#[test]
fn commit_rule_needs_consecutive_rounds() {
    let mut lft = Lft::from_root(epoch(4), None, GENESIS);
    let _ = lft.start();
    let b1 = block(1, 1, GENESIS, None);
    let _ = ok(&mut lft, Input::Proposal(b1));
    let q1 = qc(1, 1, 1);
    let tc2 = TcInfo { round: 2, max_hqc_round: 1, high_qc: q1 };
    let b3 = block(3, 3, q1, Some(tc2));
    let _ = ok(&mut lft, Input::Proposal(b3));
    let out = ok(&mut lft, Input::Qc(qc(3, 2, 3)));
    assert!(!out.iter().any(|o| matches!(o, Output::Commit { .. })), "round 1 → 3 is not consecutive: {out:?}");
    let b4 = block(4, 4, qc(3, 2, 3), None);
    let _ = ok(&mut lft, Input::Proposal(b4));
    let out = ok(&mut lft, Input::Qc(qc(4, 3, 4)));
    assert!(out.contains(&Output::Commit { blocks: vec![h(1), h(3)], evidence: qc(4, 3, 4) }), "{out:?}");
}

/// A lagging node jumps ahead on a proposal whose QC is of a later round and votes in it.
#[test]
fn jump_ahead_on_a_later_proposal() {
    let mut lft = Lft::from_root(epoch(4), Some(3), GENESIS);
    let _ = lft.start();
    let b1 = block(1, 1, GENESIS, None);
    let q1 = qc(1, 1, 1);
    let b2 = block(2, 2, q1, None);
    let _ = ok(&mut lft, Input::Block(b1));
    let out = ok(&mut lft, Input::Proposal(b2));
    assert!(out.contains(&Output::EnterRound { round: 2, leader: 2 }));
    assert!(out.contains(&Output::CastVote { round: 2, height: 2, block_hash: h(2), qc: q1 }), "{out:?}");
}

/// Votes of a round this node has not reached yet (within the window) still form a QC: the node
/// jumps ahead, and commits once the blocks arrive.
#[test]
fn future_round_votes_certify_and_commit_when_blocks_arrive() {
    let mut lft = Lft::from_root(epoch(4), Some(3), GENESIS);
    let _ = lft.start();
    let b1 = block(1, 1, GENESIS, None);
    let b2 = block(2, 2, qc(1, 1, 1), None);
    for v in [0, 1] {
        assert_eq!(ok(&mut lft, vote(v, 2, &b2)), vec![]);
    }
    let out = ok(&mut lft, vote(2, 2, &b2));
    assert_eq!(out[0], Output::Certified { qc: qc(2, 2, 2), signers: vec![0, 1, 2] });
    assert_eq!(lft.round(), 3);
    assert_eq!(ok(&mut lft, Input::Block(b1)), vec![]);
    let out = ok(&mut lft, Input::Block(b2));
    assert_eq!(out, vec![Output::Commit { blocks: vec![h(1)], evidence: qc(2, 2, 2) }]);
}

/// LAZY: a quorum of votes split between two blocks starts the vote timer; it fires a LAZY vote.
#[test]
fn split_votes_start_the_vote_timer() {
    let mut lft = Lft::from_root(epoch(4), Some(0), GENESIS);
    let _ = lft.start();
    let b1 = block(1, 1, GENESIS, None);
    let _ = ok(&mut lft, Input::Proposal(b1));
    let _ = ok(&mut lft, vote(0, 1, &b1));
    let _ = ok(&mut lft, vote(1, 1, &b1));
    let out = ok(&mut lft, Input::TimeoutVote { voter: 2, round: 1, high_qc: GENESIS });
    assert_eq!(out, vec![Output::StartTimer { timer: Timer::Vote, round: 1, backoff: 0 }]);
    let out = ok(&mut lft, Input::Timeout { timer: Timer::Vote, round: 1 });
    assert_eq!(out, vec![Output::CastTimeout { round: 1, kind: TimeoutKind::Lazy, high_qc: GENESIS }]);
}

/// After a restart the core resumes from the guard's state and does not vote twice in a round.
#[test]
fn resume_never_votes_twice() {
    let resume = Resume { committed: GENESIS, high_qc: GENESIS, last_voted_round: 1, last_tc: None };
    let mut lft = Lft::new(epoch(4), Some(0), resume);
    let _ = lft.start();
    assert_eq!(lft.round(), 1);
    assert_eq!(ok(&mut lft, Input::Proposal(block(1, 1, GENESIS, None))), vec![]);
}

/// Epoch end: above the last height only empty blocks; the commit stops at the last height.
#[test]
fn epoch_end_caps_commits() {
    let mut lft = Lft::from_root(epoch(4), None, GENESIS);
    lft.set_last_height(1);
    let _ = lft.start();
    let b1 = block(1, 1, GENESIS, None);
    let _ = ok(&mut lft, Input::Proposal(b1));
    let q1 = qc(1, 1, 1);
    assert_eq!(lft.handle(Input::Proposal(block(2, 2, q1, None))).rejected, Some(Error::NotEmpty(2)));
    let b2 = BlockInfo { empty: true, ..block(2, 2, q1, None) };
    let _ = ok(&mut lft, Input::Proposal(b2));
    let q2 = qc(2, 2, 2);
    let out = ok(&mut lft, Input::Qc(q2));
    assert!(out.contains(&Output::Commit { blocks: vec![h(1)], evidence: q2 }));
    assert!(out.contains(&Output::EpochEnded { last: h(1) }));
    let b3 = BlockInfo { empty: true, ..block(3, 3, q2, None) };
    let _ = lft.handle(Input::Proposal(b3));
    let out = ok(&mut lft, Input::Qc(qc(3, 3, 3)));
    assert!(!out.iter().any(|o| matches!(o, Output::Commit { .. } | Output::EnterRound { .. })), "{out:?}");
}

/// An epoch end scheduled by an uncommitted block: its descendants above the end height must be
/// empty, and a commit batch that reaches past it stops at it, however commits are batched.
#[test]
fn epoch_end_scheduled_in_the_chain_caps_a_batched_commit() {
    let mut lft = Lft::from_root(epoch(4), None, GENESIS);
    let _ = lft.start();
    let b1 = BlockInfo { epoch_end: Some(2), ..block(1, 1, GENESIS, None) };
    let _ = ok(&mut lft, Input::Proposal(b1));
    let q1 = qc(1, 1, 1);
    let _ = ok(&mut lft, Input::Proposal(block(2, 2, q1, None)));
    let q2 = qc(2, 2, 2);
    // Round 3 fails; round 4 extends b2 through TC(3).
    let tc3 = TcInfo { round: 3, max_hqc_round: 2, high_qc: q2 };
    let step = lft.handle(Input::Proposal(block(3, 4, q2, Some(tc3))));
    assert_eq!(step.rejected, Some(Error::NotEmpty(3)));
    // Its (verified) certificates still count: QC(b2) commits b1.
    assert!(step.outputs.contains(&Output::Commit { blocks: vec![h(1)], evidence: q2 }), "{:?}", step.outputs);
    let b3 = BlockInfo { empty: true, ..block(3, 4, q2, Some(tc3)) };
    let _ = ok(&mut lft, Input::Proposal(b3));
    let b4 = BlockInfo { empty: true, ..block(4, 5, qc(3, 3, 4), None) };
    let _ = ok(&mut lft, Input::Proposal(b4));
    // QC(b4) commits b3 and its ancestors in one batch: it stops at height 2.
    let out = ok(&mut lft, Input::Qc(qc(4, 4, 5)));
    assert!(out.contains(&Output::Commit { blocks: vec![h(2)], evidence: qc(4, 4, 5) }), "{out:?}");
    assert!(out.contains(&Output::EpochEnded { last: h(2) }), "{out:?}");
    assert_eq!(lft.committed(), q2);
}

/// A node that restarts after entering round 3 through TC(2) re-enters through the TC it kept,
/// so it still carries it (the host re-sends it to members left in round 2).
#[test]
fn resume_re_enters_through_the_kept_tc() {
    let q1 = qc(1, 1, 1);
    let tc2 = TcInfo { round: 2, max_hqc_round: 1, high_qc: q1 };
    let resume = Resume { committed: GENESIS, high_qc: q1, last_voted_round: 3, last_tc: Some(tc2) };
    let mut lft = Lft::new(epoch(4), Some(3), resume);
    let out = lft.start();
    assert_eq!(lft.round(), 3);
    assert_eq!(lft.entry_tc(), Some(tc2));
    assert!(out.contains(&Output::EnterRound { round: 3, leader: 3 }), "{out:?}");
    assert!(out.contains(&Output::Propose { round: 3, height: 2, parent: q1, tc: Some(tc2), empty: false }), "{out:?}");
}

/// Found by the `lft` fuzz target: certificates at the edge of the round space (which only a
/// quorum could sign) must not overflow the core's round arithmetic.
#[test]
fn certificates_near_the_last_round_do_not_overflow() {
    let mut lft = Lft::from_root(epoch(4), Some(0), GENESIS);
    let _ = lft.start();
    let _ = lft.handle(Input::Qc(qc(1, 1, Round::MAX)));
    let mut lft = Lft::from_root(epoch(4), Some(0), GENESIS);
    let _ = lft.start();
    let _ = lft.handle(Input::Tc(TcInfo { round: Round::MAX - 1, max_hqc_round: 0, high_qc: GENESIS }));
    let _ = lft.handle(vote(1, Round::MAX - 1, &block(1, 1, GENESIS, None)));
    let _ = lft.handle(vote(2, 5, &block(1, 1, GENESIS, None)));
}
