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
//! | `GET /metrics` | Prometheus metrics of every channel (OpenMetrics text; see `metrics.rs`) |
//! | `GET /dashboard` | the live dashboard page (assets under `/dashboard/assets/`, embedded) |
//! | `GET /api/v1/dashboard/state` | everything the dashboard shows: channels, members up/down, latest blocks with QC signers, counters |
//! | `GET /api/v1/dashboard/events` | recent events from the log collector (`LOG_COLLECTOR_TARGET`), proxied |
//!
//! `channel` is a query parameter (GET) or a JSON field (POST); default `LOOPCHAIN_DEFAULT_CHANNEL`.
//!
//! Every refused request (malformed 400, oversize 413, unknown channel 404, rate-limited 429 with
//! code -19) is counted by reason in the node's `lc_engine::Refusals`, shown under `refusals` in
//! `/api/v1/status/peer`.
#![warn(missing_docs)]

mod dashboard;
mod guard;
mod handlers;
mod json;
mod metrics;
mod probes;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use lc_engine::{Channel, Refusals, ScoreRuntime};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use probes::{ExtraCounter, ExtraMetricsFn, HeightsFuture, LinkStatusFn, LinkView, MemberView, PeerHeightsFn};

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
    /// Configured members of each channel, by channel name (dashboard and `loopchain_peers`).
    pub members: BTreeMap<String, Vec<MemberView>>,
    /// This node's link to each member (up/down in `/metrics` and the dashboard).
    pub link_status: LinkStatusFn,
    /// Asks the other members for their heights (dashboard).
    pub peer_heights: PeerHeightsFn,
    /// `HOST:PORT` of the log collector whose events the dashboard shows (empty: none).
    pub collector_target: String,
    /// Counters of other subsystems exported by `/metrics` (e.g. the log shipper's).
    pub extra_metrics: ExtraMetricsFn,
    /// Requests per second accepted from one client address (`RATE_LIMIT_PER_CLIENT`); 0: no
    /// limit. Needs the router served with connection info
    /// (`into_make_service_with_connect_info::<SocketAddr>()`).
    pub rate_limit_per_client: u32,
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
        .route("/metrics", get(metrics::get_metrics))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/", get(dashboard::page))
        .route("/dashboard/assets/{file}", get(dashboard::asset))
        .route("/api/v1/dashboard/state", get(dashboard::state))
        .route("/api/v1/dashboard/events", get(dashboard::events))
        .fallback(handlers::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            (Arc::clone(&state), guard::limiter(state.rate_limit_per_client)),
            guard::guard,
        ))
        .with_state(state)
}
