//! Building and verifying finality proofs over a real 4-validator chain.
mod common;

use common::{Chain, Keys, CHANNEL};
use lc_proof::{
    build, build_from_chain, find_direct_commit, verify, FinalityProof, ProofError, Site, ValidatorSet,
    MAX_PROOF_HEADERS,
};

fn direct() -> (Keys, Chain, FinalityProof) {
    let keys = Keys::dev();
    let chain = Chain::build(&keys, 0, &[1, 2, 3]);
    let (headers, qc) = chain.span(0, 1);
    let proof = build(headers, qc).expect("build");
    (keys, chain, proof)
}

fn reencode(proof: &FinalityProof) -> FinalityProof {
    FinalityProof::from_json(proof.to_json().as_bytes()).expect("parse")
}

#[test]
fn direct_commit_is_two_headers_and_verifies() {
    let (keys, chain, proof) = direct();
    assert_eq!(proof.headers.len(), 2);
    assert_eq!(proof.height, 1);
    assert_eq!(proof.block_hash, chain.headers[0].0.hash());
    let v = verify(&proof, &keys.set(0)).expect("valid proof");
    assert_eq!(v.height, 1);
    assert_eq!(v.block_hash, chain.headers[0].0.hash());
    assert_eq!(v.direct_commit_height, 1);
    assert_eq!(v.header, chain.headers[0].0);
    assert_eq!(v.final_signers, vec![0, 1, 3]);
    assert_eq!(v.channel, CHANNEL);
    assert_eq!(v.epoch, 0);
    // Round trip through JSON.
    let back = reencode(&proof);
    assert_eq!(back, proof);
    assert_eq!(back.to_json(), proof.to_json());
    assert!(verify(&back, &keys.set(0)).is_ok());
}

#[test]
fn indirect_commit_spans_the_round_gap() {
    let keys = Keys::dev();
    // Rounds 1, 3, 5, 6, 7: heights 1 and 2 are committed as ancestors of height 3 (rounds 5 → 6).
    let chain = Chain::build(&keys, 0, &[1, 3, 5, 6, 7]);
    assert!(chain.headers[1].0.tc.is_some(), "the round gap carries a TC");
    let hs: Vec<_> = chain.headers.iter().map(|(h, _)| h).collect();
    assert_eq!(find_direct_commit(hs.iter().copied()), Some(2));
    assert_eq!(find_direct_commit(hs[1..].iter().copied()), Some(1));
    assert_eq!(find_direct_commit(hs[3..].iter().copied()), Some(0));
    assert_eq!(find_direct_commit(hs[..3].iter().copied()), None);
    assert_eq!(find_direct_commit(hs[..1].iter().copied()), None);

    let (headers, qc) = chain.span(0, 3);
    let proof = build(headers, qc).expect("build");
    assert_eq!(proof.headers.len(), 4);
    let set = keys.set(0);
    let v = verify(&reencode(&proof), &set).expect("valid proof");
    assert_eq!((v.height, v.direct_commit_height), (1, 3));

    // From height 2: three headers.
    let (headers, qc) = chain.span(1, 3);
    let v = verify(&build(headers, qc).expect("build"), &set).expect("valid proof");
    assert_eq!((v.height, v.direct_commit_height), (2, 3));

    // A longer proof (through a later direct commit) is still a valid proof: no over-restriction.
    let (headers, qc) = chain.span(0, 4);
    let v = verify(&build(headers, qc).expect("build"), &set).expect("valid longer proof");
    assert_eq!(v.direct_commit_height, 4);

    // Stopping before the direct commit proves nothing.
    let (headers, qc) = chain.span(0, 2);
    assert_eq!(build(headers, qc), Err(ProofError::NotDirectCommit { parent_round: 3, round: 5 }));
    // Hand-made: skip the builder's checks and ask the verifier.
    let (headers, qc) = chain.span(0, 3);
    let mut proof = build(headers, qc).expect("build");
    proof.headers.pop();
    proof.qc = chain.qcs[2].clone();
    assert_eq!(verify(&proof, &set), Err(ProofError::NotDirectCommit { parent_round: 3, round: 5 }));
}

