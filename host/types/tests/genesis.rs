//! Genesis determinism and channel-definition validation.

use lc_types::{encode, genesis_block, Address, BlsPublicKey, ChannelDefinition, Error, Hash, Member, PublicKey, Role};

fn key(n: u8) -> PublicKey {
    PublicKey([n; 32])
}

fn member(n: u8, weight: u64, role: Role) -> Member {
    Member {
        peer_id: Address::of(&key(n)),
        identity_key: key(n),
        bls_key: if role == Role::Validator { Some(BlsPublicKey([n; 48])) } else { None },
        bls_pop: if role == Role::Validator { Some(lc_types::BlsSignature([n; 96])) } else { None },
        weight,
        group: Some(format!("group{}", n % 2)),
        role,
    }
}

/// Built from scratch on every call (no shared state), so two calls are two independent
/// constructions of the same definition.
fn definition() -> ChannelDefinition {
    ChannelDefinition {
        name: "loopchain_default".to_owned(),
        members: vec![member(1, 10, Role::Validator), member(2, 20, Role::Validator), member(3, 0, Role::Auditor)],
        admins: vec![key(100), key(101)],
        score: "token".to_owned(),
        score_params: "{\"supply\":\"0x64\"}".to_owned(),
        consensus: "lft".to_owned(),
        consensus_params: "{}".into(),
        consensus_code_hash: None,
        genesis_timestamp_us: 1_600_000_000_000_000,
    }
}

fn genesis_hash(def: &ChannelDefinition) -> Hash {
    genesis_block(def).expect("valid definition").hash()
}

#[track_caller]
fn assert_definition_error(def: &ChannelDefinition, needle: &str) {
    match def.validate() {
        Err(Error::ChannelDefinition(msg)) => assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}"),
        other => panic!("expected ChannelDefinition error containing {needle:?}, got {other:?}"),
    }
    assert_eq!(genesis_block(def).err(), def.validate().err(), "genesis_block must validate");
}

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn identical_definitions_give_byte_identical_genesis() {
    let a = definition();
    let b = definition();
    assert_eq!(a, b);
    let ga = genesis_block(&a).expect("a");
    let gb = genesis_block(&b).expect("b");
    assert_eq!(encode(&ga), encode(&gb));
    assert_eq!(ga.hash(), gb.hash());
    assert_eq!(a.hash(), b.hash());
    // Repeated calls on one value are stable too.
    assert_eq!(encode(&genesis_block(&a).expect("again")), encode(&ga));
}

#[test]
fn definition_survives_json_roundtrip_with_same_genesis() {
    // Definitions are typically read from config files: JSON must not lose anything hashed.
    let def = definition();
    let json = serde_json::to_string(&def).expect("serialise");
    let back: ChannelDefinition = serde_json::from_str(&json).expect("deserialise");
    assert_eq!(back, def);
    assert_eq!(encode(&genesis_block(&back).expect("back")), encode(&genesis_block(&def).expect("def")));
}

