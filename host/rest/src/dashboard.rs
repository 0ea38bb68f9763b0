//! The dashboard: a web page served by the node itself (`GET /dashboard`), its assets (embedded
//! in the binary: no CDN, no external request at run time), the one JSON call it polls
//! (`GET /api/v1/dashboard/state`) and the recent events from the log collector
//! (`GET /api/v1/dashboard/events`, proxied so the page needs no cross-origin access).
//!
//! The page derives the tx/s and finality latency series itself from successive states, so the
//! node keeps no time series.
use crate::{ApiState, LinkView};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lc_engine::metrics::BlockSummary;
use lc_engine::{Channel, CommitEvidence, EpochState, META_COMMIT_EVIDENCE};
use lc_types::{decode, QuorumCert, Role};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Latest committed blocks shown per channel.
pub(crate) const DASHBOARD_BLOCKS: u64 = 10;
/// Most events shown.
pub(crate) const MAX_EVENTS: usize = 50;
/// Largest answer accepted from the log collector.
const MAX_COLLECTOR_BYTES: usize = 1 << 20;
/// How long the log collector may take to answer.
const COLLECTOR_TIMEOUT: Duration = Duration::from_secs(2);

/// `(file name, content type, bytes)` of every asset.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("dashboard.js", "text/javascript; charset=utf-8", include_bytes!("../assets/dashboard.js")),
    ("dashboard.css", "text/css; charset=utf-8", include_bytes!("../assets/dashboard.css")),
    ("uPlot.iife.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/uPlot.iife.min.js")),
    ("uPlot.min.css", "text/css; charset=utf-8", include_bytes!("../assets/uPlot.min.css")),
    ("uPlot.LICENSE", "text/plain; charset=utf-8", include_bytes!("../assets/uPlot.LICENSE")),
];

const PAGE: &str = include_str!("../assets/dashboard.html");

