//! Votes as they arrive in `ConsensusBatch`: borsh `VoteMsg` and the signed `Vote` fields.
//!
//! Invariants: canonical re-encoding; the message a vote signs is its own canonical encoding
//! exactly when its off-kind fields are zero (the engine rebuilds it with `vote_message` /
//! `timeout_message`); checking the signature against the fixture epoch (voter index out of range
//! included) and the carried high QC never panics; JSON round trip.
#![no_main]

use lc_crypto::bls;
use lc_fuzz::fixtures::epoch;
use lc_fuzz::{borsh_canonical, json_roundtrip};
use lc_types::{Hash, Vote, VoteKind, VoteMsg};
use libfuzzer_sys::fuzz_target;

fn signed_bytes(v: &Vote) -> Vec<u8> {
    match v.kind {
        VoteKind::Yes => bls::vote_message(&v.channel, v.epoch, v.round, v.height, v.block_hash),
        VoteKind::Timeout => bls::timeout_message(&v.channel, v.epoch, v.round, v.hqc_round),
    }
}

fn check_vote(v: &Vote) -> Vec<u8> {
    let msg = signed_bytes(v);
    let canonical = match v.kind {
        VoteKind::Yes => v.hqc_round == 0,
        VoteKind::Timeout => v.height == 0 && v.block_hash == Hash::ZERO,
    };
    assert_eq!(msg == lc_types::encode(v), canonical, "signed bytes of {v:?}");
    json_roundtrip(v);
    msg
}

fuzz_target!(|data: &[u8]| {
    if let Some(m) = borsh_canonical::<VoteMsg>(data) {
        let msg = check_vote(&m.vote);
        let e = epoch();
        let _ = bls::verify_from(&e.keys, m.voter as usize, &msg, &m.signature);
        if let Some(qc) = &m.high_qc {
            let _ = bls::verify_qc(qc, &m.vote.channel, &e.keys);
        }
        json_roundtrip(&m);
    }
    if let Some(v) = borsh_canonical::<Vote>(data) {
        check_vote(&v);
    }
});
