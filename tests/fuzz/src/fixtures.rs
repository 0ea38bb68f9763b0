//! A real little chain of channel [`CHANNEL`], epoch 0, four development validators: genesis,
//! signed blocks with real QCs and a real TC, votes, transactions of every payload kind, a
//! finality proof that verifies. The targets check decoded certificates against [`epoch`]; the
//! corpus generator (`examples/make_corpus.rs`) writes these values' encodings as seeds.
use lc_crypto::bls::{self, BlsKeypair, ValidatorKeys};
use lc_crypto::Keypair;
use lc_lft::{EpochInfo, QcInfo, Validator};
use lc_proof::{CheckedSet, FinalityProof, ValidatorEntry, ValidatorSet};
use lc_types::{
    genesis_block, Address, Block, BlockHeader, ChannelDefinition, ConsensusMsg, Hash, Member, Payload, QuorumCert,
    Role, Round, TimeoutCert, Transaction, TxBody, Vote, VoteKind, VoteMsg, BLOCK_VERSION,
};
use std::sync::OnceLock;

/// Channel of every fixture.
pub const CHANNEL: &str = "loopchain_default";
/// Validators of the fixture epoch.
pub const VALIDATORS: usize = 4;
/// Genesis timestamp (µs) of the fixture channel.
pub const GENESIS_US: u64 = 1_700_000_000_000_000;

/// Identity (ed25519) key of validator `i`.
pub fn identity(i: usize) -> Keypair {
    Keypair::dev_account(1000 + i as u64)
}

/// BLS key of validator `i`.
pub fn bls_key(i: usize) -> BlsKeypair {
    BlsKeypair::dev(i as u64)
}

/// The fixture epoch, checked once.
#[derive(Debug)]
pub struct Epoch {
    /// BLS keys in bitmap order.
    pub keys: ValidatorKeys,
    /// Weights and quorum arithmetic.
    pub info: EpochInfo,
    /// The validator-set JSON document.
    pub set: ValidatorSet,
    /// The set, checked.
    pub checked: CheckedSet,
    /// The channel definition of the genesis block.
    pub definition: ChannelDefinition,
    /// Hash of the genesis block.
    pub genesis: Hash,
}

/// The fixture epoch (built on first use).
pub fn epoch() -> &'static Epoch {
    static EPOCH: OnceLock<Epoch> = OnceLock::new();
    EPOCH.get_or_init(|| {
        let bls: Vec<_> = (0..VALIDATORS).map(|i| bls_key(i).public()).collect();
        let keys = ValidatorKeys::new(&bls).expect("dev BLS keys are valid");
        let validators = (0..VALIDATORS).map(|i| Validator { id: identity(i).public(), weight: 1 }).collect();
        let info = EpochInfo::new(0, validators).expect("valid epoch");
        let set = ValidatorSet {
            channel: CHANNEL.to_owned(),
            epoch: 0,
            validators: (0..VALIDATORS)
                .map(|i| ValidatorEntry {
                    peer_id: Address::of(&identity(i).public()),
                    identity_key: identity(i).public(),
                    bls_key: bls_key(i).public(),
                    bls_pop: bls_key(i).proof_of_possession(),
                    weight: 1,
                    group: None,
                })
                .collect(),
            groups: Vec::new(),
        };
        let checked = set.check().expect("the fixture set is valid");
        let definition = channel_definition();
        let genesis = genesis_block(&definition).expect("valid definition").hash();
        Epoch { keys, info, set, checked, definition, genesis }
    })
}

/// The channel definition of the fixture chain.
pub fn channel_definition() -> ChannelDefinition {
    ChannelDefinition {
        name: CHANNEL.to_owned(),
        members: (0..VALIDATORS)
            .map(|i| Member {
                peer_id: Address::of(&identity(i).public()),
                identity_key: identity(i).public(),
                bls_key: Some(bls_key(i).public()),
                bls_pop: Some(bls_key(i).proof_of_possession()),
                weight: 1,
                group: None,
                role: Role::Validator,
            })
            .chain(std::iter::once(Member {
                peer_id: Address::of(&identity(9).public()),
                identity_key: identity(9).public(),
                bls_key: None,
                bls_pop: None,
                weight: 0,
                group: Some("auditors".to_owned()),
                role: Role::Auditor,
            }))
            .collect(),
        admins: vec![Keypair::dev_account(0).public()],
        score: "hello".to_owned(),
        score_params: "{}".to_owned(),
        consensus: "equal".to_owned(),
        consensus_params: "{}".to_owned(),
        consensus_code_hash: None,
        genesis_timestamp_us: GENESIS_US,
    }
}

/// The genesis root as the LFT core sees it.
pub fn genesis_root() -> QcInfo {
    QcInfo { round: 0, height: 0, block_hash: epoch().genesis }
}

/// A QC of `signers` for the block `(round, height, hash)`.
pub fn qc(round: Round, height: u64, block_hash: Hash, signers: &[usize]) -> QuorumCert {
    let msg = bls::vote_message(CHANNEL, 0, round, height, block_hash);
    let sigs: Vec<_> = signers.iter().map(|i| bls_key(*i).sign(&msg)).collect();
    QuorumCert {
        epoch: 0,
        round,
        height,
        block_hash,
        signer_bitmap: bls::bitmap(VALIDATORS, signers.iter().copied()),
        aggregate_signature: bls::aggregate(&sigs).expect("non-empty"),
    }
}

