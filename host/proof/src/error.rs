//! Error types.
use lc_crypto::bls::BlsError;
use lc_types::{BlsPublicKey, Epoch, Hash, Height, PublicKey, Round};
use std::fmt;
use thiserror::Error;

/// Where in a proof a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// The proof's own fields (`channel`, `height`, `block_hash`).
    Proof,
    /// Header `i` of the proof (0 = the proven block).
    Header(usize),
    /// The QC carried inside header `i` (it certifies header `i − 1`).
    HeaderQc(usize),
    /// The proof's final `qc` (it certifies the last header).
    FinalQc,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Site::Proof => f.write_str("proof"),
            Site::Header(i) => write!(f, "header {i}"),
            Site::HeaderQc(i) => write!(f, "QC carried in header {i}"),
            Site::FinalQc => f.write_str("final QC"),
        }
    }
}

/// Why a [`crate::ValidatorSet`] is unusable.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SetError {
    /// The channel name is not a valid channel name.
    #[error("invalid channel name {0:?}")]
    InvalidChannel(String),
    /// No validators.
    #[error("the validator set is empty")]
    Empty,
    /// More validators than accepted.
    #[error("{got} validators; at most {max} are accepted")]
    TooManyValidators {
        /// Validators listed.
        got: usize,
        /// The bound ([`crate::MAX_VALIDATORS`]).
        max: usize,
    },
    /// A validator with weight 0.
    #[error("validator {index} has weight 0")]
    ZeroWeight {
        /// Validator index.
        index: usize,
    },
    /// `peer_id` is not the address of `identity_key`.
    #[error("validator {index}: peer_id does not match its identity key")]
    PeerIdMismatch {
        /// Validator index.
        index: usize,
    },
    /// The same identity key twice.
    #[error("validator {index}: identity key {key} is already used by validator {first}")]
    DuplicateIdentityKey {
        /// Validator index.
        index: usize,
        /// Earlier validator with the same key.
        first: usize,
        /// The key.
        key: PublicKey,
    },
    /// The same BLS key twice (it would count one signer's weight twice).
    #[error("validator {index}: BLS key {key} is already used by validator {first}")]
    DuplicateBlsKey {
        /// Validator index.
        index: usize,
        /// Earlier validator with the same key.
        first: usize,
        /// The key.
        key: BlsPublicKey,
    },
    /// A BLS key that is invalid or whose proof of possession does not verify.
    #[error("validator {index}: {source}")]
    BadBlsKey {
        /// Validator index.
        index: usize,
        /// What failed.
        source: BlsError,
    },
    /// Two groups with one name, or an empty name.
    #[error("group {index}: name {name:?} is empty or used twice")]
    BadGroupName {
        /// Group index.
        index: usize,
        /// The name.
        name: String,
    },
    /// A group with no members or no votes.
    #[error("group {name:?} has no members or zero votes")]
    EmptyGroup {
        /// Group name.
        name: String,
    },
    /// A group member index that names no validator.
    #[error("group {name:?}: member {member} is not a validator index")]
    MemberOutOfRange {
        /// Group name.
        name: String,
        /// The index.
        member: usize,
    },
    /// A validator listed twice among the groups' members.
    #[error("validator {member} is listed more than once among the groups' members")]
    MemberListedTwice {
        /// Validator index.
        member: usize,
    },
    /// A validator whose `group` field disagrees with the groups' member lists.
    #[error("validator {index}: its group is {declared:?} but the group lists say {listed:?}")]
    GroupMismatch {
        /// Validator index.
        index: usize,
        /// The validator's own `group` field.
        declared: Option<String>,
        /// The group whose `members` list it (if any).
        listed: Option<String>,
    },
    /// Weights or votes too large for the quorum arithmetic.
    #[error("weights or group votes overflow the quorum arithmetic")]
    Overflow,
}

