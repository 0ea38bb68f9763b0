use thiserror::Error;

/// Why a transaction was refused at admission. Codes are the original loopchain's response codes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AdmitError {
    /// The transaction names another channel.
    #[error("transaction is for channel {got:?}, not {expected:?}")]
    WrongChannel {
        /// Channel in the transaction.
        got: String,
        /// This channel.
        expected: String,
    },
    /// The encoded transaction is too large.
    #[error("transaction of {size} bytes exceeds MAX_TX_BYTES ({limit})")]
    TooLarge {
        /// Size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// The timestamp is outside the accepted window around the node's clock.
    #[error("timestamp {timestamp_us} is outside ±{boundary_s} s of the node clock ({now_us})")]
    OutOfTimeBound {
        /// Transaction timestamp.
        timestamp_us: u64,
        /// Node clock.
        now_us: u64,
        /// Window, seconds.
        boundary_s: u64,
    },
    /// The hash is already in the chain, in flight, or in the mempool.
    #[error("duplicated transaction hash")]
    Duplicate,
    /// The mempool is full.
    #[error("mempool is full ({0} transactions); retry later")]
    MempoolFull(usize),
    /// More transactions this second than `TPS_LIMIT_PER_SEC` allows.
    #[error("Server is processing too many requests (TPS_LIMIT_PER_SEC = {0}); retry later")]
    OutOfTpsLimit(u64),
    /// Unsigned transactions are not accepted on this channel.
    #[error("unsigned data transactions are disabled on this channel (ALLOW_UNSIGNED_DATA_TX)")]
    UnsignedDisabled,
    /// The signer is not on the channel's allow-list (`tx_allowed_signers`).
    #[error("signer {0} is not allowed to send transactions on this channel")]
    NotAllowed(String),
    /// Storage failed while checking the transaction.
    #[error("storage error: {0}")]
    Storage(String),
}

impl AdmitError {
    /// The original loopchain response code for this refusal.
    pub fn code(&self) -> i32 {
        match self {
            Self::WrongChannel { .. } | Self::TooLarge { .. } => -107,
            Self::BadSignature => -106,
            Self::OutOfTimeBound { .. } => -109,
            Self::Duplicate => -108,
            Self::MempoolFull(_) | Self::OutOfTpsLimit(_) => -19,
            Self::UnsignedDisabled | Self::NotAllowed(_) => -106,
            Self::Storage(_) => -1,
        }
    }

    /// The refusal counter this error is counted under.
    pub fn reason(&self) -> crate::Reason {
        use crate::Reason;
        match self {
            Self::WrongChannel { .. } => Reason::TxWrongChannel,
            Self::TooLarge { .. } => Reason::TxTooLarge,
            Self::BadSignature => Reason::TxBadSignature,
            Self::OutOfTimeBound { .. } => Reason::TxTimeBound,
            Self::Duplicate => Reason::TxDuplicate,
            Self::MempoolFull(_) => Reason::TxMempoolFull,
            Self::OutOfTpsLimit(_) => Reason::TxTpsLimit,
            Self::UnsignedDisabled => Reason::TxUnsigned,
            Self::NotAllowed(_) => Reason::TxSignerNotAllowed,
            Self::Storage(_) => Reason::Malformed,
        }
    }
}
