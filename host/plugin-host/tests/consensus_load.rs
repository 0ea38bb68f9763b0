//! Loading the three real consensus-scheme libraries (`consensus-equal`, `consensus-weighted`,
//! `consensus-groups`) into a [`ConsensusRegistry`], configuring them and building epochs.
//!
//! Needs the libraries: `cargo build -p consensus-equal -p consensus-weighted -p consensus-groups
//! -p hello` first (`hello`, a SCORE, is used as a library of the wrong kind). This binary links
//! no scheme `rlib`: what answers here is the loaded `.so`.
use lc_plugin_host::{ConsensusLoadError, ConsensusRegistry, SchemeError, ScoreRegistry, VotingMember};
use lc_types::{sha3, PublicKey};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `<target>/debug/lib<name>.so`; panics with instructions when it was not built.
fn lib(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().and_then(Path::parent).expect("workspace root");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let p = target.join("debug").join(format!("lib{name}.so"));
    assert!(
        p.is_file(),
        "library {} is missing: run `cargo build -p consensus-equal -p consensus-weighted -p consensus-groups -p hello` \
         before these tests",
        p.display()
    );
    p
}

const SCHEMES: [(&str, &str, bool); 3] = [
    ("consensus_equal", "equal", true),
    ("consensus_weighted", "weighted", true),
    ("consensus_groups", "groups", false),
];

fn files_in(dir: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(dir).expect("read dir").map(|e| e.expect("entry").path()).collect()
}

fn ids(n: usize) -> Vec<PublicKey> {
    (0..n).map(|i| PublicKey([i as u8 + 1; 32])).collect()
}

fn members() -> Vec<VotingMember> {
    vec![
        VotingMember::grouped(1, "a"),
        VotingMember::grouped(1, "a"),
        VotingMember::grouped(1, "a"),
        VotingMember::new(3),
        VotingMember::grouped(2, "b"),
    ]
}

#[test]
fn three_schemes_load_from_content_addressed_copies_and_build_epochs() {
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path().join("plugins").join("consensus");
    let registry = ConsensusRegistry::new(&dir).expect("registry");
    assert_eq!(registry.dir(), dir);

    let mut libs = Vec::new();
    for (file, name, proportional) in SCHEMES {
        let src = lib(file);
        let bytes = std::fs::read(&src).expect("read library");
        let l = registry.stage(&src).unwrap_or_else(|e| panic!("staging {file}: {e}"));
        assert_eq!(l.name, name);
        assert_eq!(l.version, "1.0.0");
        assert_eq!(l.weight_proportional, proportional);
        assert_eq!(l.code_hash, sha3(&bytes));
        assert_eq!(l.path, dir.join(format!("lib{file}-{}.so", l.code_hash)));
        assert_eq!(std::fs::read(&l.path).expect("read copy"), bytes, "copy is byte-identical");
        libs.push(l);
    }
    let before = files_in(&dir);
    assert_eq!(before.len(), 3, "{before:?}");
    for ((file, _, _), l) in SCHEMES.iter().zip(&libs) {
        assert!(Arc::ptr_eq(&registry.stage(&lib(file)).expect("restage"), l), "restaging is idempotent");
        assert!(Arc::ptr_eq(&registry.get(&l.code_hash).expect("get"), l));
    }
    assert_eq!(files_in(&dir), before);
    assert_eq!(registry.all().len(), 3);

    // equal: weights 1, round-robin.
    let equal = libs[0].configure(&members(), "").expect("equal");
    assert_eq!(equal.weights(), [1, 1, 1, 1, 1]);
    assert!(equal.groups().is_empty());
    let info = equal.epoch_info(3, ids(5)).expect("epoch");
    assert_eq!(info.total_weight(), 5);
    assert_eq!((0..7).map(|r| info.proposer(r)).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 0, 1]);
    assert!(!info.is_quorum(info.weigh(&[0, 1, 2].into())), "3 of 5 is not more than two thirds");
    assert!(info.is_quorum(info.weigh(&[0, 1, 2, 3].into())));

    // weighted: configured weights, proportional rotation (period 8 / gcd 1).
    let weighted = libs[1].configure(&members(), "").expect("weighted");
    assert_eq!(weighted.weights(), [1, 1, 1, 3, 2]);
    let info = weighted.epoch_info(3, ids(5)).expect("epoch");
    assert_eq!(info.total_weight(), 8);
    let mut seen = [0; 5];
    for r in 0..80 {
        seen[info.proposer(r)] += 1;
        assert_ne!(info.proposer(r), info.proposer(r + 1), "no repeats for these weights");
    }
    assert_eq!(seen, [10, 10, 10, 30, 20]);
    assert!(info.is_quorum(info.weigh(&[3, 4, 0].into())));
    assert!(!info.is_quorum(info.weigh(&[3, 4].into())), "5 of 8");
    let over = libs[1].configure(&members(), r#"{"weights":[1,1,1,1,1]}"#).expect("override");
    assert_eq!(over.weights(), [1; 5]);
    match libs[1].configure(&members(), r#"{"weights":[1,1,1,1,0]}"#) {
        Err(SchemeError::Refused { reason, .. }) => assert!(reason.contains("weight 0"), "{reason}"),
        other => panic!("zero weight must be refused, got {other:?}"),
    }

    // groups: a (0,1,2) votes 3, b (4) votes 2, 3 counts 3; total 8.
    let groups = libs[2].configure(&members(), "").expect("groups");
    let info = groups.epoch_info(3, ids(5)).expect("epoch");
    assert_eq!(info.total_weight(), 8);
    assert_eq!(info.groups().len(), 2);
    assert_eq!(info.weigh(&[0, 1].into()), 0, "two thirds of a is no internal quorum");
    assert_eq!(info.weigh(&[0, 1, 2, 3].into()), 6);
    assert!(info.is_quorum(6));
    // Units: a, 3, b.
    assert_eq!((0..6).map(|r| info.proposer(r)).collect::<Vec<_>>(), vec![0, 3, 4, 1, 3, 4]);
    match libs[2].configure(&members(), r#"{"groups":{"zzz":1}}"#) {
        Err(SchemeError::Refused { reason, .. }) => assert!(reason.contains("zzz"), "{reason}"),
        other => panic!("an unknown group must be refused, got {other:?}"),
    }

    // A restart: a new registry over the same directory finds the three.
    let reopened = ConsensusRegistry::new(&dir).expect("registry");
    let errors = reopened.load_existing();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(reopened.all().len(), 3);
    for l in &libs {
        let again = reopened.get(&l.code_hash).expect("reloaded");
        assert_eq!((again.name.as_str(), &again.path), (l.name.as_str(), &l.path));
    }
    assert_eq!(files_in(&dir), before, "load_existing created files");
}