#[test]
fn every_field_change_changes_the_genesis_hash() {
    type Change = (&'static str, fn(&mut ChannelDefinition));
    let changes: &[Change] = &[
        ("name", |d| d.name = "loopchain_other".into()),
        ("member weight", |d| d.members[0].weight = 11),
        ("auditor weight", |d| d.members[2].weight = 1),
        ("member order", |d| d.members.swap(0, 1)),
        ("member added", |d| d.members.push(member(4, 1, Role::Validator))),
        ("member removed", |d| {
            d.members.pop();
        }),
        ("member role", |d| d.members[1].role = Role::Auditor),
        ("member bls key", |d| d.members[0].bls_key = Some(BlsPublicKey([0xee; 48]))),
        ("member bls key removed", |d| d.members[0].bls_key = None),
        ("member group", |d| d.members[0].group = Some("other".into())),
        ("member group removed", |d| d.members[0].group = None),
        ("member identity", |d| {
            d.members[0].identity_key = key(9);
            d.members[0].peer_id = Address::of(&key(9));
        }),
        ("admin changed", |d| d.admins[0] = key(102)),
        ("admin added", |d| d.admins.push(key(102))),
        ("admin removed", |d| {
            d.admins.pop();
        }),
        ("admin order", |d| d.admins.swap(0, 1)),
        ("score", |d| d.score = "token2".into()),
        ("score_params", |d| d.score_params = "{\"supply\":\"0x65\"}".into()),
        ("score_params whitespace", |d| d.score_params = "{\"supply\": \"0x64\"}".into()),
        ("consensus", |d| d.consensus = "lft2".into()),
        ("consensus params", |d| d.consensus_params = "{\"weights\":[2]}".into()),
        ("consensus code hash", |d| d.consensus_code_hash = Some(lc_types::Hash([7; 32]))),
        ("member bls pop", |d| d.members[0].bls_pop = Some(lc_types::BlsSignature([0xee; 96]))),
        ("timestamp", |d| d.genesis_timestamp_us += 1),
    ];

    let base = genesis_hash(&definition());
    let mut seen = vec![("base", base)];
    for (what, change) in changes {
        let mut def = definition();
        change(&mut def);
        assert_ne!(def, definition(), "{what}: the change must change the definition");
        let h = genesis_hash(&def);
        assert_ne!(h, base, "{what}: genesis hash did not change");
        if let Some((other, _)) = seen.iter().find(|(_, s)| *s == h) {
            panic!("{what} and {other} give the same genesis hash");
        }
        seen.push((what, h));
    }
}

#[test]
fn genesis_hash_moves_with_definition_hash() {
    let def = definition();
    let g = genesis_block(&def).expect("genesis");
    assert_eq!(g.header.state_root, def.hash());
    assert_eq!(g.header.timestamp_us, def.genesis_timestamp_us);
    assert_eq!(g.header.channel, def.name);
    assert_eq!(g.header.height, 0);
    assert!(g.txs.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

#[test]
fn valid_definition_passes() {
    assert_eq!(definition().validate(), Ok(()));
    // A single validator of weight 1 and nothing else is enough.
    let minimal = ChannelDefinition { members: vec![member(1, 1, Role::Validator)], admins: vec![], ..definition() };
    assert_eq!(minimal.validate(), Ok(()));
}

#[test]
fn no_members_is_rejected() {
    let def = ChannelDefinition { members: vec![], ..definition() };
    assert_definition_error(&def, "no validator");
}

#[test]
fn auditors_only_is_rejected() {
    let def =
        ChannelDefinition { members: vec![member(1, 10, Role::Auditor), member(2, 20, Role::Auditor)], ..definition() };
    assert_definition_error(&def, "no validator");
}

#[test]
fn validators_all_with_weight_zero_are_rejected() {
    let def = ChannelDefinition {
        members: vec![member(1, 0, Role::Validator), member(2, 0, Role::Validator), member(3, 50, Role::Auditor)],
        ..definition()
    };
    assert_definition_error(&def, "no validator");

    // One validator with weight > 0 among zero-weight ones is fine.
    let mut ok = def;
    ok.members[1].weight = 1;
    assert_eq!(ok.validate(), Ok(()));
}

#[test]
fn peer_id_not_matching_identity_key_is_rejected() {
    let mut def = definition();
    def.members[1].peer_id = Address::of(&key(77));
    assert_definition_error(&def, "does not match its identity key");

    // Also for auditors.
    let mut def = definition();
    def.members[2].peer_id = Address([0; 20]);
    assert_definition_error(&def, "does not match its identity key");
}

#[test]
fn total_weight_overflow_is_rejected() {
    let half = u64::MAX / 2 + 1;
    let def = ChannelDefinition {
        members: vec![member(1, half, Role::Validator), member(2, half, Role::Validator)],
        ..definition()
    };
    assert_definition_error(&def, "overflows");
}

#[test]
fn total_weight_must_leave_room_for_quorum_arithmetic() {
    let third = u64::MAX / 3;
    let at_limit = ChannelDefinition {
        members: vec![member(1, third - 1, Role::Validator), member(2, 1, Role::Validator)],
        ..definition()
    };
    assert_eq!(at_limit.validate(), Ok(()));
    let over = ChannelDefinition {
        members: vec![member(1, third, Role::Validator), member(2, 1, Role::Validator)],
        ..definition()
    };
    assert_definition_error(&over, "too large");
    // Auditor weight is not voting weight and does not count.
    let auditor_heavy = ChannelDefinition {
        members: vec![member(1, 1, Role::Validator), member(2, u64::MAX, Role::Auditor)],
        ..definition()
    };
    assert_eq!(auditor_heavy.validate(), Ok(()));
}

#[test]
fn invalid_channel_name_is_rejected() {
    for name in ["", "a b", "a/b"] {
        let def = ChannelDefinition { name: name.to_owned(), ..definition() };
        assert_eq!(def.validate(), Err(Error::ChannelName(name.to_owned())));
        assert!(genesis_block(&def).is_err());
    }
}

#[test]
fn duplicate_members_and_admins_are_rejected() {
    let mut def = definition();
    let first = def.members[0].clone();
    def.members.push(first);
    assert_definition_error(&def, "listed twice");

    let mut def = definition();
    def.admins = vec![key(9), key(9)];
    assert_definition_error(&def, "admin key is listed twice");
}
