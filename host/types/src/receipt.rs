use crate::Hash;
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Outcome of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptStatus {
    /// Executed; its writes are part of the block's state change.
    Success,
    /// Failed with the given code (SCORE result codes: 9000 exception, ...); its writes are discarded.
    Failure(u32),
}

/// An event emitted by a SCORE during a transaction.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Event {
    /// Emitting SCORE.
    pub score: String,
    /// Event name, e.g. `Transfer`.
    pub name: String,
    /// JSON payload.
    pub data_json: String,
}

/// Result of executing one transaction in a block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Receipt {
    /// The transaction.
    pub tx_hash: Hash,
    /// Success or failure code.
    pub status: ReceiptStatus,
    /// JSON result (`null` when there is none).
    pub result_json: String,
    /// Events emitted, in order.
    pub events: Vec<Event>,
    /// Error message for failures, empty on success.
    pub error: String,
}

impl Receipt {
    /// A successful receipt without result or events.
    pub fn success(tx_hash: Hash) -> Self {
        Self {
            tx_hash,
            status: ReceiptStatus::Success,
            result_json: "null".into(),
            events: vec![],
            error: String::new(),
        }
    }

    /// A failure receipt.
    pub fn failure(tx_hash: Hash, code: u32, error: impl Into<String>) -> Self {
        Self {
            tx_hash,
            status: ReceiptStatus::Failure(code),
            result_json: "null".into(),
            events: vec![],
            error: error.into(),
        }
    }
}
