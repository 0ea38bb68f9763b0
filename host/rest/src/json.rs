//! JSON shapes of the v1 API.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lc_engine::{ChannelStatus, TxStatus};
use lc_storage::StoredTx;
use lc_types::{Address, Block, Payload, Receipt, ReceiptStatus, Transaction};
use serde_json::{json, Value};

/// An error answer: HTTP status plus `{"response_code": "<code>", "message": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: i32,
    pub(crate) message: String,
    /// Set for transaction admission refusals (counted by the channel, not here).
    pub(crate) admission: bool,
}

impl ApiError {
    pub(crate) fn bad_request(code: i32, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, code, message: message.into(), admission: false }
    }

    pub(crate) fn not_found(code: i32, message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, code, message: message.into(), admission: false }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self { status: StatusCode::INTERNAL_SERVER_ERROR, code: -1, message: message.into(), admission: false }
    }
}

impl ApiError {
    /// The refusal this error is counted as: malformed input (400), an oversize body (413) and
    /// an unknown channel. Admission errors (codes -106..-109, -19) are counted by the channel.
    fn reason(&self) -> Option<lc_engine::Reason> {
        use lc_engine::Reason;
        match self.status {
            StatusCode::PAYLOAD_TOO_LARGE => Some(Reason::BodyTooLarge),
            StatusCode::BAD_REQUEST if matches!(self.code, -6 | -107) && !self.admission => Some(Reason::BadRequest),
            StatusCode::NOT_FOUND if self.message.starts_with("channel ") => Some(Reason::UnknownChannel),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let reason = self.reason();
        let mut resp = (self.status, Json(json!({"response_code": self.code.to_string(), "message": self.message})))
            .into_response();
        if let Some(r) = reason {
            resp.extensions_mut().insert(r);
        }
        resp
    }
}

/// The payload's content as the seed's `data` field: Data payloads decode to their JSON.
pub(crate) fn payload_data(p: &Payload) -> Value {
    match p {
        Payload::Data { json } => serde_json::from_str(json).unwrap_or_else(|_| Value::String(json.clone())),
        Payload::Call { score, method, params_json } => json!({
            "score": score,
            "method": method,
            "params": serde_json::from_str::<Value>(params_json).unwrap_or_else(|_| Value::String(params_json.clone())),
        }),
        Payload::Deploy { score, code_hash, params } => {
            json!({"score": score, "code_hash": code_hash, "params": params})
        }
        Payload::ChannelConfig { json } => serde_json::from_str(json).unwrap_or_else(|_| Value::String(json.clone())),
    }
}

fn tx_meta(tx: &Transaction, hash: &lc_types::Hash) -> Value {
    json!({
        "channel_name": tx.body.channel,
        "tx_hash": hash,
        "from": Address::of(&tx.body.from),
        "timestamp_us": tx.body.timestamp_us,
        "nonce": tx.body.nonce,
        "payload_type": tx.body.payload.kind(),
    })
}

/// `GET /api/v1/transactions` body.
pub(crate) fn transaction_json(status: &TxStatus, hash: &lc_types::Hash) -> Option<Value> {
    let (tx, more_info, location) = match status {
        TxStatus::Committed(stored, receipt) => {
            let info = if receipt.status == ReceiptStatus::Success { "success" } else { "fail" };
            (&stored.tx, info, Some(stored.location))
        }
        TxStatus::Pending(tx) => (tx.as_ref(), "pending", None),
        TxStatus::Unknown => return None,
    };
    let mut meta = tx_meta(tx, hash);
    if let (Some(loc), Some(m)) = (location, meta.as_object_mut()) {
        m.insert("block_height".into(), json!(loc.height));
        m.insert("block_hash".into(), json!(loc.block_hash));
        m.insert("tx_index".into(), json!(loc.index));
    }
    Some(json!({
        "response_code": "0",
        "data": payload_data(&tx.body.payload),
        "meta": meta,
        "more_info": more_info,
        "signature": tx.signature,
        "public_key": tx.body.from,
        "tx": tx,
    }))
}

/// `GET /api/v1/transactions/result` body for a committed transaction.
pub(crate) fn receipt_json(stored: &StoredTx, r: &Receipt) -> Value {
    let code = match r.status {
        ReceiptStatus::Success => 0,
        ReceiptStatus::Failure(c) => c,
    };
    let mut response = json!({
        "code": code,
        "jsonrpc": "2.0",
        "result": serde_json::from_str::<Value>(&r.result_json).unwrap_or(Value::Null),
        "events": r.events,
        "block_height": stored.location.height,
        "block_hash": stored.location.block_hash,
        "tx_index": stored.location.index,
    });
    if let (false, Some(m)) = (r.error.is_empty(), response.as_object_mut()) {
        m.insert("message".into(), json!(r.error));
    }
    json!({"response_code": "0", "response": response})
}

/// A block in the seed's `block_data_json` / `tx_data_json` shape, plus our header fields.
pub(crate) fn block_json(block: &Block) -> Value {
    let h = &block.header;
    let hash = block.hash();
    let txs: Vec<Value> = block
        .txs
        .iter()
        .map(|tx| {
            json!({
                "tx_hash": tx.hash(),
                "timestamp": tx.body.timestamp_us,
                "data_string": match &tx.body.payload {
                    Payload::Data { json } => json.clone(),
                    other => payload_data(other).to_string(),
                },
                "peer_id": Address::of(&tx.body.from),
                "payload_type": tx.body.payload.kind(),
            })
        })
        .collect();
    json!({
        "response_code": "0",
        "block_hash": hash,
        "block_data_json": {
            "version": h.version,
            "channel": h.channel,
            "prev_block_hash": h.prev_hash,
            "height": h.height,
            "round": h.round,
            "epoch": h.epoch,
            "block_hash": hash,
            "merkle_tree_root_hash": h.tx_root,
            "state_root": h.state_root,
            "receipts_root": h.receipts_root,
            "time_stamp": h.timestamp_us,
            "peer_id": Address::of(&h.proposer),
            "proposer": h.proposer,
            "signature": block.proposer_signature,
            "qc": h.qc,
            "tc": h.tc,
            "tx_count": block.txs.len(),
        },
        "tx_data_json": txs,
    })
}

/// The seed's channel status object.
pub(crate) fn status_json(channel: &str, s: &ChannelStatus, peer_id: &Address, peer_target: &str) -> Value {
    let status = match &s.halted {
        Some(reason) => format!("Service is offline: {reason}"),
        None => "Service is online: 0".to_owned(),
    };
    json!({
        "response_code": "0",
        "channel": channel,
        "status": status,
        "service_available": s.halted.is_none(),
        "made_block_count": s.made_block_count,
        "peer_type": if s.leader { "1" } else { "0" },
        "audience_count": "0",
        "consensus": "lft",
        "peer_id": peer_id,
        "peer_target": peer_target,
        "block_height": s.height,
        "block_hash": s.tip_hash,
        "total_tx": s.total_tx,
        "unconfirmed_tx": s.mempool + s.in_flight,
        "mempool_tx": s.mempool,
        "round": s.round,
        "epoch": s.epoch,
        "validator": s.validator,
        "leader_complaint": 1,
    })
}
