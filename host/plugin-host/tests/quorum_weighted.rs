//! Quorum maths of the `weighted` scheme through `lc_lft::EpochInfo`.

mod common;

use common::{check_table, epoch, plain};
use consensus_weighted::Weighted;
use lc_plugin_host::{ConsensusScheme, SchemeError};
use loopchain_plugin_api::consensus::module;

#[test]
fn weighted_scheme_quorums() {
    let (scheme, info) = epoch::<Weighted>(&plain(&[5, 1, 1, 1]), "");
    assert_eq!(scheme.weights(), [5, 1, 1, 1]);
    check_table(
        &info,
        8,
        &[
            (&[0], 5, false), // 15 > 16 fails
            (&[1, 2, 3], 3, false),
            (&[0, 1], 6, true),
            (&[0, 1, 2, 3], 8, true),
        ],
    );
    // Exact two-thirds boundary by weight.
    let (_, info) = epoch::<Weighted>(&plain(&[4, 1, 1]), "");
    check_table(&info, 6, &[(&[0], 4, false), (&[0, 1], 5, true), (&[1, 2], 2, false)]);
    // A tie between two halves.
    let (_, info) = epoch::<Weighted>(&plain(&[3, 3]), "");
    check_table(&info, 6, &[(&[0], 3, false), (&[1], 3, false), (&[0, 1], 6, true)]);
    // Params override the channel file's weights.
    let (scheme, info) = epoch::<Weighted>(&plain(&[1, 1, 1]), r#"{"weights":[2,2,2]}"#);
    assert_eq!(scheme.weights(), [2, 2, 2]);
    check_table(&info, 6, &[(&[0, 1], 4, false), (&[0, 1, 2], 6, true)]);
    // Proposers through EpochInfo are weight-proportional.
    let (_, info) = epoch::<Weighted>(&plain(&[3, 2, 1]), "");
    let mut seen = [0; 3];
    for r in 0..600 {
        seen[info.proposer(r)] += 1;
    }
    assert_eq!(seen, [300, 200, 100]);
}

#[test]
fn refused_params_are_errors() {
    match ConsensusScheme::configure(module::<Weighted>(), &plain(&[1, 1]), r#"{"weights":[1,0]}"#) {
        Err(SchemeError::Refused { scheme, reason }) => {
            assert_eq!(scheme, "weighted");
            assert!(reason.contains("weight 0"), "{reason}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match ConsensusScheme::configure(module::<Weighted>(), &plain(&[1]), "{oops") {
        Err(SchemeError::Refused { reason, .. }) => assert!(reason.contains("JSON"), "{reason}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(matches!(ConsensusScheme::configure(module::<Weighted>(), &[], ""), Err(SchemeError::Refused { .. })));
}
