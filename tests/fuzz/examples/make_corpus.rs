//! Writes the seed corpus: real encodings of the fixture chain (`src/fixtures.rs`) into
//! `corpus/<target>/seed-*`, after checking that the fixtures are what they claim (signatures,
//! certificates and the finality proof verify). `run.sh` runs it before fuzzing.
//!
//! Usage: `cargo run --example make_corpus [-- <corpus dir>]` (default: `corpus` next to this crate).
use lc_crypto::bls;
use lc_fuzz::fixtures::{self, epoch, CHANNEL};
use lc_fuzz::grpc_input;
use lc_fuzz::proto::*;
use lc_types::{encode, Block, ConsensusMsg};
use serde_json::json;
use std::path::{Path, PathBuf};

type Seeds = Vec<(String, Vec<u8>)>;

fn json_bytes(v: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(v).expect("fixtures serialise")
}

fn check_fixtures() {
    let e = epoch();
    let chain = fixtures::chain();
    for b in &chain[1..] {
        lc_crypto::verify_block_signature(b).expect("fixture block signature");
        for tx in &b.txs {
            lc_crypto::verify_tx(tx, &tx.hash()).expect("fixture tx signature");
        }
        if let Some(qc) = &b.header.qc {
            bls::verify_qc(qc, CHANNEL, &e.keys).expect("fixture QC");
        }
        if let Some(tc) = &b.header.tc {
            bls::verify_tc(tc, CHANNEL, &e.keys).expect("fixture TC");
        }
    }
    for m in fixtures::votes() {
        bls::verify_from(&e.keys, m.voter as usize, &encode(&m.vote), &m.signature).expect("fixture vote");
    }
    let proof = fixtures::proof();
    let verified = lc_proof::verify_with(&proof, &e.checked).expect("fixture proof verifies");
    assert_eq!(verified.height, 1);
    e.definition.validate().expect("fixture channel definition");
}

fn tx_seeds() -> Seeds {
    let txs = fixtures::transactions();
    let mut out = Seeds::new();
    for (i, tx) in txs.iter().enumerate() {
        out.push((format!("borsh-tx-{}", tx.body.payload.kind()), encode(tx)));
        out.push((format!("borsh-body-{i}"), encode(&tx.body)));
        out.push((format!("rest-signed-tx-{}", tx.body.payload.kind()), json_bytes(&json!({ "signed_tx": tx }))));
    }
    out.push(("rest-signed-tx-channel".into(), json_bytes(&json!({"channel": CHANNEL, "signed_tx": txs[0]}))));
    out.push(("rest-signed-txs".into(), json_bytes(&json!({ "signed_txs": txs }))));
    out.push(("json-tx".into(), json_bytes(&txs[1])));
    out.push(("rest-raw-data".into(), br#"{"data":"hello","channel":"loopchain_default"}"#.to_vec()));
    out
}

fn block_seeds() -> Seeds {
    let mut out = Seeds::new();
    for (i, b) in fixtures::chain().iter().enumerate() {
        out.push((format!("borsh-block-{i}"), encode(b)));
        out.push((format!("borsh-header-{i}"), encode(&b.header)));
        out.push((format!("json-block-{i}"), json_bytes(b)));
    }
    out
}

fn vote_seeds() -> Seeds {
    let mut out = Seeds::new();
    for (i, m) in fixtures::votes().iter().enumerate() {
        out.push((format!("borsh-vote-msg-{i}"), encode(m)));
        out.push((format!("borsh-vote-{i}"), encode(&m.vote)));
    }
    out
}

fn cert_seeds() -> (Seeds, Seeds) {
    let chain = fixtures::chain();
    let mut qcs = Seeds::new();
    let mut tcs = Seeds::new();
    for (i, b) in chain.iter().enumerate() {
        if let Some(qc) = &b.header.qc {
            qcs.push((format!("borsh-qc-{i}"), encode(qc)));
            qcs.push((format!("json-qc-{i}"), json_bytes(qc)));
        }
        if let Some(tc) = &b.header.tc {
            tcs.push((format!("borsh-tc-{i}"), encode(tc)));
            tcs.push((format!("json-tc-{i}"), json_bytes(tc)));
        }
    }
    qcs.push(("borsh-final-qc".into(), encode(&fixtures::final_qc())));
    (qcs, tcs)
}

fn consensus_seeds() -> Seeds {
    fixtures::consensus_msgs()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let kind = match m {
                ConsensusMsg::Proposal(_) => "proposal",
                ConsensusMsg::Vote(_) => "vote",
                ConsensusMsg::Tc(_) => "tc",
                ConsensusMsg::Qc(_) => "qc",
            };
            (format!("borsh-{kind}-{i}"), encode(m))
        })
        .collect()
}

