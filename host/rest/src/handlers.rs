use crate::json::{block_json, receipt_json, status_json, transaction_json, ApiError};
use crate::{ApiState, MAX_BATCH_TXS};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lc_engine::{AdmitError, Channel, QueryError, ScoreRuntime, TxStatus};
use lc_types::{Address, Hash, Transaction};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

type Params = BTreeMap<String, String>;
type ApiResult = Result<Response, ApiError>;

/// Code the seed uses for invalid parameters.
const INVALID_PARAMS: i32 = -6;

fn params(q: Result<Query<Params>, QueryRejection>) -> Result<Params, ApiError> {
    q.map(|Query(p)| p).map_err(|e| ApiError::bad_request(INVALID_PARAMS, format!("invalid query string: {e}")))
}

fn channel<'a>(state: &'a ApiState, name: Option<&str>) -> Result<&'a Arc<Channel>, ApiError> {
    let name = name.unwrap_or(&state.default_channel);
    state
        .channels
        .get(name)
        .ok_or_else(|| ApiError::not_found(-1, format!("channel {name:?} is not served by this node")))
}

fn parse_hash(p: &Params) -> Result<Hash, ApiError> {
    let raw = p.get("hash").ok_or_else(|| ApiError::bad_request(INVALID_PARAMS, "missing query parameter hash"))?;
    Hash::from_hex(raw).map_err(|_| ApiError::bad_request(INVALID_PARAMS, "Invalid transaction hash."))
}

/// Parses a request body as a JSON object, whatever the Content-Type.
fn json_object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, ApiError> {
    let bytes = body.map_err(|e| ApiError {
        status: e.status(),
        code: if e.status() == StatusCode::PAYLOAD_TOO_LARGE { -107 } else { INVALID_PARAMS },
        message: format!("request body: {e}"),
        admission: false,
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request(INVALID_PARAMS, "request body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(INVALID_PARAMS, format!("malformed JSON body: {e}"))),
    }
}

fn admit_error(e: &AdmitError) -> ApiError {
    let status = match e {
        AdmitError::MempoolFull(_) | AdmitError::OutOfTpsLimit(_) => StatusCode::SERVICE_UNAVAILABLE,
        AdmitError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError { status, code: e.code(), message: e.to_string(), admission: true }
}

/// Runs admission (signature batches, storage reads) off the async workers.
async fn submit(ch: Arc<Channel>, txs: Vec<Transaction>) -> Result<Vec<Result<Hash, AdmitError>>, ApiError> {
    tokio::task::spawn_blocking(move || ch.submit(txs))
        .await
        .map_err(|e| ApiError::internal(format!("admission task failed: {e}")))
}

fn channel_field(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    match body.get("channel") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(INVALID_PARAMS, "channel must be a string")),
    }
}

pub(crate) async fn post_transaction(
    State(state): State<Arc<ApiState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let mut body = json_object(body)?;
    let named = channel_field(&body)?;
    let tx = if let Some(signed) = body.remove("signed_tx") {
        let tx: Transaction = serde_json::from_value(signed)
            .map_err(|e| ApiError::bad_request(-107, format!("invalid signed_tx: {e}")))?;
        let ch = channel(&state, Some(named.as_deref().unwrap_or(&tx.body.channel)))?;
        (Arc::clone(ch), tx)
    } else {
        // The seed's raw form: the whole object (minus `channel`) becomes the data.
        body.remove("channel");
        let ch = channel(&state, named.as_deref())?;
        let tx = ch.data_tx(Value::Object(body).to_string()).map_err(|e| admit_error(&e))?;
        (Arc::clone(ch), tx)
    };
    let (ch, tx) = tx;
    let result = submit(ch, vec![tx]).await?.pop().unwrap_or(Err(AdmitError::Storage("no result".into())));
    match result {
        Ok(hash) => Ok(Json(json!({"response_code": "0", "tx_hash": hash, "more_info": ""})).into_response()),
        Err(e) => Err(admit_error(&e)),
    }
}

pub(crate) async fn post_batch(State(state): State<Arc<ApiState>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let mut body = json_object(body)?;
    let named = channel_field(&body)?;
    let Some(Value::Array(items)) = body.remove("signed_txs") else {
        return Err(ApiError::bad_request(INVALID_PARAMS, "body must be {\"signed_txs\": [...]}"));
    };
    if items.len() > MAX_BATCH_TXS {
        return Err(ApiError::bad_request(
            -107,
            format!("{} transactions exceed the batch limit of {MAX_BATCH_TXS}", items.len()),
        ));
    }
    let ch = Arc::clone(channel(&state, named.as_deref())?);
    let mut results: Vec<Value> = vec![Value::Null; items.len()];
    let mut txs = Vec::with_capacity(items.len());
    let mut slots = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<Transaction>(item) {
            Ok(tx) => {
                txs.push(tx);
                slots.push(i);
            }
            Err(e) => {
                state.refusals.count(lc_engine::Reason::BadRequest);
                results[i] = json!({"response_code": "-107", "message": format!("invalid signed tx: {e}")});
            }
        }
    }
    let mut accepted = 0usize;
    for (slot, r) in slots.into_iter().zip(submit(ch, txs).await?) {
        results[slot] = match r {
            Ok(hash) => {
                accepted += 1;
                json!({"response_code": "0", "tx_hash": hash})
            }
            Err(e) => json!({"response_code": e.code().to_string(), "message": e.to_string()}),
        };
    }
    Ok(Json(json!({"response_code": "0", "accepted": accepted, "results": results})).into_response())
}