fn no_cache(mut r: Response) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /dashboard`.
pub(crate) async fn page() -> Response {
    no_cache(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response())
}

/// `GET /dashboard/assets/{file}`.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => no_cache(([(header::CONTENT_TYPE, *content_type)], *bytes).into_response()),
        None => (StatusCode::NOT_FOUND, "no such dashboard asset").into_response(),
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Validator => "validator",
        Role::Auditor => "auditor",
    }
}

/// Peer ids of the signers of `qc`, through the validator set of its epoch.
fn signers(qc: &QuorumCert, epochs: &mut EpochCache<'_>) -> Vec<String> {
    let Some(es) = epochs.get(qc.epoch) else { return Vec::new() };
    let mut out = Vec::new();
    for (byte, bits) in qc.signer_bitmap.iter().enumerate() {
        for bit in 0..8 {
            if bits & (1 << bit) != 0 {
                if let Some(m) = es.voting.get(byte * 8 + bit) {
                    out.push(m.peer_id.to_string());
                }
            }
        }
    }
    out
}

/// Epoch states looked up once per request.
struct EpochCache<'a> {
    ch: &'a Channel,
    known: BTreeMap<u64, Option<Arc<EpochState>>>,
}

impl EpochCache<'_> {
    fn get(&mut self, epoch: u64) -> Option<Arc<EpochState>> {
        let ch = self.ch;
        self.known
            .entry(epoch)
            .or_insert_with(|| {
                let current = ch.epoch_state();
                if current.config.number == epoch {
                    Some(current)
                } else {
                    ch.past_epoch(epoch).ok().flatten()
                }
            })
            .clone()
    }
}

fn summary_from_store(ch: &Channel, height: u64) -> Option<BlockSummary> {
    let block = ch.store().block_at(height).ok()??;
    Some(BlockSummary {
        height,
        hash: block.hash(),
        tx_count: block.txs.len(),
        proposer: lc_types::Address::of(&block.header.proposer),
        timestamp_us: block.header.timestamp_us,
        carried_qc: block.header.qc,
        certified_by: None,
        finality_us: None,
    })
}

/// The QC certifying the committed tip, from the stored commit evidence.
fn tip_certificate(ch: &Channel, tip: &BlockSummary) -> Option<QuorumCert> {
    let bytes = ch.store().meta_get(META_COMMIT_EVIDENCE).ok()??;
    let ev: CommitEvidence = decode(&bytes).ok()?;
    match ev.blocks.first() {
        Some(child) if child.header.prev_hash == tip.hash => child.header.qc.clone(),
        _ if ev.qc.block_hash == tip.hash => Some(ev.qc),
        _ => None,
    }
}

/// The latest committed blocks (newest first), each with the signers of the QC that certifies
/// it: the one this node held at commit, else the one the next block carries, else (the tip
/// after a restart) the stored commit evidence.
pub(crate) fn latest_blocks(ch: &Channel, tip: u64) -> Vec<Value> {
    let from = tip.saturating_sub(DASHBOARD_BLOCKS - 1);
    let recent: BTreeMap<u64, BlockSummary> = ch
        .metrics
        .recent_blocks()
        .into_iter()
        .filter(|b| b.height >= from && b.height <= tip)
        .map(|b| (b.height, b))
        .collect();
    let rows: Vec<BlockSummary> =
        (from..=tip).filter_map(|h| recent.get(&h).cloned().or_else(|| summary_from_store(ch, h))).collect();
    let mut epochs = EpochCache { ch, known: BTreeMap::new() };
    let mut out = Vec::with_capacity(rows.len());
    for (i, b) in rows.iter().enumerate() {
        let next = rows.get(i + 1).filter(|n| n.height == b.height + 1);
        let qc = b.certified_by.clone().or_else(|| next.and_then(|n| n.carried_qc.clone())).or_else(|| {
            if b.height == tip && b.height > 0 {
                tip_certificate(ch, b)
            } else {
                None
            }
        });
        let qc_json = qc.map(
            |q| json!({"epoch": q.epoch, "round": q.round, "height": q.height, "signers": signers(&q, &mut epochs)}),
        );
        out.push(json!({
            "height": b.height,
            "hash": b.hash,
            "tx_count": b.tx_count,
            "proposer": b.proposer,
            "timestamp_us": b.timestamp_us,
            "finality_ms": b.finality_us.map(|us| us as f64 / 1000.0),
            "qc": qc_json,
        }));
    }
    out.reverse();
    out
}

fn link_json(l: &LinkView) -> Value {
    json!({"target": l.target, "connected": l.connected, "sent": l.sent, "dropped": l.dropped, "failures": l.failures})
}

/// One member's row: role and weight in the current epoch, and whether it is up as seen from
/// here (this node: always; others: answered the status probe, or, without a probe, the link's
/// last request succeeded).
fn member_json(
    state: &ApiState,
    channel: &str,
    es: &EpochState,
    view: &crate::MemberView,
    leader: Option<&str>,
    own_height: u64,
    heights: Option<&BTreeMap<String, u64>>,
) -> Value {
    let voting = es.voting.iter().find(|m| m.peer_id.to_string() == view.peer_id);
    let role = match voting {
        Some(_) => "validator",
        None if view.role == "auditor" => "auditor",
        None => "non-voting",
    };
    let weight = voting.map_or(0, |m| m.weight);
    let me = view.peer_id == state.peer_id;
    let link = if me { None } else { state.link_status.get(channel, &view.peer_id) };
    let height = if me { Some(own_height) } else { heights.and_then(|h| h.get(&view.peer_id).copied()) };
    let up = match (me, heights, &link) {
        (true, _, _) => true,
        (false, Some(_), _) => height.is_some(),
        (false, None, Some(l)) => l.connected,
        (false, None, None) => false,
    };
    let target = link.as_ref().map_or(view.target.clone(), |l| l.target.clone());
    json!({
        "peer_id": view.peer_id,
        "target": target,
        "role": role,
        "weight": weight,
        "group": view.group,
        "self": me,
        "leader": leader == Some(view.peer_id.as_str()),
        "up": up,
        "state": if up { "up" } else { "down" },
        "height": height,
        "link": link.as_ref().map(link_json),
    })
}

/// The members to list: the configured ones, else the current validators.
fn member_views(state: &ApiState, channel: &str, es: &EpochState) -> Vec<crate::MemberView> {
    match state.members.get(channel) {
        Some(v) if !v.is_empty() => v.clone(),
        _ => es
            .voting
            .iter()
            .map(|m| crate::MemberView {
                peer_id: m.peer_id.to_string(),
                target: if m.peer_id.to_string() == state.peer_id { state.peer_target.clone() } else { String::new() },
                role: role_name(m.role).into(),
                weight: m.weight,
                group: m.group.clone(),
            })
            .collect(),
    }
}

async fn channel_state(state: Arc<ApiState>, name: String, ch: Arc<Channel>) -> Value {
    let heights = state.peer_heights.probe(&name).await;
    let s = ch.status();
    let es = ch.epoch_state();
    let leader = (!es.voting.is_empty())
        .then(|| es.info.proposer(s.round))
        .and_then(|i| es.voting.get(i))
        .map(|m| m.peer_id.to_string());
    let members: Vec<Value> = member_views(&state, &name, &es)
        .iter()
        .map(|v| member_json(&state, &name, &es, v, leader.as_deref(), s.height, heights.as_ref()))
        .collect();
    let tip = s.height;
    let reader = Arc::clone(&ch);
    let blocks = tokio::task::spawn_blocking(move || latest_blocks(&reader, tip)).await.unwrap_or_default();
    let m = &ch.metrics;
    let finality = m.finality();
    let failures: serde_json::Map<String, Value> =
        m.round_failures().into_iter().map(|(c, n)| (c.as_str().to_owned(), json!(n))).collect();
    let score = state
        .scores
        .get(&name)
        .map(|rt| json!({"calls": rt.score_stats().calls(), "failures": rt.score_stats().failures()}));
    json!({
        "name": name,
        "height": s.height,
        "round": s.round,
        "epoch": s.epoch,
        "leader": s.leader,
        "leader_peer_id": leader,
        "validator": s.validator,
        "halted": s.halted,
        "mempool": s.mempool,
        "in_flight": s.in_flight,
        "total_tx": s.total_tx,
        "tip_hash": s.tip_hash,
        "tip_timestamp_us": s.tip_timestamp_us,
        "committed_tx_total": m.committed_txs(),
        "committed_blocks_total": m.committed_blocks(),
        "finality": {
            "count": finality.count,
            "sum_seconds": finality.sum_seconds,
            "recent_mean_ms": m.recent_finality_ms(),
        },
        "round_failures": failures,
        "score": score,
        "members": members,
        "blocks": blocks,
    })
}

/// `GET /api/v1/dashboard/state`: everything the page shows, in one call.
pub(crate) async fn state(State(state): State<Arc<ApiState>>) -> Response {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (name, ch)) in state.channels.iter().enumerate() {
        let (st, name, ch) = (Arc::clone(&state), name.clone(), Arc::clone(ch));
        tasks.spawn(async move { (i, channel_state(st, name, ch).await) });
    }
    let mut channels: Vec<(usize, Value)> = Vec::with_capacity(state.channels.len());
    while let Some(done) = tasks.join_next().await {
        if let Ok(c) = done {
            channels.push(c);
        }
    }
    channels.sort_by_key(|(i, _)| *i);
    Json(json!({
        "node": {"peer_id": state.peer_id, "target": state.peer_target},
        "now_us": lc_engine::now_us(),
        "collector": {"configured": !state.collector_target.is_empty(), "target": state.collector_target},
        "channels": channels.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    }))
    .into_response()
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder().timeout(COLLECTOR_TIMEOUT).build().unwrap_or_else(|_| reqwest::Client::new())
    })
}

/// Asks the collector; `Err` says why nothing came.
async fn fetch_events(target: &str) -> Result<Vec<Value>, String> {
    let url = format!("http://{target}/api/v1/events?limit={MAX_EVENTS}");
    let mut resp = client().get(&url).send().await.map_err(|e| format!("log collector {target}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("log collector {target} answered HTTP {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| format!("log collector {target}: {e}"))? {
        if body.len() + chunk.len() > MAX_COLLECTOR_BYTES {
            return Err(format!("log collector {target}: answer larger than {MAX_COLLECTOR_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    let v: Value =
        serde_json::from_slice(&body).map_err(|e| format!("log collector {target}: answer is not JSON: {e}"))?;
    let mut events = match v {
        Value::Array(a) => a,
        Value::Object(mut m) => match m.remove("events") {
            Some(Value::Array(a)) => a,
            _ => return Err(format!("log collector {target}: no events array in the answer")),
        },
        _ => return Err(format!("log collector {target}: answer is neither an array nor an object")),
    };
    // The collector answers oldest first; the page lists the newest first.
    events.retain(Value::is_object);
    events.reverse();
    events.truncate(MAX_EVENTS);
    Ok(events)
}

/// `GET /api/v1/dashboard/events`: `{"configured", "events": [...], "note"?, "error"?}`; the
/// events are the collector's records (`ts_us, node, channel, event, level, height, round,
/// message, fields`), newest first, at most [`MAX_EVENTS`]. Without a collector, or when it
/// cannot be reached, `events` is empty and `note` / `error` says why (HTTP 200 either way).
pub(crate) async fn events(State(state): State<Arc<ApiState>>) -> Response {
    let target = state.collector_target.trim();
    if target.is_empty() {
        return Json(json!({
            "configured": false,
            "events": [],
            "note": "no log collector configured (set LOG_COLLECTOR_TARGET to its HOST:PORT)",
        }))
        .into_response();
    }
    match fetch_events(target).await {
        Ok(events) => Json(json!({"configured": true, "target": target, "events": events})).into_response(),
        Err(e) => Json(json!({"configured": true, "target": target, "events": [], "error": e})).into_response(),
    }
}