#[test]
fn build_from_chain_uses_the_next_header_or_the_commit_evidence() {
    let keys = Keys::dev();
    let chain = Chain::build(&keys, 0, &[1, 3, 5, 6, 7]);
    let set = keys.set(0);
    // The direct commit's child (index 3) is followed by index 4, whose qc is QC(3).
    let proof = build_from_chain(chain.headers.clone(), None).expect("build");
    assert_eq!(proof.headers.len(), 4);
    assert_eq!(proof.qc, chain.qcs[3]);
    assert!(verify(&proof, &set).is_ok());
    // The child is the last header: the commit evidence's QC is used.
    let proof = build_from_chain(chain.headers[..4].to_vec(), Some(&chain.qcs[3])).expect("build");
    assert_eq!(proof.qc, chain.qcs[3]);
    assert!(verify(&proof, &set).is_ok());
    assert_eq!(build_from_chain(chain.headers[..4].to_vec(), None), Err(ProofError::MissingCommitQc { index: 3 }));
    // Evidence for some other block is refused.
    assert!(matches!(
        build_from_chain(chain.headers[..4].to_vec(), Some(&chain.qcs[2])),
        Err(ProofError::QcMismatch { site: Site::FinalQc, .. })
    ));
    // Not yet final.
    assert_eq!(build_from_chain(chain.headers[..3].to_vec(), None), Err(ProofError::NotCommitted { searched: 3 }));
    assert_eq!(build_from_chain(Vec::new(), None), Err(ProofError::NotCommitted { searched: 0 }));
    // Lazy: nothing after the needed header is read.
    let mut read = 0;
    let proof = build_from_chain(
        chain.headers.iter().cloned().inspect(|_| read += 1).chain(std::iter::from_fn(|| panic!("read too far"))),
        None,
    )
    .expect("build");
    assert_eq!(proof.headers.len(), 4);
    assert_eq!(read, 5);
}

#[test]
fn builder_refuses_malformed_input() {
    let keys = Keys::dev();
    let chain = Chain::build(&keys, 0, &[1, 2, 3]);
    assert_eq!(build(Vec::new(), chain.qcs[0].clone()), Err(ProofError::TooFewHeaders { got: 0 }));
    assert_eq!(build(chain.headers[..1].to_vec(), chain.qcs[0].clone()), Err(ProofError::TooFewHeaders { got: 1 }));
    assert!(matches!(
        build(chain.headers[..2].to_vec(), chain.qcs[2].clone()),
        Err(ProofError::QcMismatch { site: Site::FinalQc, target: 1, field: "block_hash", .. })
    ));
    assert!(matches!(
        build(vec![chain.headers[0].clone(), chain.headers[2].clone()], chain.qcs[2].clone()),
        Err(ProofError::NonConsecutiveHeight { index: 1, parent_height: 1, got: 3 })
    ));
}

