//! Quorum certificates: borsh and JSON `QuorumCert` (block headers, proofs, `ConsensusMsg::Qc`).
//!
//! Invariants: canonical re-encoding; the signer bitmap decodes for validator counts 0..=64
//! without panicking, and a bitmap that decodes re-encodes to itself; the quorum weight of its
//! signers is computed without overflow; the aggregate signature check never panics.
#![no_main]

use lc_crypto::bls;
use lc_fuzz::fixtures::{epoch, CHANNEL};
use lc_fuzz::{borsh_canonical, borsh_roundtrip, json_roundtrip};
use lc_types::QuorumCert;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

fn check(qc: &QuorumCert) {
    for n in [0usize, 1, 4, 7, 8, 9, 64, qc.signer_bitmap.len() * 8] {
        if let Ok(who) = bls::signers(&qc.signer_bitmap, n) {
            assert!(!who.is_empty() && who.iter().all(|i| *i < n), "signers {who:?} of {n}");
            assert!(who.windows(2).all(|w| w[0] < w[1]), "signers are ascending and distinct");
            assert_eq!(bls::bitmap(n, who.iter().copied()), qc.signer_bitmap, "bitmap does not round trip");
        }
    }
    let e = epoch();
    if let Ok(who) = bls::signers(&qc.signer_bitmap, e.keys.len()) {
        let weight = e.info.weigh(&who.iter().copied().collect::<BTreeSet<_>>());
        assert!(weight <= e.info.total_weight());
        let _ = e.info.is_quorum(weight);
    }
    if let Ok(who) = bls::verify_qc(qc, CHANNEL, &e.keys) {
        assert_eq!(Ok(&who), bls::signers(&qc.signer_bitmap, e.keys.len()).as_ref());
    }
    json_roundtrip(qc);
}

fuzz_target!(|data: &[u8]| {
    if let Some(qc) = borsh_canonical::<QuorumCert>(data) {
        check(&qc);
    }
    if let Ok(qc) = serde_json::from_slice::<QuorumCert>(data) {
        check(&qc);
        borsh_roundtrip(&qc);
    }
});
