//! Pure domain types of loopchain and their canonical encoding.
//!
//! Everything that is hashed or signed is encoded with [`borsh`] (deterministic, length-prefixed,
//! little-endian fixed-width integers); JSON only appears at the REST edge, where every byte string
//! is lowercase hex. This crate does no IO: no clock, no files, no sockets.
//!
//! Hashes are SHA3-256 everywhere:
//! - `tx_hash = sha3(borsh(TxBody))` (the transaction without its signature),
//! - `block_hash = sha3(borsh(BlockHeader))` (the header without the proposer signature),
//! - `state_root = sha3(parent.state_root ‖ sha3(borsh(sorted write set)))`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod block;
mod bytes;
mod cert;
mod encoding;
mod error;
mod genesis;
mod merkle;
mod receipt;
mod state;
mod tx;

pub use block::{Block, BlockHeader, BLOCK_VERSION};
pub use bytes::{BlsPublicKey, BlsSignature, Hash, PublicKey, Signature};
pub use cert::{ConsensusMsg, QuorumCert, TimeoutCert, Vote, VoteKind, VoteMsg};
pub use encoding::{decode, encode, MAX_MESSAGE_BYTES};
pub use error::{Error, Result};
pub use genesis::{genesis_block, ChannelDefinition, Member, Role};
pub use merkle::merkle_root;
pub use receipt::{Event, Receipt, ReceiptStatus};
pub use state::{state_root, WriteSet};
pub use tx::{validate_channel_name, Address, Payload, Transaction, TxBody};

/// Block height; genesis is 0.
pub type Height = u64;
/// Consensus round; grows strictly within an epoch.
pub type Round = u64;
/// Epoch number; the validator set is fixed within an epoch.
pub type Epoch = u64;

/// SHA3-256 of `data`.
pub fn sha3(data: &[u8]) -> Hash {
    use sha3::{Digest, Sha3_256};
    Hash(Sha3_256::digest(data).into())
}

/// SHA3-256 over several byte strings, concatenated.
pub fn sha3_concat(parts: &[&[u8]]) -> Hash {
    use sha3::{Digest, Sha3_256};
    let mut h = Sha3_256::new();
    for p in parts {
        h.update(p);
    }
    Hash(h.finalize().into())
}
