//! Finality proofs and validator sets as a light client receives them: `FinalityProof::from_json`
//! verified against the fixture epoch, and `ValidatorSet::from_json` + `check()`.
//!
//! Invariants: parsing and verification never panic ("verification never panics, whatever the
//! input"); a parsed proof survives its JSON round trip; a proof that verifies is about its first
//! header, and stays valid after its round trip; a set that checks keeps its channel and epoch.
#![no_main]

use lc_fuzz::fixtures::epoch;
use lc_fuzz::json_roundtrip;
use lc_proof::{verify_with, FinalityProof, ValidatorSet};
use libfuzzer_sys::fuzz_target;

/// Sets with more validators cost a pairing each to check: a few are enough to explore `check`.
const MAX_CHECKED_VALIDATORS: usize = 16;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = FinalityProof::from_json(data) {
        json_roundtrip(&proof);
        let again = FinalityProof::from_json(proof.to_json().as_bytes()).expect("own JSON parses");
        assert_eq!(again, proof);
        let _ = proof.direct_commit_height();
        let e = epoch();
        if let Ok(v) = verify_with(&proof, &e.checked) {
            assert_eq!(v.block_hash, proof.block_hash);
            assert_eq!(v.height, proof.height);
            assert_eq!(v.header.hash(), proof.block_hash);
            assert_eq!(Some(v.direct_commit_height), proof.direct_commit_height());
            assert!(v.direct_commit_height >= v.height);
            assert_eq!(verify_with(&again, &e.checked), Ok(v));
        }
    }
    if let Ok(set) = ValidatorSet::from_json(data) {
        json_roundtrip(&set);
        if set.validators.len() <= MAX_CHECKED_VALIDATORS {
            if let Ok(checked) = set.check() {
                assert_eq!(checked.channel(), set.channel);
                assert_eq!(checked.epoch(), set.epoch);
                assert_eq!(checked.keys().len(), set.validators.len());
            }
        }
    }
});