/// Parses `hash` and `channel` and looks the transaction up.
async fn lookup(state: &ApiState, q: Result<Query<Params>, QueryRejection>) -> Result<(Hash, TxStatus), ApiError> {
    let p = params(q)?;
    let hash = parse_hash(&p)?;
    let ch = Arc::clone(channel(state, p.get("channel").map(String::as_str))?);
    let status = tokio::task::spawn_blocking(move || ch.tx_status(&hash))
        .await
        .map_err(|e| ApiError::internal(format!("lookup task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("storage: {e}")))?;
    Ok((hash, status))
}

pub(crate) async fn get_transaction(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let (hash, status) = lookup(&state, q).await?;
    match transaction_json(&status, &hash) {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::not_found(3, "Transaction not found")),
    }
}

pub(crate) async fn get_result(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    match lookup(&state, q).await?.1 {
        TxStatus::Committed(stored, receipt) => Ok(Json(receipt_json(&stored, &receipt)).into_response()),
        TxStatus::Pending(_) => Ok(Json(json!({
            "response_code": "0",
            "response": {"code": 2, "message": "Pending transaction", "jsonrpc": "2.0"},
        }))
        .into_response()),
        TxStatus::Unknown => Ok((
            StatusCode::NOT_FOUND,
            Json(json!({
                "response_code": "3",
                "response": {"code": 3, "message": "Transaction not found", "jsonrpc": "2.0"},
            })),
        )
            .into_response()),
    }
}

pub(crate) async fn get_blocks(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let p = params(q)?;
    let ch = Arc::clone(channel(&state, p.get("channel").map(String::as_str))?);
    enum Which {
        Last,
        Height(u64),
        Hash(Hash),
    }
    let which = match (p.get("height"), p.get("hash")) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request(INVALID_PARAMS, "give height or hash, not both")),
        (Some(h), None) => Which::Height(h.parse().map_err(|_| {
            ApiError::bad_request(INVALID_PARAMS, format!("height must be a decimal number, got {h:?}"))
        })?),
        (None, Some(h)) => {
            Which::Hash(Hash::from_hex(h).map_err(|_| ApiError::bad_request(INVALID_PARAMS, "Invalid block hash."))?)
        }
        (None, None) => Which::Last,
    };
    let block = tokio::task::spawn_blocking(move || {
        let store = ch.store();
        match which {
            Which::Last => match store.tip()? {
                Some(t) => store.block(&t.hash),
                None => Ok(None),
            },
            Which::Height(h) => store.block_at(h),
            Which::Hash(h) => store.block(&h),
        }
    })
    .await
    .map_err(|e| ApiError::internal(format!("lookup task failed: {e}")))?
    .map_err(|e| ApiError::internal(format!("storage: {e}")))?;
    match block {
        Some(b) => Ok(Json(block_json(&b)).into_response()),
        None => Err(ApiError::not_found(3, "Block not found")),
    }
}

fn status_body(state: &ApiState, p: &Params) -> Result<(bool, Value), ApiError> {
    let ch = channel(state, p.get("channel").map(String::as_str))?;
    let s = ch.status();
    let online = s.halted.is_none();
    let mut body = status_json(ch.name(), &s, &Address::of(&ch.node_key()), &state.peer_target);
    if let Value::Object(m) = &mut body {
        m.insert("refusals".to_owned(), json!(state.refusals.snapshot()));
    }
    Ok((online, body))
}

pub(crate) async fn status_peer(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let (_, body) = status_body(&state, &params(q)?)?;
    Ok(Json(body).into_response())
}

pub(crate) async fn avail_peer(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let (online, body) = status_body(&state, &params(q)?)?;
    let code = if online { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((code, Json(body)).into_response())
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found(-1, "no such API path; see /api/v1/...")
}

fn runtime<'a>(state: &'a ApiState, ch: &Channel) -> Result<&'a ScoreRuntime, ApiError> {
    state
        .scores
        .get(ch.name())
        .ok_or_else(|| ApiError::not_found(-1, format!("channel {:?} runs no SCORE runtime", ch.name())))
}

/// Keys the seed's query accepts; anything else is invalid.
const QUERY_KEYS: [&str; 7] = ["method", "params", "channel", "score", "jsonrpc", "id", "sdk_version"];

