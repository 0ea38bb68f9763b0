//! Strict JSON forms of the `lc-types` header and certificates: the same shape and hex encoding as
//! their own serde forms, but unknown fields are rejected at every level. The conversions
//! destructure exhaustively, so a field added to a type breaks this module's build instead of being
//! silently dropped from proofs.
use lc_types::{BlockHeader, BlsSignature, Epoch, Hash, Height, PublicKey, QuorumCert, Round, TimeoutCert};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QcJson {
    epoch: Epoch,
    round: Round,
    height: Height,
    block_hash: Hash,
    #[serde(with = "hex_bytes")]
    signer_bitmap: Vec<u8>,
    aggregate_signature: BlsSignature,
}

impl From<QuorumCert> for QcJson {
    fn from(qc: QuorumCert) -> Self {
        let QuorumCert { epoch, round, height, block_hash, signer_bitmap, aggregate_signature } = qc;
        Self { epoch, round, height, block_hash, signer_bitmap, aggregate_signature }
    }
}

impl From<QcJson> for QuorumCert {
    fn from(qc: QcJson) -> Self {
        let QcJson { epoch, round, height, block_hash, signer_bitmap, aggregate_signature } = qc;
        Self { epoch, round, height, block_hash, signer_bitmap, aggregate_signature }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TcJson {
    epoch: Epoch,
    round: Round,
    #[serde(with = "hex_bytes")]
    signer_bitmap: Vec<u8>,
    hqc_rounds: Vec<Round>,
    aggregate_signature: BlsSignature,
    high_qc: QcJson,
}

impl From<TimeoutCert> for TcJson {
    fn from(tc: TimeoutCert) -> Self {
        let TimeoutCert { epoch, round, signer_bitmap, hqc_rounds, aggregate_signature, high_qc } = tc;
        Self { epoch, round, signer_bitmap, hqc_rounds, aggregate_signature, high_qc: high_qc.into() }
    }
}

impl From<TcJson> for TimeoutCert {
    fn from(tc: TcJson) -> Self {
        let TcJson { epoch, round, signer_bitmap, hqc_rounds, aggregate_signature, high_qc } = tc;
        Self { epoch, round, signer_bitmap, hqc_rounds, aggregate_signature, high_qc: high_qc.into() }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderJson {
    version: u32,
    channel: String,
    height: Height,
    round: Round,
    epoch: Epoch,
    prev_hash: Hash,
    tx_root: Hash,
    state_root: Hash,
    receipts_root: Hash,
    qc: Option<QcJson>,
    tc: Option<TcJson>,
    timestamp_us: u64,
    proposer: PublicKey,
}

impl From<BlockHeader> for HeaderJson {
    fn from(h: BlockHeader) -> Self {
        let BlockHeader {
            version,
            channel,
            height,
            round,
            epoch,
            prev_hash,
            tx_root,
            state_root,
            receipts_root,
            qc,
            tc,
            timestamp_us,
            proposer,
        } = h;
        Self {
            version,
            channel,
            height,
            round,
            epoch,
            prev_hash,
            tx_root,
            state_root,
            receipts_root,
            qc: qc.map(Into::into),
            tc: tc.map(Into::into),
            timestamp_us,
            proposer,
        }
    }
}

impl From<HeaderJson> for BlockHeader {
    fn from(h: HeaderJson) -> Self {
        let HeaderJson {
            version,
            channel,
            height,
            round,
            epoch,
            prev_hash,
            tx_root,
            state_root,
            receipts_root,
            qc,
            tc,
            timestamp_us,
            proposer,
        } = h;
        Self {
            version,
            channel,
            height,
            round,
            epoch,
            prev_hash,
            tx_root,
            state_root,
            receipts_root,
            qc: qc.map(Into::into),
            tc: tc.map(Into::into),
            timestamp_us,
            proposer,
        }
    }
}

/// `#[serde(with = "crate::json::header")]`: a [`BlockHeader`] in strict form.
pub(crate) mod header {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(h: &BlockHeader, s: S) -> Result<S::Ok, S::Error> {
        HeaderJson::from(h.clone()).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BlockHeader, D::Error> {
        HeaderJson::deserialize(d).map(Into::into)
    }
}

/// `#[serde(with = "crate::json::qc")]`: a [`QuorumCert`] in strict form.
pub(crate) mod qc {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(qc: &QuorumCert, s: S) -> Result<S::Ok, S::Error> {
        QcJson::from(qc.clone()).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<QuorumCert, D::Error> {
        QcJson::deserialize(d).map(Into::into)
    }
}

/// Variable-length bytes as lowercase hex.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}
