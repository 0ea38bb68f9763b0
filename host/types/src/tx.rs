use crate::{encode, sha3, Error, Hash, PublicKey, Result, Signature};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a transaction asks the channel to do.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Payload {
    /// Call `method` of SCORE `score` with JSON parameters.
    Call {
        /// SCORE name.
        score: String,
        /// Method name.
        method: String,
        /// JSON parameters, as text (hashed byte for byte).
        params_json: String,
    },
    /// The seed's `{"data": ...}` transaction, handed to the channel SCORE's `on_data`.
    Data {
        /// JSON document, as text (hashed byte for byte).
        json: String,
    },
    /// Activate SCORE code with this hash (admin only).
    Deploy {
        /// SCORE name.
        score: String,
        /// SHA3-256 of the library file.
        code_hash: Hash,
        /// JSON parameters for `on_install`/`on_update`.
        params: String,
    },
    /// Change the channel's configuration at a future epoch (admin only).
    ChannelConfig {
        /// JSON document describing the change.
        json: String,
    },
}

impl Payload {
    /// Short name of the payload kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Call { .. } => "call",
            Self::Data { .. } => "data",
            Self::Deploy { .. } => "deploy",
            Self::ChannelConfig { .. } => "channel_config",
        }
    }
}

/// The signed part of a transaction. `tx_hash = sha3(borsh(TxBody))`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct TxBody {
    /// Channel the transaction is for; a transaction is valid on this channel only.
    pub channel: String,
    /// Signer's ed25519 public key.
    pub from: PublicKey,
    /// Client timestamp in microseconds since the Unix epoch (replay window).
    pub timestamp_us: u64,
    /// Free number that makes otherwise identical transactions distinct.
    pub nonce: u64,
    /// What to do.
    pub payload: Payload,
}

impl TxBody {
    /// The transaction hash: SHA3-256 of the canonical body.
    pub fn hash(&self) -> Hash {
        sha3(&encode(self))
    }
}

/// A signed transaction: the ed25519 signature is over the 32 bytes of the tx hash.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Transaction {
    /// Signed content.
    #[serde(flatten)]
    pub body: TxBody,
    /// ed25519 signature of `body.hash()` by `body.from`.
    pub signature: Signature,
}

impl Transaction {
    /// The transaction hash (see [`TxBody::hash`]).
    pub fn hash(&self) -> Hash {
        self.body.hash()
    }

    /// Size of the canonical encoding in bytes.
    pub fn encoded_len(&self) -> usize {
        encode(self).len()
    }
}

/// An account address: the last 20 bytes of `sha3(public key)`, shown as `hx` + 40 hex digits
/// (the original's ICON address form).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// Address of an ed25519 public key.
    pub fn of(key: &PublicKey) -> Self {
        let h = sha3(&key.0);
        let mut a = [0u8; 20];
        a.copy_from_slice(&h.0[12..]);
        Self(a)
    }

    /// Parses `hx` + 40 hex digits.
    pub fn parse(s: &str) -> Result<Self> {
        let body = s
            .strip_prefix("hx")
            .ok_or_else(|| Error::Hex { what: "address", reason: "must start with \"hx\"".into() })?;
        let mut a = [0u8; 20];
        hex::decode_to_slice(body, &mut a)
            .map_err(|e| Error::Hex { what: "address", reason: format!("{e} (expected hx + 40 hex characters)") })?;
        Ok(Self(a))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hx{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <String as serde::Deserialize<'de>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Channel names are 1-64 characters of `[A-Za-z0-9_.-]` (they name storage column families and
/// appear in URLs).
pub fn validate_channel_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::ChannelName(name.to_owned()))
    }
}
