//! The host's handling of a misbehaving consensus scheme (panics, invalid answers, proposers
//! out of range), with a test scheme linked in-process.

mod common;

use common::{ids, plain};
use lc_lft::ProposerSchedule;
use lc_plugin_host::{ConsensusScheme, SchemeError, VotingMember};
use loopchain_plugin_api::consensus::{module, Scheme, TrustedGroup};
use loopchain_plugin_api::serde_json::Value;

/// A scheme that misbehaves on demand (selected by the first member's weight).
struct Faulty {
    mode: u64,
    n: u32,
}

impl Scheme for Faulty {
    const NAME: &'static str = "faulty";
    const VERSION: &'static str = "0.0.1";

    fn configure(members: &[VotingMember], _params: &Value) -> Result<Self, String> {
        let mode = members.first().map(|m| m.weight).unwrap_or(0);
        if mode == 99 {
            panic!("faulty configure panics");
        }
        Ok(Self { mode, n: members.len() as u32 })
    }

    fn weights(&self) -> Vec<u64> {
        match self.mode {
            1 => vec![1; self.n as usize + 1],        // one weight too many
            2 => vec![0; self.n as usize],            // zero weights
            4 => vec![u64::MAX / 2; self.n as usize], // overflowing total
            _ => vec![1; self.n as usize],
        }
    }

    fn groups(&self) -> Vec<TrustedGroup> {
        match self.mode {
            3 => vec![TrustedGroup { members: vec![0, 1], votes: 1 }, TrustedGroup { members: vec![1], votes: 1 }],
            5 => vec![TrustedGroup { members: vec![self.n], votes: 1 }],
            _ => Vec::new(),
        }
    }

    fn proposer(&self, round: u64) -> u32 {
        match (self.mode, round) {
            (10, 3) => panic!("faulty proposer panics at round 3"),
            (10, 4) => self.n + 5,
            _ => (round % u64::from(self.n)) as u32,
        }
    }

    fn max_gap(&self) -> u64 {
        u64::from(self.n)
    }
}

#[test]
fn misbehaving_schemes_are_caught() {
    let with_mode = |mode: u64| {
        let mut m = plain(&[1, 1, 1]);
        m[0].weight = mode;
        m
    };
    match ConsensusScheme::configure(module::<Faulty>(), &with_mode(99), "") {
        Err(SchemeError::Refused { reason, .. }) => {
            assert!(reason.contains("panicked") && reason.contains("faulty configure panics"), "{reason}")
        }
        other => panic!("a panicking configure must be refused, got {other:?}"),
    }
    for mode in [1, 2, 3, 4, 5] {
        match ConsensusScheme::configure(module::<Faulty>(), &with_mode(mode), "") {
            Err(SchemeError::Invalid { scheme, .. }) => assert_eq!(scheme, "faulty"),
            other => panic!("mode {mode}: an invalid answer must be refused, got {other:?}"),
        }
    }

    let scheme = ConsensusScheme::configure(module::<Faulty>(), &with_mode(10), "").expect("configure");
    assert_eq!(scheme.try_proposer(2), Ok(2));
    match scheme.try_proposer(3) {
        Err(SchemeError::Proposer { round: 3, reason, .. }) => {
            assert!(reason.contains("panics at round 3"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    match scheme.try_proposer(4) {
        Err(SchemeError::Proposer { round: 4, reason, .. }) => assert!(reason.contains("out of range"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Through the schedule: no panic, round-robin fallback, the fault is kept for the node.
    assert_eq!(scheme.fault(), None);
    let info = scheme.epoch_info(0, ids(3)).expect("epoch");
    assert_eq!(info.proposer(2), 2);
    assert_eq!(info.proposer(3), 0);
    assert_eq!(ProposerSchedule::proposer(&scheme, 4), 1);
    assert!(matches!(scheme.fault(), Some(SchemeError::Proposer { round: 3, .. })));
    assert_eq!(info.proposer(5), 2, "the scheme keeps answering after a failure");
}