#[test]
fn wrong_libraries_are_refused_and_loaded_ones_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src_dir = tempfile::tempdir().expect("tempdir");
    let registry = ConsensusRegistry::new(dir.path()).expect("registry");
    let equal = registry.stage(&lib("consensus_equal")).expect("equal");
    let still_loaded = || {
        assert_eq!(registry.all().len(), 1);
        let e = registry.get(&equal.code_hash).expect("still loaded");
        assert_eq!(e.configure(&[VotingMember::new(1)], "").expect("configure").weights(), [1]);
    };

    let broken = src_dir.path().join("libbroken.so");
    std::fs::write(&broken, b"not an ELF file \x00\x01").expect("write");
    match registry.stage(&broken) {
        Err(e @ ConsensusLoadError::Library { .. }) => assert!(e.to_string().contains("libbroken.so"), "{e}"),
        other => panic!("garbage must be refused, got {other:?}"),
    }
    still_loaded();

    let missing = src_dir.path().join("libnothere.so");
    match registry.stage(&missing) {
        Err(ConsensusLoadError::Io { path, source }) => {
            assert_eq!(path, missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("a missing file must be an Io error, got {other:?}"),
    }
    still_loaded();

    // A SCORE library: the right symbol, the wrong root module.
    let hello = lib("hello");
    match registry.stage(&hello) {
        Err(e @ ConsensusLoadError::Library { .. }) => {
            assert!(e.to_string().contains("libhello.so"), "{e}");
            assert!(e.to_string().contains("not a loadable consensus-scheme library"), "{e}");
        }
        other => panic!("a SCORE must be refused as a consensus scheme, got {other:?}"),
    }
    still_loaded();
    assert_eq!(files_in(dir.path()).len(), 1, "refused libraries leave no copy");

    // And the other way round: a consensus scheme is not a SCORE.
    let scores = ScoreRegistry::new(&src_dir.path().join("scores")).expect("score registry");
    assert!(scores.stage(&lib("consensus_groups")).is_err(), "a consensus scheme must not load as a SCORE");
    assert!(scores.all().is_empty());
}
