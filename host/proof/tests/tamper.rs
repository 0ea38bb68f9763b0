//! Every byte of every hex field, and every number, of a valid proof changed one at a time: the
//! verifier must refuse each (with a reason), never panic.
mod common;

use common::{Chain, Keys};
use lc_proof::{build, verify, verify_with, FinalityProof, ValidatorSet};
use serde_json::Value;
use std::collections::BTreeMap;

/// Paths (object keys / array indices) to every leaf of `v`.
fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                path.push(k.clone());
                leaves(c, path, out);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                path.push(i.to_string());
                leaves(c, path, out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
    let mut cur = v;
    for k in path {
        cur = match cur {
            Value::Array(a) => &mut a[k.parse::<usize>().expect("index")],
            other => &mut other[k.as_str()],
        };
    }
    cur
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Every single-character change of every hex leaf (the nibble XOR 1, so the value always
/// changes), every number + 1, − 1, 0 and `u64::MAX`, every other string extended.
fn mutations(json: &str, skip: impl Fn(&[String]) -> bool) -> Vec<(String, String)> {
    let root: Value = serde_json::from_str(json).expect("json");
    let mut paths = Vec::new();
    leaves(&root, &mut Vec::new(), &mut paths);
    let mut out = Vec::new();
    for path in paths.iter().filter(|p| !skip(p)) {
        let mut v = root.clone();
        let leaf = at(&mut v, path).clone();
        let label = path.join(".");
        match &leaf {
            Value::String(s) => {
                let (prefix, body) = s.strip_prefix("hx").map(|b| ("hx", b)).unwrap_or(("", s.as_str()));
                if is_hex(body) {
                    for pos in 0..body.len() {
                        let mut chars: Vec<char> = body.chars().collect();
                        let nibble = chars[pos].to_digit(16).expect("hex digit") ^ 1;
                        chars[pos] = char::from_digit(nibble, 16).expect("digit");
                        *at(&mut v, path) = Value::String(format!("{prefix}{}", chars.iter().collect::<String>()));
                        out.push((format!("{label}[{pos}]"), v.to_string()));
                    }
                } else {
                    *at(&mut v, path) = Value::String(format!("{s}x"));
                    out.push((format!("{label} (string)"), v.to_string()));
                }
            }
            Value::Number(n) => {
                let n = n.as_u64().expect("u64");
                let mut values: Vec<u64> =
                    [n.checked_add(1), n.checked_sub(1), Some(0), Some(u64::MAX)].into_iter().flatten().collect();
                values.sort_unstable();
                values.dedup();
                for m in values.into_iter().filter(|m| *m != n) {
                    *at(&mut v, path) = Value::from(m);
                    out.push((format!("{label} = {m}"), v.to_string()));
                }
            }
            Value::Null => {}
            other => panic!("unexpected leaf {other}"),
        }
    }
    out
}

/// Asserts every mutation of `proof` is refused by the parser or (mostly) by `verify`.
fn assert_every_mutation_refused(proof: &FinalityProof, set: &ValidatorSet) -> BTreeMap<String, usize> {
    assert!(verify(proof, set).is_ok(), "the unmodified proof verifies");
    let checked = set.check().expect("valid set");
    let json = proof.to_json();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let muts = mutations(&json, |_| false);
    assert!(muts.len() > 1000, "{} mutations", muts.len());
    for (label, m) in &muts {
        let reason = match FinalityProof::from_json(m.as_bytes()) {
            Err(e) => format!("parse: {}", e.to_string().split(' ').take(2).collect::<Vec<_>>().join(" ")),
            Ok(p) => match verify_with(&p, &checked) {
                Ok(_) => panic!("mutation {label} still verifies"),
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    format!("{e:?}").split([' ', '(']).next().unwrap_or_default().to_owned()
                }
            },
        };
        *reasons.entry(reason).or_default() += 1;
    }
    eprintln!("{} mutations refused: {reasons:?}", muts.len());
    let parsed_and_refused: usize = reasons.iter().filter(|(k, _)| !k.starts_with("parse")).map(|(_, n)| n).sum();
    assert!(parsed_and_refused * 2 > muts.len(), "most mutations reach the verifier: {reasons:?}");
    reasons
}

#[test]
fn every_change_to_a_direct_proof_is_refused() {
    let keys = Keys::dev();
    let chain = Chain::build(&keys, 0, &[1, 2]);
    let (headers, qc) = chain.span(0, 1);
    let proof = build(headers, qc).expect("build");
    let reasons = assert_every_mutation_refused(&proof, &keys.set(0));
    for expected in ["HeaderHashMismatch", "BlockHashMismatch", "BadProposerSignature", "BadQcSignature", "QcMismatch"]
    {
        assert!(reasons.contains_key(expected), "{expected} missing from {reasons:?}");
    }
}

#[test]
fn every_change_to_an_indirect_proof_is_refused() {
    let keys = Keys::dev();
    // Rounds 2, 4, 5: header 1 carries a TC; the proof spans three headers.
    let chain = Chain::build(&keys, 0, &[2, 4, 5]);
    let (headers, qc) = chain.span(0, 2);
    let proof = build(headers, qc).expect("build");
    assert_eq!(proof.headers.len(), 3);
    assert!(proof.headers[1].header.tc.is_some());
    assert_every_mutation_refused(&proof, &keys.set(0));
}

#[test]
fn every_change_to_a_grouped_proof_is_refused() {
    let keys = Keys::dev();
    // Both groups need every member ({0, 1, 3} would not be a quorum), so sign with all four.
    let set = keys.weighted_set(0, &[1; 4], &[("a", &[0, 1], 1), ("b", &[2, 3], 1)]);
    let chain = Chain::build(&keys, 0, &[1, 2]);
    let (h0, s0) = chain.headers[0].clone();
    let mut h1 = chain.headers[1].0.clone();
    h1.qc = Some(keys.qc_of(&[0, 1, 2, 3], &h0));
    let s1 = keys.ed[(h1.round % 4) as usize].sign(&h1.hash().0);
    let qc = keys.qc_of(&[0, 1, 2, 3], &h1);
    let proof = build(vec![(h0, s0), (h1, s1)], qc).expect("build");
    assert_every_mutation_refused(&proof, &set);
}

#[test]
fn every_change_to_the_validator_set_is_refused() {
    let keys = Keys::dev();
    let chain = Chain::build(&keys, 0, &[1, 2]);
    let (headers, qc) = chain.span(0, 1);
    let proof = build(headers, qc).expect("build");
    let set = keys.set(0);
    assert!(verify(&proof, &set).is_ok());
    // Weights may legitimately change without breaking this proof's quorum; everything else may not.
    let muts = mutations(&set.to_json(), |p| p.last().is_some_and(|k| k == "weight"));
    assert!(muts.len() > 1000, "{} mutations", muts.len());
    for (label, m) in &muts {
        if let Ok(s) = ValidatorSet::from_json(m.as_bytes()) {
            assert!(verify(&proof, &s).is_err(), "set mutation {label} still verifies");
        }
    }
}

#[test]
fn truncated_documents_are_parse_errors() {
    let keys = Keys::dev();
    let chain = Chain::build(&keys, 0, &[2, 4, 5]);
    let (headers, qc) = chain.span(0, 2);
    let json = build(headers, qc).expect("build").to_json();
    for len in 0..json.len() {
        assert!(FinalityProof::from_json(&json.as_bytes()[..len]).is_err(), "prefix of {len} bytes");
    }
}
