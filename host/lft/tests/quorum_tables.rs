//! Quorum maths of the weight schemes as tables: each row is a scheme, a signer set, and whether
//! it is a quorum (`3 × votes > 2 × total`, integers). Includes ties and the exact 2/3 boundary.
use lc_lft::{EpochInfo, Group, Validator};
use lc_types::PublicKey;
use std::collections::BTreeSet;

fn validators(weights: &[u64]) -> Vec<Validator> {
    weights.iter().enumerate().map(|(i, w)| Validator { id: PublicKey([i as u8; 32]), weight: *w }).collect()
}

fn set(s: &[usize]) -> BTreeSet<usize> {
    s.iter().copied().collect()
}

/// (description, signers, expected votes, expected quorum)
type Row<'a> = (&'a str, &'a [usize], u64, bool);

fn check(epoch: &EpochInfo, rows: &[Row<'_>]) {
    for (what, signers, votes, quorum) in rows {
        let w = epoch.weigh(&set(signers));
        assert_eq!(w, *votes, "{what}: votes");
        assert_eq!(epoch.is_quorum(w), *quorum, "{what}: quorum with {w} of {}", epoch.total_weight());
    }
}

#[test]
fn equal_weights() {
    let four = EpochInfo::new(0, validators(&[1, 1, 1, 1])).expect("epoch");
    check(
        &four,
        &[
            ("2 of 4", &[0, 1], 2, false),
            ("3 of 4", &[0, 1, 3], 3, true),
            ("all", &[0, 1, 2, 3], 4, true),
            ("unknown index ignored", &[0, 1, 9], 2, false),
        ],
    );
    let three = EpochInfo::new(0, validators(&[1, 1, 1])).expect("epoch");
    check(&three, &[("exactly 2/3 is not more than 2/3", &[0, 1], 2, false), ("3 of 3", &[0, 1, 2], 3, true)]);
    let seven = EpochInfo::new(0, validators(&[1; 7])).expect("epoch");
    check(&seven, &[("4 of 7", &[0, 1, 2, 3], 4, false), ("5 of 7 (2f+1, f=2)", &[0, 1, 2, 3, 4], 5, true)]);
}

#[test]
fn stake_weights() {
    let e = EpochInfo::new(0, validators(&[5, 1, 1, 1])).expect("epoch");
    check(
        &e,
        &[
            ("the big one alone", &[0], 5, false),
            ("big + one", &[0, 1], 6, true),
            ("all small ones", &[1, 2, 3], 3, false),
        ],
    );
    let e = EpochInfo::new(0, validators(&[2, 2, 2])).expect("epoch");
    check(&e, &[("exact 2/3 boundary with weights", &[0, 1], 4, false)]);
}

#[test]
fn trusted_groups() {
    // Group A = {0,1,2} (weight 1 each) casting 3 votes; 3 and 4 ungrouped (weight 1): total 5.
    let e = EpochInfo::with_groups(0, validators(&[1, 1, 1, 1, 1]), vec![Group { members: vec![0, 1, 2], votes: 3 }])
        .expect("epoch");
    assert_eq!(e.total_weight(), 5);
    check(
        &e,
        &[
            ("2 of 3 in A is no internal quorum", &[0, 1, 3, 4], 2, false),
            ("A whole + one", &[0, 1, 2, 3], 4, true),
            ("A whole alone", &[0, 1, 2], 3, false),
            ("ungrouped only", &[3, 4], 2, false),
        ],
    );
    // Two groups of 2 votes each: a tie is never a quorum.
    let e = EpochInfo::with_groups(
        0,
        validators(&[1, 1, 1, 1, 1, 1]),
        vec![Group { members: vec![0, 1, 2], votes: 2 }, Group { members: vec![3, 4, 5], votes: 2 }],
    )
    .expect("epoch");
    check(&e, &[("one group of two (tie)", &[0, 1, 2], 2, false), ("both groups", &[0, 1, 2, 3, 4, 5], 4, true)]);
}

#[test]
fn invalid_group_layouts_are_refused() {
    let v = || validators(&[1, 1, 1]);
    assert!(EpochInfo::with_groups(
        0,
        v(),
        vec![Group { members: vec![0, 1], votes: 1 }, Group { members: vec![1], votes: 1 }]
    )
    .is_none());
    assert!(EpochInfo::with_groups(0, v(), vec![Group { members: vec![7], votes: 1 }]).is_none());
    assert!(EpochInfo::with_groups(0, v(), vec![Group { members: vec![], votes: 1 }]).is_none());
    assert!(EpochInfo::with_groups(0, v(), vec![Group { members: vec![0], votes: 0 }]).is_none());
    assert!(EpochInfo::with_groups(0, v(), vec![Group { members: vec![0], votes: u64::MAX / 2 }]).is_none());
}
