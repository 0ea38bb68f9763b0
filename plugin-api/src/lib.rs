//! The one crate loopchain plugins depend on.
//!
//! **ABI** ([`ScoreModule`]): an `abi_stable` prefix-type root module. Functions are only ever
//! appended (new ones after the `last_prefix_field` are read as `Option` by older hosts), only
//! `R*`/`StableAbi` types cross the boundary, and `abi_stable` checks the layout and the semver of
//! this crate when a library is loaded. The host hands every call a [`HostContext`] trait object:
//! namespaced `get`/`set`/`delete`, `emit_event`, `sender`, `tx_hash`, `block_height`,
//! `block_timestamp`. Host callbacks never panic.
//!
//! **SDK** ([`Score`], [`Context`], [`export_score!`]): a SCORE author writes a plain Rust type
//! implementing [`Score`] and one `export_score!(MyScore);`. The generated glue catches panics
//! and turns them into errors (a failed receipt), so a buggy SCORE never takes the node down.
//!
//! **Determinism is the author's duty**: no clock, no randomness, no IO, no threads, no statics,
//! no `HashMap` iteration, no floats in state. State goes through the context only (use the JSON
//! or integer helpers of [`Context`]); the chain detects divergence through `state_root`.
//!
//! **Consensus schemes** ([`consensus`]): a second root-module kind ([`ConsensusModule`], checked
//! against [`CONSENSUS_API_VERSION`]) with its own SDK trait ([`consensus::Scheme`]) and export
//! macro ([`export_consensus!`]). The optional `conformance` feature adds [`conformance`]-style
//! checks every scheme's tests run.
//!
//! A SCORE crate: `crate-type = ["cdylib", "rlib"]`, depends only on this crate (same version as
//! the node), never sets `#[global_allocator]`, never builds with `panic = "abort"`.
#![warn(missing_docs)]

mod abi;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod consensus;
pub mod discovery;
pub mod sdk;

pub use abi::{
    HostContext, HostContextMut, HostContext_TO, ScoreMetadata, ScoreModule, ScoreModuleRef, SCORE_API_VERSION,
};
pub use consensus::{
    ConsensusModule, ConsensusModuleRef, GroupSpec, MemberSpec, SchemeHandle, SchemeHandleBox, SchemeMetadata,
    CONSENSUS_API_VERSION,
};
pub use sdk::{Context, Score};

/// Re-exported so that SCOREs and the host use the very same `abi_stable`.
pub use abi_stable;
/// Re-exported for SCORE authors.
pub use serde_json;
