//! Helpers shared by the consensus test files. Each test binary links at most ONE scheme `rlib`:
//! every scheme library exports the same root-module symbol, so two in one binary do not link.
#![allow(dead_code)]

use lc_lft::EpochInfo;
use lc_plugin_host::{ConsensusScheme, VotingMember};
use lc_types::PublicKey;
use loopchain_plugin_api::consensus::{module, Scheme};
use std::collections::BTreeSet;

pub(crate) fn ids(n: usize) -> Vec<PublicKey> {
    (0..n).map(|i| PublicKey([i as u8 + 1; 32])).collect()
}

pub(crate) fn plain(ws: &[u64]) -> Vec<VotingMember> {
    ws.iter().map(|w| VotingMember::new(*w)).collect()
}

pub(crate) fn epoch<S: Scheme>(members: &[VotingMember], params: &str) -> (ConsensusScheme, EpochInfo) {
    let scheme = ConsensusScheme::configure(module::<S>(), members, params).expect("configure");
    let info = scheme.epoch_info(7, ids(members.len())).expect("epoch info");
    (scheme, info)
}

/// `(signers, votes they carry, quorum?)` rows.
pub(crate) fn check_table(info: &EpochInfo, total: u64, rows: &[(&[usize], u64, bool)]) {
    assert_eq!(info.total_weight(), total);
    for (signers, votes, quorum) in rows {
        let set: BTreeSet<usize> = signers.iter().copied().collect();
        let w = info.weigh(&set);
        assert_eq!(w, *votes, "votes of {signers:?}");
        assert_eq!(info.is_quorum(w), *quorum, "quorum of {signers:?} ({w} of {total})");
    }
}