fn peer(order: u32) -> PeerInfo {
    let id = fixtures::identity(order as usize);
    PeerInfo {
        peer_id: lc_types::Address::of(&id.public()).to_string(),
        channel: CHANNEL.into(),
        peer_target: format!("127.0.0.1:{}", 7100 + 100 * order),
        group_id: "g1".into(),
        order: order + 1,
        status: 1,
        status_update_time_us: fixtures::GENESIS_US,
        block_height: 3,
    }
}

fn grpc_seeds() -> Seeds {
    let chain = fixtures::chain();
    let peer_id = peer(0).peer_id;
    let msgs: Vec<Vec<u8>> = fixtures::consensus_msgs().iter().map(encode).collect();
    let txs: Vec<Vec<u8>> = fixtures::transactions().iter().map(encode).collect();
    let blocks: Vec<Vec<u8>> = chain[1..3].iter().map(Block::clone).map(|b| encode(&b)).collect();
    let status = json!({"block_height": 3, "round": 4, "epoch": 0, "leader": peer_id}).to_string();
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "ConsensusBatch",
            grpc_input(
                "ConsensusBatch",
                &ConsensusBatch { channel: CHANNEL.into(), peer_id: peer_id.clone(), messages: msgs },
            ),
        ),
        ("TxBatch", grpc_input("TxBatch", &TxBatch { channel: CHANNEL.into(), peer_id: peer_id.clone(), txs })),
        ("Ack", grpc_input("Ack", &Ack { response_code: -6, message: "bad params".into(), accepted: 2 })),
        (
            "BlockSyncRequest",
            grpc_input(
                "BlockSyncRequest",
                &BlockSyncRequest { channel: CHANNEL.into(), from_height: 1, max_blocks: 64, peer_id: peer_id.clone() },
            ),
        ),
        (
            "BlockSyncReply",
            grpc_input(
                "BlockSyncReply",
                &BlockSyncReply {
                    response_code: 0,
                    message: String::new(),
                    max_block_height: 3,
                    blocks,
                    proof: fixtures::proof().to_json().into_bytes(),
                },
            ),
        ),
        ("StatusRequest", grpc_input("StatusRequest", &StatusRequest { channel: CHANNEL.into() })),
        (
            "StatusReply",
            grpc_input(
                "StatusReply",
                &StatusReply {
                    response_code: 0,
                    status,
                    block_height: 3,
                    total_tx: 4,
                    peer_id: peer_id.clone(),
                    round: 4,
                    epoch: 0,
                },
            ),
        ),
        (
            "LibraryRequest",
            grpc_input(
                "LibraryRequest",
                &LibraryRequest { kind: "score".into(), code_hash: lc_types::sha3(b"lib").0.to_vec() },
            ),
        ),
        (
            "LibraryReply",
            grpc_input(
                "LibraryReply",
                &LibraryReply { response_code: 0, message: String::new(), library: b"\x7fELF\x02\x01\x01".to_vec() },
            ),
        ),
        (
            "ConnectPeerRequest",
            grpc_input(
                "ConnectPeerRequest",
                &ConnectPeerRequest {
                    peer_id: peer_id.clone(),
                    channel: CHANNEL.into(),
                    peer_target: "127.0.0.1:7100".into(),
                    group_id: "g1".into(),
                },
            ),
        ),
        (
            "ConnectPeerReply",
            grpc_input(
                "ConnectPeerReply",
                &ConnectPeerReply {
                    status: 0,
                    peer_list: vec![peer(0), peer(1)],
                    channels: vec![CHANNEL.into()],
                    more_info: String::new(),
                },
            ),
        ),
        ("PeerListRequest", grpc_input("PeerListRequest", &PeerListRequest { channel: CHANNEL.into() })),
        (
            "PeerList",
            grpc_input(
                "PeerList",
                &PeerList { response_code: 0, peers: (0..4).map(peer).collect(), more_info: String::new() },
            ),
        ),
        (
            "SubscribeRequest",
            grpc_input(
                "SubscribeRequest",
                &SubscribeRequest {
                    channel: CHANNEL.into(),
                    peer_id: peer_id.clone(),
                    peer_target: "127.0.0.1:7100".into(),
                },
            ),
        ),
        (
            "PeerEvent",
            grpc_input("PeerEvent", &PeerEvent { kind: peer_event::Kind::Leave as i32, peer: Some(peer(2)) }),
        ),
        (
            "GetChannelInfosRequest",
            grpc_input(
                "GetChannelInfosRequest",
                &GetChannelInfosRequest {
                    peer_id: peer_id.clone(),
                    peer_target: "127.0.0.1:7100".into(),
                    group_id: "g1".into(),
                },
            ),
        ),
        (
            "GetChannelInfosReply",
            grpc_input(
                "GetChannelInfosReply",
                &GetChannelInfosReply {
                    response_code: 0,
                    channel_infos:
                        json!({CHANNEL: {"score_package": "hello", "peers": [{"peer_target": "127.0.0.1:7100"}]}})
                            .to_string(),
                    more_info: String::new(),
                },
            ),
        ),
        (
            "HeartbeatRequest",
            grpc_input(
                "HeartbeatRequest",
                &HeartbeatRequest {
                    peer_id: peer_id.clone(),
                    peer_target: "127.0.0.1:7100".into(),
                    heights: [(CHANNEL.to_owned(), 3), ("token_channel".to_owned(), 9)].into_iter().collect(),
                },
            ),
        ),
        ("HeartbeatReply", grpc_input("HeartbeatReply", &HeartbeatReply { response_code: 0, more_info: "ok".into() })),
        ("PeerInfo", grpc_input("PeerInfo", &peer(3))),
    ];
    seeds.into_iter().map(|(n, b)| (n.to_owned(), b)).collect()
}

