//! Quorum maths of the `equal` scheme through `lc_lft::EpochInfo` (the scheme linked as an
//! `rlib`, called through the same ABI glue a loaded library uses).

mod common;

use common::{check_table, epoch, ids, plain};
use consensus_equal::Equal;
use lc_plugin_host::{ConsensusScheme, SchemeError};
use loopchain_plugin_api::consensus::module;

#[test]
fn equal_scheme_quorums() {
    // Configured weights are ignored: every validator counts 1.
    let (scheme, info) = epoch::<Equal>(&plain(&[5, 1, 1, 1]), "");
    assert_eq!(scheme.weights(), [1, 1, 1, 1]);
    assert_eq!(info.epoch, 7);
    check_table(
        &info,
        4,
        &[
            (&[], 0, false),
            (&[0], 1, false),
            (&[0, 1], 2, false), // a 2-2 tie: neither side has a quorum
            (&[2, 3], 2, false),
            (&[0, 1, 2], 3, true),
            (&[0, 1, 2, 3], 4, true),
        ],
    );
    // Exactly two thirds is not a quorum.
    let (_, info) = epoch::<Equal>(&plain(&[1; 3]), "");
    check_table(&info, 3, &[(&[0, 1], 2, false), (&[0, 1, 2], 3, true)]);
    let (_, info) = epoch::<Equal>(&plain(&[1; 6]), "{}");
    check_table(&info, 6, &[(&[0, 1, 2, 3], 4, false), (&[0, 1, 2, 3, 4], 5, true), (&[0, 1, 2], 3, false)]);
    // Proposers: round-robin, through EpochInfo.
    assert_eq!((0..8).map(|r| info.proposer(r)).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5, 0, 1]);
}

#[test]
fn epoch_info_needs_one_identity_per_member() {
    let scheme = ConsensusScheme::configure(module::<Equal>(), &plain(&[1, 1, 1]), "").expect("configure");
    match scheme.epoch_info(1, ids(2)) {
        Err(SchemeError::Identities { expected: 3, got: 2, .. }) => {}
        other => panic!("expected an identities error, got {other:?}"),
    }
    let info = scheme.epoch_info(1, ids(3)).expect("epoch");
    assert_eq!(info.validators.iter().map(|v| v.id).collect::<Vec<_>>(), ids(3));
    assert_eq!(info.index_of(&ids(3)[2]), Some(2));
}
