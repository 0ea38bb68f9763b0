//! Fixed-size byte newtypes: canonical as raw bytes, JSON as lowercase hex.
use crate::{Error, Result};
use borsh::{BorshDeserialize, BorshSerialize};
use std::fmt;
use std::str::FromStr;

macro_rules! byte_newtype {
    ($(#[$m:meta])* $name:ident, $len:expr, $what:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;
            /// All-zero value.
            pub const ZERO: Self = Self([0u8; $len]);

            /// Lowercase hex, no prefix.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// Parses hex (an optional `0x` prefix is accepted).
            pub fn from_hex(s: &str) -> Result<Self> {
                let s = s.strip_prefix("0x").unwrap_or(s);
                let mut out = [0u8; $len];
                hex::decode_to_slice(s, &mut out).map_err(|e| Error::Hex {
                    what: $what,
                    reason: format!("{e} (expected {} hex characters)", 2 * $len),
                })?;
                Ok(Self(out))
            }

            /// Copies from a slice of exactly [`Self::LEN`] bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self> {
                <[u8; $len]>::try_from(bytes).map(Self).map_err(|_| Error::Hex {
                    what: $what,
                    reason: format!("expected {} bytes, got {}", $len, bytes.len()),
                })
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::ZERO
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::from_hex(s)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = <String as serde::Deserialize<'de>>::deserialize(d)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

byte_newtype!(
    /// A SHA3-256 digest.
    Hash, 32, "hash"
);
byte_newtype!(
    /// An ed25519 public key (identity and transaction signing).
    PublicKey, 32, "ed25519 public key"
);
byte_newtype!(
    /// An ed25519 signature.
    Signature, 64, "ed25519 signature"
);
byte_newtype!(
    /// A BLS12-381 min_pk public key (compressed G1).
    BlsPublicKey, 48, "BLS public key"
);
byte_newtype!(
    /// A BLS12-381 min_pk signature (compressed G2), single or aggregate.
    BlsSignature, 96, "BLS signature"
);
