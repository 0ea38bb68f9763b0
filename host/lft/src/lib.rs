//! The pure LFT consensus state machine.
//!
//! The host drives [`Lft`] with [`Input`]s (facts: a proposal arrived, a vote arrived, a timer
//! fired) and carries out the returned [`Output`]s (commands: build a proposal, cast a vote,
//! commit blocks, schedule a timer) in order. The core owns no clock, socket, key or database:
//! time arrives as timer inputs, signatures are verified by the host before a vote becomes an
//! input, and persistence is the host's duty for every output that says so.
//!
//! Rules (see `shared/reference/lft.md`):
//! - one leader per round ([`EpochInfo::proposer`], from the consensus plugin's schedule); the
//!   leader extends its high QC, carrying the TC of the previous round when it entered through one;
//! - a round is entered on a QC of the previous round or a TC of it — or of any later round (jump
//!   ahead); every verified QC raises the high QC;
//! - a validator votes at most once per round, only for a block of the current round from its
//!   leader whose parent is the block its QC certifies (height + 1), and only if the QC is of round
//!   `r − 1`, or the block carries TC(`r − 1`) and its QC is at least as high as the TC's highest
//!   signed high-QC round;
//! - NONE (no valid proposal in time) and LAZY (votes of a quorum, no certified block) are timeout
//!   votes carrying the high QC; a quorum of them is a TC; a yes vote never follows a timeout vote
//!   in the same round;
//! - quorum: `3 × weight > 2 × total` in integers (groups count only with an internal quorum);
//! - **commit rule**: a block certified in the round right after its parent's commits the parent
//!   and its uncommitted ancestors; an epoch end scheduled in the chain caps commits.
//!
//! Byzantine or stale input is refused with an [`enum@Error`] in [`Step::rejected`]; nothing panics.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod core;
mod epoch;

pub use crate::core::MAX_PENDING_BLOCKS;

pub use crate::core::{
    BlockInfo, Error, Faults, Input, Lft, Output, QcInfo, Resume, Step, TcInfo, TimeoutKind, Timer, ROUND_WINDOW,
};
pub use epoch::{EpochInfo, Group, ProposerSchedule, RoundRobin, Validator};
