//! Fixed test vectors of the canonical (borsh) encoding and of every hash derived from it.
//!
//! CHANGING THESE VECTORS IS A CONSENSUS-BREAKING FORMAT CHANGE. Every node must compute the same
//! transaction hashes, block hashes, merkle roots, state roots and genesis blocks; if one of these
//! tests fails, the encoding or a hash formula changed, and old chains can no longer be verified.
//! Only update a pinned value together with a deliberate, versioned format change.
//!
//! All values here are fully fixed (no clock, no randomness). The second half of the file
//! recomputes the documented formulas by hand (the external `sha3` crate and hand-built byte
//! layouts), independently of the crate's own helpers.

use lc_types::{
    encode, genesis_block, merkle_root, sha3, sha3_concat, state_root, Address, Block, BlockHeader, BlsPublicKey,
    BlsSignature, ChannelDefinition, Event, Hash, Member, Payload, PublicKey, QuorumCert, Receipt, Role, Signature,
    TimeoutCert, Transaction, TxBody, Vote, VoteKind, WriteSet, BLOCK_VERSION,
};
use sha3::{Digest, Sha3_256};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const CHANNEL: &str = "loopchain_default";
const TS: u64 = 1_700_000_000_000_000;

fn data_body() -> TxBody {
    TxBody {
        channel: CHANNEL.to_owned(),
        from: PublicKey([1u8; 32]),
        timestamp_us: TS,
        nonce: 7,
        payload: Payload::Data { json: "{\"data\":\"hello\"}".to_owned() },
    }
}

fn data_tx() -> Transaction {
    Transaction { body: data_body(), signature: Signature([2u8; 64]) }
}

fn call_tx() -> Transaction {
    Transaction {
        body: TxBody {
            channel: CHANNEL.to_owned(),
            from: PublicKey([3u8; 32]),
            timestamp_us: TS + 1,
            nonce: 8,
            payload: Payload::Call {
                score: "token".to_owned(),
                method: "transfer".to_owned(),
                params_json: "{\"to\":\"hx0000000000000000000000000000000000000001\",\"value\":\"0x10\"}".to_owned(),
            },
        },
        signature: Signature([4u8; 64]),
    }
}

fn deploy_tx() -> Transaction {
    Transaction {
        body: TxBody {
            channel: CHANNEL.to_owned(),
            from: PublicKey([5u8; 32]),
            timestamp_us: TS + 2,
            nonce: 9,
            payload: Payload::Deploy {
                score: "token".to_owned(),
                code_hash: Hash([6u8; 32]),
                params: "{\"supply\":\"0x64\"}".to_owned(),
            },
        },
        signature: Signature([7u8; 64]),
    }
}

fn channel_config_tx() -> Transaction {
    Transaction {
        body: TxBody {
            channel: CHANNEL.to_owned(),
            from: PublicKey([8u8; 32]),
            timestamp_us: TS + 3,
            nonce: 10,
            payload: Payload::ChannelConfig { json: "{\"epoch\":2,\"add\":[]}".to_owned() },
        },
        signature: Signature([9u8; 64]),
    }
}

fn all_txs() -> Vec<Transaction> {
    vec![data_tx(), call_tx(), deploy_tx(), channel_config_tx()]
}

fn receipts() -> Vec<Receipt> {
    let mut ok = Receipt::success(data_tx().hash());
    ok.result_json = "{\"ok\":true}".to_owned();
    ok.events.push(Event {
        score: "token".to_owned(),
        name: "Transfer".to_owned(),
        data_json: "{\"value\":\"0x10\"}".to_owned(),
    });
    vec![
        ok,
        Receipt::failure(call_tx().hash(), 9000, "out of balance"),
        Receipt::success(deploy_tx().hash()),
        Receipt::success(channel_config_tx().hash()),
    ]
}

fn qc() -> QuorumCert {
    QuorumCert {
        epoch: 3,
        round: 44,
        height: 41,
        block_hash: Hash([0x33; 32]),
        signer_bitmap: vec![0b0000_0111],
        aggregate_signature: BlsSignature([0x44; 96]),
    }
}

