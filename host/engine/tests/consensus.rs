//! The channel runtime driving the LFT core with real timers, the safety guard, BLS votes and
//! certificates: one validator, and four validators connected in process (until the network).
mod common;

use lc_crypto::bls::{verify_qc, BlsKeypair};
use lc_crypto::Keypair;
use lc_engine::{
    execute_channel_config, now_us, BlockContext, Channel, ChannelParams, DriverHandle, Executor, InProcessHub,
    StateRead, TxOutcome, META_COMMIT_EVIDENCE,
};
use lc_storage::{Backend, ChannelStore, MemDb};
use lc_types::{decode, ChannelDefinition, Hash, Payload, Receipt, Transaction, TxBody, WriteSet};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CH: &str = "consensus_test";

/// Stores each transaction's payload under its hash: every block changes the state root.
#[derive(Debug, Default)]
struct Store;

impl Executor for Store {
    fn execute(&mut self, state: &dyn StateRead, ctx: &BlockContext, tx: &Transaction, tx_hash: Hash) -> TxOutcome {
        if let Payload::ChannelConfig { json } = &tx.body.payload {
            return execute_channel_config(state, &[node_key(0).public()], tx, tx_hash, json, ctx.height);
        }
        let mut writes = WriteSet::new();
        writes.insert(tx_hash.0.to_vec(), Some(lc_types::encode(&tx.body.payload)));
        TxOutcome { receipt: Receipt::success(tx_hash), writes }
    }
}

fn node_key(i: u64) -> Keypair {
    Keypair::dev_account(1000 + i)
}

fn definition(n: u64) -> ChannelDefinition {
    let members = (0..n).map(|i| common::validator(&node_key(i), i)).collect();
    common::definition(CH, members, &node_key(0), "")
}

fn params() -> ChannelParams {
    ChannelParams {
        interval: Duration::from_millis(30),
        propose_timeout: Duration::from_millis(150),
        vote_timeout: Duration::from_millis(150),
        ..ChannelParams::default()
    }
}

