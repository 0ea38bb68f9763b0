use crate::{
    encode, sha3, validate_channel_name, Address, Block, BlockHeader, BlsPublicKey, BlsSignature, Error, Hash,
    PublicKey, Result, Signature, BLOCK_VERSION,
};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Role of a channel member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Votes and proposes.
    #[default]
    Validator,
    /// Holds and verifies the chain; never votes or proposes.
    Auditor,
}

/// A member of a channel as bound at genesis (addresses are not part of it: they may change).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Member {
    /// Peer id: the address of the identity key.
    pub peer_id: Address,
    /// ed25519 identity key.
    pub identity_key: PublicKey,
    /// BLS consensus key, when the member votes.
    pub bls_key: Option<BlsPublicKey>,
    /// Proof of possession of the BLS key (checked when the channel is opened).
    #[serde(default)]
    pub bls_pop: Option<BlsSignature>,
    /// Voting weight.
    pub weight: u64,
    /// Trusted group, for grouped consensus schemes.
    pub group: Option<String>,
    /// Validator or auditor.
    pub role: Role,
}

/// The canonical definition of a channel; its encoding determines the genesis block.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ChannelDefinition {
    /// Channel name.
    pub name: String,
    /// Members in validator order (this order is the signer-bitmap order of epoch 0).
    pub members: Vec<Member>,
    /// ed25519 keys allowed to sign `Deploy` and `ChannelConfig` transactions.
    pub admins: Vec<PublicKey>,
    /// Name of the channel's SCORE (empty: none).
    pub score: String,
    /// JSON parameters given to the SCORE's `on_install`.
    pub score_params: String,
    /// Consensus plugin name (e.g. `equal`, `weighted`, `groups`).
    pub consensus: String,
    /// JSON parameters of the consensus plugin.
    #[serde(default = "empty_object")]
    pub consensus_params: String,
    /// Code hash of the consensus plugin library; `None` accepts any build of the named plugin.
    #[serde(default)]
    pub consensus_code_hash: Option<Hash>,
    /// Fixed genesis timestamp (µs), identical on every node.
    pub genesis_timestamp_us: u64,
}

fn empty_object() -> String {
    "{}".to_owned()
}

impl ChannelDefinition {
    /// Checks the definition can start a chain.
    pub fn validate(&self) -> Result<()> {
        validate_channel_name(&self.name)?;
        if !self.members.iter().any(|m| m.role == Role::Validator && m.weight > 0) {
            return Err(Error::ChannelDefinition(format!("channel {} has no validator with weight > 0", self.name)));
        }
        for m in &self.members {
            if Address::of(&m.identity_key) != m.peer_id {
                return Err(Error::ChannelDefinition(format!(
                    "peer_id {} does not match its identity key (expected {})",
                    m.peer_id,
                    Address::of(&m.identity_key)
                )));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for m in &self.members {
            if !seen.insert(m.identity_key) {
                return Err(Error::ChannelDefinition(format!("member {} is listed twice", m.peer_id)));
            }
        }
        let admins: std::collections::BTreeSet<_> = self.admins.iter().collect();
        if admins.len() != self.admins.len() {
            return Err(Error::ChannelDefinition("an admin key is listed twice".into()));
        }
        let mut total: u64 = 0;
        for m in self.members.iter().filter(|m| m.role == Role::Validator) {
            total = total
                .checked_add(m.weight)
                .ok_or_else(|| Error::ChannelDefinition("total validator weight overflows u64".into()))?;
        }
        if total.checked_mul(3).is_none() {
            return Err(Error::ChannelDefinition("total validator weight too large for quorum arithmetic".into()));
        }
        Ok(())
    }

    /// Hash of the canonical definition.
    pub fn hash(&self) -> Hash {
        sha3(&encode(self))
    }
}

/// The genesis block of a channel: height 0, no transactions, state root = hash of the canonical
/// channel definition, the definition's fixed timestamp, no proposer. Byte-identical on every node.
pub fn genesis_block(def: &ChannelDefinition) -> Result<Block> {
    def.validate()?;
    Ok(Block {
        header: BlockHeader {
            version: BLOCK_VERSION,
            channel: def.name.clone(),
            height: 0,
            round: 0,
            epoch: 0,
            prev_hash: Hash::ZERO,
            tx_root: Hash::ZERO,
            state_root: def.hash(),
            receipts_root: Hash::ZERO,
            qc: None,
            tc: None,
            timestamp_us: def.genesis_timestamp_us,
            proposer: PublicKey::ZERO,
        },
        proposer_signature: Signature::ZERO,
        txs: Vec::new(),
    })
}