#[test]
fn grouped_quorum_counts_groups_as_a_whole() {
    let keys = Keys::dev();
    // Group a = {0 (weight 3), 1 (weight 1)}, 2 votes; group b = {2, 3} (weight 1 each), 2 votes.
    let grouped = keys.weighted_set(0, &[3, 1, 1, 1], &[("a", &[0, 1], 2), ("b", &[2, 3], 2)]);
    let checked = grouped.check().expect("valid grouped set");
    assert_eq!(checked.epoch_info().total_weight(), 4);
    let chain = Chain::build(&keys, 0, &[1, 2]);
    let (headers, _) = chain.span(0, 1);
    let last = &chain.headers[1].0;

    // {0, 2, 3}: a's internal quorum (3 of 4) and b's (2 of 2) → 4 of 4 votes.
    let proof = build(headers, keys.qc_of(&[0, 2, 3], last)).expect("build");
    // …but the QC carried in header 1 is signed by {0, 1, 3}: a counts 2, b has 1 of 2 → 2 of 4.
    assert_eq!(verify(&proof, &grouped), Err(ProofError::NoQuorum { site: Site::HeaderQc(1), weight: 2, total: 4 }));
    // Re-sign the chain's QCs with a grouped quorum.
    let h0 = chain.headers[0].0.clone();
    let mut h1 = chain.headers[1].0.clone();
    h1.qc = Some(keys.qc_of(&[0, 2, 3], &h0));
    let sign = |h: &lc_types::BlockHeader| keys.ed[(h.round % 4) as usize].sign(&h.hash().0);
    let headers = vec![(h0.clone(), sign(&h0)), (h1.clone(), sign(&h1))];
    let proof = build(headers.clone(), keys.qc_of(&[0, 2, 3], &h1)).expect("build");
    let v = verify(&proof, &grouped).expect("grouped quorum");
    assert_eq!(v.final_signers, vec![0, 2, 3]);
    // The same proof is fine for the ungrouped set (3 of 4).
    assert!(verify(&proof, &keys.set(0)).is_ok());

    // {0, 1, 2}: a counts 2, b has only 1 of 2 → 2 of 4: no quorum, although 3 of 4 validators signed.
    let proof = build(headers.clone(), keys.qc_of(&[0, 1, 2], &h1)).expect("build");
    assert_eq!(verify(&proof, &grouped), Err(ProofError::NoQuorum { site: Site::FinalQc, weight: 2, total: 4 }));
    assert!(verify(&proof, &keys.set(0)).is_ok(), "3 of 4 ungrouped is a quorum");
    // {0} alone: 3 of a's 4 weight is an internal quorum (a counts 2), b counts 0 → 2 of 4.
    let proof = build(headers, keys.qc_of(&[0], &h1)).expect("build");
    assert_eq!(verify(&proof, &grouped), Err(ProofError::NoQuorum { site: Site::FinalQc, weight: 2, total: 4 }));
}

#[test]
fn qc_without_quorum_is_refused() {
    let (keys, chain, proof) = direct();
    let set = keys.set(0);
    let mut two = proof.clone();
    two.qc = keys.qc_of(&[1, 2], &chain.headers[1].0);
    assert_eq!(verify(&two, &set), Err(ProofError::NoQuorum { site: Site::FinalQc, weight: 2, total: 4 }));
    // Weights 1, 6, 3, 2 (total 12): {1, 2} carry 9 and {0, 1, 3} carry 9, both quorums.
    let heavy = keys.weighted_set(0, &[1, 6, 3, 2], &[]);
    assert!(verify(&two, &heavy).is_ok());
    // A QC whose bitmap claims a quorum that did not sign.
    let mut claimed = proof.clone();
    claimed.qc.signer_bitmap = vec![0b1111];
    assert!(matches!(verify(&claimed, &set), Err(ProofError::BadQcSignature { site: Site::FinalQc, .. })));
    let mut out_of_range = proof;
    out_of_range.qc.signer_bitmap = vec![0b1_0111];
    assert!(matches!(verify(&out_of_range, &set), Err(ProofError::BadQcSignature { site: Site::FinalQc, .. })));
}

#[test]
fn wrong_validator_set_is_refused() {
    let (keys, _, proof) = direct();
    // Other epoch.
    assert_eq!(
        verify(&proof, &keys.set(1)),
        Err(ProofError::WrongEpoch { site: Site::Header(0), expected: 1, got: 0 })
    );
    // Other channel.
    let mut other_channel = keys.set(0);
    other_channel.channel = "other".into();
    assert!(matches!(verify(&proof, &other_channel), Err(ProofError::WrongChannel { site: Site::Proof, .. })));
    // Entirely other keys: the proposers are unknown.
    let others = Keys::with_bases(50, 50);
    assert!(matches!(verify(&proof, &others.set(0)), Err(ProofError::UnknownProposer { index: 0, .. })));
    // Same identities, other BLS keys: the QCs fail.
    let mut other_bls = Keys::with_bases(50, 0);
    other_bls.ed = keys.ed.clone();
    assert!(matches!(
        verify(&proof, &other_bls.set(0)),
        Err(ProofError::BadQcSignature { site: Site::HeaderQc(1), .. })
    ));
    // Validators in another order: the bitmaps name other keys.
    let mut reordered = keys.set(0);
    reordered.validators.swap(0, 2);
    assert!(matches!(verify(&proof, &reordered), Err(ProofError::BadQcSignature { .. })));
    // An invalid set is reported as such.
    let mut bad = keys.set(0);
    bad.validators[1].weight = 0;
    assert!(matches!(verify(&proof, &bad), Err(ProofError::InvalidSet(_))));
}

