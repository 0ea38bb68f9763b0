//! Shared pieces of the fuzz targets: the wire messages compiled from `loopchain.proto`, a fixed
//! epoch of four development validators to check certificates against, real encodings to seed the
//! corpora with, and the round-trip assertions every target applies.
//!
//! A decoder that returns `Err` is fine; a panic, or a decoded value that does not survive its own
//! encoding, is a bug.
#![forbid(unsafe_code)]

pub mod fixtures;

/// The gRPC messages of `PeerService` and `RadioStation` (prost, messages only).
#[allow(missing_docs, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/loopchain.rs"));
}

use borsh::{BorshDeserialize, BorshSerialize};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;

/// Decodes `data` as canonical borsh. When it decodes, the value must re-encode to exactly `data`
/// (the canonical encoding is what gets hashed and signed: two encodings of one value would give
/// one transaction two hashes).
pub fn borsh_canonical<T: BorshDeserialize + BorshSerialize + Debug>(data: &[u8]) -> Option<T> {
    let value = lc_types::decode::<T>(data).ok()?;
    let again = lc_types::encode(&value);
    assert_eq!(again, data, "borsh re-encoding of {value:?} differs from the decoded bytes");
    Some(value)
}

/// JSON round trip: `value` → JSON text → value must give back `value`, and the text must be
/// stable (serialising the second value gives the same text).
pub fn json_roundtrip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: &T) {
    let text = serde_json::to_string(value).expect("serialising a decoded value cannot fail");
    let back: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("own JSON {text} does not parse back: {e}"));
    assert_eq!(&back, value, "JSON round trip changed the value ({text})");
    let again = serde_json::to_string(&back).expect("serialising a decoded value cannot fail");
    assert_eq!(again, text, "JSON text is not stable");
}

/// Borsh round trip of a value that did not come from borsh (e.g. parsed from JSON).
pub fn borsh_roundtrip<T: BorshDeserialize + BorshSerialize + PartialEq + Debug>(value: &T) {
    let bytes = lc_types::encode(value);
    let back: T = lc_types::decode(&bytes).unwrap_or_else(|e| panic!("own encoding of {value:?} does not decode: {e}"));
    assert_eq!(&back, value, "borsh round trip changed the value");
}

/// Prost round trip: decode(encode(m)) == m, `encoded_len` is exact, and the encoding is stable.
pub fn prost_roundtrip<M: prost::Message + Default + PartialEq>(m: &M) {
    let bytes = m.encode_to_vec();
    assert_eq!(bytes.len(), m.encoded_len(), "encoded_len disagrees with the encoding");
    let back = M::decode(bytes.as_slice()).expect("own encoding decodes");
    assert!(&back == m, "prost round trip changed the message");
    assert_eq!(back.encode_to_vec(), bytes, "prost encoding is not stable");
}

/// Two JSON values are equal, numbers compared as `f64` within a relative 1e-12 (serde_json's
/// default float parser is not always correctly rounded, so a float may move by one ulp).
pub fn json_approx_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            _ if x == y => true,
            (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * x.abs().max(y.abs()),
            _ => false,
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_approx_eq(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_approx_eq(v, w)))
        }
        _ => a == b,
    }
}

/// The gRPC message chosen by the first input byte of the `grpc` target (modulo the count): every
/// request and reply of `PeerService` and `RadioStation`, plus the nested `PeerInfo`.
pub const GRPC_MESSAGES: [&str; 20] = [
    "ConsensusBatch",
    "TxBatch",
    "Ack",
    "BlockSyncRequest",
    "BlockSyncReply",
    "StatusRequest",
    "StatusReply",
    "LibraryRequest",
    "LibraryReply",
    "ConnectPeerRequest",
    "ConnectPeerReply",
    "PeerListRequest",
    "PeerList",
    "SubscribeRequest",
    "PeerEvent",
    "GetChannelInfosRequest",
    "GetChannelInfosReply",
    "HeartbeatRequest",
    "HeartbeatReply",
    "PeerInfo",
];

/// A `grpc` target input: the selector byte of message `name`, then its encoding.
pub fn grpc_input(name: &str, message: &impl prost::Message) -> Vec<u8> {
    let selector = GRPC_MESSAGES.iter().position(|m| *m == name).expect("a message of GRPC_MESSAGES");
    let mut out = vec![selector as u8];
    out.extend(message.encode_to_vec());
    out
}
