//! Blocks as they arrive by block sync (`BlockSyncReply.blocks`) and inside proposals: borsh
//! `Block` and `BlockHeader`, and the JSON form.
//!
//! Invariants: canonical re-encoding; `block.hash() == sha3(borsh(header))`, stable; the carried
//! QC and TC, the proposer signature and the tx root can be checked without panicking (against
//! the fixture epoch); JSON round trip.
#![no_main]

use lc_fuzz::fixtures::{epoch, CHANNEL};
use lc_fuzz::{borsh_canonical, borsh_roundtrip, json_roundtrip};
use lc_types::{Block, BlockHeader};
use libfuzzer_sys::fuzz_target;

fn check_header(h: &BlockHeader) {
    let hash = h.hash();
    assert_eq!(hash, lc_types::sha3(&lc_types::encode(h)), "block hash is not sha3 of the canonical header");
    let e = epoch();
    let _ = e.info.index_of(&h.proposer);
    if let Some(qc) = &h.qc {
        let _ = lc_crypto::bls::verify_qc(qc, &h.channel, &e.keys);
    }
    if let Some(tc) = &h.tc {
        let _ = lc_crypto::bls::verify_tc(tc, CHANNEL, &e.keys);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(block) = borsh_canonical::<Block>(data) {
        check_header(&block.header);
        assert_eq!(block.hash(), block.header.hash(), "block hash is the header hash");
        let _ = lc_crypto::verify_block_signature(&block);
        let root = Block::compute_tx_root(&block.txs);
        assert_eq!(root, Block::compute_tx_root(&block.txs), "tx root is not stable");
        let _ = root == block.header.tx_root;
        json_roundtrip(&block);
    }
    if let Some(header) = borsh_canonical::<BlockHeader>(data) {
        check_header(&header);
        json_roundtrip(&header);
    }
    if let Ok(block) = serde_json::from_slice::<Block>(data) {
        check_header(&block.header);
        json_roundtrip(&block);
        borsh_roundtrip(&block);
    }
});
