//! `channel_manage_data.json`: which channels exist, their members and settings.
//!
//! The seed's format `{ "<channel>": { "score_package": "...", "peers": [{"peer_target": "ip:port"}] } }`
//! is accepted as is and extended (DESIGN §5a): per peer optional `peer_id`, `identity_key`,
//! `bls_key`, `bls_pop`, `weight` (default 1), `group`, `role` (`validator` | `auditor`); per
//! channel optional `admins` (ed25519 public keys, hex), `consensus {plugin, code_hash, params}`,
//! `score_params`, `genesis_timestamp_us`, `tx_allowed_signers` (addresses that may submit
//! transactions: an admission policy; absent means anyone).
//!
//! A peer listed without keys gets **development keys derived from its peer target** (anyone can
//! derive them: for local networks and demos only; the node says so at start). Without `admins`,
//! every listed member is an admin (dev). `score_package` names the SCORE library (`hello`,
//! `token`, ...); the seed's `loopchain/default` means `DEFAULT_SCORE_PACKAGE`.
use anyhow::{bail, Context, Result};
use lc_crypto::bls::BlsKeypair;
use lc_crypto::Keypair;
use lc_types::{Address, BlsPublicKey, BlsSignature, ChannelDefinition, Hash, Member, PublicKey, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One channel's entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChannelEntry {
    #[serde(default)]
    pub(crate) score_package: String,
    pub(crate) peers: Vec<PeerEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) admins: Option<Vec<PublicKey>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) consensus: Option<ConsensusEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) score_params: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) genesis_timestamp_us: Option<u64>,
    /// Client transaction allow-list (addresses); absent: any signer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tx_allowed_signers: Option<Vec<Address>>,
}

/// A listed peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PeerEntry {
    pub(crate) peer_target: String,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "id")]
    pub(crate) peer_id: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) identity_key: Option<PublicKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bls_key: Option<BlsPublicKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) bls_pop: Option<BlsSignature>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) weight: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<Role>,
}

/// The consensus plugin of a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ConsensusEntry {
    pub(crate) plugin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code_hash: Option<Hash>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) params: Option<serde_json::Value>,
}

/// Every channel of a `channel_manage_data.json`, by name.
pub(crate) type ChannelManageData = BTreeMap<String, ChannelEntry>;

/// Parses the file's JSON with the path of the first bad field in the error.
pub(crate) fn parse(json: &str) -> Result<ChannelManageData> {
    let de = &mut serde_json::Deserializer::from_str(json);
    let data: ChannelManageData =
        serde_path_to_error::deserialize(de).map_err(|e| anyhow::anyhow!("at {}: {}", e.path(), e.inner()))?;
    if data.is_empty() {
        bail!("no channel is defined");
    }
    Ok(data)
}

/// Replaces the seed's `[local_ip]` token and `localhost` by 127.0.0.1.
pub(crate) fn normalize_target(target: &str) -> String {
    let t = target.trim().replace("[local_ip]", "127.0.0.1");
    match t.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => t,
    }
}

/// Development keys of a peer listed without keys: derived from its (normalized) target.
pub(crate) fn dev_keys(target: &str) -> (Keypair, BlsKeypair) {
    let t = normalize_target(target);
    let seed = lc_types::sha3(format!("loopchain dev identity key v1\0{t}").as_bytes());
    let ikm = lc_types::sha3(format!("loopchain dev BLS key v1\0{t}").as_bytes());
    (Keypair::from_seed(seed.0), BlsKeypair::from_ikm(&ikm.0))
}

/// A channel this node runs.
#[derive(Debug, Clone)]
pub(crate) struct ChannelSpec {
    pub(crate) def: ChannelDefinition,
    /// Every member's peer id and gRPC target.
    pub(crate) targets: Vec<(String, String)>,
    /// Who may submit transactions (`tx_allowed_signers`); `None`: anyone.
    pub(crate) tx_allowed_signers: Option<std::collections::BTreeSet<Address>>,
}