/// A TC of `round` signed by `(validator, hqc_round)` pairs, carrying `high_qc`.
pub fn tc(round: Round, signers: &[(usize, Round)], high_qc: QuorumCert) -> TimeoutCert {
    let sigs: Vec<_> =
        signers.iter().map(|(i, r)| bls_key(*i).sign(&bls::timeout_message(CHANNEL, 0, round, *r))).collect();
    TimeoutCert {
        epoch: 0,
        round,
        signer_bitmap: bls::bitmap(VALIDATORS, signers.iter().map(|(i, _)| *i)),
        hqc_rounds: signers.iter().map(|(_, r)| *r).collect(),
        aggregate_signature: bls::aggregate(&sigs).expect("non-empty"),
        high_qc,
    }
}

/// Transactions, one of each payload kind.
pub fn transactions() -> Vec<Transaction> {
    let payloads = [
        Payload::Call {
            score: "token".into(),
            method: "transfer".into(),
            params_json: r#"{"to":"hx00","value":5}"#.into(),
        },
        Payload::Data { json: r#"{"data":"hello"}"#.into() },
        Payload::Deploy { score: "ledger".into(), code_hash: lc_types::sha3(b"ledger.so"), params: "{}".into() },
        Payload::ChannelConfig { json: r#"{"epoch_height":100,"validators":[]}"#.into() },
    ];
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, payload)| {
            let body = TxBody {
                channel: CHANNEL.to_owned(),
                from: Keypair::dev_account(i as u64).public(),
                timestamp_us: GENESIS_US + 1_000 * i as u64,
                nonce: i as u64,
                payload,
            };
            Keypair::dev_account(i as u64).sign_tx(body)
        })
        .collect()
}

fn header(height: u64, round: Round, prev_hash: Hash, qc: Option<QuorumCert>, tc: Option<TimeoutCert>) -> BlockHeader {
    let e = epoch();
    BlockHeader {
        version: BLOCK_VERSION,
        channel: CHANNEL.to_owned(),
        height,
        round,
        epoch: 0,
        prev_hash,
        tx_root: Hash::ZERO,
        state_root: lc_types::sha3_concat(&[&e.definition.hash().0, &height.to_le_bytes()]),
        receipts_root: Hash::ZERO,
        qc,
        tc,
        timestamp_us: GENESIS_US + 1_000_000 * height,
        proposer: identity(e.info.proposer(round)).public(),
    }
}

fn sign(h: BlockHeader, txs: Vec<Transaction>) -> Block {
    let proposer = epoch().info.proposer(h.round);
    let mut h = h;
    h.tx_root = Block::compute_tx_root(&txs);
    identity(proposer).sign_block(h, txs)
}

/// The fixture chain: genesis, then block 1 (round 1), block 2 (round 2, QC of 1, transactions),
/// block 3 (round 4, QC of 2, TC of round 3). Block 2's certification commits block 1.
pub fn chain() -> Vec<Block> {
    let e = epoch();
    let genesis = genesis_block(&e.definition).expect("valid definition");
    let b1 = sign(header(1, 1, genesis.hash(), None, None), Vec::new());
    let qc1 = qc(1, 1, b1.hash(), &[0, 1, 2, 3]);
    let b2 = sign(header(2, 2, b1.hash(), Some(qc1), None), transactions());
    let qc2 = qc(2, 2, b2.hash(), &[0, 1, 3]);
    let tc3 = tc(3, &[(0, 2), (1, 2), (2, 1)], qc2.clone());
    let b3 = sign(header(3, 4, b2.hash(), Some(qc2), Some(tc3)), Vec::new());
    vec![genesis, b1, b2, b3]
}

/// The final QC of the proof (certifies block 2).
pub fn final_qc() -> QuorumCert {
    let b2 = &chain()[2];
    qc(2, 2, b2.hash(), &[0, 1, 3])
}

/// The finality proof of block 1 (headers 1, 2 and the QC of 2); it verifies against [`epoch`].
pub fn proof() -> FinalityProof {
    let c = chain();
    lc_proof::build(c[1..3].iter().map(|b| (b.header.clone(), b.proposer_signature)).collect(), final_qc())
        .expect("the fixture chain is a direct commit")
}

/// A yes vote of validator 1 for block 2, and a timeout vote of validator 2 in round 3.
pub fn votes() -> Vec<VoteMsg> {
    let b2 = &chain()[2];
    let yes = Vote {
        kind: VoteKind::Yes,
        channel: CHANNEL.to_owned(),
        epoch: 0,
        round: 2,
        height: 2,
        block_hash: b2.hash(),
        hqc_round: 0,
    };
    let timeout = Vote {
        kind: VoteKind::Timeout,
        channel: CHANNEL.to_owned(),
        epoch: 0,
        round: 3,
        height: 0,
        block_hash: Hash::ZERO,
        hqc_round: 2,
    };
    vec![
        VoteMsg { voter: 1, signature: bls_key(1).sign(&lc_types::encode(&yes)), vote: yes, high_qc: None },
        VoteMsg {
            voter: 2,
            signature: bls_key(2).sign(&lc_types::encode(&timeout)),
            vote: timeout,
            high_qc: Some(final_qc()),
        },
    ]
}

/// One consensus message of each kind.
pub fn consensus_msgs() -> Vec<ConsensusMsg> {
    let c = chain();
    let mut out: Vec<ConsensusMsg> = c[1..].iter().map(|b| ConsensusMsg::Proposal(Box::new(b.clone()))).collect();
    out.extend(votes().into_iter().map(ConsensusMsg::Vote));
    if let Some(tc) = c[3].header.tc.clone() {
        out.push(ConsensusMsg::Tc(tc));
    }
    out.push(ConsensusMsg::Qc(final_qc()));
    out
}