fn data(account: u64, nonce: u64) -> Transaction {
    let kp = Keypair::dev_account(account);
    kp.sign_tx(TxBody {
        channel: CH.into(),
        from: kp.public(),
        timestamp_us: now_us(),
        nonce,
        payload: Payload::Data { json: format!("{{\"n\":{nonce}}}") },
    })
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

struct Net {
    channels: Vec<Arc<Channel>>,
    drivers: Vec<DriverHandle>,
    hub: Arc<InProcessHub>,
}

fn network(n: u64) -> Net {
    network_with(n, None)
}

/// `log_dir`: record each node's consensus log there (`node-<i>.jsonl`).
fn network_with(n: u64, log_dir: Option<&std::path::Path>) -> Net {
    if std::env::var_os("LOOPCHAIN_TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter("lc_engine=debug").with_test_writer().try_init();
    }
    let def = definition(n);
    let hub = InProcessHub::new();
    let mut channels = Vec::new();
    for i in 0..n {
        let db: Arc<dyn Backend> = Arc::new(MemDb::new());
        let store = ChannelStore::open(db, CH).expect("store");
        let params = ChannelParams { consensus_log: log_dir.map(|d| d.join(format!("node-{i}.jsonl"))), ..params() };
        let ch = Channel::open(
            params,
            store,
            &def,
            node_key(i),
            Some(BlsKeypair::dev(i)),
            Arc::new(lc_engine::ConfiguredWeights),
        )
        .expect("open");
        hub.join(&ch);
        channels.push(ch);
    }
    let drivers = channels.iter().map(|c| c.spawn(Box::new(Store)).expect("spawn")).collect();
    Net { channels, drivers, hub }
}

impl Net {
    fn stop(self) {
        for d in self.drivers {
            d.stop().expect("clean stop");
        }
    }
}

/// Every committed block above height 1 carries a QC for its parent that verifies against the
/// validator keys with a quorum of signers; heights 1.. agree across `channels`.
fn check_chains(channels: &[&Arc<Channel>], min_signers: usize) -> u64 {
    let tip = channels.iter().map(|c| c.status().height).min().expect("channels");
    for h in 1..=tip {
        let hashes: BTreeSet<Hash> =
            channels.iter().map(|c| c.store().block_hash_at(h).expect("read").expect("block")).collect();
        assert_eq!(hashes.len(), 1, "nodes disagree at height {h}");
        let block = channels[0].store().block_at(h).expect("read").expect("block");
        let qc = block.header.qc.as_ref();
        if h == 1 {
            assert!(qc.is_none(), "the first block's parent is the genesis, which has no QC");
            continue;
        }
        let qc = qc.unwrap_or_else(|| panic!("block {h} carries no QC"));
        let parent = channels[0].store().block_hash_at(h - 1).expect("read").expect("parent");
        assert_eq!(qc.block_hash, parent, "QC of block {h} certifies its parent");
        assert_eq!(qc.height, h - 1);
        let es = match channels[0].past_epoch(qc.epoch).expect("read") {
            Some(past) => past,
            None => channels[0].epoch_state(),
        };
        assert_eq!(es.config.number, qc.epoch);
        let signers = verify_qc(qc, CH, &es.keys).expect("QC verifies");
        assert!(signers.len() >= min_signers, "QC of block {h} has {} signers", signers.len());
    }
    tip
}

#[test]
fn one_validator_chain_runs_through_the_core_guard_and_qcs() {
    let net = network(1);
    let ch = &net.channels[0];
    let r = ch.submit((0..20).map(|n| data(1, n)).collect());
    assert!(r.iter().all(Result::is_ok));
    wait_until("20 transactions and 6 blocks committed", 20, || {
        let s = ch.status();
        s.total_tx >= 20 && s.height >= 6
    });
    let tip = check_chains(&[ch], 1);
    assert!(tip >= 6);
    let ev = ch.store().meta_get(META_COMMIT_EVIDENCE).expect("read").expect("commit evidence stored");
    let ev: lc_engine::CommitEvidence = decode(&ev).expect("decode");
    verify_qc(&ev.qc, CH, &ch.epoch_state().keys).expect("evidence QC verifies");
    assert_eq!(Some(ev.qc.block_hash), ev.blocks.last().map(|b| b.hash()));
    // The safety guard persisted its state before each vote.
    assert!(ch.store().meta_get(b"safety").expect("read").is_some());
    net.stop();
}

#[test]
fn four_validators_commit_identical_chains_with_aggregated_qcs() {
    let net = network(4);
    for (i, ch) in net.channels.iter().enumerate() {
        let r = ch.submit((0..10).map(|n| data(10 + i as u64, n)).collect());
        assert!(r.iter().all(Result::is_ok));
    }
    wait_until("all 40 transactions committed on every node", 30, || {
        net.channels.iter().all(|c| c.status().total_tx >= 40 && c.status().height >= 8)
    });
    // The same transactions at every node (as tx gossip will do): each commits exactly once, and
    // no leader proposes one that an uncommitted ancestor already holds.
    let shared: Vec<Transaction> = (0..10).map(|n| data(50, n)).collect();
    for ch in &net.channels {
        assert!(ch.submit(shared.clone()).iter().all(Result::is_ok));
    }
    wait_until("the shared transactions committed once everywhere", 30, || {
        net.channels.iter().all(|c| c.status().total_tx == 50 && c.status().mempool == 0)
    });
    let all: Vec<&Arc<Channel>> = net.channels.iter().collect();
    check_chains(&all, 3);
    net.stop();
}

#[test]
fn one_of_four_down_the_chain_continues_through_timeout_certificates() {
    let net = network(4);
    wait_until("first blocks", 20, || net.channels.iter().all(|c| c.status().height >= 2));
    net.hub.set_down(3, true);
    let start = net.channels[0].status().height;
    wait_until("8 more blocks without validator 3", 60, || {
        net.channels[..3].iter().all(|c| c.status().height >= start + 8)
    });
    let live: Vec<&Arc<Channel>> = net.channels[..3].iter().collect();
    let tip = check_chains(&live, 3);
    let with_tc = (start..=tip)
        .filter(|h| live[0].store().block_at(*h).expect("read").is_some_and(|b| b.header.tc.is_some()))
        .count();
    assert!(with_tc > 0, "rounds led by the cut validator must end in timeout certificates carried by later blocks");
    net.stop();
}

#[test]
fn two_of_four_down_nothing_commits_then_progress_resumes() {
    let net = network(4);
    wait_until("first blocks", 20, || net.channels.iter().all(|c| c.status().height >= 2));
    net.hub.set_down(2, true);
    net.hub.set_down(3, true);
    // Let in-flight rounds settle, then watch: no quorum, so no commit.
    std::thread::sleep(Duration::from_millis(500));
    let frozen: Vec<u64> = net.channels.iter().map(|c| c.status().height).collect();
    std::thread::sleep(Duration::from_millis(1500));
    let after: Vec<u64> = net.channels.iter().map(|c| c.status().height).collect();
    assert_eq!(frozen, after, "two of four validators cannot commit anything");
    net.hub.set_down(3, false);
    let h = frozen[0];
    wait_until("progress after one validator returns", 60, || {
        net.channels[..2].iter().all(|c| c.status().height >= h + 3)
    });
    let live: Vec<&Arc<Channel>> = net.channels[..2].iter().collect();
    check_chains(&live, 3);
    net.stop();
}

/// A committed `ChannelConfig` switches the validator weights at the next epoch boundary on every
/// node: afterwards validators 0 and 3 (weights 1 + 4 of 7) commit alone, which two of four equal
/// validators never could.
#[test]
fn channel_config_switches_weights_at_the_epoch_boundary() {
    let net = network(4);
    wait_until("first blocks", 20, || net.channels.iter().all(|c| c.status().height >= 2));
    let start_height = net.channels[0].status().height + 20;
    let mut members = definition(4).members;
    members[3].weight = 4;
    let doc = serde_json::json!({"epoch_start_height": start_height, "members": members}).to_string();
    let admin = node_key(0);
    let tx = admin.sign_tx(TxBody {
        channel: CH.into(),
        from: admin.public(),
        timestamp_us: now_us(),
        nonce: 1,
        payload: Payload::ChannelConfig { json: doc },
    });
    let hash = tx.hash();
    assert!(net.channels[0].submit(vec![tx]).into_iter().all(|r| r.is_ok()));
    wait_until("the ChannelConfig committed", 30, || net.channels[0].store().receipt(&hash).expect("read").is_some());
    let receipt = net.channels[0].store().receipt(&hash).expect("read").expect("receipt");
    assert_eq!(receipt.status, lc_types::ReceiptStatus::Success, "{receipt:?}");
    wait_until("every node in epoch 1", 60, || net.channels.iter().all(|c| c.status().epoch == 1));
    let ch = &net.channels[0];
    let receipt = ch.store().receipt(&hash).expect("read").expect("receipt");
    assert_eq!(receipt.status, lc_types::ReceiptStatus::Success, "{receipt:?}");
    let es = ch.epoch_state();
    assert_eq!(es.config.start_height, start_height);
    assert_eq!(es.info.total_weight(), 7);
    wait_until("blocks of epoch 1", 30, || net.channels.iter().all(|c| c.status().height >= start_height + 2));
    for h in 1..=start_height + 2 {
        let b = ch.store().block_at(h).expect("read").expect("block");
        assert_eq!(b.header.epoch, u64::from(h >= start_height), "epoch of block {h}");
    }
    let all: Vec<&Arc<Channel>> = net.channels.iter().collect();
    check_chains(&all, 2);
    // Weighted quorum: 0 and 3 (1 + 4 of 7) commit without 1 and 2.
    net.hub.set_down(1, true);
    net.hub.set_down(2, true);
    let h = ch.status().height;
    wait_until("validators 0 and 3 commit alone", 60, || {
        net.channels[0].status().height >= h + 4 && net.channels[3].status().height >= h + 4
    });
    let pair = [&net.channels[0], &net.channels[3]];
    check_chains(&pair, 2);
    net.stop();
}

/// Every node's recorded consensus log replays through a fresh core with identical decisions
/// (including rounds that ended in timeouts); a tampered log is caught.
#[test]
fn consensus_logs_replay_with_identical_decisions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let net = network_with(4, Some(dir.path()));
    wait_until("first blocks", 20, || net.channels.iter().all(|c| c.status().height >= 3));
    net.hub.set_down(2, true);
    let h = net.channels[0].status().height;
    wait_until("progress through timeouts", 60, || net.channels[0].status().height >= h + 4);
    net.stop();
    for i in 0..4 {
        let path = dir.path().join(format!("node-{i}.jsonl"));
        let report = lc_engine::replay::replay_file(&path).unwrap_or_else(|e| panic!("node {i}: {e}"));
        assert!(report.steps > 10 && report.starts == 1, "node {i}: {report:?}");
        if i != 2 {
            assert!(report.committed_blocks >= 4, "node {i}: {report:?}");
        }
    }
    // Change one recorded decision: the replay must point at it.
    let path = dir.path().join("node-0.jsonl");
    let text = std::fs::read_to_string(&path).expect("read");
    let tampered = text.replacen("\"CastVote\":{\"round\":", "\"CastVote\":{\"round\":1", 1);
    assert_ne!(text, tampered, "the log has a yes vote to tamper with");
    std::fs::write(&path, tampered).expect("write");
    match lc_engine::replay::replay_file(&path) {
        Err(lc_engine::replay::ReplayError::Diverged { .. }) => {}
        other => panic!("a changed decision must be reported, got {other:?}"),
    }
}

