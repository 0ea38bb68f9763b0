use thiserror::Error;

/// Errors of decoding and validating domain values.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// Input is larger than the allowed message size.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit it broke.
        limit: usize,
    },
    /// Canonical decoding failed (truncated, trailing bytes, bad tag...).
    #[error("malformed canonical encoding: {0}")]
    Malformed(String),
    /// A hex string is not valid lowercase/uppercase hex or has the wrong length.
    #[error("invalid hex for {what}: {reason}")]
    Hex {
        /// What was being parsed.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A channel name that is empty, too long or uses characters outside `[A-Za-z0-9_.-]`.
    #[error("invalid channel name {0:?}: use 1-64 characters of [A-Za-z0-9_.-]")]
    ChannelName(String),
    /// A channel definition that cannot produce a genesis block.
    #[error("invalid channel definition: {0}")]
    ChannelDefinition(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
