//! The JSON edge: byte strings as lowercase hex, the flattened transaction shape, addresses and
//! channel names.

use lc_types::{
    validate_channel_name, Address, BlsPublicKey, BlsSignature, Error, Hash, Payload, PublicKey, QuorumCert, Role,
    Signature, Transaction, TxBody, VoteKind,
};
use serde_json::{json, Value};

fn tx(payload: Payload) -> Transaction {
    Transaction {
        body: TxBody {
            channel: "loopchain_default".into(),
            from: PublicKey([0xab; 32]),
            timestamp_us: 1_700_000_000_000_000,
            nonce: 7,
            payload,
        },
        signature: Signature([0xcd; 64]),
    }
}

fn mixed_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(37).wrapping_add(0xa0);
    }
    b
}

// ---------------------------------------------------------------------------------------------
// Byte newtypes
// ---------------------------------------------------------------------------------------------

#[test]
fn byte_newtypes_serialize_as_lowercase_hex() {
    let h = Hash(mixed_bytes());
    let expected = hex::encode(h.0);
    assert!(expected.chars().any(|c| c.is_ascii_alphabetic()), "fixture must contain hex letters");
    assert_eq!(serde_json::to_value(h).expect("hash"), Value::String(expected.clone()));
    assert_eq!(h.to_hex(), expected);
    assert_eq!(h.to_string(), expected);

    let pk = PublicKey(mixed_bytes());
    assert_eq!(serde_json::to_string(&pk).expect("pk"), format!("\"{}\"", hex::encode(pk.0)));

    let sig = Signature(mixed_bytes());
    let s = serde_json::to_value(sig).expect("sig");
    let s = s.as_str().expect("signature is a string");
    assert_eq!(s.len(), 128);
    assert_eq!(s, s.to_lowercase());
    assert_eq!(s, hex::encode(sig.0));

    let bpk = BlsPublicKey(mixed_bytes());
    assert_eq!(serde_json::to_value(bpk).expect("bls pk"), json!(hex::encode(bpk.0)));
    let bsig = BlsSignature(mixed_bytes());
    assert_eq!(serde_json::to_value(bsig).expect("bls sig"), json!(hex::encode(bsig.0)));
}

#[test]
fn byte_newtypes_roundtrip_through_json() {
    let h = Hash(mixed_bytes());
    assert_eq!(serde_json::from_value::<Hash>(serde_json::to_value(h).expect("ser")).expect("de"), h);
    let pk = PublicKey(mixed_bytes());
    assert_eq!(serde_json::from_str::<PublicKey>(&serde_json::to_string(&pk).expect("ser")).expect("de"), pk);
    let sig = Signature(mixed_bytes());
    assert_eq!(serde_json::from_str::<Signature>(&serde_json::to_string(&sig).expect("ser")).expect("de"), sig);
    let bsig = BlsSignature(mixed_bytes());
    assert_eq!(serde_json::from_str::<BlsSignature>(&serde_json::to_string(&bsig).expect("ser")).expect("de"), bsig);
}

#[test]
fn byte_newtypes_accept_uppercase_and_0x_prefix() {
    let h = Hash(mixed_bytes());
    let lower = hex::encode(h.0);
    let upper = lower.to_uppercase();
    assert_eq!(serde_json::from_value::<Hash>(json!(upper)).expect("uppercase"), h);
    assert_eq!(serde_json::from_value::<Hash>(json!(format!("0x{lower}"))).expect("0x lower"), h);
    assert_eq!(serde_json::from_value::<Hash>(json!(format!("0x{upper}"))).expect("0x upper"), h);
    assert_eq!(Hash::from_hex(&format!("0x{lower}")).expect("from_hex 0x"), h);
    assert_eq!(upper.parse::<Hash>().expect("FromStr"), h);

    let sig = Signature(mixed_bytes());
    let sig_hex = hex::encode_upper(sig.0);
    assert_eq!(serde_json::from_value::<Signature>(json!(format!("0x{sig_hex}"))).expect("sig"), sig);
    let pk = PublicKey(mixed_bytes());
    assert_eq!(serde_json::from_value::<PublicKey>(json!(hex::encode_upper(pk.0))).expect("pk"), pk);
}

