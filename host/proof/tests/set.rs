//! Validator-set checks.
mod common;

use common::Keys;
use lc_crypto::bls::BlsError;
use lc_proof::{ParseError, SetError, ValidatorSet, MAX_SET_JSON_BYTES};
use lc_types::Address;

#[test]
fn a_good_set_checks_and_round_trips() {
    let keys = Keys::dev();
    let set = keys.weighted_set(7, &[1, 2, 3, 4], &[("a", &[2, 0], 5)]);
    let checked = set.check().expect("valid");
    assert_eq!(checked.epoch(), 7);
    assert_eq!(checked.epoch_info().total_weight(), 2 + 4 + 5);
    assert_eq!(checked.epoch_info().groups().len(), 1);
    assert_eq!(checked.keys().keys()[3], keys.bls[3].public());
    assert_eq!(ValidatorSet::from_json(set.to_json().as_bytes()), Ok(set));
    // `groups` and `group` may be omitted.
    let mut v: serde_json::Value = serde_json::from_str(&keys.set(0).to_json()).expect("json");
    v.as_object_mut().expect("object").remove("groups");
    let parsed = ValidatorSet::from_json(v.to_string().as_bytes()).expect("parse");
    assert!(parsed.groups.is_empty());
    assert!(parsed.check().is_ok());
}

#[test]
fn bad_sets_are_refused_with_a_reason() {
    let keys = Keys::dev();
    let base = keys.set(0);
    let check = |f: &dyn Fn(&mut ValidatorSet)| {
        let mut s = base.clone();
        f(&mut s);
        s.check().expect_err("must be refused")
    };
    assert_eq!(check(&|s| s.validators.clear()), SetError::Empty);
    assert_eq!(check(&|s| s.channel = "bad channel".into()), SetError::InvalidChannel("bad channel".into()));
    assert_eq!(check(&|s| s.validators[2].weight = 0), SetError::ZeroWeight { index: 2 });
    assert_eq!(check(&|s| s.validators[1].peer_id = Address([0; 20])), SetError::PeerIdMismatch { index: 1 });
    assert!(matches!(
        check(&|s| {
            s.validators[3] = s.validators[0].clone();
        }),
        SetError::DuplicateIdentityKey { index: 3, first: 0, .. }
    ));
    assert!(matches!(
        check(&|s| {
            s.validators[3].bls_key = s.validators[1].bls_key;
            s.validators[3].bls_pop = s.validators[1].bls_pop;
        }),
        SetError::DuplicateBlsKey { index: 3, first: 1, .. }
    ));
    assert_eq!(
        check(&|s| s.validators[2].bls_pop = s.validators[1].bls_pop),
        SetError::BadBlsKey { index: 2, source: BlsError::BadProofOfPossession(keys.bls[2].public()) }
    );
    // A vote signature over the key is not a proof of possession.
    assert!(matches!(
        check(&|s| s.validators[0].bls_pop = keys.bls[0].sign(&keys.bls[0].public().0)),
        SetError::BadBlsKey { index: 0, source: BlsError::BadProofOfPossession(_) }
    ));
    assert!(matches!(
        check(&|s| s.validators[0].bls_key.0 = [0; 48]),
        SetError::BadBlsKey { index: 0, source: BlsError::InvalidPublicKey(_) }
    ));
    assert_eq!(check(&|s| s.validators[0].weight = u64::MAX / 2), SetError::Overflow, "3 × total must fit in u64");
}

#[test]
fn groups_must_agree_with_members() {
    let keys = Keys::dev();
    let base = keys.weighted_set(0, &[1; 4], &[("a", &[0, 1], 1), ("b", &[2], 1)]);
    assert!(base.check().is_ok());
    let check = |f: &dyn Fn(&mut ValidatorSet)| {
        let mut s = base.clone();
        f(&mut s);
        s.check().expect_err("must be refused")
    };
    assert_eq!(
        check(&|s| s.validators[3].group = Some("a".into())),
        SetError::GroupMismatch { index: 3, declared: Some("a".into()), listed: None }
    );
    assert_eq!(
        check(&|s| s.validators[0].group = None),
        SetError::GroupMismatch { index: 0, declared: None, listed: Some("a".into()) }
    );
    assert_eq!(
        check(&|s| s.validators[2].group = Some("zz".into())),
        SetError::GroupMismatch { index: 2, declared: Some("zz".into()), listed: Some("b".into()) }
    );
    assert_eq!(check(&|s| s.groups[1].members.push(9)), SetError::MemberOutOfRange { name: "b".into(), member: 9 });
    assert_eq!(check(&|s| s.groups[1].members.push(0)), SetError::MemberListedTwice { member: 0 });
    assert_eq!(check(&|s| s.groups[0].members.push(0)), SetError::MemberListedTwice { member: 0 });
    assert_eq!(check(&|s| s.groups[1].votes = 0), SetError::EmptyGroup { name: "b".into() });
    assert_eq!(check(&|s| s.groups[1].name = "a".into()), SetError::BadGroupName { index: 1, name: "a".into() });
    assert_eq!(
        check(&|s| {
            s.groups[1].members.clear();
            s.validators[2].group = None;
        }),
        SetError::EmptyGroup { name: "b".into() }
    );
}

#[test]
fn malformed_documents_are_parse_errors() {
    for doc in [
        "",
        "{}",
        "[]",
        r#"{"channel":"c","epoch":0,"validators":[{"peer_id":"hx00"}]}"#,
        r#"{"channel":"c","epoch":-1,"validators":[]}"#,
        r#"{"channel":"c","epoch":0,"validators":[],"groups":[{"name":"a","members":[-1],"votes":1}]}"#,
    ] {
        assert!(matches!(ValidatorSet::from_json(doc.as_bytes()), Err(ParseError::Json(_))), "{doc}");
    }
    let big = vec![b' '; MAX_SET_JSON_BYTES + 1];
    assert_eq!(
        ValidatorSet::from_json(&big),
        Err(ParseError::TooLarge { len: MAX_SET_JSON_BYTES + 1, max: MAX_SET_JSON_BYTES })
    );
    // Uppercase / wrong-length hex in a key.
    let keys = Keys::dev();
    let mut v: serde_json::Value = serde_json::from_str(&keys.set(0).to_json()).expect("json");
    v["validators"][0]["bls_key"] = serde_json::Value::String("abcd".into());
    assert!(ValidatorSet::from_json(v.to_string().as_bytes()).is_err());
}
