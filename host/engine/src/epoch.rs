//! Epochs: who votes, with which weights and proposer order, from which height.
//!
//! Epoch 0 comes from the channel definition. A committed `ChannelConfig` transaction (signed by a
//! channel admin) schedules the next epoch: its execution writes an [`EpochChange`] at
//! [`SYS_NEXT_EPOCH`] in channel state, which makes the block's branch end the current epoch at
//! `start_height − 1` (the LFT core caps commits there; blocks above it are empty). When that
//! block commits, every node builds the next epoch from the same committed data — members,
//! consensus plugin (by code hash) and its parameters — and starts a fresh core on it. A changed
//! plugin library on disk is only staged; it never activates without that transaction.
use crate::channel::Error;
use borsh::{BorshDeserialize, BorshSerialize};
use lc_crypto::bls::ValidatorKeys;
use lc_lft::{EpochInfo, Validator};
use lc_plugin_host::{ConsensusRegistry, VotingMember};
use lc_types::{BlsPublicKey, ChannelDefinition, Epoch, Hash, Height, Member, PublicKey, QuorumCert, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// State key of the scheduled epoch change (borsh [`EpochChange`]).
pub const SYS_NEXT_EPOCH: &[u8] = b"sys/epoch/next";
/// Meta key of the current epoch's [`EpochRecord`].
pub(crate) const META_EPOCH_CURRENT: &[u8] = b"epoch/current";

/// Meta key of a finished epoch's record.
pub(crate) fn meta_epoch_key(number: Epoch) -> Vec<u8> {
    let mut k = b"epoch/".to_vec();
    k.extend_from_slice(&number.to_be_bytes());
    k
}

/// What a committed `ChannelConfig` schedules. `None` fields keep the current value.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct EpochChange {
    /// First height of the next epoch.
    pub start_height: Height,
    /// Consensus plugin name.
    pub consensus: Option<String>,
    /// Its code hash.
    pub consensus_code_hash: Option<Hash>,
    /// Its parameters (JSON text).
    pub consensus_params: Option<String>,
    /// The complete member list of the next epoch.
    pub members: Option<Vec<Member>>,
}

/// The JSON document of a `ChannelConfig` payload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelConfigDoc {
    epoch_start_height: Height,
    #[serde(default)]
    consensus: Option<String>,
    #[serde(default)]
    consensus_code_hash: Option<Hash>,
    #[serde(default)]
    consensus_params: Option<serde_json::Value>,
    #[serde(default)]
    members: Option<Vec<Member>>,
}

/// Parses and checks a `ChannelConfig` document executed at block `height`.
pub fn parse_channel_config(json: &str, height: Height) -> Result<EpochChange, String> {
    let doc: ChannelConfigDoc = serde_json::from_str(json).map_err(|e| format!("invalid ChannelConfig: {e}"))?;
    if doc.epoch_start_height < height + 2 {
        return Err(format!(
            "epoch_start_height {} must be at least the block height + 2 ({})",
            doc.epoch_start_height,
            height + 2
        ));
    }
    if let Some(name) = &doc.consensus {
        if !lc_plugin_host::valid_score_name(name) {
            return Err(format!("invalid consensus plugin name {name:?}"));
        }
        // Every node must run the very same build: name it by its code hash.
        if doc.consensus_code_hash.is_none() {
            return Err(format!(
                "consensus_code_hash is required with consensus {name:?} (the SHA3-256 of its library; `loopchain tx config --consensus-library FILE` fills it in)"
            ));
        }
    }
    if let Some(members) = &doc.members {
        if !members.iter().any(|m| m.role == Role::Validator && m.weight > 0) {
            return Err("the new member list has no validator with weight > 0".into());
        }
    }
    Ok(EpochChange {
        start_height: doc.epoch_start_height,
        consensus: doc.consensus,
        consensus_code_hash: doc.consensus_code_hash,
        consensus_params: doc.consensus_params.map(|v| v.to_string()),
        members: doc.members,
    })
}

/// Executes a `ChannelConfig` transaction (any [`crate::Executor`] delegates this payload here):
/// a channel admin schedules the next epoch — members, consensus plugin and its parameters — from
/// `epoch_start_height` (≥ this height + 2). One change at a time: another one is refused until
/// the scheduled epoch has started.
pub fn execute_channel_config(
    state: &dyn crate::StateRead,
    admins: &[PublicKey],
    tx: &lc_types::Transaction,
    tx_hash: Hash,
    json: &str,
    height: Height,
) -> crate::TxOutcome {
    let fail = |code: u32, msg: String| crate::TxOutcome {
        receipt: lc_types::Receipt::failure(tx_hash, code, msg),
        writes: lc_types::WriteSet::new(),
    };
    if !admins.contains(&tx.body.from) {
        return fail(
            crate::NOT_ADMIN,
            format!(
                "ChannelConfig must be signed by a channel admin; {} is not one",
                lc_types::Address::of(&tx.body.from)
            ),
        );
    }
    if let Some(pending) = state.get(SYS_NEXT_EPOCH).and_then(|b| lc_types::decode::<EpochChange>(&b).ok()) {
        if pending.start_height > height {
            return fail(
                crate::BAD_CHANNEL_CONFIG,
                format!("an epoch change is already scheduled at height {}", pending.start_height),
            );
        }
    }
    match parse_channel_config(json, height) {
        Ok(change) => {
            let mut writes = lc_types::WriteSet::new();
            writes.insert(SYS_NEXT_EPOCH.to_vec(), Some(lc_types::encode(&change)));
            let mut receipt = lc_types::Receipt::success(tx_hash);
            receipt.result_json = format!("{{\"epoch_start_height\":{}}}", change.start_height);
            crate::TxOutcome { receipt, writes }
        }
        Err(e) => fail(crate::BAD_CHANNEL_CONFIG, e),
    }
}

