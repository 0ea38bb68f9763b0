//! Request guard: per-client rate limit (`RATE_LIMIT_PER_CLIENT`) and refusal accounting.
//!
//! Handlers mark a refused request by putting its [`Reason`] into the response's extensions
//! ([`crate::json::ApiError`] does); this layer counts the mark in the node's
//! [`lc_engine::Refusals`]. Transaction admission refusals are counted by the channel itself and
//! carry no mark, so nothing is counted twice.
use crate::ApiState;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lc_engine::Reason;
use serde_json::json;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Per-client-address limiter.
pub(crate) type ClientLimiter = governor::DefaultKeyedRateLimiter<IpAddr>;

/// A limiter for `per_second` requests per client address; `None` when 0 (no limit).
pub(crate) fn limiter(per_second: u32) -> Option<Arc<ClientLimiter>> {
    std::num::NonZeroU32::new(per_second)
        .map(|n| Arc::new(governor::RateLimiter::keyed(governor::Quota::per_second(n))))
}

/// The original's code for "too many requests" (`TPS_LIMIT_PER_SEC`, -19).
const SERVER_TOO_BUSY: i32 = -19;

pub(crate) async fn guard(
    State((state, limiter)): State<(Arc<ApiState>, Option<Arc<ClientLimiter>>)>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(l) = &limiter {
        // Without connection info (in-process tests) there is no address to limit.
        if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
            if l.check_key(&addr.ip()).is_err() {
                state.refusals.count(Reason::ClientRateLimited);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({
                        "response_code": SERVER_TOO_BUSY.to_string(),
                        "message": format!("too many requests from {} (RATE_LIMIT_PER_CLIENT); retry later", addr.ip()),
                    })),
                )
                    .into_response();
            }
        }
    }
    let resp = next.run(req).await;
    if let Some(reason) = resp.extensions().get::<Reason>() {
        state.refusals.count(*reason);
    }
    resp
}
