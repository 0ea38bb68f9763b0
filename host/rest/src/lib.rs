//! loopchain REST API v1.
//!
//! Paths and response fields follow the original loopchain (`/api/v1/...`, a stringified
//! `response_code` in every body). Bodies are parsed as JSON whatever the Content-Type (the seed's
//! curl sends none). Status codes: 200 for found, pending and success (`response.code` 0 success,
//! 2 pending); 404 for an unknown hash (body code 3) or channel; 400 for malformed input; 413 for
//! an oversize body; 503 when the channel is not serving. A refused request changes nothing.
//!
//! | path | what |
//! |---|---|
//! | `POST /api/v1/transactions` | `{"signed_tx": {...}}` or any other JSON object (becomes a node-signed `Data` tx) |
//! | `POST /api/v1/transactions/batch` | `{"signed_txs": [...]}`, one result per tx |
//! | `GET /api/v1/transactions?hash=` | the transaction (pending or committed) |
//! | `GET /api/v1/transactions/result?hash=` | pending / success / failure receipt |
//! | `GET /api/v1/blocks[?height=\|?hash=]` | last committed block, or the one asked for |
//! | `GET /api/v1/blocks/proof?height=H` | finality proof of committed block H (`lc_proof::FinalityProof`, bytes hex) |
//! | `GET /api/v1/channel/validators` | the current epoch's validator set (`lc_proof::ValidatorSet`) |
//! | `POST /api/v1/query` | `{"method": ..., "params": {...}}` (+ `score`, `channel`): a SCORE query over committed state |
//! | `GET /api/v1/status/score` | the channel SCORE: name, version, code hash, staged versions, last load error |
//! | `GET /api/v1/status/peer`, `/avail/peer` | channel status |
//!
//! `channel` is a query parameter (GET) or a JSON field (POST); default `LOOPCHAIN_DEFAULT_CHANNEL`.
#![warn(missing_docs)]

mod handlers;
mod json;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use lc_engine::{Channel, Refusals, ScoreRuntime};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Most transactions accepted in one batch request.
pub const MAX_BATCH_TXS: usize = 10_000;

/// What the REST layer serves.
#[derive(Debug)]
pub struct ApiState {
    /// Channels by name.
    pub channels: BTreeMap<String, Arc<Channel>>,
    /// SCORE runtime of each channel, by channel name.
    pub scores: BTreeMap<String, ScoreRuntime>,
    /// Channel used when a request names none.
    pub default_channel: String,
    /// This node's `host:port` for peers (reported in status).
    pub peer_target: String,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: usize,
    /// This node's peer id.
    pub peer_id: String,
    /// The node's refusal counters (shared with the gRPC server and channel admission).
    pub refusals: Arc<Refusals>,
}

/// The v1 router.
pub fn router(state: Arc<ApiState>) -> Router {
    let limit = state.max_body_bytes;
    Router::new()
        .route("/api/v1/transactions", post(handlers::post_transaction).get(handlers::get_transaction))
        .route("/api/v1/transactions/batch", post(handlers::post_batch))
        .route("/api/v1/transactions/result", get(handlers::get_result))
        .route("/api/v1/blocks", get(handlers::get_blocks))
        .route("/api/v1/blocks/proof", get(handlers::get_proof))
        .route("/api/v1/channel/validators", get(handlers::get_validators))
        .route("/api/v1/query", post(handlers::post_query))
        .route("/api/v1/status/score", get(handlers::status_score))
        .route("/api/v1/status/peer", get(handlers::status_peer))
        .route("/api/v1/avail/peer", get(handlers::avail_peer))
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
