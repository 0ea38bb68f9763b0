//! Finality proofs of loopchain blocks: built by a node from its committed headers, checked by
//! anyone holding the epoch's validator set (a light client needs nothing else).
//!
//! LFT commits a block P at height `h` **directly** when its child B (height `h + 1`) has
//! `B.round == P.round + 1` and B is certified (a QC for B exists); every other committed block is
//! committed as an ancestor of the first directly committed block `k ≥ h`. The proof of P is
//! therefore the header chain `h, h+1, …, k+1` (each header with its proposer signature) plus
//! `QC(k+1)`; in the normal case `k = h` and the proof is two headers and one QC.
//!
//! - [`ValidatorSet`] is the JSON document of an epoch's validators (`GET /api/v1/channel/validators`);
//!   [`ValidatorSet::check`] validates it once into a [`CheckedSet`].
//! - [`FinalityProof`] is the JSON proof; [`build`] / [`build_from_chain`] make it on the node,
//!   [`find_direct_commit`] finds `k`.
//! - [`verify`] / [`verify_with`] check a proof and return a [`VerifiedFinality`], or a
//!   [`ProofError`] naming the precise reason. Verification never panics, whatever the input.
//!
//! Every JSON object here rejects unknown fields (nested headers and certificates included) and
//! writes byte strings as lowercase hex, like the rest of `lc-types`.
//!
//! A proof covers one epoch: every header and every checked certificate must belong to the
//! validator set's epoch. (The first header's own `qc` certifies its parent, which is outside the
//! proof, so it is neither checked nor required to be of the same epoch.)
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
mod proof;
mod set;

pub use error::{ParseError, ProofError, SetError, Site};
pub use proof::{
    build, build_from_chain, find_direct_commit, verify, verify_with, FinalityProof, ProofHeader, VerifiedFinality,
    MAX_PROOF_HEADERS, MAX_PROOF_JSON_BYTES,
};
pub use set::{CheckedSet, GroupEntry, ValidatorEntry, ValidatorSet, MAX_SET_JSON_BYTES, MAX_VALIDATORS};