pub(crate) async fn post_query(State(state): State<Arc<ApiState>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let body = json_object(body)?;
    if let Some(k) = body.keys().find(|k| !QUERY_KEYS.contains(&k.as_str())) {
        return Err(ApiError::bad_request(INVALID_PARAMS, format!("fail validate params. unknown key {k:?}")));
    }
    let method = match body.get("method") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(ApiError::bad_request(INVALID_PARAMS, "fail validate params. method (string) is required")),
    };
    let params = match body.get("params") {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Object(_)) => v.to_string(),
        Some(_) => {
            return Err(ApiError::bad_request(
                INVALID_PARAMS,
                "fail validate params. params must be an object or a string",
            ))
        }
    };
    let ch = Arc::clone(channel(&state, channel_field(&body)?.as_deref())?);
    let rt = runtime(&state, &ch)?.clone();
    let score = match body.get("score") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => rt.channel_score().to_owned(),
        Some(_) => return Err(ApiError::bad_request(INVALID_PARAMS, "fail validate params. score must be a string")),
    };
    let result = tokio::task::spawn_blocking(move || rt.query(ch.store(), &score, &method, &params))
        .await
        .map_err(|e| ApiError::internal(format!("query task failed: {e}")))?;
    match result {
        Ok(json) => {
            let response: Value = serde_json::from_str(&json).unwrap_or(Value::String(json));
            Ok(Json(json!({"response_code": "0", "response": response})).into_response())
        }
        Err(e @ (QueryError::NotDeployed(_) | QueryError::NotStaged(..))) => {
            Err(ApiError::not_found(9100, e.to_string()))
        }
        Err(e @ (QueryError::Score(_) | QueryError::Wrote(_))) => Err(ApiError::bad_request(9000, e.to_string())),
        Err(e @ QueryError::Storage(_)) => Err(ApiError::internal(e.to_string())),
    }
}

pub(crate) async fn status_score(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let p = params(q)?;
    let ch = Arc::clone(channel(&state, p.get("channel").map(String::as_str))?);
    let rt = runtime(&state, &ch)?.clone();
    let score = p.get("score").cloned().unwrap_or_else(|| rt.channel_score().to_owned());
    let active = rt.active(ch.store(), &score).map_err(|e| ApiError::internal(e.to_string()))?;
    let all: Vec<Value> = rt
        .registry()
        .all()
        .iter()
        .filter(|l| l.name == score)
        .map(|l| json!({"version": l.version, "code_hash": l.code_hash}))
        .collect();
    let mut body = json!({
        "response_code": "0",
        "id": score,
        "status": if active.is_some() { "active" } else { "not deployed" },
        "all_version": all,
        "last_load_error": rt.last_load_error(),
    });
    if let (Some(a), Some(m)) = (active, body.as_object_mut()) {
        m.insert("version".into(), json!(a.version));
        m.insert("code_hash".into(), json!(a.code_hash));
        m.insert("since_height".into(), json!(a.since_height));
    }
    Ok(Json(body).into_response())
}

pub(crate) async fn get_validators(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let p = params(q)?;
    let ch = Arc::clone(channel(&state, p.get("channel").map(String::as_str))?);
    let current = ch.epoch_state();
    let es = match p.get("epoch") {
        None => current,
        Some(e) => {
            let n: u64 = e.parse().map_err(|_| {
                ApiError::bad_request(INVALID_PARAMS, format!("epoch must be a decimal number, got {e:?}"))
            })?;
            if n == current.config.number {
                current
            } else {
                tokio::task::spawn_blocking(move || ch.past_epoch(n))
                    .await
                    .map_err(|e| ApiError::internal(format!("epoch task failed: {e}")))?
                    .map_err(|e| ApiError::internal(e.to_string()))?
                    .ok_or_else(|| ApiError::not_found(3, format!("epoch {n} is not known")))?
            }
        }
    };
    Ok(Json(es.validator_set(&state_channel_name(&state, &p))).into_response())
}

/// `GET /api/v1/blocks/proof?height=H`: the finality proof of committed block H (headers H..k+1
/// and QC(k+1), k the first directly committed block at or above H).
pub(crate) async fn get_proof(
    State(state): State<Arc<ApiState>>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let p = params(q)?;
    let ch = Arc::clone(channel(&state, p.get("channel").map(String::as_str))?);
    let height: u64 = match p.get("height") {
        Some(h) => h.parse().map_err(|_| {
            ApiError::bad_request(INVALID_PARAMS, format!("height must be a decimal number, got {h:?}"))
        })?,
        None => return Err(ApiError::bad_request(INVALID_PARAMS, "height is required")),
    };
    if height == 0 {
        return Err(ApiError::bad_request(
            INVALID_PARAMS,
            "the genesis block is trusted from the channel definition; it has no finality proof",
        ));
    }
    let proof = tokio::task::spawn_blocking(move || build_proof(&ch, height))
        .await
        .map_err(|e| ApiError::internal(format!("proof task failed: {e}")))??;
    Ok(Json(proof).into_response())
}

fn state_channel_name(state: &ApiState, p: &Params) -> String {
    p.get("channel").cloned().unwrap_or_else(|| state.default_channel.clone())
}

fn build_proof(ch: &Channel, height: u64) -> Result<lc_proof::FinalityProof, ApiError> {
    ch.finality_proof(height).map_err(|e| match e {
        lc_engine::Error::NotCommitted { .. } => ApiError::not_found(3, e.to_string()),
        e => ApiError::internal(e.to_string()),
    })
}
