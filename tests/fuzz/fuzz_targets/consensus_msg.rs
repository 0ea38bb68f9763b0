//! Consensus traffic: borsh `ConsensusMsg`, each of `ConsensusBatch.messages` (proposal, vote, TC,
//! QC), checked the way the engine checks it on receipt, against the fixture epoch.
//!
//! Invariants: canonical re-encoding; `epoch()` is the inner value's epoch; hashing, proposer
//! signature, tx signatures (batch), vote signature, QC and TC checks never panic; JSON round trip.
#![no_main]

use lc_crypto::bls;
use lc_fuzz::fixtures::epoch;
use lc_fuzz::{borsh_canonical, json_roundtrip};
use lc_types::{Block, ConsensusMsg, Hash, Transaction, VoteKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(msg) = borsh_canonical::<ConsensusMsg>(data) else { return };
    let e = epoch();
    match &msg {
        ConsensusMsg::Proposal(block) => {
            assert_eq!(msg.epoch(), block.header.epoch);
            let hash = block.hash();
            assert_eq!(hash, lc_types::sha3(&lc_types::encode(&block.header)));
            let _ = lc_crypto::verify_block_signature(block);
            if let Some(qc) = &block.header.qc {
                let _ = bls::verify_qc(qc, &block.header.channel, &e.keys);
            }
            if let Some(tc) = &block.header.tc {
                let _ = bls::verify_tc(tc, &block.header.channel, &e.keys);
            }
            let items: Vec<(&Transaction, Hash)> = block.txs.iter().map(|t| (t, t.hash())).collect();
            let batch = lc_crypto::verify_txs(&items);
            assert_eq!(batch.len(), items.len());
            for ((tx, hash), r) in items.iter().zip(&batch) {
                assert_eq!(lc_crypto::verify_tx(tx, hash).is_ok(), r.is_ok(), "single and batch disagree");
            }
            let _ = Block::compute_tx_root(&block.txs) == block.header.tx_root;
        }
        ConsensusMsg::Vote(m) => {
            assert_eq!(msg.epoch(), m.vote.epoch);
            let v = &m.vote;
            let signed = match v.kind {
                VoteKind::Yes => bls::vote_message(&v.channel, v.epoch, v.round, v.height, v.block_hash),
                VoteKind::Timeout => bls::timeout_message(&v.channel, v.epoch, v.round, v.hqc_round),
            };
            let _ = bls::verify_from(&e.keys, m.voter as usize, &signed, &m.signature);
            if let Some(qc) = &m.high_qc {
                let _ = bls::verify_qc(qc, &v.channel, &e.keys);
            }
        }
        ConsensusMsg::Tc(tc) => {
            assert_eq!(msg.epoch(), tc.epoch);
            let _ = bls::verify_tc(tc, lc_fuzz::fixtures::CHANNEL, &e.keys);
        }
        ConsensusMsg::Qc(qc) => {
            assert_eq!(msg.epoch(), qc.epoch);
            let _ = bls::verify_qc(qc, lc_fuzz::fixtures::CHANNEL, &e.keys);
        }
    }
    json_roundtrip(&msg);
});
