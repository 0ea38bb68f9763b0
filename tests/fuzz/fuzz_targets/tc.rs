//! Timeout certificates: borsh and JSON `TimeoutCert` (block headers, `ConsensusMsg::Tc`).
//!
//! Invariants: canonical re-encoding; `verify_tc` / `verify_tc_votes` never panic (mismatched
//! `hqc_rounds`, rounds at `u64::MAX`, bad bitmaps), and a TC they accept is internally consistent.
#![no_main]

use lc_crypto::bls;
use lc_fuzz::fixtures::{epoch, CHANNEL};
use lc_fuzz::{borsh_canonical, borsh_roundtrip, json_roundtrip};
use lc_types::TimeoutCert;
use libfuzzer_sys::fuzz_target;

fn check(tc: &TimeoutCert) {
    let e = epoch();
    let votes = bls::verify_tc_votes(tc, CHANNEL, &e.keys);
    let full = bls::verify_tc(tc, CHANNEL, &e.keys);
    if let Ok(who) = &full {
        assert_eq!(votes.as_ref(), Ok(who), "verify_tc accepted what verify_tc_votes refuses");
    }
    if let Ok(who) = &votes {
        assert_eq!(who.len(), tc.hqc_rounds.len());
        assert_eq!(tc.hqc_rounds.iter().max(), Some(&tc.high_qc.round));
        assert!(tc.hqc_rounds.iter().all(|r| *r < tc.round));
    }
    json_roundtrip(tc);
}

fuzz_target!(|data: &[u8]| {
    if let Some(tc) = borsh_canonical::<TimeoutCert>(data) {
        check(&tc);
    }
    if let Ok(tc) = serde_json::from_slice::<TimeoutCert>(data) {
        check(&tc);
        borsh_roundtrip(&tc);
    }
});