/// What the channel data says about this node.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Channels that list this node.
    pub(crate) channels: Vec<ChannelSpec>,
    /// Channels that do not (not run).
    pub(crate) skipped: Vec<String>,
    /// The identity and BLS keys this node runs with.
    pub(crate) key: Keypair,
    pub(crate) bls: BlsKeypair,
    /// Whether those are derived development keys.
    pub(crate) dev_keys: bool,
}

/// Builds the definitions of the channels that list `my_target`. `own` are the keys in the data
/// directory, used when this node's entries carry keys; `dev_score_params` fills in a missing
/// `score_params`.
pub(crate) fn resolve(
    data: &ChannelManageData,
    my_target: &str,
    own: (Keypair, BlsKeypair),
    default_score: &str,
    dev_score_params: &str,
) -> Result<Resolved> {
    let me = normalize_target(my_target);
    let listed_keyless = data
        .values()
        .flat_map(|c| &c.peers)
        .any(|p| normalize_target(&p.peer_target) == me && p.identity_key.is_none());
    let (key, bls, dev) = if listed_keyless {
        let (k, b) = dev_keys(&me);
        (k, b, true)
    } else {
        (own.0, own.1, false)
    };
    let mut channels = Vec::new();
    let mut skipped = Vec::new();
    for (name, entry) in data {
        let spec = definition(name, entry, default_score, dev_score_params)
            .with_context(|| format!("channel {name:?} in the channel manage data"))?;
        let mine = spec.targets.iter().position(|(_, t)| *t == me);
        match mine {
            None => skipped.push(name.clone()),
            Some(i) => {
                let member = &spec.def.members[i];
                if member.identity_key != key.public() {
                    bail!(
                        "channel {name:?} lists this node ({me}) with identity key {}, but this node's key is {} (keys in {})",
                        member.identity_key,
                        key.public(),
                        if dev { "derived from the peer target" } else { "the data directory" }
                    );
                }
                if member.role == Role::Validator && member.bls_key != Some(bls.public()) {
                    bail!("channel {name:?} lists this node ({me}) with another BLS key than this node's");
                }
                channels.push(spec);
            }
        }
    }
    Ok(Resolved { channels, skipped, key, bls, dev_keys: dev })
}

