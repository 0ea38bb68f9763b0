use crate::{BlsSignature, Epoch, Hash, Height, Round};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Kind of a consensus vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoteKind {
    /// Yes vote for a block.
    Yes,
    /// Timeout vote (LFT's NONE or LAZY).
    Timeout,
}

/// The bytes a validator signs. The voter's index travels beside the signature, never inside it,
/// so every yes vote for one block signs the same message and a quorum aggregates into one
/// signature checked by one `fast_aggregate_verify`.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Vote {
    /// Yes or timeout.
    pub kind: VoteKind,
    /// Channel.
    pub channel: String,
    /// Epoch of the vote.
    pub epoch: Epoch,
    /// Round of the vote.
    pub round: Round,
    /// Height of the block (yes votes; 0 for timeout votes).
    pub height: Height,
    /// Block hash (yes votes; zero for timeout votes).
    pub block_hash: Hash,
    /// Round of the sender's high QC (timeout votes; 0 for yes votes).
    pub hqc_round: Round,
}

/// A quorum certificate: a quorum of yes votes for one block, aggregated.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumCert {
    /// Epoch of the votes.
    pub epoch: Epoch,
    /// Round of the certified block.
    pub round: Round,
    /// Height of the certified block.
    pub height: Height,
    /// Hash of the certified block.
    pub block_hash: Hash,
    /// Signers, in the epoch's validator order (bit i of byte i/8, least significant first).
    #[serde(with = "hex_vec")]
    pub signer_bitmap: Vec<u8>,
    /// Aggregate BLS signature over the yes-vote message.
    pub aggregate_signature: BlsSignature,
}

/// A timeout certificate: a quorum of timeout votes for one round, with the highest QC they carried.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutCert {
    /// Epoch of the votes.
    pub epoch: Epoch,
    /// Round that timed out.
    pub round: Round,
    /// Signers, in the epoch's validator order.
    #[serde(with = "hex_vec")]
    pub signer_bitmap: Vec<u8>,
    /// The high-QC round each signer signed, in signer order.
    pub hqc_rounds: Vec<Round>,
    /// Aggregate BLS signature over the distinct timeout messages.
    pub aggregate_signature: BlsSignature,
    /// The QC of the highest signed `hqc_round`.
    pub high_qc: QuorumCert,
}

mod hex_vec {
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <String as serde::Deserialize<'de>>::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// A signed vote as it travels between validators: the signed [`Vote`] fields, the voter's index
/// in the epoch's validator order (beside the signature, never inside it), and for timeout votes
/// the QC of the signed `hqc_round` (absent only when that round is 0, the genesis).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct VoteMsg {
    /// Validator index of the voter.
    pub voter: u32,
    /// The signed fields.
    pub vote: Vote,
    /// BLS signature over the canonical vote message.
    pub signature: BlsSignature,
    /// Timeout votes: the voter's high QC.
    pub high_qc: Option<QuorumCert>,
}

/// Consensus traffic of one channel.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub enum ConsensusMsg {
    /// A proposed block (its header carries the parent's QC and, after a failed round, the TC).
    Proposal(Box<crate::Block>),
    /// A yes or timeout vote.
    Vote(VoteMsg),
    /// A timeout certificate formed by the sender.
    Tc(TimeoutCert),
    /// A quorum certificate (sent when it ends an epoch, so lagging members commit too).
    Qc(QuorumCert),
}

impl ConsensusMsg {
    /// The epoch the message belongs to.
    pub fn epoch(&self) -> crate::Epoch {
        match self {
            Self::Proposal(b) => b.header.epoch,
            Self::Vote(v) => v.vote.epoch,
            Self::Tc(tc) => tc.epoch,
            Self::Qc(qc) => qc.epoch,
        }
    }
}