/// Why a [`crate::FinalityProof`] does not prove finality (or cannot be built).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProofError {
    /// The validator set itself is unusable.
    #[error("invalid validator set: {0}")]
    InvalidSet(#[from] SetError),
    /// Fewer than two headers.
    #[error("proof has {got} header(s); at least 2 are needed (the block and its certified child)")]
    TooFewHeaders {
        /// Headers in the proof.
        got: usize,
    },
    /// More headers than accepted.
    #[error("proof has more than {max} headers")]
    TooManyHeaders {
        /// The bound ([`crate::MAX_PROOF_HEADERS`]).
        max: usize,
    },
    /// A channel that is not the validator set's (or, for a header, not the proof's).
    #[error("{site}: channel {got:?}, expected {expected:?}")]
    WrongChannel {
        /// Where.
        site: Site,
        /// Expected channel.
        expected: String,
        /// Channel found.
        got: String,
    },
    /// An epoch that is not the validator set's.
    #[error("{site} is in epoch {got} but the validator set is for epoch {expected}")]
    WrongEpoch {
        /// Where.
        site: Site,
        /// The set's epoch.
        expected: Epoch,
        /// Epoch found.
        got: Epoch,
    },
    /// A header format version this verifier does not know.
    #[error("header {index} has format version {got}; this verifier supports version {supported}")]
    UnsupportedVersion {
        /// Header index.
        index: usize,
        /// Version found.
        got: u32,
        /// Supported version.
        supported: u32,
    },
    /// The proof's `height` is not the first header's height.
    #[error("proof states height {stated} but its first header is at height {got}")]
    HeightMismatch {
        /// `proof.height`.
        stated: Height,
        /// Height of header 0.
        got: Height,
    },
    /// Header `index` is not at its parent's height + 1.
    #[error("header {index} is at height {got} but the header before it is at height {parent_height}")]
    NonConsecutiveHeight {
        /// Header index.
        index: usize,
        /// Parent's height.
        parent_height: Height,
        /// Height found.
        got: Height,
    },
    /// A header whose stated hash is not its hash.
    #[error("header {index}: stated hash {stated} but the header hashes to {computed}")]
    HeaderHashMismatch {
        /// Header index.
        index: usize,
        /// Stated hash.
        stated: Hash,
        /// Recomputed hash.
        computed: Hash,
    },
    /// The proof's `block_hash` is not the hash of the first header.
    #[error("proof states block hash {stated} but its first header hashes to {computed}")]
    BlockHashMismatch {
        /// `proof.block_hash`.
        stated: Hash,
        /// Hash of header 0.
        computed: Hash,
    },
    /// A header whose `prev_hash` is not its predecessor's hash.
    #[error("header {index}: prev_hash {got} is not the hash {expected} of the header before it")]
    BrokenLink {
        /// Header index.
        index: usize,
        /// Hash of header `index − 1`.
        expected: Hash,
        /// `prev_hash` found.
        got: Hash,
    },
    /// A header whose round is not above its parent's.
    #[error("header {index}: round {round} is not above its parent's round {parent_round}")]
    RoundNotIncreasing {
        /// Header index.
        index: usize,
        /// Parent's round.
        parent_round: Round,
        /// Round found.
        round: Round,
    },
    /// A header (after the first) without a QC for its parent.
    #[error("header {index} carries no QC for its parent")]
    MissingQc {
        /// Header index.
        index: usize,
    },
    /// A QC that certifies some other block than the one it must.
    #[error("{site} does not certify header {target}: its {field} is {got}, expected {expected}")]
    QcMismatch {
        /// Which QC.
        site: Site,
        /// Index of the header it must certify.
        target: usize,
        /// The mismatching field (`block_hash`, `round` or `height`).
        field: &'static str,
        /// The header's value.
        expected: String,
        /// The QC's value.
        got: String,
    },
    /// The last two headers are not in consecutive rounds, so nothing is committed directly.
    #[error(
        "the last two headers are in rounds {parent_round} and {round}, not consecutive: the proof does not end \
         in a direct commit"
    )]
    NotDirectCommit {
        /// Round of the second-to-last header (`k`).
        parent_round: Round,
        /// Round of the last header (`k + 1`).
        round: Round,
    },
    /// A proposer that is not a validator of the set.
    #[error("header {index}: proposer {proposer} is not a validator of the set")]
    UnknownProposer {
        /// Header index.
        index: usize,
        /// The proposer key.
        proposer: PublicKey,
    },
    /// A proposer signature that does not verify.
    #[error("header {index}: proposer signature does not verify: {source}")]
    BadProposerSignature {
        /// Header index.
        index: usize,
        /// What failed.
        source: lc_crypto::Error,
    },
    /// A QC whose aggregate signature or bitmap does not verify.
    #[error("{site}: {source}")]
    BadQcSignature {
        /// Which QC.
        site: Site,
        /// What failed.
        source: BlsError,
    },
    /// A QC whose signers are not a quorum of the set.
    #[error("{site}: signers carry {weight} of {total} votes, not a quorum (3 × weight must exceed 2 × total)")]
    NoQuorum {
        /// Which QC.
        site: Site,
        /// Votes of the signers (groups counted as a whole when an internal quorum signed).
        weight: u64,
        /// Total votes of the set.
        total: u64,
    },
    /// Building: the chain handed to [`crate::build_from_chain`] holds no direct commit.
    #[error("no direct commit among the {searched} headers given: the block is not final yet")]
    NotCommitted {
        /// Headers searched.
        searched: usize,
    },
    /// Building: the direct commit's child is the last header given and no QC for it was given.
    #[error("header {index} commits its parent directly but no QC for it was given")]
    MissingCommitQc {
        /// Index of the certified child (`k + 1`).
        index: usize,
    },
}

/// Why a JSON document could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The document is larger than accepted.
    #[error("document is {len} bytes; at most {max} are accepted")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// Malformed JSON, a wrong type, bad hex or an unknown field.
    #[error("malformed document: {0}")]
    Json(String),
}
