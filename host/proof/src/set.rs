//! The validator set of one epoch, as served by `GET /api/v1/channel/validators`.
use crate::error::{ParseError, SetError};
use lc_crypto::bls::{validate_registration, ValidatorKeys};
use lc_lft::{EpochInfo, Group, Validator};
use lc_types::{validate_channel_name, Address, BlsPublicKey, BlsSignature, Epoch, PublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most validators a set may list (each costs one proof-of-possession check).
pub const MAX_VALIDATORS: usize = 10_000;
/// Largest validator-set JSON document [`ValidatorSet::from_json`] reads.
pub const MAX_SET_JSON_BYTES: usize = 16 << 20;

/// The validators of one epoch of a channel. Validator order is the signer-bitmap order.
///
/// ```json
/// {"channel": "loopchain_default", "epoch": 0,
///  "validators": [{"peer_id": "hx…", "identity_key": "…", "bls_key": "…", "bls_pop": "…",
///                  "weight": 1, "group": "a"}],
///  "groups": [{"name": "a", "members": [0], "votes": 1}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorSet {
    /// Channel name.
    pub channel: String,
    /// Epoch number.
    pub epoch: Epoch,
    /// Validators in bitmap order.
    pub validators: Vec<ValidatorEntry>,
    /// Trusted groups (empty: every validator counts its own weight). May be omitted in JSON.
    #[serde(default)]
    pub groups: Vec<GroupEntry>,
}

/// One validator of a [`ValidatorSet`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidatorEntry {
    /// Peer id: the address of `identity_key`.
    pub peer_id: Address,
    /// ed25519 identity key (signs the blocks it proposes).
    pub identity_key: PublicKey,
    /// BLS consensus key (signs votes).
    pub bls_key: BlsPublicKey,
    /// Proof of possession of `bls_key`.
    pub bls_pop: BlsSignature,
    /// Voting weight (> 0).
    pub weight: u64,
    /// Name of its trusted group, if any (must match the group's `members`). May be omitted in JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

/// A trusted group of a [`ValidatorSet`]: its `votes` count only when an internal quorum of its
/// members (`3 × weight > 2 × group weight`) signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupEntry {
    /// Group name (what members' `group` fields refer to).
    pub name: String,
    /// Validator indices of its members.
    pub members: Vec<usize>,
    /// Votes the group casts as a whole (> 0).
    pub votes: u64,
}

impl ValidatorSet {
    /// Parses the JSON document (at most [`MAX_SET_JSON_BYTES`]); does not [`check`](Self::check) it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.len() > MAX_SET_JSON_BYTES {
            return Err(ParseError::TooLarge { len: bytes.len(), max: MAX_SET_JSON_BYTES });
        }
        serde_json::from_slice(bytes).map_err(|e| ParseError::Json(e.to_string()))
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings, numbers and hex cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Validates the set — channel name, non-zero weights, distinct and valid keys (each BLS key
    /// `key_validate`d with its proof of possession checked), `peer_id`s, group consistency and
    /// quorum arithmetic — and prepares it for verifying proofs.
    pub fn check(&self) -> Result<CheckedSet, SetError> {
        validate_channel_name(&self.channel).map_err(|_| SetError::InvalidChannel(self.channel.clone()))?;
        if self.validators.is_empty() {
            return Err(SetError::Empty);
        }
        if self.validators.len() > MAX_VALIDATORS {
            return Err(SetError::TooManyValidators { got: self.validators.len(), max: MAX_VALIDATORS });
        }
        let mut identities: BTreeMap<PublicKey, usize> = BTreeMap::new();
        let mut bls_keys: BTreeMap<BlsPublicKey, usize> = BTreeMap::new();
        for (index, v) in self.validators.iter().enumerate() {
            if v.weight == 0 {
                return Err(SetError::ZeroWeight { index });
            }
            if Address::of(&v.identity_key) != v.peer_id {
                return Err(SetError::PeerIdMismatch { index });
            }
            if let Some(&first) = identities.get(&v.identity_key) {
                return Err(SetError::DuplicateIdentityKey { index, first, key: v.identity_key });
            }
            identities.insert(v.identity_key, index);
            if let Some(&first) = bls_keys.get(&v.bls_key) {
                return Err(SetError::DuplicateBlsKey { index, first, key: v.bls_key });
            }
            bls_keys.insert(v.bls_key, index);
        }
        let groups = self.check_groups()?;
        // The expensive part last: one pairing check per proof of possession.
        for (index, v) in self.validators.iter().enumerate() {
            validate_registration(&v.bls_key, &v.bls_pop).map_err(|source| SetError::BadBlsKey { index, source })?;
        }
        let bls: Vec<BlsPublicKey> = self.validators.iter().map(|v| v.bls_key).collect();
        let keys = ValidatorKeys::new(&bls).map_err(|source| {
            // Unreachable after validate_registration; report the first invalid key anyway.
            let index = bls.iter().position(|k| ValidatorKeys::new(&[*k]).is_err()).unwrap_or(0);
            SetError::BadBlsKey { index, source }
        })?;
        let validators =
            self.validators.iter().map(|v| Validator { id: v.identity_key, weight: v.weight }).collect::<Vec<_>>();
        let info = EpochInfo::with_groups(self.epoch, validators, groups).ok_or(SetError::Overflow)?;
        Ok(CheckedSet { channel: self.channel.clone(), info, keys })
    }

    /// Checks the groups against the validators' `group` fields and converts them.
    fn check_groups(&self) -> Result<Vec<Group>, SetError> {
        let mut names: BTreeMap<&str, usize> = BTreeMap::new();
        let mut listed: Vec<Option<usize>> = vec![None; self.validators.len()];
        let mut out = Vec::with_capacity(self.groups.len());
        for (index, g) in self.groups.iter().enumerate() {
            if g.name.is_empty() || names.insert(g.name.as_str(), index).is_some() {
                return Err(SetError::BadGroupName { index, name: g.name.clone() });
            }
            if g.members.is_empty() || g.votes == 0 {
                return Err(SetError::EmptyGroup { name: g.name.clone() });
            }
            for &member in &g.members {
                match listed.get_mut(member) {
                    None => return Err(SetError::MemberOutOfRange { name: g.name.clone(), member }),
                    Some(Some(_)) => return Err(SetError::MemberListedTwice { member }),
                    Some(slot @ None) => *slot = Some(index),
                }
            }
            out.push(Group { members: g.members.clone(), votes: g.votes });
        }
        for (index, (v, listed_in)) in self.validators.iter().zip(&listed).enumerate() {
            let listed_name = listed_in.and_then(|g| self.groups.get(g)).map(|g| g.name.as_str());
            if v.group.as_deref() != listed_name {
                return Err(SetError::GroupMismatch {
                    index,
                    declared: v.group.clone(),
                    listed: listed_name.map(str::to_owned),
                });
            }
        }
        Ok(out)
    }
}

/// A [`ValidatorSet`] that passed [`ValidatorSet::check`]: its quorum arithmetic and decompressed,
/// validated BLS keys, ready to verify any number of proofs.
#[derive(Debug, Clone)]
pub struct CheckedSet {
    channel: String,
    info: EpochInfo,
    keys: ValidatorKeys,
}

impl CheckedSet {
    /// Channel name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// Epoch number.
    pub fn epoch(&self) -> Epoch {
        self.info.epoch
    }

    /// Weights, groups and quorum arithmetic of the epoch.
    pub fn epoch_info(&self) -> &EpochInfo {
        &self.info
    }

    /// The validators' BLS keys in bitmap order.
    pub fn keys(&self) -> &ValidatorKeys {
        &self.keys
    }
}
