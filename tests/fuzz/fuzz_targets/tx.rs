//! Transactions as they arrive: borsh `Transaction` (peer `TxBatch`, block bodies) and borsh
//! `TxBody`; the REST API's `{"signed_tx": {...}}` and `{"signed_txs": [...]}` bodies (lc-rest
//! parses them with `serde_json::from_value::<Transaction>`, reproduced here because lc-rest pulls
//! RocksDB); and a bare transaction JSON object.
//!
//! Invariants: canonical re-encoding; the hash is `sha3(borsh(body))` and is stable; single and
//! batch signature verification agree (ZIP-215); JSON and borsh round trips give the same value.
#![no_main]

use lc_fuzz::{borsh_canonical, borsh_roundtrip, json_roundtrip};
use lc_types::{Transaction, TxBody};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn check(tx: &Transaction) {
    let hash = tx.hash();
    assert_eq!(hash, lc_types::sha3(&lc_types::encode(&tx.body)), "tx hash is not sha3 of the canonical body");
    assert_eq!(hash, tx.body.hash(), "tx hash is not stable");
    assert_eq!(tx.encoded_len(), lc_types::encode(tx).len());
    let single = lc_crypto::verify_tx(tx, &hash);
    let batch = lc_crypto::verify_txs(&[(tx, hash)]);
    assert_eq!(batch.len(), 1);
    assert_eq!(single.is_ok(), batch[0].is_ok(), "single and batch verification disagree: {single:?} {batch:?}");
    let _ = lc_types::validate_channel_name(&tx.body.channel);
    let _ = tx.body.payload.kind();
    json_roundtrip(tx);
    borsh_roundtrip(tx);
}

fuzz_target!(|data: &[u8]| {
    if let Some(tx) = borsh_canonical::<Transaction>(data) {
        check(&tx);
    }
    if let Some(body) = borsh_canonical::<TxBody>(data) {
        assert_eq!(body.hash(), lc_types::sha3(data), "a body's hash is sha3 of its canonical bytes");
        json_roundtrip(&body);
    }
    // The REST edge: the body must be a JSON object (lc-rest `json_object`).
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(data) else {
        if let Ok(tx) = serde_json::from_slice::<Transaction>(data) {
            check(&tx);
        }
        return;
    };
    if let Some(signed) = body.remove("signed_tx") {
        if let Ok(tx) = serde_json::from_value::<Transaction>(signed) {
            check(&tx);
        }
    }
    if let Some(Value::Array(items)) = body.remove("signed_txs") {
        for item in items {
            if let Ok(tx) = serde_json::from_value::<Transaction>(item) {
                check(&tx);
            }
        }
    }
    if let Ok(tx) = serde_json::from_value::<Transaction>(Value::Object(body)) {
        check(&tx);
    }
});