#[test]
fn byte_newtypes_reject_wrong_length_and_non_hex() {
    let good = "11".repeat(32);
    assert!(serde_json::from_value::<Hash>(json!(good)).is_ok());
    let bad = [
        "".to_owned(),
        "0x".to_owned(),
        "11".repeat(31),                  // too short
        "11".repeat(33),                  // too long
        format!("{good}1"),               // odd length
        format!("{}zz", "11".repeat(31)), // non-hex
        format!("{}1g", "11".repeat(31)),
        format!(" {good}"), // whitespace
        format!("0x0x{good}"),
        "11".repeat(64), // a signature is not a hash
    ];
    for s in &bad {
        assert!(serde_json::from_value::<Hash>(json!(s)).is_err(), "Hash accepted {s:?}");
        assert!(matches!(Hash::from_hex(s), Err(Error::Hex { .. })), "from_hex accepted {s:?}");
    }
    // Signatures are 64 bytes; 32 bytes is wrong.
    assert!(serde_json::from_value::<Signature>(json!(good)).is_err());
    assert!(serde_json::from_value::<Signature>(json!("22".repeat(64))).is_ok());
    assert!(serde_json::from_value::<PublicKey>(json!("22".repeat(64))).is_err());
    // Not a string at all.
    assert!(serde_json::from_value::<Hash>(json!(12)).is_err());
    assert!(serde_json::from_value::<Hash>(json!([1, 2, 3])).is_err());
    assert!(serde_json::from_value::<Hash>(Value::Null).is_err());
}

#[test]
fn from_slice_checks_length() {
    assert_eq!(Hash::from_slice(&[7u8; 32]), Ok(Hash([7u8; 32])));
    assert!(matches!(Hash::from_slice(&[7u8; 31]), Err(Error::Hex { .. })));
    assert!(matches!(Signature::from_slice(&[7u8; 32]), Err(Error::Hex { .. })));
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

#[test]
fn transaction_json_has_flattened_body_fields() {
    let t = tx(Payload::Data { json: "{\"data\":\"hello\"}".into() });
    let v = serde_json::to_value(&t).expect("serialise tx");
    let obj = v.as_object().expect("tx is an object");
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["channel", "from", "nonce", "payload", "signature", "timestamp_us"]);
    assert_eq!(
        v,
        json!({
            "channel": "loopchain_default",
            "from": "ab".repeat(32),
            "timestamp_us": 1_700_000_000_000_000u64,
            "nonce": 7,
            "payload": {"type": "data", "json": "{\"data\":\"hello\"}"},
            "signature": "cd".repeat(64),
        })
    );
    assert!(obj.get("body").is_none());
}

#[test]
fn payload_json_tags_match_kind() {
    let payloads = [
        Payload::Call { score: "s".into(), method: "m".into(), params_json: "{}".into() },
        Payload::Data { json: "{}".into() },
        Payload::Deploy { score: "s".into(), code_hash: Hash([0xef; 32]), params: "{}".into() },
        Payload::ChannelConfig { json: "{}".into() },
    ];
    let tags: Vec<String> = payloads
        .iter()
        .map(|p| {
            let v = serde_json::to_value(p).expect("payload");
            assert_eq!(v["type"], json!(p.kind()));
            v["type"].as_str().expect("type is a string").to_owned()
        })
        .collect();
    assert_eq!(tags, ["call", "data", "deploy", "channel_config"]);

    let deploy = serde_json::to_value(&payloads[2]).expect("deploy");
    assert_eq!(deploy, json!({"type": "deploy", "score": "s", "code_hash": "ef".repeat(32), "params": "{}"}));
    let call = serde_json::to_value(&payloads[0]).expect("call");
    assert_eq!(call, json!({"type": "call", "score": "s", "method": "m", "params_json": "{}"}));
}

#[test]
fn transaction_json_roundtrips_for_every_payload() {
    for p in [
        Payload::Call { score: "token".into(), method: "transfer".into(), params_json: "{\"v\":\"0x1\"}".into() },
        Payload::Data { json: "{\"data\":\"hällo\"}".into() },
        Payload::Deploy { score: "token".into(), code_hash: Hash(mixed_bytes()), params: "{}".into() },
        Payload::ChannelConfig { json: "{\"epoch\":2}".into() },
    ] {
        let mut t = tx(p);
        // Large u64 values must survive (no float detour).
        t.body.timestamp_us = u64::MAX;
        t.body.nonce = u64::MAX - 1;
        let s = serde_json::to_string(&t).expect("serialise");
        let back: Transaction = serde_json::from_str(&s).expect("deserialise");
        assert_eq!(back, t);
        assert_eq!(back.hash(), t.hash());
    }
}

#[test]
fn transaction_json_from_client_input() {
    // What a client would send: uppercase / 0x-prefixed hex is accepted, and hashes the same.
    let t = tx(Payload::Data { json: "{}".into() });
    let input = json!({
        "channel": "loopchain_default",
        "from": format!("0x{}", "AB".repeat(32)),
        "timestamp_us": 1_700_000_000_000_000u64,
        "nonce": 7,
        "payload": {"type": "data", "json": "{}"},
        "signature": "CD".repeat(64),
    });
    let back: Transaction = serde_json::from_value(input).expect("client tx");
    assert_eq!(back, t);
}

