//! REST (HTTP 200 with an integer `response_code`, as the original's `rest_server_rs.py`):
//! `/api/v1/peer/list`, `/peer/leader`, `/peer/status-list`, `/peer/status`, `/conf`.
use crate::proto::peer_service_client::PeerServiceClient;
use crate::proto::StatusRequest;
use crate::state::{code, shown, Registry, Target};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Endpoint;

/// How long the station waits for one peer's status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest status reply accepted from a peer.
const MAX_STATUS_BYTES: usize = 1 << 20;

type Params = Query<HashMap<String, String>>;
type Shared = State<Arc<Registry>>;

/// The REST router.
pub(crate) fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/api/v1/peer/list", get(peer_list))
        .route("/api/v1/peer/leader", get(peer_leader))
        .route("/api/v1/peer/status-list", get(peer_status_list))
        .route("/api/v1/peer/status", get(peer_status))
        .route("/api/v1/peer/{*rest}", get(no_resource).post(no_resource))
        .route("/api/v1/conf", get(conf))
        .route("/metrics", get(crate::metrics::get_metrics))
        .fallback(not_found)
        .with_state(registry)
}

fn fail(response_code: i32, message: String) -> Response {
    Json(json!({"response_code": response_code, "message": message})).into_response()
}

async fn no_resource() -> Response {
    fail(code::FAIL, "The resource doesn't exist".to_owned())
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"response_code": code::FAIL, "message": "The resource doesn't exist"})))
        .into_response()
}

/// The channel a request names (`channel=`), else the default one.
fn channel<'a>(registry: &'a Registry, params: &'a HashMap<String, String>) -> &'a str {
    registry.channel_name(params.get("channel").map(String::as_str).unwrap_or(""))
}

fn unknown_channel(channel: &str) -> Response {
    fail(code::FAIL, format!("unknown channel: {}", shown(channel)))
}

async fn peer_list(State(registry): Shared, Query(params): Params) -> Response {
    let channel = channel(&registry, &params);
    match registry.peer_list_json(channel) {
        Some(data) => Json(json!({"response_code": code::SUCCESS, "data": data})).into_response(),
        None => unknown_channel(channel),
    }
}

async fn peer_leader(State(registry): Shared, Query(params): Params) -> Response {
    let channel = channel(&registry, &params);
    match registry.leader_json(channel) {
        Some(Some(data)) => Json(json!({"response_code": code::SUCCESS, "data": data})).into_response(),
        Some(None) => fail(code::FAIL_NO_LEADER_PEER, "fail no leader peer".to_owned()),
        None => unknown_channel(channel),
    }
}

/// One peer's status JSON object (from `PeerService.GetStatus`), or an offline marker.
async fn fetch_status(target: &str, channel: &str, tls: Option<&lc_tls::TlsMaterial>) -> Map<String, Value> {
    let offline = |why: &str| {
        let mut m = Map::new();
        m.insert("status".to_owned(), Value::String(format!("Service is offline: {why}")));
        m
    };
    let ask = async {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{target}"))
            .map_err(|_| "bad target")?
            .connect_timeout(STATUS_TIMEOUT)
            .timeout(STATUS_TIMEOUT);
        if let Some(t) = tls {
            endpoint = endpoint.tls_config(t.client_config(lc_tls::target_host(target))).map_err(|_| "bad TLS")?;
        }
        let ch = endpoint.connect().await.map_err(|_| "unreachable")?;
        let reply = PeerServiceClient::new(ch)
            .max_decoding_message_size(MAX_STATUS_BYTES)
            .get_status(StatusRequest { channel: channel.to_owned() })
            .await
            .map_err(|_| "unreachable")?
            .into_inner();
        if reply.response_code != code::SUCCESS {
            return Err("the peer answered with an error");
        }
        match serde_json::from_str::<Value>(&reply.status) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err("the peer's status is not a JSON object"),
        }
    };
    match tokio::time::timeout(STATUS_TIMEOUT, ask).await {
        Ok(Ok(m)) => m,
        Ok(Err(why)) => offline(why),
        Err(_) => offline("unreachable"),
    }
}

fn claims_leader(status: &Map<String, Value>) -> bool {
    match status.get("peer_type") {
        Some(Value::String(s)) => s == "1",
        Some(Value::Number(n)) => n.as_u64() == Some(1),
        _ => false,
    }
}

/// Asks every target in parallel; results in registration order.
async fn statuses(
    targets: Vec<Target>,
    channel: &str,
    tls: Option<&lc_tls::TlsMaterial>,
) -> Vec<(Target, Map<String, Value>)> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, t) in targets.into_iter().enumerate() {
        let channel = channel.to_owned();
        let tls = tls.cloned();
        tasks.spawn(async move {
            let status = fetch_status(&t.target, &channel, tls.as_ref()).await;
            (i, t, status)
        });
    }
    let mut out = Vec::new();
    while let Some(done) = tasks.join_next().await {
        if let Ok(r) = done {
            out.push(r);
        }
    }
    out.sort_by_key(|(i, _, _)| *i);
    out.into_iter().map(|(_, t, s)| (t, s)).collect()
}

async fn peer_status_list(State(registry): Shared, Query(params): Params) -> Response {
    let channel = channel(&registry, &params).to_owned();
    let Some((targets, connected)) = registry.targets(&channel) else { return unknown_channel(&channel) };
    let registered = targets.len();
    let results = statuses(targets, &channel, registry.settings.tls.as_ref()).await;
    let leader = results.iter().find(|(_, s)| claims_leader(s)).map(|(t, _)| t.peer_id.clone());
    registry.set_leader_hint(&channel, leader);
    let list: Vec<Value> = results
        .into_iter()
        .map(|(t, mut s)| {
            s.insert("order".to_owned(), json!(t.order));
            s.insert("peer_id".to_owned(), json!(t.peer_id));
            Value::Object(s)
        })
        .collect();
    Json(json!({
        "response_code": code::SUCCESS,
        "data": {
            "registered_peer_count": registered,
            "connected_peer_count": connected,
            "peer_status_list": list,
        }
    }))
    .into_response()
}

async fn peer_status(State(registry): Shared, Query(params): Params) -> Response {
    let (Some(peer_id), Some(_group_id)) = (params.get("peer_id"), params.get("group_id")) else {
        return fail(
            code::FAIL_VALIDATE_PARAMS,
            "fail validate params: You must throw all of parameters : peer_id, group_id".to_owned(),
        );
    };
    let channel = channel(&registry, &params).to_owned();
    let Some((targets, _)) = registry.targets(&channel) else { return unknown_channel(&channel) };
    let Some(t) = targets.into_iter().find(|t| &t.peer_id == peer_id) else {
        return fail(code::FAIL, format!("no peer {} in channel {channel}", shown(peer_id)));
    };
    let mut s = fetch_status(&t.target, &channel, registry.settings.tls.as_ref()).await;
    s.insert("order".to_owned(), json!(t.order));
    s.insert("peer_id".to_owned(), json!(t.peer_id));
    Json(Value::Object(s)).into_response()
}

async fn conf(State(registry): Shared, Query(params): Params) -> Response {
    let all = &registry.settings.conf;
    match params.get("name") {
        None => Json(json!({"response_code": code::SUCCESS, "data": all})).into_response(),
        Some(name) => match all.iter().find(|e| e.get("name").and_then(Value::as_str) == Some(name.as_str())) {
            Some(entry) => Json(json!({"response_code": code::SUCCESS, "data": entry})).into_response(),
            None => fail(code::FAIL, format!("no configuration named {}", shown(name))),
        },
    }
}
