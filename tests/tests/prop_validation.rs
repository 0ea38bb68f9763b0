//! Property tests of transaction and block validation with the real code: ed25519 (single and
//! batch) from `lc-crypto`, BLS certificates from `lc_crypto::bls`, the LFT core's proposal checks,
//! and the canonical decoders. `lc-types` has its own encoding properties (`host/types/tests`);
//! these add keys, signatures and certificates: what a tampered byte must break.
//!
//! Case counts are small on purpose (BLS costs milliseconds; CI has two cores).
use lc_crypto::bls::{self, BlsKeypair, ValidatorKeys};
use lc_crypto::Keypair;
use lc_lft::{BlockInfo, EpochInfo, Input, Lft, Output, QcInfo, TcInfo, Validator};
use lc_types::{
    decode, encode, Block, BlockHeader, ChannelDefinition, ConsensusMsg, Hash, Payload, PublicKey, QuorumCert, Round,
    TimeoutCert, Transaction, TxBody, Vote, VoteKind, VoteMsg, BLOCK_VERSION,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{subsequence, Index};
use std::sync::OnceLock;

const N: usize = 4;

/// Four validators: ed25519 identities, BLS keys, the epoch.
struct Validators {
    ids: Vec<Keypair>,
    bls: Vec<BlsKeypair>,
    keys: ValidatorKeys,
    epoch: EpochInfo,
}

fn validators() -> &'static Validators {
    static V: OnceLock<Validators> = OnceLock::new();
    V.get_or_init(|| {
        let ids: Vec<Keypair> = (0..N as u64).map(|i| Keypair::dev_account(500 + i)).collect();
        let bls: Vec<BlsKeypair> = (0..N as u64).map(BlsKeypair::dev).collect();
        let keys = ValidatorKeys::new(&bls.iter().map(BlsKeypair::public).collect::<Vec<_>>()).expect("dev keys");
        let epoch = EpochInfo::new(0, ids.iter().map(|k| Validator { id: k.public(), weight: 1 }).collect())
            .expect("valid epoch");
        Validators { ids, bls, keys, epoch }
    })
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn text() -> impl Strategy<Value = String> {
    ".{0,24}"
}

fn channel() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,24}"
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (text(), text(), text()).prop_map(|(score, method, params_json)| Payload::Call { score, method, params_json }),
        text().prop_map(|json| Payload::Data { json }),
        (text(), hash(), text()).prop_map(|(score, code_hash, params)| Payload::Deploy { score, code_hash, params }),
        text().prop_map(|json| Payload::ChannelConfig { json }),
    ]
}

/// A transaction signed by development account `signer`.
fn signed_tx() -> impl Strategy<Value = Transaction> {
    (channel(), 0u64..16, any::<u64>(), any::<u64>(), payload()).prop_map(
        |(channel, signer, timestamp_us, nonce, payload)| {
            let key = Keypair::dev_account(signer);
            key.sign_tx(TxBody { channel, from: key.public(), timestamp_us, nonce, payload })
        },
    )
}

/// A QC of `signers` (validator indices) for the block `(round, height, hash)` of `channel`.
fn make_qc(channel: &str, round: Round, height: u64, block_hash: Hash, signers: &[usize]) -> QuorumCert {
    let v = validators();
    let msg = bls::vote_message(channel, 0, round, height, block_hash);
    let sigs: Vec<_> = signers.iter().map(|i| v.bls[*i].sign(&msg)).collect();
    QuorumCert {
        epoch: 0,
        round,
        height,
        block_hash,
        signer_bitmap: bls::bitmap(N, signers.iter().copied()),
        aggregate_signature: bls::aggregate(&sigs).expect("non-empty"),
    }
}

/// A TC of `round` whose signers all carried `high_qc`.
fn make_tc(channel: &str, round: Round, signers: &[usize], high_qc: QuorumCert) -> TimeoutCert {
    let v = validators();
    let msg = bls::timeout_message(channel, 0, round, high_qc.round);
    let sigs: Vec<_> = signers.iter().map(|i| v.bls[*i].sign(&msg)).collect();
    TimeoutCert {
        epoch: 0,
        round,
        signer_bitmap: bls::bitmap(N, signers.iter().copied()),
        hqc_rounds: vec![high_qc.round; signers.len()],
        aggregate_signature: bls::aggregate(&sigs).expect("non-empty"),
        high_qc,
    }
}