#[test]
fn transaction_json_rejects_bad_input() {
    let good = serde_json::to_value(tx(Payload::Data { json: "{}".into() })).expect("tx");
    assert!(serde_json::from_value::<Transaction>(good.clone()).is_ok());

    let mut missing_sig = good.clone();
    missing_sig.as_object_mut().expect("object").remove("signature");
    assert!(serde_json::from_value::<Transaction>(missing_sig).is_err());

    let mut bad_sig = good.clone();
    bad_sig["signature"] = json!("cd".repeat(63));
    assert!(serde_json::from_value::<Transaction>(bad_sig).is_err());

    let mut bad_from = good.clone();
    bad_from["from"] = json!("xy".repeat(32));
    assert!(serde_json::from_value::<Transaction>(bad_from).is_err());

    let mut bad_type = good.clone();
    bad_type["payload"]["type"] = json!("transfer");
    assert!(serde_json::from_value::<Transaction>(bad_type).is_err());

    let mut negative_nonce = good;
    negative_nonce["nonce"] = json!(-1);
    assert!(serde_json::from_value::<Transaction>(negative_nonce).is_err());
}

#[test]
fn other_enums_and_bitmaps_use_snake_case_and_hex() {
    assert_eq!(serde_json::to_value(VoteKind::Yes).expect("yes"), json!("yes"));
    assert_eq!(serde_json::to_value(VoteKind::Timeout).expect("timeout"), json!("timeout"));
    assert_eq!(serde_json::to_value(Role::Validator).expect("validator"), json!("validator"));
    assert_eq!(serde_json::to_value(Role::Auditor).expect("auditor"), json!("auditor"));

    let qc = QuorumCert {
        epoch: 1,
        round: 2,
        height: 3,
        block_hash: Hash([0x0f; 32]),
        signer_bitmap: vec![0xab, 0x01],
        aggregate_signature: BlsSignature([0x5e; 96]),
    };
    let v = serde_json::to_value(&qc).expect("qc");
    assert_eq!(v["signer_bitmap"], json!("ab01"));
    assert_eq!(v["block_hash"], json!("0f".repeat(32)));
    assert_eq!(serde_json::from_value::<QuorumCert>(v).expect("qc back"), qc);
}

// ---------------------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------------------

#[test]
fn address_displays_as_hx_and_40_lowercase_hex() {
    let a = Address::of(&PublicKey([0x42; 32]));
    let s = a.to_string();
    assert!(s.starts_with("hx"), "{s}");
    assert_eq!(s.len(), 42);
    assert!(s[2..].chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)), "{s}");
    assert_eq!(&s[2..], hex::encode(a.0));
    assert_eq!(Address::parse(&s), Ok(a));
    assert_eq!(format!("{a:?}"), format!("Address({s})"));

    let fixed = Address([0xab; 20]);
    assert_eq!(fixed.to_string(), format!("hx{}", "ab".repeat(20)));
    assert_eq!(serde_json::to_value(fixed).expect("address"), json!(format!("hx{}", "ab".repeat(20))));
    assert_eq!(serde_json::from_value::<Address>(json!(format!("hx{}", "ab".repeat(20)))).expect("de"), fixed);
}

#[test]
fn address_parse_rejects_bad_input() {
    let body = "ab".repeat(20);
    assert_eq!(Address::parse(&format!("hx{body}")), Ok(Address([0xab; 20])));
    let bad = [
        body.clone(),                       // missing prefix
        format!("0x{body}"),                // wrong prefix
        format!("hx{}", "ab".repeat(19)),   // too short
        format!("hx{}", "ab".repeat(21)),   // too long
        format!("hx{body}a"),               // odd
        format!("hx{}zz", "ab".repeat(19)), // non-hex
        "hx".to_owned(),
        String::new(),
    ];
    for s in &bad {
        assert!(matches!(Address::parse(s), Err(Error::Hex { .. })), "parse accepted {s:?}");
        assert!(serde_json::from_value::<Address>(json!(s)).is_err(), "JSON accepted {s:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Channel names
// ---------------------------------------------------------------------------------------------

#[test]
fn channel_names_accepted() {
    for name in ["loopchain_default", "a.b-c_1", "a", "Z9", &"x".repeat(64)] {
        assert_eq!(validate_channel_name(name), Ok(()), "{name:?}");
    }
}

#[test]
fn channel_names_rejected() {
    for name in ["", &"x".repeat(65), "a/b", "a b", "ü", "a\u{0}b", "a\nb", "chan:1", "..\\x"] {
        assert_eq!(validate_channel_name(name), Err(Error::ChannelName(name.to_owned())), "{name:?}");
    }
}