#[test]
fn epoch_boundary_parent_is_outside_the_proof() {
    // The first header of epoch 3 carries a QC of epoch 2 for its parent: not part of the proof.
    let keys = Keys::dev();
    let chain = Chain::build_from(&keys, 2, 3, &[1, 2]);
    let (headers, qc) = chain.span(0, 1);
    let proof = build(headers, qc).expect("build");
    assert!(verify(&proof, &keys.set(3)).is_ok());
    assert_eq!(
        verify(&proof, &keys.set(2)),
        Err(ProofError::WrongEpoch { site: Site::Header(0), expected: 2, got: 3 })
    );
}

#[test]
fn structural_attacks_are_refused() {
    let keys = Keys::dev();
    let set = keys.set(0);
    let chain = Chain::build(&keys, 0, &[1, 2, 3]);
    let (headers, qc) = chain.span(0, 2);
    let proof = build(headers, qc).expect("build");
    assert!(verify(&proof, &set).is_ok());

    let mut p = proof.clone();
    p.headers.truncate(1);
    assert_eq!(verify(&p, &set), Err(ProofError::TooFewHeaders { got: 1 }));
    let mut p = proof.clone();
    p.headers.clear();
    assert_eq!(verify(&p, &set), Err(ProofError::TooFewHeaders { got: 0 }));
    let mut p = proof.clone();
    p.headers.swap(0, 1);
    assert!(verify(&p, &set).is_err());
    let mut p = proof.clone();
    p.headers.remove(1);
    assert!(matches!(verify(&p, &set), Err(ProofError::NonConsecutiveHeight { index: 1, .. })));
    let mut p = proof.clone();
    let extra = p.headers[1].clone();
    p.headers.insert(1, extra);
    assert!(verify(&p, &set).is_err());
    // Too many headers: refused before any hashing.
    let mut p = proof.clone();
    let filler = p.headers[0].clone();
    p.headers = vec![filler; MAX_PROOF_HEADERS + 1];
    assert_eq!(verify(&p, &set), Err(ProofError::TooManyHeaders { max: MAX_PROOF_HEADERS }));

    // A proposer signature by another validator over the right hash.
    let mut p = proof;
    p.headers[1].proposer_signature = keys.ed[0].sign(&p.headers[1].hash.0);
    assert!(matches!(verify(&p, &set), Err(ProofError::BadProposerSignature { index: 1, .. })));
    // A header signed by a non-member (re-hashed and re-signed consistently).
    let outsider = lc_crypto::Keypair::dev_account(999);
    let mut h = chain.headers[0].0.clone();
    h.proposer = outsider.public();
    let sig = outsider.sign(&h.hash().0);
    let p = build(vec![(h, sig), chain.headers[1].clone()], chain.qcs[1].clone());
    assert!(matches!(p, Err(ProofError::BrokenLink { index: 1, .. })));

    // A header without its parent's QC, or with a QC for another round.
    let mut h1 = chain.headers[1].0.clone();
    h1.qc = None;
    assert_eq!(
        build(vec![chain.headers[0].clone(), (h1, chain.headers[1].1)], chain.qcs[1].clone()),
        Err(ProofError::MissingQc { index: 1 })
    );
    let mut h1 = chain.headers[1].0.clone();
    if let Some(qc) = h1.qc.as_mut() {
        qc.round = 0;
    }
    assert!(matches!(
        build(vec![chain.headers[0].clone(), (h1, chain.headers[1].1)], chain.qcs[1].clone()),
        Err(ProofError::QcMismatch { site: Site::HeaderQc(1), target: 0, field: "round", .. })
    ));
}

#[test]
fn a_set_can_be_checked_once_for_many_proofs() {
    let (keys, chain, proof) = direct();
    let checked = keys.set(0).check().expect("valid set");
    assert_eq!(checked.channel(), CHANNEL);
    assert_eq!(checked.keys().len(), 4);
    assert!(lc_proof::verify_with(&proof, &checked).is_ok());
    let (headers, qc) = chain.span(1, 2);
    assert!(lc_proof::verify_with(&build(headers, qc).expect("build"), &checked).is_ok());
}

