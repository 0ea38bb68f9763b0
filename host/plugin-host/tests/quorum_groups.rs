//! Quorum maths of the `groups` scheme (group-internal quorums) through `lc_lft::EpochInfo`.

mod common;

use common::{check_table, epoch};
use consensus_groups::Groups;
use lc_plugin_host::VotingMember;
use loopchain_plugin_api::consensus::TrustedGroup;

#[test]
fn groups_scheme_quorums() {
    // Groups a (0,1,2) and b (3,4), ungrouped 5 (weight 2) and 6 (weight 1). Default votes: the
    // group's weight, so a = 3, b = 2; total 3 + 2 + 2 + 1 = 8; a quorum needs 6.
    let members = vec![
        VotingMember::grouped(1, "a"),
        VotingMember::grouped(1, "a"),
        VotingMember::grouped(1, "a"),
        VotingMember::grouped(1, "b"),
        VotingMember::grouped(1, "b"),
        VotingMember::new(2),
        VotingMember::new(1),
    ];
    let (scheme, info) = epoch::<Groups>(&members, "");
    let want: Vec<TrustedGroup> =
        vec![TrustedGroup { members: vec![0, 1, 2], votes: 3 }, TrustedGroup { members: vec![3, 4], votes: 2 }];
    let got: Vec<TrustedGroup> = scheme
        .groups()
        .iter()
        .map(|g| TrustedGroup { members: g.members.iter().map(|m| *m as u32).collect(), votes: g.votes })
        .collect();
    assert_eq!(got, want);
    check_table(
        &info,
        8,
        &[
            (&[0, 1], 0, false),    // 2 of 3 inside a is exactly two thirds: a casts nothing
            (&[0, 1, 2], 3, false), // a agrees: 3 votes
            (&[3], 0, false),       // 1 of 2 inside b (a tie): nothing
            (&[0, 1, 2, 3, 4], 5, false),
            (&[0, 1, 2, 3, 4, 6], 6, true),
            (&[0, 1, 2, 5, 6], 6, true),
            (&[0, 1, 3, 4, 5, 6], 5, false), // a lacks its internal quorum
            (&[0, 1, 2, 3, 5, 6], 6, true),
        ],
    );
    // Params set group votes.
    let (_, info) = epoch::<Groups>(&members, r#"{"groups":{"a":5}}"#);
    check_table(&info, 10, &[(&[0, 1, 2, 5], 7, true), (&[0, 1, 2], 5, false), (&[3, 4, 5, 6], 5, false)]);
    // Weighted members inside a group: the internal quorum is by weight.
    let members = vec![VotingMember::grouped(2, "g"), VotingMember::grouped(1, "g"), VotingMember::new(1)];
    let (_, info) = epoch::<Groups>(&members, "");
    check_table(&info, 4, &[(&[0], 0, false), (&[0, 1], 3, true), (&[0, 2], 1, false), (&[1, 2], 1, false)]);
    // Proposers rotate over units (g, then 2), then members.
    assert_eq!((0..6).map(|r| info.proposer(r)).collect::<Vec<_>>(), vec![0, 2, 1, 2, 0, 2]);
}
