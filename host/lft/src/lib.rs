//! The pure LFT consensus state machine.
//!
//! The host drives [`Lft`] with [`Input`]s (facts: a proposal arrived, a vote arrived, a timer
//! fired) and carries out the returned [`Output`]s (commands: build a proposal, cast a vote,
//! commit blocks, schedule a timer) in order. The core owns no clock, socket, key or database:
//! time arrives as timer inputs, signatures are verified by the host before a vote becomes an
//! input, and persistence is the host's duty for every output that says so.
//!
//! Rules (see `shared/reference/lft.md`):
//! - one leader per round ([`EpochInfo::proposer`]); the leader extends its high QC;
//! - a validator votes at most once per round, only for a block of the current round from its
//!   leader whose parent is the certified block it names (`qc_round`), and only if
//!   `qc_round == round − 1` (timeout certificates arrive with the consensus work);
//! - a block whose yes votes reach a weighted quorum (`3 × weight > 2 × total`) becomes the new
//!   candidate (high QC); **commit rule**: if the certified block's parent was certified in the
//!   directly preceding round, the parent and its uncommitted ancestors commit.
//!
//! With one validator this degenerates to propose → self-vote → candidate → commit of the parent,
//! which is how a single-validator channel runs today. Timeout votes (NONE/LAZY), timeout
//! certificates and BLS aggregation are added by the LFT issue behind this same API.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod core;
mod epoch;

pub use crate::core::MAX_PENDING_BLOCKS;

pub use crate::core::{
    BlockInfo, Error, Faults, Input, Lft, Output, QcInfo, Resume, Step, TcInfo, TimeoutKind, Timer, ROUND_WINDOW,
};
pub use epoch::{EpochInfo, Group, ProposerSchedule, RoundRobin, Validator};
