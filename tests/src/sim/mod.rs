//! Deterministic simulator of an LFT cluster (issue item 6).
//!
//! N nodes, each the pure [`lc_lft::Lft`] core plus a [`lc_safety::SafetyGuard`] plus a host layer
//! that does what the engine does ([`node`]), on a seeded network over a discrete-event queue
//! ([`world`]): delays, drops, duplicates, reordering, partitions that heal at GST, crashes and
//! restarts, block sync. Byzantine validators equivocate, double-vote, send garbage signatures,
//! withhold messages, forge timeout certificates or run as twins. Checkers ([`checker`]) look for
//! forks, honest double votes, broken chains and missing progress after GST. Everything derives
//! from one seed: re-running a seed replays it exactly (same trace hash).
//!
//! Signatures go through [`scheme::Scheme`]: a cheap deterministic test scheme for thousands of
//! seeds, and real BLS for a smaller suite.
pub mod block;
pub mod checker;
pub mod node;
pub mod scenario;
pub mod scheme;
pub mod world;

pub use checker::Violation;
pub use node::{Byzantine, HostFaults, Role};
pub use scenario::{replay_command, run_seed, ByzMix, Order, Scenario, Weights};
pub use scheme::{BlsScheme, Scheme, TestScheme};
pub use world::{NetConfig, Outcome, SimConfig, World};