fn tc() -> TimeoutCert {
    TimeoutCert {
        epoch: 3,
        round: 44,
        signer_bitmap: vec![0b0000_1101, 0b0000_0001],
        hqc_rounds: vec![43, 43, 42, 44],
        aggregate_signature: BlsSignature([0x55; 96]),
        high_qc: qc(),
    }
}

fn full_header() -> BlockHeader {
    BlockHeader {
        version: BLOCK_VERSION,
        channel: CHANNEL.to_owned(),
        height: 42,
        round: 45,
        epoch: 3,
        prev_hash: Hash([0x11; 32]),
        tx_root: Block::compute_tx_root(&all_txs()),
        state_root: Hash([0x22; 32]),
        receipts_root: Block::compute_receipts_root(&receipts()),
        qc: Some(qc()),
        tc: Some(tc()),
        timestamp_us: TS + 500_000,
        proposer: PublicKey([0x66; 32]),
    }
}

fn bare_header() -> BlockHeader {
    BlockHeader { qc: None, tc: None, ..full_header() }
}

fn full_block() -> Block {
    Block { header: full_header(), proposer_signature: Signature([0x77; 64]), txs: all_txs() }
}

fn yes_vote() -> Vote {
    Vote {
        kind: VoteKind::Yes,
        channel: CHANNEL.to_owned(),
        epoch: 3,
        round: 45,
        height: 42,
        block_hash: Hash([0x88; 32]),
        hqc_round: 0,
    }
}

fn timeout_vote() -> Vote {
    Vote {
        kind: VoteKind::Timeout,
        channel: CHANNEL.to_owned(),
        epoch: 3,
        round: 46,
        height: 0,
        block_hash: Hash::ZERO,
        hqc_round: 44,
    }
}

/// `n` leaves: leaf i = sha3 of the single byte i.
fn leaves(n: u8) -> Vec<Hash> {
    (0..n).map(|i| sha3(&[i])).collect()
}

fn state_parent() -> Hash {
    Hash([0x99; 32])
}

fn write_set() -> WriteSet {
    let mut ws = WriteSet::new();
    // Inserted out of key order on purpose: the hash must follow key order.
    ws.insert(b"balance/bob".to_vec(), None);
    ws.insert(b"balance/alice".to_vec(), Some(b"100".to_vec()));
    ws
}

fn validator_key() -> PublicKey {
    PublicKey([0x0a; 32])
}

fn channel_definition() -> ChannelDefinition {
    ChannelDefinition {
        name: CHANNEL.to_owned(),
        members: vec![Member {
            peer_id: Address::of(&validator_key()),
            identity_key: validator_key(),
            bls_key: Some(BlsPublicKey([0xbb; 48])),
            bls_pop: Some(lc_types::BlsSignature([0xcc; 96])),
            weight: 1,
            group: Some("g1".to_owned()),
            role: Role::Validator,
        }],
        admins: vec![PublicKey([1u8; 32])],
        score: "token".to_owned(),
        score_params: "{\"supply\":\"0x64\"}".to_owned(),
        consensus: "lft".to_owned(),
        consensus_params: "{}".into(),
        consensus_code_hash: None,
        genesis_timestamp_us: 1_600_000_000_000_000,
    }
}

#[track_caller]
fn assert_hex(actual: impl AsRef<[u8]>, expected: &str, what: &str) {
    let got = hex::encode(actual.as_ref());
    assert_eq!(got, expected, "{what}: pinned vector changed (got {got})");
}

fn sha3_ext(data: &[u8]) -> [u8; 32] {
    Sha3_256::digest(data).into()
}

