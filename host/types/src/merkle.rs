use crate::{sha3_concat, Hash};

/// Binary SHA3-256 merkle root over 32-byte leaves.
///
/// Leaf node = `sha3(0x00 ‖ leaf)`, inner node = `sha3(0x01 ‖ left ‖ right)`: the tags keep a
/// leaf from posing as an inner node (second-preimage safety of inclusion proofs). An odd last
/// node is promoted unchanged; the root of no leaves is the zero hash.
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level: Vec<Hash> = leaves.iter().map(|l| sha3_concat(&[&[0u8], &l.0])).collect();
    while level.len() > 1 {
        let mut next = Vec::with_capacity(level.len().div_ceil(2));
        for pair in level.chunks(2) {
            match pair {
                [l, r] => next.push(sha3_concat(&[&[1u8], &l.0, &r.0])),
                [single] => next.push(*single),
                _ => {}
            }
        }
        level = next;
    }
    level[0]
}