/// An epoch's consensus configuration, as committed.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EpochConfig {
    /// Epoch number.
    pub number: Epoch,
    /// First height of the epoch (1 for epoch 0).
    pub start_height: Height,
    /// All members (validators and auditors), validators in bitmap order.
    pub members: Vec<Member>,
    /// Consensus plugin name.
    pub consensus: String,
    /// Its code hash (`None`: the build this node found at start).
    pub code_hash: Option<Hash>,
    /// Its parameters (JSON text).
    pub params: String,
}

impl EpochConfig {
    /// Epoch 0 of a channel.
    pub fn genesis(def: &ChannelDefinition) -> Self {
        Self {
            number: 0,
            start_height: 1,
            members: def.members.clone(),
            consensus: def.consensus.clone(),
            code_hash: def.consensus_code_hash,
            params: def.consensus_params.clone(),
        }
    }

    /// The epoch a change schedules after this one.
    pub fn next(&self, change: &EpochChange) -> Self {
        let consensus_changed = change.consensus.as_ref().is_some_and(|c| *c != self.consensus);
        Self {
            number: self.number + 1,
            start_height: change.start_height,
            members: change.members.clone().unwrap_or_else(|| self.members.clone()),
            consensus: change.consensus.clone().unwrap_or_else(|| self.consensus.clone()),
            code_hash: if consensus_changed {
                change.consensus_code_hash
            } else {
                change.consensus_code_hash.or(self.code_hash)
            },
            params: change.consensus_params.clone().unwrap_or_else(|| self.params.clone()),
        }
    }
}

/// What a node keeps about an epoch (meta `epoch/current`, and `epoch/<n>` once finished).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EpochRecord {
    /// The configuration.
    pub config: EpochConfig,
    /// QC of the block the epoch starts on (`None` for epoch 0: the genesis).
    pub root_qc: Option<QuorumCert>,
    /// Last height, once the epoch ended.
    pub last_height: Option<Height>,
    /// The certified descendants that committed its last block, and their QC (finality proof of
    /// the last blocks of the epoch).
    pub end_evidence: Option<crate::CommitEvidence>,
}

/// Builds an epoch's validator set and proposer order from its configuration.
pub trait SchemeSource: Send + Sync + std::fmt::Debug {
    /// The epoch for `cfg`, whose voting members (validators with weight > 0, in order) are
    /// `voting`.
    fn build(&self, cfg: &EpochConfig, voting: &[Member]) -> Result<EpochInfo, String>;
}

/// The configured weights with a round-robin proposer, without any plugin library: a stand-in
/// for unit tests and tools. Nodes use [`PluginSchemes`].
#[derive(Debug, Default, Clone, Copy)]
pub struct ConfiguredWeights;

impl SchemeSource for ConfiguredWeights {
    fn build(&self, cfg: &EpochConfig, voting: &[Member]) -> Result<EpochInfo, String> {
        let vs = voting.iter().map(|m| Validator { id: m.identity_key, weight: m.weight }).collect();
        EpochInfo::new(cfg.number, vs).ok_or_else(|| "no valid validator set".to_owned())
    }
}

/// Consensus schemes from plugin libraries staged in a [`ConsensusRegistry`]. A configuration
/// naming a code hash uses exactly that build; one without uses the build this node found at
/// start for that plugin name (`preferred`).
#[derive(Debug)]
pub struct PluginSchemes {
    registry: Arc<ConsensusRegistry>,
    preferred: BTreeMap<String, Hash>,
    fetcher: parking_lot::RwLock<Option<Arc<dyn crate::LibraryFetcher>>>,
}

impl PluginSchemes {
    /// Schemes from `registry`; `preferred` maps plugin names to the build to use when a
    /// configuration names no code hash.
    pub fn new(registry: Arc<ConsensusRegistry>, preferred: BTreeMap<String, Hash>) -> Self {
        Self { registry, preferred, fetcher: parking_lot::RwLock::new(None) }
    }

