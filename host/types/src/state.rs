use crate::{encode, sha3_concat, Hash};
use std::collections::BTreeMap;

/// The writes of a block's successful transactions: key → `Some(value)` or `None` (delete,
/// hashed as a tombstone). A `BTreeMap`, so iteration (and the hash) is in key order.
pub type WriteSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// `state_root = sha3(parent_state_root ‖ sha3(borsh(sorted write set)))`.
pub fn state_root(parent_state_root: &Hash, writes: &WriteSet) -> Hash {
    let pairs: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = writes.iter().collect();
    let ws = crate::sha3(&encode(&pairs));
    sha3_concat(&[&parent_state_root.0, &ws.0])
}
