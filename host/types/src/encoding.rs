use crate::{Error, Result};
use borsh::{BorshDeserialize, BorshSerialize};

/// Upper bound for any single canonical message (a block with its transactions included).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Canonical bytes of `value` (borsh).
pub fn encode<T: BorshSerialize + ?Sized>(value: &T) -> Vec<u8> {
    #[allow(clippy::expect_used)]
    borsh::to_vec(value).expect("borsh serialization into a Vec cannot fail")
}

/// Decodes canonical bytes; rejects oversize input, truncation and trailing bytes.
pub fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::TooLarge { size: bytes.len(), limit: MAX_MESSAGE_BYTES });
    }
    borsh::from_slice(bytes).map_err(|e| Error::Malformed(e.to_string()))
}