fn definition(name: &str, entry: &ChannelEntry, default_score: &str, dev_score_params: &str) -> Result<ChannelSpec> {
    if entry.peers.is_empty() {
        bail!("no peers listed");
    }
    let mut members = Vec::with_capacity(entry.peers.len());
    let mut targets = Vec::with_capacity(entry.peers.len());
    for (i, p) in entry.peers.iter().enumerate() {
        let target = normalize_target(&p.peer_target);
        if target.rsplit_once(':').and_then(|(_, port)| port.parse::<u16>().ok()).is_none() {
            bail!("peers[{i}].peer_target {:?} is not host:port", p.peer_target);
        }
        let role = p.role.unwrap_or_default();
        let (identity_key, bls_key, bls_pop) = match p.identity_key {
            Some(k) => {
                if role == Role::Validator && (p.bls_key.is_none() || p.bls_pop.is_none()) {
                    bail!("peers[{i}] ({target}) has an identity_key but no bls_key and bls_pop");
                }
                (k, p.bls_key, p.bls_pop)
            }
            None => {
                let (k, b) = dev_keys(&target);
                (k.public(), Some(b.public()), Some(b.proof_of_possession()))
            }
        };
        let peer_id = Address::of(&identity_key);
        if let Some(listed) = p.peer_id {
            if listed != peer_id {
                bail!("peers[{i}] ({target}): peer_id {listed} does not match its identity key (expected {peer_id})");
            }
        }
        members.push(Member {
            peer_id,
            identity_key,
            bls_key: if role == Role::Validator { bls_key } else { None },
            bls_pop: if role == Role::Validator { bls_pop } else { None },
            weight: if role == Role::Validator { p.weight.unwrap_or(1) } else { 0 },
            group: p.group.clone(),
            role,
        });
        targets.push((peer_id.to_string(), target));
    }
    let admins = match &entry.admins {
        Some(a) => a.clone(),
        None => members.iter().map(|m| m.identity_key).collect(),
    };
    let score = match entry.score_package.trim() {
        "" | "loopchain/default" => default_score.to_owned(),
        s => s.rsplit('/').next().unwrap_or(s).to_owned(),
    };
    let (consensus, consensus_params, consensus_code_hash) = match &entry.consensus {
        None => ("equal".to_owned(), "{}".to_owned(), None),
        Some(c) => (
            c.plugin.clone(),
            c.params.as_ref().map_or_else(|| "{}".to_owned(), serde_json::Value::to_string),
            c.code_hash,
        ),
    };
    let def = ChannelDefinition {
        name: name.to_owned(),
        members,
        admins,
        score,
        score_params: entry
            .score_params
            .as_ref()
            .map_or_else(|| dev_score_params.to_owned(), serde_json::Value::to_string),
        consensus,
        consensus_params,
        consensus_code_hash,
        genesis_timestamp_us: entry.genesis_timestamp_us.unwrap_or(0),
    };
    def.validate()?;
    let tx_allowed_signers = entry.tx_allowed_signers.as_ref().map(|v| v.iter().copied().collect());
    Ok(ChannelSpec { def, targets, tx_allowed_signers })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{
        "loopchain_default": {"score_package": "loopchain/default",
            "peers": [{"peer_target": "[local_ip]:7100"}, {"peer_target": "127.0.0.1:7200"}]},
        "token_channel": {"score_package": "token", "consensus": {"plugin": "weighted", "params": {}},
            "peers": [{"peer_target": "127.0.0.1:7200", "weight": 3}]}
    }"#;

    fn own() -> (Keypair, BlsKeypair) {
        (Keypair::from_seed([7; 32]), BlsKeypair::from_ikm(&[7; 32]))
    }

    #[test]
    fn seed_format_resolves_to_dev_keys_and_only_listed_channels() {
        let data = parse(SEED).expect("parses");
        let r = resolve(&data, "127.0.0.1:7100", own(), "hello", "{}").expect("resolves");
        assert!(r.dev_keys);
        assert_eq!(r.key.public(), dev_keys("127.0.0.1:7100").0.public());
        assert_eq!(r.channels.len(), 1);
        assert_eq!(r.channels[0].def.name, "loopchain_default");
        assert_eq!(r.channels[0].def.score, "hello");
        assert_eq!(r.skipped, vec!["token_channel".to_owned()]);
        let r2 = resolve(&data, "localhost:7200", own(), "hello", "{}").expect("resolves");
        assert_eq!(r2.channels.len(), 2);
        assert_eq!(r2.channels[1].def.consensus, "weighted");
        assert_eq!(r2.channels[1].def.members[0].weight, 3);
        // Both nodes derive the same genesis for the shared channel.
        assert_eq!(r.channels[0].def.hash(), r2.channels[0].def.hash());
    }

    #[test]
    fn explicit_keys_must_be_this_nodes() {
        let (k, b) = own();
        let json = serde_json::json!({"c": {"peers": [{"peer_target": "127.0.0.1:7100",
            "identity_key": Keypair::from_seed([8; 32]).public(), "bls_key": b.public(), "bls_pop": b.proof_of_possession()}]}})
        .to_string();
        let err = resolve(&parse(&json).expect("parses"), "127.0.0.1:7100", (k, b), "hello", "{}")
            .expect_err("another node's key");
        assert!(err.to_string().contains("identity key"), "{err}");
    }

    #[test]
    fn bad_entries_are_clear_errors() {
        assert!(parse("{}").is_err());
        let err = parse(r#"{"c": {"peers": [{"peer_target": 5}]}}"#).expect_err("bad type");
        assert!(err.to_string().contains("c.peers[0].peer_target"), "{err}");
        let bad_target = parse(r#"{"c": {"peers": [{"peer_target": "nohost"}]}}"#).expect("parses");
        let err = resolve(&bad_target, "127.0.0.1:7100", own(), "hello", "{}").expect_err("no port");
        assert!(format!("{err:#}").contains("host:port"), "{err:#}");
    }
}