/// A quorum (3 or 4 of the 4 validators), ascending.
fn quorum() -> impl Strategy<Value = Vec<usize>> {
    subsequence((0..N).collect::<Vec<_>>(), 3..=N)
}

/// Everything a signed block is made of.
#[derive(Debug, Clone)]
struct BlockSpec {
    channel: String,
    height: u64,
    round: Round,
    parent: Hash,
    roots: (Hash, Hash),
    timestamp_us: u64,
    qc_signers: Vec<usize>,
    /// Enter through a TC of `round - 1` (the QC is then of `round - 2`).
    with_tc: Option<Vec<usize>>,
    txs: Vec<Transaction>,
}

fn block_spec() -> impl Strategy<Value = BlockSpec> {
    (
        (channel(), 2u64..1 << 40, 3u64..1 << 40, hash()),
        (hash(), hash(), any::<u64>()),
        (quorum(), proptest::option::of(quorum()), vec(signed_tx(), 0..4)),
    )
        .prop_map(
            |(
                (channel, height, round, parent),
                (state_root, receipts_root, timestamp_us),
                (qc_signers, with_tc, txs),
            )| {
                BlockSpec {
                    channel,
                    height,
                    round,
                    parent,
                    roots: (state_root, receipts_root),
                    timestamp_us,
                    qc_signers,
                    with_tc,
                    txs,
                }
            },
        )
}

/// The block of `spec`, signed by the round's leader, with a real QC (and TC).
fn signed_block(spec: &BlockSpec) -> Block {
    let v = validators();
    let qc_round = if spec.with_tc.is_some() { spec.round - 2 } else { spec.round - 1 };
    let qc = make_qc(&spec.channel, qc_round, spec.height - 1, spec.parent, &spec.qc_signers);
    let tc = spec.with_tc.as_ref().map(|signers| make_tc(&spec.channel, spec.round - 1, signers, qc.clone()));
    let leader = v.epoch.proposer(spec.round);
    let header = BlockHeader {
        version: BLOCK_VERSION,
        channel: spec.channel.clone(),
        height: spec.height,
        round: spec.round,
        epoch: 0,
        prev_hash: spec.parent,
        tx_root: Block::compute_tx_root(&spec.txs),
        state_root: spec.roots.0,
        receipts_root: spec.roots.1,
        qc: Some(qc),
        tc,
        timestamp_us: spec.timestamp_us,
        proposer: v.ids[leader].public(),
    };
    v.ids[leader].sign_block(header, spec.txs.clone())
}

/// Every check a receiver makes of a block with the real code; `Err` names the first failure.
fn validate_block(b: &Block) -> Result<(), String> {
    let v = validators();
    lc_crypto::verify_block_signature(b).map_err(|e| format!("proposer signature: {e}"))?;
    if v.epoch.index_of(&b.header.proposer) != Some(v.epoch.proposer(b.header.round)) {
        return Err("not the round's leader".into());
    }
    if Block::compute_tx_root(&b.txs) != b.header.tx_root {
        return Err("tx root".into());
    }
    let items: Vec<(&Transaction, Hash)> = b.txs.iter().map(|t| (t, t.hash())).collect();
    if let Some(e) = lc_crypto::verify_txs(&items).into_iter().find_map(Result::err) {
        return Err(format!("tx signature: {e}"));
    }
    let qc = b.header.qc.as_ref().ok_or("no QC")?;
    if qc.block_hash != b.header.prev_hash || qc.height.checked_add(1) != Some(b.header.height) {
        return Err("QC does not certify the parent".into());
    }
    bls::verify_qc(qc, &b.header.channel, &v.keys).map_err(|e| format!("QC: {e}"))?;
    if let Some(tc) = &b.header.tc {
        if tc.round.checked_add(1) != Some(b.header.round) {
            return Err("TC is not of the previous round".into());
        }
        bls::verify_tc(tc, &b.header.channel, &v.keys).map_err(|e| format!("TC: {e}"))?;
    }
    Ok(())
}