#[test]
fn unknown_fields_are_parse_errors() {
    let (keys, _, proof) = direct();
    let json: serde_json::Value = serde_json::from_str(&proof.to_json()).expect("json");
    let paths: &[&[&str]] =
        &[&[], &["headers", "0"], &["headers", "0", "header"], &["headers", "1", "header", "qc"], &["qc"]];
    for path in paths {
        let mut v = json.clone();
        let mut cur = &mut v;
        for key in *path {
            cur = match key.parse::<usize>() {
                Ok(i) => &mut cur[i],
                Err(_) => &mut cur[*key],
            };
        }
        cur.as_object_mut().expect("object").insert("extra".into(), serde_json::Value::Bool(true));
        let err = FinalityProof::from_json(v.to_string().as_bytes()).expect_err("unknown field must be refused");
        assert!(err.to_string().contains("unknown field"), "{path:?}: {err}");
    }
    // A header with a TC: unknown fields inside the TC and its high QC too.
    let keys2 = Keys::dev();
    let chain = Chain::build(&keys2, 0, &[1, 3, 4]);
    let (headers, qc) = chain.span(1, 2);
    let p = build(headers, qc).expect("build");
    let json: serde_json::Value = serde_json::from_str(&p.to_json()).expect("json");
    for tc_path in [&["tc"][..], &["tc", "high_qc"][..]] {
        let mut v = json.clone();
        let mut cur = &mut v["headers"][0]["header"];
        for key in tc_path {
            cur = &mut cur[*key];
        }
        cur.as_object_mut().expect("object").insert("extra".into(), serde_json::Value::Null);
        assert!(FinalityProof::from_json(v.to_string().as_bytes()).is_err(), "{tc_path:?}");
    }

    let set: serde_json::Value = serde_json::from_str(&keys.set(0).to_json()).expect("json");
    let mut v = set.clone();
    v["extra"] = serde_json::Value::Null;
    assert!(ValidatorSet::from_json(v.to_string().as_bytes()).is_err());
    let mut v = set;
    v["validators"][0]["extra"] = serde_json::Value::Null;
    assert!(ValidatorSet::from_json(v.to_string().as_bytes()).is_err());
    let grouped = keys.weighted_set(0, &[1; 4], &[("g", &[0, 1], 1)]);
    let mut v: serde_json::Value = serde_json::from_str(&grouped.to_json()).expect("json");
    v["groups"][0]["extra"] = serde_json::Value::Null;
    assert!(ValidatorSet::from_json(v.to_string().as_bytes()).is_err());
    // Oversized documents are refused before parsing.
    let big = vec![b' '; lc_proof::MAX_PROOF_JSON_BYTES + 1];
    assert!(matches!(FinalityProof::from_json(&big), Err(lc_proof::ParseError::TooLarge { .. })));
}

#[test]
fn json_shape_is_lowercase_hex() {
    let (keys, _, proof) = direct();
    let v: serde_json::Value = serde_json::from_str(&proof.to_json()).expect("json");
    let top: Vec<&str> = v.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(top, ["block_hash", "channel", "headers", "height", "qc"]);
    let entry: Vec<&str> = v["headers"][0].as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(entry, ["hash", "header", "proposer_signature"]);
    assert_eq!(v["qc"]["signer_bitmap"], "0b");
    let hash = v["block_hash"].as_str().expect("string");
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    let set = keys.weighted_set(2, &[1, 2, 3, 4], &[("a", &[1, 2], 3)]);
    let back = ValidatorSet::from_json(set.to_json().as_bytes()).expect("parse");
    assert_eq!(back, set);
    let sv: serde_json::Value = serde_json::from_str(&set.to_json()).expect("json");
    assert!(sv["validators"][0].get("group").is_none(), "no group: field omitted");
    assert_eq!(sv["validators"][1]["group"], "a");
    assert!(sv["validators"][0]["peer_id"].as_str().expect("string").starts_with("hx"));
}
