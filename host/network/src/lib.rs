//! gRPC between loopchain processes.
//!
//! - [`PeerServer`] serves `PeerService` (see `plugin-api/proto/loopchain.proto`): consensus
//!   messages and relayed transactions go into the named channel's bounded inbox and mempool;
//!   block sync answers with committed blocks and the finality proof of the last one; status and
//!   library fetch by code hash.
//! - [`Links`] keeps one [`Link`] per remote peer: two bounded queues (consensus messages first,
//!   transaction batches second), each drained by its own task over one lazily connected HTTP/2
//!   channel. A full queue drops (counted), a failing peer is retried with backoff; a slow or
//!   dead peer never stalls the others or the caller.
//! - [`ChannelNet`] is one channel's view of the network: the engine's `Transport` (broadcast to
//!   the other members) and `TxRelay` (client transactions to the other members).
//! - [`sync::run`] keeps a channel caught up: it polls the members' heights and fetches missing
//!   committed blocks, which the driver verifies (every QC) before applying.
//! - [`radio`] is the radio-station client: channel infos, registration, heartbeat, membership
//!   events.
//!
//! Every payload that reaches a hash travels in its canonical borsh encoding. Requests are bounded
//! by [`MAX_MESSAGE_BYTES`] (senders chunk their batches below it); replies a client accepts by
//! [`MAX_LIBRARY_BYTES`] (a library can be large).
//!
//! Authentication: with mutual TLS ([`serve_tls`], [`Links::with_tls`]; `GRPC_SSL_TYPE=mutual`)
//! every connection needs a certificate of the channel CA that is not revoked, and every request's
//! claimed `peer_id` must be the certificate's, a member of the addressed channel, with the
//! member entry's identity and BLS keys; consensus messages only from validators; reads of a
//! channel (status, blocks, libraries) only by its members. Without TLS (dev and demo mode) the
//! claim is trusted and only the membership checks apply. Every refusal is counted by reason in
//! the shared [`lc_engine::Refusals`].
#![warn(missing_docs)]

mod fetch;
mod links;
mod net;
pub mod radio;
mod server;
pub mod sync;

/// Generated protobuf types and gRPC stubs.
#[allow(missing_docs, unreachable_pub, clippy::all, rust_2018_idioms)]
pub mod proto {
    tonic::include_proto!("loopchain");
}

pub use fetch::{fetch_library, PeerFetcher, FETCH_RETRY_AFTER, FETCH_TIMEOUT};
pub use links::{endpoint, Link, LinkStats, Links};
pub use net::ChannelNet;
pub use server::{serve, serve_tls, LibrarySource, PeerServer, Registry};

/// Largest gRPC message a node accepts (a full proposal is at most MAX_BLOCK_KBYTES plus headers).
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// Largest library (SCORE or consensus plugin) fetched from a peer.
pub const MAX_LIBRARY_BYTES: usize = 128 << 20;
/// Most consensus messages in one request.
pub const MAX_CONSENSUS_BATCH: usize = 1024;
/// Most transactions in one relayed batch.
pub const MAX_TX_BATCH: usize = 10_000;

/// Response codes shared with the original loopchain (`message_code.py`).
pub mod code {
    /// Success.
    pub const SUCCESS: i32 = 0;
    /// Generic failure.
    pub const FAIL: i32 = -1;
    /// Malformed parameters.
    pub const FAIL_VALIDATE_PARAMS: i32 = -6;
    /// Not enough data (e.g. an unknown block height).
    pub const FAIL_NOT_ENOUGH_DATA: i32 = -13;
    /// The sender is not listed for the channel.
    pub const FAIL_INVALID_PEER_TARGET: i32 = -12;
    /// The peer is unknown to the radio station.
    pub const FAIL_NO_PEER_INFO_IN_RS: i32 = -800;
}