/// Validator 0 of a 4-validator channel, alone (no transport): the test plays the others.
fn lone_member_of_four() -> (Arc<Channel>, ChannelStore) {
    let db: Arc<dyn Backend> = Arc::new(MemDb::new());
    let store = ChannelStore::open(db, CH).expect("store");
    let ch = Channel::open(
        params(),
        store.clone(),
        &definition(4),
        node_key(0),
        Some(BlsKeypair::dev(0)),
        Arc::new(lc_engine::ConfiguredWeights),
    )
    .expect("open");
    (ch, store)
}

/// A TC whose carried high QC is signed by one validator only (a Byzantine member can assemble
/// that from honest timeout votes) is refused: the node must not adopt the fake QC nor jump to the
/// TC's round. A proper TC right after it is taken.
#[test]
fn a_timeout_certificate_with_a_non_quorum_high_qc_is_refused() {
    use lc_crypto::bls::{aggregate, bitmap, timeout_message, vote_message};
    use lc_types::{BlsSignature, ConsensusMsg, QuorumCert, TimeoutCert};
    let (ch, store) = lone_member_of_four();
    let driver = ch.spawn(Box::new(Store)).expect("spawn");
    let genesis = store.block_hash_at(0).expect("read").expect("genesis");
    let tc = |round: u64, hqc: u64, high_qc: QuorumCert| {
        let msg = timeout_message(CH, 0, round, hqc);
        let sigs: Vec<BlsSignature> = (1..4).map(|i| BlsKeypair::dev(i).sign(&msg)).collect();
        TimeoutCert {
            epoch: 0,
            round,
            signer_bitmap: bitmap(4, [1, 2, 3]),
            hqc_rounds: vec![hqc; 3],
            aggregate_signature: aggregate(&sigs).expect("aggregate"),
            high_qc,
        }
    };
    let fake_block = Hash([7; 32]);
    let weak_qc = QuorumCert {
        epoch: 0,
        round: 4,
        height: 1,
        block_hash: fake_block,
        signer_bitmap: bitmap(4, [1]),
        aggregate_signature: BlsKeypair::dev(1).sign(&vote_message(CH, 0, 4, 1, fake_block)),
    };
    assert!(ch.deliver(ConsensusMsg::Tc(tc(5, 4, weak_qc))));
    let genesis_qc = QuorumCert {
        epoch: 0,
        round: 0,
        height: 0,
        block_hash: genesis,
        signer_bitmap: Vec::new(),
        aggregate_signature: BlsSignature::ZERO,
    };
    assert!(ch.deliver(ConsensusMsg::Tc(tc(1, 0, genesis_qc))));
    wait_until("the proper TC(1) moves the node to round 2", 10, || ch.status().round >= 2);
    assert_eq!(ch.status().round, 2, "the TC with a one-signer high QC must not move the node to round 6");
    driver.stop().expect("stop");
}