fn config_seeds(repo: &Path) -> Seeds {
    let mut out = Seeds::new();
    for name in ["peer_config.json", "rs_config.json"] {
        if let Ok(bytes) = std::fs::read(repo.join("configs").join(name)) {
            out.push((format!("repo-{name}"), bytes));
        }
    }
    out.push(("defaults".into(), json_bytes(&lc_config::Config::default())));
    out.push((
        "small".into(),
        br#"{"PORT_PEER": 7200, "ALLOW_MAKE_EMPTY_BLOCK": false, "INTERVAL_BLOCKGENERATION": 0.5}"#.to_vec(),
    ));
    out.push((
        "unknown-keys".into(),
        br#"{"port_peer": 1, "NOT_A_KEY": [1, {"a": null}], "GRPC_SSL_TYPE": "none"}"#.to_vec(),
    ));
    let tls = br#"{"GRPC_SSL_TYPE": "mutual", "GRPC_SSL_CA_CERT": "ca.pem", "GRPC_SSL_CERT": "c.pem",
        "GRPC_SSL_KEY": "k.pem"}"#;
    out.push(("mutual-tls".into(), tls.to_vec()));
    out.push(("bom".into(), b"\xEF\xBB\xBF{\"LOG_LEVEL\": \"debug\", \"TPS_LIMIT_PER_SEC\": 10}".to_vec()));
    // First byte picks the environment variable; the rest is its value and a KEY=VALUE flag.
    out.push(("flag-port".into(), b"\x00PORT_PEER=7300".to_vec()));
    out.push(("flag-bool".into(), b"\x07ALLOW_MAKE_EMPTY_BLOCK=0".to_vec()));
    out.push(("flag-float".into(), b"\x11INTERVAL_BLOCKGENERATION=0.25".to_vec()));
    out.push(("channel-definition".into(), json_bytes(&epoch().definition)));
    out
}

fn proof_seeds() -> Seeds {
    vec![
        ("proof".into(), fixtures::proof().to_json().into_bytes()),
        ("validator-set".into(), epoch().set.to_json().into_bytes()),
    ]
}

fn lft_seeds() -> Seeds {
    // Byte-coded op sequences (see fuzz_targets/lft.rs): proposals on the latest QC, votes of
    // validators 1-3, QCs, timeouts and TCs.
    let honest: Vec<u8> =
        (0..6u8).flat_map(|r| [0, r, 0, 0, 0, 0, 1, r, 0, 1, 1, r, 0, 2, 1, r, 0, 3, 3, r + 1]).collect();
    let timeouts: Vec<u8> = [5, 1, 0, 2, 0, 0, 1, 2, 0, 0, 2, 2, 0, 0, 3, 4, 0, 0, 0, 1, 0, 1, 0, 1].to_vec();
    let wild: Vec<u8> = [
        [8u8, 0].as_slice(),
        &u64::MAX.to_be_bytes(),
        &7u64.to_be_bytes(),
        &[0, 0],
        &[7, 1],
        &u64::MAX.to_be_bytes(),
        &u64::MAX.to_be_bytes(),
        &[0, 9, 2],
        &(u64::MAX - 1).to_be_bytes(),
        &[0],
    ]
    .concat();
    vec![("honest".into(), honest), ("timeouts".into(), timeouts), ("wild".into(), wild)]
}

fn write(dir: &Path, target: &str, seeds: Seeds) -> usize {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    for (name, bytes) in &seeds {
        std::fs::write(d.join(format!("seed-{name}")), bytes).unwrap_or_else(|e| panic!("write seed {name}: {e}"));
    }
    seeds.len()
}

fn main() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| manifest.join("corpus"));
    let repo = manifest.join("../..");
    check_fixtures();
    let (qcs, tcs) = cert_seeds();
    let sets: Vec<(&str, Seeds)> = vec![
        ("tx", tx_seeds()),
        ("block", block_seeds()),
        ("vote", vote_seeds()),
        ("qc", qcs),
        ("tc", tcs),
        ("consensus_msg", consensus_seeds()),
        ("grpc", grpc_seeds()),
        ("config", config_seeds(&repo)),
        ("proof", proof_seeds()),
        ("lft", lft_seeds()),
    ];
    for (target, seeds) in sets {
        let n = write(&dir, target, seeds);
        println!("{target}: {n} seeds");
    }
}
