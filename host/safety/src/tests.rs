use super::*;
use lc_crypto::bls::{verify, ValidatorKeys};
use lc_storage::{Backend, MemDb, RocksDb, StorageConfig};
use std::cell::Cell;
use std::sync::Arc;

/// A store that fails on demand.
struct Flaky {
    inner: ChannelStore,
    fail: Cell<bool>,
}

impl SafetyStore for Flaky {
    fn load(&self) -> Result<Option<SafetyData>, SafetyError> {
        self.inner.load()
    }
    fn save(&self, data: &SafetyData) -> Result<(), SafetyError> {
        if self.fail.get() {
            return Err(SafetyError::Store("disk full".into()));
        }
        self.inner.save(data)
    }
}

fn mem_store() -> ChannelStore {
    let db: Arc<dyn Backend> = Arc::new(MemDb::new());
    ChannelStore::open(db, "c").expect("store")
}

fn qc(round: Round) -> QuorumCert {
    QuorumCert {
        epoch: 0,
        round,
        height: round,
        block_hash: Hash([round as u8; 32]),
        signer_bitmap: vec![1],
        aggregate_signature: BlsSignature::ZERO,
    }
}

#[test]
fn one_yes_vote_per_round_and_idempotent_repeats() {
    let mut g = SafetyGuard::new("c", BlsKeypair::dev(0), mem_store()).expect("guard");
    let v = g.sign_yes(0, 5, 3, Hash([1; 32]), Some(&qc(4))).expect("vote");
    let keys = ValidatorKeys::new(&[g.public_key()]).expect("keys");
    assert!(lc_crypto::bls::verify_from(&keys, 0, &vote_message("c", 0, 5, 3, Hash([1; 32])), &v.signature).is_ok());
    assert_eq!(g.sign_yes(0, 5, 3, Hash([1; 32]), Some(&qc(4))), Ok(v), "repeat returns the stored vote");
    assert_eq!(
        g.sign_yes(0, 5, 3, Hash([2; 32]), Some(&qc(4))),
        Err(SafetyError::AlreadyVoted { round: 5, last_voted_round: 5 }),
        "equivocation refused"
    );
    assert!(g.sign_yes(0, 4, 3, Hash([3; 32]), None).is_err(), "older round refused");
    assert_eq!(g.data().high_qc.as_ref().map(|q| q.round), Some(4), "high QC raised from the block's QC");
    assert_eq!(g.sign_yes(0, 7, 4, Hash([4; 32]), Some(&qc(7))), Err(SafetyError::BadQc { qc_round: 7, round: 7 }));
}

#[test]
fn timeout_rules() {
    let mut g = SafetyGuard::new("c", BlsKeypair::dev(1), mem_store()).expect("guard");
    g.sign_yes(0, 5, 3, Hash([1; 32]), Some(&qc(4))).expect("yes");
    // LAZY after a yes vote in the same round is allowed; it carries the high QC round.
    let t = g.sign_timeout(0, 5, None).expect("lazy");
    assert_eq!(t.hqc_round, 4);
    assert!(verify(&g.public_key(), &timeout_message("c", 0, 5, 4), &t.signature).is_ok());
    assert_eq!(g.sign_timeout(0, 5, None), Ok(t), "repeat returns the stored timeout vote");
    // No yes vote in a round after its timeout vote.
    let none = g.sign_timeout(0, 6, Some(&qc(5))).expect("none vote");
    assert_eq!(none.hqc_round, 5);
    assert!(matches!(g.sign_yes(0, 6, 4, Hash([9; 32]), None), Err(SafetyError::AlreadyVoted { .. })));
    assert!(matches!(g.sign_timeout(0, 4, None), Err(SafetyError::StaleTimeout { .. })));
    assert_eq!(
        g.sign_yes(0, 2, 1, Hash([1; 32]), None).map(|_| ()),
        Err(SafetyError::AlreadyVoted { round: 2, last_voted_round: 6 })
    );
    // A new epoch starts over, and old epochs are refused.
    assert!(g.sign_yes(1, 1, 10, Hash([5; 32]), None).is_ok());
    assert_eq!(g.sign_yes(0, 100, 10, Hash([5; 32]), None), Err(SafetyError::OldEpoch { got: 0, current: 1 }));
}

#[test]
fn nothing_is_signed_when_persisting_fails() {
    let store = Flaky { inner: mem_store(), fail: Cell::new(true) };
    let mut g = SafetyGuard::new("c", BlsKeypair::dev(2), store).expect("guard");
    assert_eq!(g.sign_yes(0, 1, 1, Hash([1; 32]), None), Err(SafetyError::Store("disk full".into())));
    assert_eq!(g.data(), &SafetyData::default(), "state unchanged");
    assert!(g.sign_timeout(0, 1, None).is_err());
}

#[test]
fn restart_from_rocksdb_never_votes_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = {
        let db: Arc<dyn Backend> = Arc::new(RocksDb::open(dir.path(), StorageConfig::default()).expect("db"));
        let mut g =
            SafetyGuard::new("c", BlsKeypair::dev(3), ChannelStore::open(db, "c").expect("store")).expect("guard");
        g.sign_yes(0, 9, 4, Hash([1; 32]), Some(&qc(8))).expect("vote")
    };
    let db: Arc<dyn Backend> = Arc::new(RocksDb::open(dir.path(), StorageConfig::default()).expect("reopen"));
    let mut g = SafetyGuard::new("c", BlsKeypair::dev(3), ChannelStore::open(db, "c").expect("store")).expect("guard");
    assert_eq!(g.data().last_voted_round, 9);
    assert_eq!(g.sign_yes(0, 9, 4, Hash([1; 32]), Some(&qc(8))), Ok(first), "same answer after restart");
    assert!(matches!(g.sign_yes(0, 9, 4, Hash([2; 32]), None), Err(SafetyError::AlreadyVoted { .. })));
}