fn sha3_ext_concat(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha3_256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

// ---------------------------------------------------------------------------------------------
// Pinned vectors
// ---------------------------------------------------------------------------------------------

#[test]
fn block_version_is_pinned() {
    assert_eq!(BLOCK_VERSION, 1);
}

#[test]
fn data_tx_body_canonical_bytes_are_pinned() {
    assert_hex(encode(&data_body()), "110000006c6f6f70636861696e5f64656661756c74010101010101010101010101010101010101010101010101010101010101010100401e18240a0600070000000000000001100000007b2264617461223a2268656c6c6f227d", "encode(data TxBody)");
}

#[test]
fn data_tx_hash_is_pinned() {
    assert_hex(data_tx().hash(), "6df658f238c2eb9c1c71503f9c9ff9b9707acd4fdf2255e5c99b3c39cbf02b40", "data tx hash");
    assert_eq!(data_tx().hash(), data_body().hash());
}

#[test]
fn data_tx_canonical_bytes_are_body_then_signature() {
    let mut expected = encode(&data_body());
    expected.extend_from_slice(&[2u8; 64]);
    assert_eq!(encode(&data_tx()), expected);
    assert_eq!(data_tx().encoded_len(), expected.len());
}

#[test]
fn call_tx_hash_is_pinned() {
    assert_hex(call_tx().hash(), "2f0f7381c9b17a8f22de975f6ada4817dd58edc91c9d408ec4d189572de21b12", "call tx hash");
}

#[test]
fn deploy_tx_hash_is_pinned() {
    assert_hex(
        deploy_tx().hash(),
        "20eb8fd1559ec67580825e5a8868a84319fd59ca58618f0f97cd6310da6952ee",
        "deploy tx hash",
    );
}

#[test]
fn channel_config_tx_hash_is_pinned() {
    assert_hex(
        channel_config_tx().hash(),
        "249bf63b18864a54cc21bdbbe42be45569888e2fd8d500d60d48ec390f819824",
        "channel_config tx hash",
    );
}

#[test]
fn signature_does_not_change_tx_hash() {
    let mut tx = data_tx();
    tx.signature = Signature([0xff; 64]);
    assert_eq!(tx.hash(), data_tx().hash());
    assert_ne!(encode(&tx), encode(&data_tx()));
}

#[test]
fn tx_and_receipts_roots_are_pinned() {
    assert_hex(
        Block::compute_tx_root(&all_txs()),
        "d79c069c8a953a86a8a40a538cecfb1c8e9e17db486a0400eb31139523b0b0f1",
        "tx root of 4 txs",
    );
    assert_hex(
        Block::compute_receipts_root(&receipts()),
        "67634678e48f89d2ac4c0604e626c3208b33fd50e75acbe82ded1105c54b3416",
        "receipts root of 4 receipts",
    );
}

#[test]
fn full_block_header_hash_is_pinned() {
    assert_hex(
        full_header().hash(),
        "150158b5a78c17f077060f57f1681235c6a8305ecd89e46b04a04cf1666ecd75",
        "block hash (qc and tc set)",
    );
}

#[test]
fn bare_block_header_hash_is_pinned() {
    assert_hex(
        bare_header().hash(),
        "04a58b8a1d47690f6e1a9da79fa8d8628aba119f593e5f8107a75b64f5d5b727",
        "block hash (qc and tc none)",
    );
}

#[test]
fn full_block_encoding_hash_is_pinned() {
    // Covers the encoding of Block itself (header, proposer signature, txs), not only the header.
    assert_hex(
        sha3(&encode(&full_block())),
        "f0c5aecdc74e91f4808bc884fa812f47603c7a50e24485e59e2bc2126ed9cd0f",
        "sha3(encode(full block))",
    );
    assert_eq!(full_block().hash(), full_header().hash());
}

#[test]
fn certificate_encodings_are_pinned() {
    assert_hex(
        sha3(&encode(&qc())),
        "0fcf0e9b30fe533c2850001721471491ff264c19b2721846bc750150cb1b168e",
        "sha3(encode(qc))",
    );
    assert_hex(
        sha3(&encode(&tc())),
        "ea49ac85493359d7ba8b21dc8dd3eb55b4eca6eaacb7cc3c5655aac7afb4915e",
        "sha3(encode(tc))",
    );
}

#[test]
fn vote_encodings_are_pinned() {
    // The vote encoding is the message BLS keys sign.
    assert_hex(encode(&yes_vote()), "00110000006c6f6f70636861696e5f64656661756c7403000000000000002d000000000000002a0000000000000088888888888888888888888888888888888888888888888888888888888888880000000000000000", "encode(yes vote)");
    assert_hex(
        sha3(&encode(&timeout_vote())),
        "bba388b57c5350f61ad57a6412164d315fa89242691382089814d724e081de52",
        "sha3(encode(timeout vote))",
    );
}

#[test]
fn merkle_roots_are_pinned() {
    assert_eq!(merkle_root(&leaves(0)), Hash::ZERO);
    assert_hex(
        merkle_root(&leaves(1)),
        "896c9783c00456e5987c4b4245b47ae02748268f761690996d56f53247bd2c92",
        "merkle root of 1 leaf",
    );
    assert_hex(
        merkle_root(&leaves(2)),
        "cc9b331b47a6edbf5c748f638aecb61239445914c60d14a081534767066807e7",
        "merkle root of 2 leaves",
    );
    assert_hex(
        merkle_root(&leaves(3)),
        "65e6003917224ead6ea65b0a432a965dd6988cea80cf337d70ae6d4b7ed134c4",
        "merkle root of 3 leaves",
    );
    assert_hex(
        merkle_root(&leaves(5)),
        "2d5afbf6367e5ac54c5fb81399e34564bfe4496ef43ab34a246bae41bee9de02",
        "merkle root of 5 leaves",
    );
}

#[test]
fn state_root_is_pinned() {
    assert_hex(
        state_root(&state_parent(), &write_set()),
        "f6a6bfc2f8ab6bcc6e74e7ad50d79b1ec9485802de93642122b42755a8ff9443",
        "state root of put+delete",
    );
    assert_hex(
        state_root(&state_parent(), &WriteSet::new()),
        "cf0750f79429d30897fa47e7a104b98e13608bde0b0b5948e0874ad39b4b12b6",
        "state root of empty write set",
    );
}

#[test]
fn genesis_vectors_are_pinned() {
    let def = channel_definition();
    def.validate().expect("fixture definition is valid");
    assert_hex(
        Address::of(&validator_key()).0,
        "73782dc2b8b4d8954a664ae71d5dab15e71428f9",
        "Address::of(validator key)",
    );
    assert_hex(
        def.hash(),
        "ef54bcfd1edce40ed7e2563c0c4be65e8aa9ec4de0c3a18012c43ddbb6e24b06",
        "channel definition hash",
    );
    let genesis = genesis_block(&def).expect("genesis of a valid definition");
    assert_hex(
        genesis.hash(),
        "18590f510a9e06273f5aa05953a09ca13a76d32e6b6b4bace8cedef735c0e1a9",
        "genesis block hash",
    );
    assert_hex(
        sha3(&encode(&genesis)),
        "cc139978bd5029a6a28c611a822185977064761b985ac141ffeee9410de331ec",
        "sha3(encode(genesis block))",
    );
}

// ---------------------------------------------------------------------------------------------
// Documented formulas, recomputed by hand
// ---------------------------------------------------------------------------------------------

#[test]
fn crate_sha3_is_sha3_256_not_keccak() {
    // FIPS 202 SHA3-256 known answers (Keccak-256 of "" would be c5d2460186f7...).
    assert_hex(sha3(b""), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a", "sha3(\"\")");
    assert_hex(sha3(b"abc"), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532", "sha3(\"abc\")");
    assert_eq!(sha3_concat(&[b"a", b"", b"bc"]), sha3(b"abc"));
    assert_eq!(sha3_concat(&[]), sha3(b""));
}

#[test]
fn data_tx_body_layout_by_hand() {
    // borsh: String = u32 LE length + UTF-8; [u8; N] raw; u64 LE; enum = u8 variant index + fields.
    let json = b"{\"data\":\"hello\"}";
    let mut b = Vec::new();
    b.extend_from_slice(&(CHANNEL.len() as u32).to_le_bytes());
    b.extend_from_slice(CHANNEL.as_bytes());
    b.extend_from_slice(&[1u8; 32]);
    b.extend_from_slice(&TS.to_le_bytes());
    b.extend_from_slice(&7u64.to_le_bytes());
    b.push(1); // Payload::Data is variant 1 (Call 0, Data 1, Deploy 2, ChannelConfig 3)
    b.extend_from_slice(&(json.len() as u32).to_le_bytes());
    b.extend_from_slice(json);
    assert_eq!(encode(&data_body()), b);
}

#[test]
fn payload_variant_tags_by_hand() {
    let tag_of = |tx: &Transaction| {
        let body = encode(&TxBody { payload: Payload::Data { json: String::new() }, ..tx.body.clone() });
        // The payload tag sits right after the fixed-size fields; find it from the Data layout.
        let prefix_len = body.len() - 1 - 4;
        encode(&tx.body)[prefix_len]
    };
    assert_eq!(tag_of(&call_tx()), 0);
    assert_eq!(tag_of(&data_tx()), 1);
    assert_eq!(tag_of(&deploy_tx()), 2);
    assert_eq!(tag_of(&channel_config_tx()), 3);
}

#[test]
fn tx_hash_is_sha3_of_encoded_body() {
    for tx in all_txs() {
        assert_eq!(tx.hash().0, sha3_ext(&encode(&tx.body)), "{:?}", tx.body.payload.kind());
        assert_eq!(tx.hash(), tx.body.hash());
    }
}

#[test]
fn block_hash_is_sha3_of_encoded_header() {
    for header in [full_header(), bare_header()] {
        assert_eq!(header.hash().0, sha3_ext(&encode(&header)));
    }
    assert_ne!(full_header().hash(), bare_header().hash());
}

#[test]
fn block_hash_ignores_proposer_signature_and_txs() {
    let a = full_block();
    let b = Block { proposer_signature: Signature::ZERO, txs: vec![], ..full_block() };
    assert_eq!(a.hash(), b.hash());
    assert_ne!(encode(&a), encode(&b));
}

#[test]
fn header_layout_by_hand_for_optional_certs() {
    // version u32, channel, height, round, epoch, 4 hashes, then qc Option tag (0 = None).
    let bare = encode(&bare_header());
    let qc_tag_at = 4 + 4 + CHANNEL.len() + 8 * 3 + 32 * 4;
    assert_eq!(bare[qc_tag_at], 0, "qc None tag");
    assert_eq!(bare[qc_tag_at + 1], 0, "tc None tag");
    assert_eq!(bare.len(), qc_tag_at + 2 + 8 + 32);

    let full = encode(&full_header());
    assert_eq!(full[qc_tag_at], 1, "qc Some tag");
    let qc_bytes = encode(&qc());
    assert_eq!(&full[qc_tag_at + 1..qc_tag_at + 1 + qc_bytes.len()], &qc_bytes[..]);
    let tc_at = qc_tag_at + 1 + qc_bytes.len();
    assert_eq!(full[tc_at], 1, "tc Some tag");
    let tc_bytes = encode(&tc());
    assert_eq!(&full[tc_at + 1..tc_at + 1 + tc_bytes.len()], &tc_bytes[..]);
    assert_eq!(full.len(), tc_at + 1 + tc_bytes.len() + 8 + 32);
}

#[test]
fn merkle_root_formulas_by_hand() {
    // Leaves are tagged 0x00 and inner nodes 0x01, so no leaf can pose as an inner node.
    let leaf = |x: &Hash| sha3_ext_concat(&[&[0u8], &x.0]);
    let inner = |l: &[u8; 32], r: &[u8; 32]| sha3_ext_concat(&[&[1u8], l, r]);

    assert_eq!(merkle_root(&[]), Hash::ZERO);

    let l1 = leaves(1);
    assert_eq!(merkle_root(&l1).0, leaf(&l1[0]), "one leaf: its tagged hash");
    assert_ne!(merkle_root(&l1), l1[0]);

    let l2 = leaves(2);
    assert_eq!(merkle_root(&l2).0, inner(&leaf(&l2[0]), &leaf(&l2[1])));
    // Order matters.
    assert_ne!(merkle_root(&[l2[1], l2[0]]), merkle_root(&l2));

    // Three leaves: the odd last node is promoted unchanged to the next level.
    let l3 = leaves(3);
    let n01 = inner(&leaf(&l3[0]), &leaf(&l3[1]));
    assert_eq!(merkle_root(&l3).0, inner(&n01, &leaf(&l3[2])));

    // Five leaves: [n01, n23, l4] -> [n0123, l4] -> root.
    let l5 = leaves(5);
    let n01 = inner(&leaf(&l5[0]), &leaf(&l5[1]));
    let n23 = inner(&leaf(&l5[2]), &leaf(&l5[3]));
    let n0123 = inner(&n01, &n23);
    assert_eq!(merkle_root(&l5).0, inner(&n0123, &leaf(&l5[4])));

    // Four leaves: a full tree.
    let l4 = leaves(4);
    let n01 = inner(&leaf(&l4[0]), &leaf(&l4[1]));
    let n23 = inner(&leaf(&l4[2]), &leaf(&l4[3]));
    assert_eq!(merkle_root(&l4).0, inner(&n01, &n23));

    // The 65-byte shape of an inner node hashed as a leaf differs from the inner node.
    let fake = Hash(inner(&leaf(&l2[0]), &leaf(&l2[1])));
    assert_ne!(merkle_root(&[fake]), merkle_root(&l2));
}

#[test]
fn tx_root_is_merkle_of_tx_hashes() {
    let txs = all_txs();
    let hashes: Vec<Hash> = txs.iter().map(Transaction::hash).collect();
    assert_eq!(Block::compute_tx_root(&txs), merkle_root(&hashes));
    assert_eq!(Block::compute_tx_root(&[]), Hash::ZERO);
    let rs = receipts();
    let rh: Vec<Hash> = rs.iter().map(|r| Hash(sha3_ext(&encode(r)))).collect();
    assert_eq!(Block::compute_receipts_root(&rs), merkle_root(&rh));
}

#[test]
fn state_root_formula_by_hand() {
    let ws = write_set();
    let pairs: Vec<(&Vec<u8>, &Option<Vec<u8>>)> = ws.iter().collect();
    let expected = sha3_concat(&[&state_parent().0, &sha3(&encode(&pairs)).0]);
    assert_eq!(state_root(&state_parent(), &ws), expected);

    // Same thing from raw bytes: u32 count, then per entry (sorted by key): key, Option tag, value.
    let mut b = Vec::new();
    b.extend_from_slice(&2u32.to_le_bytes());
    b.extend_from_slice(&13u32.to_le_bytes());
    b.extend_from_slice(b"balance/alice");
    b.push(1);
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(b"100");
    b.extend_from_slice(&11u32.to_le_bytes());
    b.extend_from_slice(b"balance/bob");
    b.push(0);
    assert_eq!(encode(&pairs), b);
    assert_eq!(state_root(&state_parent(), &ws).0, sha3_ext_concat(&[&state_parent().0, &sha3_ext(&b)]));
}

#[test]
fn state_root_distinguishes_delete_from_empty_value_and_parent() {
    let mut deleted = WriteSet::new();
    deleted.insert(b"k".to_vec(), None);
    let mut emptied = WriteSet::new();
    emptied.insert(b"k".to_vec(), Some(Vec::new()));
    assert_ne!(state_root(&state_parent(), &deleted), state_root(&state_parent(), &emptied));
    assert_ne!(state_root(&state_parent(), &deleted), state_root(&Hash::ZERO, &deleted));
}

#[test]
fn genesis_block_shape() {
    let def = channel_definition();
    let g = genesis_block(&def).expect("valid definition");
    assert_eq!(def.hash().0, sha3_ext(&encode(&def)));
    assert_eq!(g.header.version, BLOCK_VERSION);
    assert_eq!(g.header.channel, def.name);
    assert_eq!(g.header.height, 0);
    assert_eq!(g.header.round, 0);
    assert_eq!(g.header.epoch, 0);
    assert_eq!(g.header.prev_hash, Hash::ZERO);
    assert_eq!(g.header.tx_root, Hash::ZERO);
    assert_eq!(g.header.state_root, def.hash());
    assert_eq!(g.header.receipts_root, Hash::ZERO);
    assert_eq!(g.header.qc, None);
    assert_eq!(g.header.tc, None);
    assert_eq!(g.header.timestamp_us, def.genesis_timestamp_us);
    assert_eq!(g.header.proposer, PublicKey::ZERO);
    assert_eq!(g.proposer_signature, Signature::ZERO);
    assert!(g.txs.is_empty());
    assert_eq!(g.hash().0, sha3_ext(&encode(&g.header)));
}

#[test]
fn address_is_last_20_bytes_of_sha3_of_key() {
    let key = validator_key();
    let h = sha3_ext(&key.0);
    assert_eq!(Address::of(&key).0[..], h[12..]);
}
