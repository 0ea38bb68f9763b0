//! Shared by the engine's test binaries: channel definitions with dev keys.
#![allow(dead_code, unreachable_pub)]
use lc_crypto::bls::BlsKeypair;
use lc_crypto::Keypair;
use lc_types::{Address, ChannelDefinition, Member, Role};

/// A validator of weight 1 with identity `key` and the BLS dev key `bls`.
pub fn validator(key: &Keypair, bls: u64) -> Member {
    Member {
        peer_id: Address::of(&key.public()),
        identity_key: key.public(),
        bls_key: Some(BlsKeypair::dev(bls).public()),
        bls_pop: Some(BlsKeypair::dev(bls).proof_of_possession()),
        weight: 1,
        group: None,
        role: Role::Validator,
    }
}

/// Channel `name` with `members`, administered by `admin`, running `score` ("" for none) on the
/// equal consensus scheme.
pub fn definition(name: &str, members: Vec<Member>, admin: &Keypair, score: &str) -> ChannelDefinition {
    ChannelDefinition {
        name: name.into(),
        members,
        admins: vec![admin.public()],
        score: score.into(),
        score_params: "{}".into(),
        consensus: "equal".into(),
        consensus_params: "{}".into(),
        consensus_code_hash: None,
        genesis_timestamp_us: 0,
    }
}