/// Changes header field `field` (of 13) to a different value derived from `seed`.
fn tamper(h: &mut BlockHeader, field: usize, seed: u64) {
    let bump = 1 + seed % 1000;
    let flip = |x: &mut Hash| x.0[(seed % 32) as usize] ^= 1 << (seed % 8);
    match field {
        0 => h.version = h.version.wrapping_add(bump as u32),
        1 => h.channel.push(char::from(b'a' + (seed % 26) as u8)),
        2 => h.height = h.height.wrapping_add(bump),
        3 => h.round = h.round.wrapping_add(bump),
        4 => h.epoch = h.epoch.wrapping_add(bump),
        5 => flip(&mut h.prev_hash),
        6 => flip(&mut h.tx_root),
        7 => flip(&mut h.state_root),
        8 => flip(&mut h.receipts_root),
        9 => {
            if let Some(qc) = h.qc.as_mut() {
                flip(&mut qc.block_hash);
            }
        }
        10 => {
            h.tc = if h.tc.is_some() {
                None
            } else {
                Some(make_tc(&h.channel, h.round - 1, &[0, 1, 2], h.qc.clone().expect("qc")))
            }
        }
        11 => h.timestamp_us = h.timestamp_us.wrapping_add(bump),
        _ => {
            let v = validators();
            let i = v.ids.iter().position(|k| k.public() == h.proposer).unwrap_or(0);
            h.proposer = v.ids[(i + 1 + (seed % 3) as usize) % N].public();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn signed_tx_verifies_and_roundtrips(tx in signed_tx()) {
        let hash = tx.hash();
        prop_assert_eq!(lc_crypto::verify_tx(&tx, &hash), Ok(()));
        let bytes = encode(&tx);
        let back: Transaction = decode(&bytes).expect("own encoding decodes");
        prop_assert_eq!(&back, &tx);
        prop_assert_eq!(back.hash(), hash);
        prop_assert_eq!(lc_crypto::verify_tx(&back, &back.hash()), Ok(()));
        // The REST form (`{"signed_tx": {...}}` is parsed with serde into a Transaction).
        let json = serde_json::to_value(&tx).expect("serialises");
        let from_json: Transaction = serde_json::from_value(json).expect("own JSON parses");
        prop_assert_eq!(&from_json, &tx);
    }

    #[test]
    fn any_byte_flip_in_a_signed_tx_fails_verification(tx in signed_tx(), at in any::<Index>(), mask in 1u8..=255) {
        // Anywhere in the canonical encoding (body or signature): what still decodes must not verify.
        let mut bytes = encode(&tx);
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        if let Ok(bad) = decode::<Transaction>(&bytes) {
            prop_assert_ne!(&bad, &tx);
            prop_assert!(lc_crypto::verify_tx(&bad, &bad.hash()).is_err(), "flip at {} of {} verified", i, bytes.len());
            prop_assert!(lc_crypto::verify_txs(&[(&bad, bad.hash())])[0].is_err(), "batch accepted flip at {}", i);
        }
        // In the signature alone.
        let mut sig = tx.clone();
        sig.signature.0[at.index(64)] ^= mask;
        prop_assert!(lc_crypto::verify_tx(&sig, &sig.hash()).is_err());
        // In the body alone, keeping the old signature.
        let mut body = encode(&tx.body);
        let j = at.index(body.len());
        body[j] ^= mask;
        if let Ok(b) = decode::<TxBody>(&body) {
            let moved = Transaction { body: b, signature: tx.signature };
            prop_assert!(lc_crypto::verify_tx(&moved, &moved.hash()).is_err(), "body flip at {} verified", j);
        }
    }

    #[test]
    fn batch_verification_agrees_with_single(
        txs in vec((signed_tx(), 0u8..4, any::<Index>()), 1..12),
    ) {
        let mut expected = Vec::new();
        let txs: Vec<Transaction> = txs
            .into_iter()
            .map(|(mut tx, corruption, at)| {
                match corruption {
                    1 => tx.signature.0[at.index(64)] ^= 0x10,
                    2 => tx.body.nonce = tx.body.nonce.wrapping_add(1),
                    3 => tx.body.from.0[at.index(32)] ^= 0x01,
                    _ => {}
                }
                expected.push(corruption == 0);
                tx
            })
            .collect();
        let items: Vec<(&Transaction, Hash)> = txs.iter().map(|t| (t, t.hash())).collect();
        let batch = lc_crypto::verify_txs(&items);
        let single: Vec<bool> = items.iter().map(|(t, h)| lc_crypto::verify_tx(t, h).is_ok()).collect();
        let batch: Vec<bool> = batch.iter().map(Result::is_ok).collect();
        prop_assert_eq!(&batch, &single);
        prop_assert_eq!(&single, &expected);
    }
}

// ---------------------------------------------------------------------------------------------
// Blocks and certificates
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn signed_block_validates_and_roundtrips(spec in block_spec()) {
        let b = signed_block(&spec);
        prop_assert_eq!(validate_block(&b), Ok(()));
        let bytes = encode(&b);
        let back: Block = decode(&bytes).expect("own encoding decodes");
        prop_assert_eq!(&back, &b);
        prop_assert_eq!(back.hash(), b.hash());
        prop_assert_eq!(encode(&back), bytes);
        let json = serde_json::to_string(&b).expect("serialises");
        let from_json: Block = serde_json::from_str(&json).expect("own JSON parses");
        prop_assert_eq!(&from_json, &b);
        prop_assert_eq!(validate_block(&from_json), Ok(()));
    }

    #[test]
    fn tampered_header_field_fails_hash_signature_and_links(
        spec in block_spec(),
        field in 0usize..13,
        seed in any::<u64>(),
    ) {
        let b = signed_block(&spec);
        // A child that links to `b` by hash, as the chain does.
        let child_qc = make_qc(&spec.channel, spec.round, spec.height, b.hash(), &[0, 1, 2]);
        let mut bad = b.clone();
        tamper(&mut bad.header, field, seed);
        prop_assert_ne!(&bad.header, &b.header);
        prop_assert_ne!(bad.hash(), b.hash(), "field {} does not reach the hash", field);
        prop_assert!(lc_crypto::verify_block_signature(&bad).is_err(), "field {} kept the signature valid", field);
        prop_assert!(validate_block(&bad).is_err());
        prop_assert_ne!(child_qc.block_hash, bad.hash(), "the child's QC no longer certifies it");
        prop_assert!(bls::verify_qc(&child_qc, &spec.channel, &validators().keys).is_ok());
    }

    #[test]
    fn tampered_block_body_or_signature_is_refused(spec in block_spec(), what in 0u8..4, at in any::<Index>()) {
        let mut b = signed_block(&spec);
        match what {
            0 => b.proposer_signature.0[at.index(64)] ^= 0x04,
            1 => b.txs.push(Keypair::dev_account(99).sign_tx(TxBody {
                channel: spec.channel,
                from: Keypair::dev_account(99).public(),
                timestamp_us: 1,
                nonce: 1,
                payload: Payload::Data { json: "{}".into() },
            })),
            2 if !b.txs.is_empty() => {
                let i = at.index(b.txs.len());
                b.txs[i].body.nonce ^= 1;
            }
            2 | 3 if !b.txs.is_empty() => {
                // Signature of one transaction: the tx root (over hashes) is unchanged, the tx is not.
                let i = at.index(b.txs.len());
                b.txs[i].signature.0[0] ^= 1;
            }
            _ => b.header.proposer = PublicKey([0xee; 32]),
        }
        prop_assert!(validate_block(&b).is_err());
    }

    #[test]
    fn tampered_certificates_fail_verification(spec in block_spec(), field in 0usize..8, at in any::<Index>()) {
        let b = signed_block(&spec);
        let keys = &validators().keys;
        let mut qc = b.header.qc.clone().expect("qc");
        prop_assert!(bls::verify_qc(&qc, &spec.channel, keys).is_ok());
        let mut channel = spec.channel.clone();
        match field {
            0 => qc.epoch += 1,
            1 => qc.round ^= 1,
            2 => qc.height ^= 1,
            3 => qc.block_hash.0[at.index(32)] ^= 1,
            4 => qc.signer_bitmap[0] ^= 1 << at.index(8),
            5 => qc.signer_bitmap.push(0),
            6 => qc.aggregate_signature.0[at.index(96)] ^= 1 << at.index(8),
            _ => channel.push('x'),
        }
        prop_assert!(bls::verify_qc(&qc, &channel, keys).is_err(), "tampered QC field {} verified", field);

        let high_qc = b.header.qc.expect("qc");
        let mut tc = make_tc(&spec.channel, spec.round, &spec.qc_signers, high_qc);
        prop_assert!(bls::verify_tc(&tc, &spec.channel, keys).is_ok());
        match field {
            0 => tc.round += 1,
            1 => {
                let i = at.index(tc.hqc_rounds.len());
                tc.hqc_rounds[i] ^= 1;
            }
            2 => tc.high_qc.height ^= 1,
            3 => tc.signer_bitmap[0] ^= 1 << at.index(8),
            4 => tc.aggregate_signature.0[at.index(96)] ^= 1 << at.index(8),
            5 => tc.epoch += 1,
            6 => {
                tc.hqc_rounds.pop();
            }
            _ => tc.high_qc = make_qc(&spec.channel, tc.high_qc.round + 1, 1, Hash::ZERO, &[0, 1, 2]),
        }
        prop_assert!(bls::verify_tc(&tc, &spec.channel, keys).is_err(), "tampered TC field {} verified", field);
    }
}

// ---------------------------------------------------------------------------------------------
// The LFT core's checks of a proposal
// ---------------------------------------------------------------------------------------------

/// Ways to break a proposal the core would vote for.
#[derive(Debug, Clone, Copy)]
enum Break {
    None,
    Parent,
    Height,
    QcRound,
    Proposer,
    Round,
    TcRound,
    TcHighQc,
}

fn breaks() -> impl Strategy<Value = Break> {
    prop_oneof![
        Just(Break::None),
        Just(Break::Parent),
        Just(Break::Height),
        Just(Break::QcRound),
        Just(Break::Proposer),
        Just(Break::Round),
        Just(Break::TcRound),
        Just(Break::TcHighQc),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn lft_core_votes_only_for_well_linked_proposals(
        broken in breaks(),
        genesis in hash(),
        salt in hash(),
        delta in 1u64..1000,
    ) {
        let v = validators();
        let root = QcInfo { round: 0, height: 0, block_hash: genesis };
        let mut core = Lft::from_root(v.epoch.clone(), Some(0), root);
        let _ = core.start();
        prop_assert_eq!(core.round(), 1);
        let round = 1;
        let mut b = BlockInfo {
            hash: salt,
            height: 1,
            round,
            parent: genesis,
            qc: root,
            tc: None,
            proposer: v.epoch.proposer(round),
            empty: true,
            epoch_end: None,
        };
        match broken {
            Break::None => {}
            Break::Parent => b.parent.0[(delta % 32) as usize] ^= 1,
            Break::Height => b.height += delta,
            Break::QcRound => b.qc.round = round + delta - 1,
            Break::Proposer => b.proposer = (b.proposer + 1 + (delta as usize % (N - 1))) % N,
            Break::Round => b.round = round + delta,
            Break::TcRound => b.tc = Some(TcInfo { round: round + delta, max_hqc_round: 0, high_qc: root }),
            Break::TcHighQc => b.tc = Some(TcInfo { round: 0, max_hqc_round: delta, high_qc: root }),
        }
        let step = core.handle(Input::Proposal(b));
        let voted =
            step.outputs.iter().any(|o| matches!(o, Output::CastVote { block_hash, .. } if *block_hash == salt));
        match broken {
            Break::None => {
                prop_assert!(step.rejected.is_none(), "{:?}", step.rejected);
                prop_assert!(voted, "no vote for a valid proposal: {:?}", step.outputs);
            }
            _ => {
                prop_assert!(step.rejected.is_some(), "{:?} accepted", broken);
                prop_assert!(!voted, "{:?} voted for", broken);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoders: arbitrary and corrupted bytes
// ---------------------------------------------------------------------------------------------

/// Real messages: a proposal with transactions, QC and TC; a yes and a timeout vote; the TC; a QC.
fn real_messages() -> &'static Vec<ConsensusMsg> {
    static M: OnceLock<Vec<ConsensusMsg>> = OnceLock::new();
    M.get_or_init(|| {
        let v = validators();
        let key = Keypair::dev_account(3);
        let tx = key.sign_tx(TxBody {
            channel: "c".into(),
            from: key.public(),
            timestamp_us: 7,
            nonce: 8,
            payload: Payload::Call { score: "token".into(), method: "transfer".into(), params_json: "{}".into() },
        });
        let spec = BlockSpec {
            channel: "c".into(),
            height: 5,
            round: 9,
            parent: Hash([3; 32]),
            roots: (Hash([4; 32]), Hash([5; 32])),
            timestamp_us: 1_000,
            qc_signers: vec![0, 1, 3],
            with_tc: Some(vec![1, 2, 3]),
            txs: vec![tx],
        };
        let b = signed_block(&spec);
        let yes = Vote {
            kind: VoteKind::Yes,
            channel: "c".into(),
            epoch: 0,
            round: 9,
            height: 5,
            block_hash: b.hash(),
            hqc_round: 0,
        };
        let timeout = Vote {
            kind: VoteKind::Timeout,
            channel: "c".into(),
            epoch: 0,
            round: 10,
            height: 0,
            block_hash: Hash::ZERO,
            hqc_round: 7,
        };
        let qc = b.header.qc.clone().expect("qc");
        let tc = b.header.tc.clone().expect("tc");
        vec![
            ConsensusMsg::Proposal(Box::new(b)),
            ConsensusMsg::Vote(VoteMsg { voter: 2, signature: v.bls[2].sign(&encode(&yes)), vote: yes, high_qc: None }),
            ConsensusMsg::Vote(VoteMsg {
                voter: 1,
                signature: v.bls[1].sign(&encode(&timeout)),
                vote: timeout,
                high_qc: Some(qc.clone()),
            }),
            ConsensusMsg::Tc(tc),
            ConsensusMsg::Qc(qc),
        ]
    })
}

/// The message without the fields no receiver reads: a timeout vote's `height` and `block_hash`,
/// a yes vote's `hqc_round` (neither is signed: the signed bytes are rebuilt with
/// `timeout_message` / `vote_message`, which zero them).
fn used_fields(m: &ConsensusMsg) -> ConsensusMsg {
    let mut m = m.clone();
    if let ConsensusMsg::Vote(vm) = &mut m {
        match vm.vote.kind {
            VoteKind::Yes => vm.vote.hqc_round = 0,
            VoteKind::Timeout => (vm.vote.height, vm.vote.block_hash) = (0, Hash::ZERO),
        }
    }
    m
}

/// Whether a received message passes the receiver's checks (channel "c", the fixed validators).
fn message_checks(m: &ConsensusMsg) -> bool {
    let v = validators();
    match m {
        ConsensusMsg::Proposal(b) => b.header.channel == "c" && validate_block(b).is_ok(),
        ConsensusMsg::Vote(vm) => {
            let msg = match vm.vote.kind {
                VoteKind::Yes => bls::vote_message(
                    &vm.vote.channel,
                    vm.vote.epoch,
                    vm.vote.round,
                    vm.vote.height,
                    vm.vote.block_hash,
                ),
                VoteKind::Timeout => {
                    bls::timeout_message(&vm.vote.channel, vm.vote.epoch, vm.vote.round, vm.vote.hqc_round)
                }
            };
            let carried = match (&vm.high_qc, vm.vote.kind) {
                (Some(qc), VoteKind::Timeout) => {
                    qc.round == vm.vote.hqc_round && bls::verify_qc(qc, "c", &v.keys).is_ok()
                }
                (None, VoteKind::Yes) => true,
                _ => false,
            };
            vm.vote.channel == "c"
                && carried
                && bls::verify_from(&v.keys, vm.voter as usize, &msg, &vm.signature).is_ok()
        }
        ConsensusMsg::Tc(tc) => bls::verify_tc(tc, "c", &v.keys).is_ok(),
        ConsensusMsg::Qc(qc) => bls::verify_qc(qc, "c", &v.keys).is_ok(),
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in vec(any::<u8>(), 0..1024)) {
        // Whatever decodes re-encodes to exactly the input.
        macro_rules! canonical {
            ($t:ty) => {
                if let Ok(v) = decode::<$t>(&bytes) {
                    prop_assert_eq!(encode(&v), bytes.clone(), "{}", stringify!($t));
                }
            };
        }
        canonical!(ConsensusMsg);
        canonical!(VoteMsg);
        canonical!(Vote);
        canonical!(TimeoutCert);
        canonical!(BlockHeader);
        canonical!(TxBody);
        canonical!(ChannelDefinition);
        let _ = serde_json::from_slice::<Transaction>(&bytes);
        let _ = serde_json::from_slice::<Block>(&bytes);
        let _ = serde_json::from_slice::<ChannelDefinition>(&bytes).map(|d| d.validate());
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn corrupted_consensus_messages_are_refused(
        which in any::<Index>(),
        flips in vec((any::<Index>(), 1u8..=255), 1..4),
    ) {
        let msgs = real_messages();
        let original = &msgs[which.index(msgs.len())];
        prop_assert!(message_checks(original), "the real message passes: {:?}", original);
        let mut bytes = encode(original);
        for (at, mask) in &flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask;
        }
        if let Ok(m) = decode::<ConsensusMsg>(&bytes) {
            prop_assert_eq!(encode(&m), bytes.clone());
            if used_fields(&m) != used_fields(original) {
                prop_assert!(!message_checks(&m), "a corrupted message passed the checks: {:?}", m);
            }
        }
    }
}