    /// Where a plugin build named by code hash but missing here is fetched from (other peers).
    pub fn set_fetcher(&self, fetcher: Arc<dyn crate::LibraryFetcher>) {
        *self.fetcher.write() = Some(fetcher);
    }

    /// The staged build with `hash`, fetched from a peer (hash checked) and staged when missing.
    fn staged_or_fetched(&self, hash: &Hash) -> Option<Arc<lc_plugin_host::ConsensusLibrary>> {
        if let Some(lib) = self.registry.get(hash) {
            return Some(lib);
        }
        let fetcher = self.fetcher.read().clone()?;
        let bytes = fetcher.fetch(hash)?;
        if lc_types::sha3(&bytes) != *hash {
            tracing::warn!(code_hash = %hash, "fetched consensus plugin does not match its hash; ignored");
            return None;
        }
        match self.registry.stage_bytes(std::path::Path::new("fetched-from-peer"), &bytes) {
            Ok(lib) => {
                tracing::info!(code_hash = %hash, plugin = %lib.name, "fetched a consensus plugin from a peer");
                Some(lib)
            }
            Err(e) => {
                tracing::warn!(code_hash = %hash, error = %e, "fetched consensus plugin does not load");
                None
            }
        }
    }
}

impl SchemeSource for PluginSchemes {
    fn build(&self, cfg: &EpochConfig, voting: &[Member]) -> Result<EpochInfo, String> {
        let hash = match cfg.code_hash.or_else(|| self.preferred.get(&cfg.consensus).copied()) {
            Some(h) => h,
            None => {
                return Err(format!(
                    "consensus plugin {:?} is not available on this node (no library libconsensus_{}.so found next to the SCOREs or the binary; build it with `cargo build -p consensus-{}`)",
                    cfg.consensus,
                    cfg.consensus.replace('-', "_"),
                    cfg.consensus
                ))
            }
        };
        let lib = self.staged_or_fetched(&hash).ok_or_else(|| {
            format!(
                "consensus plugin {:?} with code hash {hash} is not staged on this node and no peer supplied it",
                cfg.consensus
            )
        })?;
        if lib.name != cfg.consensus {
            return Err(format!("code {hash} is consensus plugin {:?}, not {:?}", lib.name, cfg.consensus));
        }
        let members: Vec<VotingMember> =
            voting.iter().map(|m| VotingMember { weight: m.weight, group: m.group.clone() }).collect();
        let scheme = lib.configure(&members, &cfg.params).map_err(|e| e.to_string())?;
        scheme.epoch_info(cfg.number, voting.iter().map(|m| m.identity_key).collect()).map_err(|e| e.to_string())
    }
}

/// Everything the runtime needs about the current epoch.
#[derive(Debug)]
pub struct EpochState {
    /// The configuration.
    pub config: EpochConfig,
    /// Validators, weights, groups, proposer order.
    pub info: EpochInfo,
    /// BLS keys in bitmap order (validated, proofs of possession checked).
    pub keys: ValidatorKeys,
    /// Voting members in bitmap order.
    pub voting: Vec<Member>,
    /// This node's validator index.
    pub me: Option<usize>,
    /// QC of the block the epoch starts on.
    pub root_qc: Option<QuorumCert>,
}

impl EpochState {
    /// Builds and checks an epoch: every validator needs a valid BLS key with its proof of
    /// possession.
    pub fn build(
        channel: &str,
        config: EpochConfig,
        root_qc: Option<QuorumCert>,
        source: &dyn SchemeSource,
        identity: &PublicKey,
    ) -> Result<Self, Error> {
        let bad = |reason: String| Error::BadKeys { channel: channel.to_owned(), reason };
        let voting: Vec<Member> =
            config.members.iter().filter(|m| m.role == Role::Validator && m.weight > 0).cloned().collect();
        if voting.is_empty() {
            return Err(Error::NoValidators(channel.to_owned()));
        }
        let mut bls_keys: Vec<BlsPublicKey> = Vec::with_capacity(voting.len());
        for m in &voting {
            let key = m.bls_key.ok_or_else(|| bad(format!("validator {} has no BLS key", m.peer_id)))?;
            let pop =
                m.bls_pop.ok_or_else(|| bad(format!("validator {} has no BLS proof of possession", m.peer_id)))?;
            lc_crypto::bls::validate_registration(&key, &pop)
                .map_err(|e| bad(format!("validator {}: BLS key or proof of possession: {e}", m.peer_id)))?;
            bls_keys.push(key);
        }
        let keys = ValidatorKeys::new(&bls_keys).map_err(|e| bad(format!("invalid BLS key: {e}")))?;
        let info = source.build(&config, &voting).map_err(|reason| Error::Scheme {
            channel: channel.to_owned(),
            epoch: config.number,
            reason,
        })?;
        if info.validators.len() != voting.len() {
            return Err(bad("the consensus scheme returned a different validator count".into()));
        }
        let me = info.index_of(identity);
        Ok(Self { config, info, keys, voting, me, root_qc })
    }
}