/// Records what a channel sends.
#[derive(Debug, Default)]
struct Capture(std::sync::Mutex<Vec<lc_types::ConsensusMsg>>);

impl lc_engine::Transport for Capture {
    fn broadcast(&self, msg: lc_types::ConsensusMsg) {
        self.0.lock().expect("capture").push(msg);
    }
}

/// A proposal that arrives before its parent is kept and voted for once the parent arrives.
#[test]
fn a_child_that_arrives_before_its_parent_is_voted_for_when_the_parent_arrives() {
    use lc_crypto::bls::{aggregate, bitmap, vote_message};
    use lc_types::{state_root, Block, BlockHeader, ConsensusMsg, QuorumCert, VoteKind, BLOCK_VERSION};
    let (ch, store) = lone_member_of_four();
    let capture = Arc::new(Capture::default());
    ch.set_transport(capture.clone());
    let genesis = store.block_at(0).expect("read").expect("genesis");
    let block = |proposer: u64, round: u64, parent: &Block, qc: Option<QuorumCert>| {
        let header = BlockHeader {
            version: BLOCK_VERSION,
            channel: CH.into(),
            height: parent.header.height + 1,
            round,
            epoch: 0,
            prev_hash: parent.hash(),
            tx_root: lc_types::merkle_root(&[]),
            state_root: state_root(&parent.header.state_root, &WriteSet::new()),
            receipts_root: Block::compute_receipts_root(&[]),
            qc,
            tc: None,
            timestamp_us: now_us() + round,
            proposer: node_key(proposer).public(),
        };
        node_key(proposer).sign_block(header, Vec::new())
    };
    let b1 = block(1, 1, &genesis, None);
    let msg = vote_message(CH, 0, 1, 1, b1.hash());
    let sigs: Vec<_> = (1..4).map(|i| BlsKeypair::dev(i).sign(&msg)).collect();
    let qc1 = QuorumCert {
        epoch: 0,
        round: 1,
        height: 1,
        block_hash: b1.hash(),
        signer_bitmap: bitmap(4, [1, 2, 3]),
        aggregate_signature: aggregate(&sigs).expect("aggregate"),
    };
    let b2 = block(2, 2, &b1, Some(qc1));
    let driver = ch.spawn(Box::new(Store)).expect("spawn");
    assert!(ch.deliver(ConsensusMsg::Proposal(Box::new(b2.clone()))), "child first");
    assert!(ch.deliver(ConsensusMsg::Proposal(Box::new(b1))), "then its parent");
    let voted_b2 = || {
        capture.0.lock().expect("capture").iter().any(
            |m| matches!(m, ConsensusMsg::Vote(v) if v.vote.kind == VoteKind::Yes && v.vote.block_hash == b2.hash()),
        )
    };
    wait_until("a yes vote for the child", 10, voted_b2);
    driver.stop().expect("stop");
}
