//! A network with mutual TLS and an auditor, set up as an operator would: `loopchain keygen` and
//! `loopchain ca init|issue|revoke`, a channel file with real keys and roles. Checks that:
//! - a client without a certificate, with one from another CA, or with a revoked one is refused
//!   at the handshake; one claiming another member's peer id, or whose certificate does not carry
//!   the member entry's keys, is refused per request; each refusal is counted by reason;
//! - the auditor follows the chain with identical hashes, serves the read API, never appears in
//!   a QC, and refuses a proposal carrying a forged QC;
//! - a non-member (the auditor for the channel it is not in) gets no data of a channel over gRPC
//!   or REST.
use lc_network::proto::peer_service_client::PeerServiceClient;
use lc_network::proto::{BlockSyncRequest, ConsensusBatch, StatusRequest};
use lc_system_tests::{binary, spaced_ports, Node};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const A: &str = "loopchain_default";
const B: &str = "inner_channel";
const VALIDATORS: usize = 4;
const FAST: &[&str] = &["TIMEOUT_PROPOSE_MS=300", "TIMEOUT_VOTE_MS=300", "INTERVAL_BLOCKGENERATION=0.5"];

fn run(args: &[&str]) -> String {
    let out = Command::new(binary()).args(args).output().expect("run loopchain");
    assert!(
        out.status.success(),
        "loopchain {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Member {
    port: u16,
    storage: PathBuf,
    entry: Value,
    keys: PathBuf,
    tls: PathBuf,
}

impl Member {
    fn peer_id(&self) -> String {
        self.entry["peer_id"].as_str().expect("peer_id").to_owned()
    }
}

/// Keys (`keygen`) and a certificate (`ca issue`) for a node storing its data under `storage`.
fn enroll(ca: &Path, storage: &Path, port: u16) -> Member {
    let node_dir = storage.join(port.to_string());
    let keys = node_dir.join("keys");
    let entry: Value = serde_json::from_str(&run(&["keygen", "--out", keys.to_str().expect("utf-8")]))
        .expect("keygen prints the member entry");
    run(&["ca", "issue", "--ca", ca.to_str().expect("utf-8"), "--keys", keys.to_str().expect("utf-8")]);
    Member { port, storage: storage.to_owned(), entry, keys, tls: node_dir.join("tls") }
}

fn tls_client(ca_pem: &[u8], identity: Option<(&Path, &Path)>) -> ClientTlsConfig {
    let mut c = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem)).domain_name("127.0.0.1");
    if let Some((cert, key)) = identity {
        c = c.identity(Identity::from_pem(std::fs::read(cert).expect("cert"), std::fs::read(key).expect("key")));
    }
    c
}

async fn client(port: u16, tls: ClientTlsConfig) -> Result<PeerServiceClient<tonic::transport::Channel>, String> {
    let ch = Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
        .map_err(|e| e.to_string())?
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok(PeerServiceClient::new(ch).max_decoding_message_size(64 << 20))
}

/// A request over a connection made with `tls`: `Err` when the handshake or the call fails.
async fn status_call(port: u16, tls: ClientTlsConfig, channel: &str) -> Result<(), String> {
    let mut c = client(port, tls).await?;
    c.get_status(StatusRequest { channel: channel.into() }).await.map(|_| ()).map_err(|e| format!("{e:?}"))
}

fn refusals(node: &Node, channel: &str, reason: &str) -> u64 {
    node.status(channel)["refusals"][reason].as_u64().unwrap_or_else(|| panic!("no refusal counter {reason}"))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn mutual_tls_admission_and_an_auditor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca");
    run(&["ca", "init", "--dir", ca.to_str().expect("utf-8"), "--name", "security test"]);
    let ca_pem = std::fs::read(ca.join("ca.pem")).expect("ca.pem");
    let ports = spaced_ports(VALIDATORS + 1);
    let members: Vec<Member> =
        ports.iter().enumerate().map(|(i, p)| enroll(&ca, &dir.path().join(format!("node{i}")), *p)).collect();
    let auditor = &members[VALIDATORS];

    // A second certificate of validator 1, revoked before the network starts.
    let revoked_dir = dir.path().join("revoked");
    run(&[
        "ca",
        "issue",
        "--ca",
        ca.to_str().expect("utf-8"),
        "--keys",
        members[1].keys.to_str().expect("utf-8"),
        "--out",
        revoked_dir.to_str().expect("utf-8"),
    ]);
    run(&[
        "ca",
        "revoke",
        "--ca",
        ca.to_str().expect("utf-8"),
        "--cert",
        revoked_dir.join("node.pem").to_str().expect("utf-8"),
    ]);

    // Channel A: 4 validators and the auditor. Channel B: the validators only.
    let entry = |m: &Member, role: &str| {
        let mut e = m.entry.clone();
        e["peer_target"] = json!(format!("127.0.0.1:{}", m.port));
        e["role"] = json!(role);
        if role == "auditor" {
            e.as_object_mut().expect("object").remove("bls_key");
            e.as_object_mut().expect("object").remove("bls_pop");
        }
        e
    };
    let validators: Vec<Value> = members[..VALIDATORS].iter().map(|m| entry(m, "validator")).collect();
    let mut a_peers = validators.clone();
    a_peers.push(entry(auditor, "auditor"));
    let channel_file = dir.path().join("channel_manage_data.json");
    let data = json!({
        A: {"score_package": "hello", "consensus": {"plugin": "equal"}, "peers": a_peers},
        B: {"score_package": "hello", "consensus": {"plugin": "equal"}, "peers": validators},
    });
    std::fs::write(&channel_file, data.to_string()).expect("channel file");

    let mut nodes = Vec::new();
    for m in &members {
        let sets: Vec<String> = FAST
            .iter()
            .map(|s| (*s).to_owned())
            .chain([
                format!("CHANNEL_MANAGE_DATA_PATH={}", channel_file.display()),
                "GRPC_SSL_TYPE=mutual".to_owned(),
                format!("GRPC_SSL_CA_CERT={}", ca.join("ca.pem").display()),
                format!("GRPC_SSL_CRL={}", ca.join("crl.pem").display()),
                format!("GRPC_SSL_CERT={}", m.tls.join("node.pem").display()),
                format!("GRPC_SSL_KEY={}", m.tls.join("node.key").display()),
            ])
            .collect();
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        nodes.push(Node::start(&m.storage, m.port, &sets));
    }
    let audit = &nodes[VALIDATORS];
    let log_tails = || nodes.iter().map(|n| n.logs()).collect::<Vec<_>>().join("\n-----\n");

    // Both channels commit over mTLS; the auditor follows A.
    wait_until("channel A at height 5 on every node, channel B on the validators", Duration::from_secs(120), || {
        nodes.iter().all(|n| n.height(A) >= 5) && nodes[..VALIDATORS].iter().all(|n| n.height(B) >= 3)
    });
    assert_eq!(audit.status(A)["validator"], json!(false), "the auditor must not be a validator");

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let p0 = members[0].port;
    let before = |reason: &str| refusals(&nodes[0], A, reason);
    let handshakes = before("tls_handshake");

    rt.block_on(async {
        // Plain gRPC, no TLS at all: the server speaks TLS only.
        let plain = Endpoint::from_shared(format!("http://127.0.0.1:{p0}")).expect("endpoint");
        let plain_result = match plain.connect_timeout(Duration::from_secs(5)).connect().await {
            Ok(ch) => PeerServiceClient::new(ch)
                .get_status(StatusRequest { channel: A.into() })
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        assert!(plain_result.is_err(), "a plaintext client got an answer");
        // TLS without a client certificate.
        let r = status_call(p0, tls_client(&ca_pem, None), A).await;
        assert!(r.is_err(), "a client without a certificate got an answer");
        // A certificate of another CA, for validator 0's own identity.
        let other = lc_tls::Ca::create("another CA", 30).expect("ca");
        let subject = lc_tls::Subject {
            common_name: members[0].peer_id(),
            peer_id: Some(members[0].peer_id()),
            ..Default::default()
        };
        let issued = other.issue(&subject, &["127.0.0.1".into()], 30).expect("issue");
        let other_dir = tempfile::tempdir().expect("tmp");
        std::fs::write(other_dir.path().join("c.pem"), &issued.cert_pem).expect("write");
        std::fs::write(other_dir.path().join("c.key"), &issued.key_pem).expect("write");
        let r = status_call(
            p0,
            tls_client(&ca_pem, Some((&other_dir.path().join("c.pem"), &other_dir.path().join("c.key")))),
            A,
        )
        .await;
        assert!(r.is_err(), "a certificate of another CA was accepted");
        // A revoked certificate of the right CA.
        let r = status_call(
            p0,
            tls_client(&ca_pem, Some((&revoked_dir.join("node.pem"), &revoked_dir.join("node.key")))),
            A,
        )
        .await;
        assert!(r.is_err(), "a revoked certificate was accepted");
    });
    wait_until("three refused handshakes counted", Duration::from_secs(10), || {
        before("tls_handshake") >= handshakes + 3
    });

    let mismatches = before("cert_peer_mismatch");
    let non_members = before("non_member");
    let not_validators = before("not_validator");
    let v1 = &members[1];
    let v1_tls = tls_client(&ca_pem, Some((&v1.tls.join("node.pem"), &v1.tls.join("node.key"))));
    let aud_tls = tls_client(&ca_pem, Some((&auditor.tls.join("node.pem"), &auditor.tls.join("node.key"))));
    rt.block_on(async {
        let mut c = client(p0, v1_tls.clone()).await.expect("validator 1 connects");
        // Its own identity works.
        let own = c
            .block_sync(BlockSyncRequest { channel: A.into(), from_height: 1, max_blocks: 2, peer_id: v1.peer_id() })
            .await
            .expect("a member's sync")
            .into_inner();
        assert!(!own.blocks.is_empty(), "{own:?}");
        // Claiming validator 2's id with validator 1's certificate.
        let e = c
            .block_sync(BlockSyncRequest {
                channel: A.into(),
                from_height: 1,
                max_blocks: 2,
                peer_id: members[2].peer_id(),
            })
            .await
            .expect_err("impersonation");
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
        let e = c
            .consensus(ConsensusBatch { channel: A.into(), peer_id: members[3].peer_id(), messages: vec![] })
            .await
            .expect_err("impersonation");
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");

        // The auditor reads channel A, is refused channel B (not a member), and may not send
        // consensus messages.
        let mut a = client(p0, aud_tls.clone()).await.expect("auditor connects");
        a.block_sync(BlockSyncRequest { channel: A.into(), from_height: 1, max_blocks: 1, peer_id: auditor.peer_id() })
            .await
            .expect("the auditor syncs channel A");
        let e = a
            .block_sync(BlockSyncRequest {
                channel: B.into(),
                from_height: 1,
                max_blocks: 1,
                peer_id: auditor.peer_id(),
            })
            .await
            .expect_err("non-member sync");
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
        let e = a.get_status(StatusRequest { channel: B.into() }).await.expect_err("non-member status");
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
        let e = a
            .consensus(ConsensusBatch { channel: A.into(), peer_id: auditor.peer_id(), messages: vec![vec![0]] })
            .await
            .expect_err("an auditor's consensus message");
        assert_eq!(e.code(), tonic::Code::PermissionDenied, "{e}");
    });
    assert_eq!(before("cert_peer_mismatch"), mismatches + 2, "{}", nodes[0].status(A));
    assert_eq!(before("non_member"), non_members + 2, "{}", nodes[0].status(A));
    assert_eq!(before("not_validator"), not_validators + 1, "{}", nodes[0].status(A));

    // The auditor's REST: channel A served, channel B refused (404, counted).
    let unknown = refusals(audit, A, "unknown_channel");
    let (code, body) = audit.get(&format!("/api/v1/blocks?channel={B}"));
    assert_eq!(code, 404, "{body}");
    let (code, body) = audit.get(&format!("/api/v1/status/peer?channel={B}"));
    assert_eq!(code, 404, "{body}");
    assert_eq!(refusals(audit, A, "unknown_channel"), unknown + 2);

    // A proposal carrying a forged QC, signed by each validator in turn (one of them leads the
    // round): the auditor verifies the QC, refuses the block and counts it.
    let rejected = refusals(audit, A, "consensus_rejected");
    let forged_hashes = rt.block_on(async {
        let mut c = client(p0, v1_tls.clone()).await.expect("connect");
        let tip = nodes[0].height(A);
        let reply = c
            .block_sync(BlockSyncRequest { channel: A.into(), from_height: tip, max_blocks: 1, peer_id: v1.peer_id() })
            .await
            .expect("tip block")
            .into_inner();
        let parent: lc_types::Block = lc_types::decode(&reply.blocks[0]).expect("block");
        let mut qc = parent.header.qc.clone().expect("the tip carries a QC");
        qc.block_hash = parent.hash();
        qc.height = parent.header.height;
        qc.round = parent.header.round;
        let round = audit.status(A)["round"].as_u64().expect("round");
        let mut hashes = Vec::new();
        for (k, m) in members[..VALIDATORS].iter().enumerate() {
            let seed = std::fs::read_to_string(m.keys.join("identity.key")).expect("identity key");
            let key = lc_crypto::Keypair::from_seed_hex(seed.trim()).expect("key");
            let mut header = parent.header.clone();
            header.height = parent.header.height + 1;
            header.round = round + 1;
            header.prev_hash = parent.hash();
            header.qc = Some(qc.clone());
            header.tc = None;
            header.proposer = key.public();
            let block = key.sign_block(header, vec![]);
            hashes.push(block.hash().to_hex());
            let msg = lc_types::encode(&lc_types::ConsensusMsg::Proposal(Box::new(block)));
            let tls = tls_client(&ca_pem, Some((&m.tls.join("node.pem"), &m.tls.join("node.key"))));
            let mut v = client(auditor.port, tls).await.expect("connect to the auditor");
            v.consensus(ConsensusBatch { channel: A.into(), peer_id: m.peer_id(), messages: vec![msg] })
                .await
                .unwrap_or_else(|e| panic!("validator {k} sends to the auditor: {e}"));
        }
        hashes
    });
    wait_until("the auditor to refuse the forged QC", Duration::from_secs(10), || {
        refusals(audit, A, "consensus_rejected") > rejected
    });

    // The auditor follows with identical hashes, never signs, and stored no forged block.
    let top = nodes.iter().map(|n| n.height(A)).min().expect("heights");
    wait_until("the auditor to keep up", Duration::from_secs(60), || audit.height(A) >= top + 3);
    let aud_id = auditor.peer_id();
    for h in 1..=top {
        let want = nodes[0].block_hash_at(A, h);
        assert_eq!(audit.block_hash_at(A, h), want, "height {h} differs on the auditor\n{}", log_tails());
        assert!(!forged_hashes.contains(want.as_ref().expect("committed")), "a forged block was committed");
        if let Some(signers) = nodes[0].qc_signers(A, h) {
            assert!(!signers.contains(&aud_id), "the auditor signed the QC in block {h}");
            assert!(!signers.is_empty());
        }
    }
    for hash in &forged_hashes {
        let (code, _) = audit.get(&format!("/api/v1/blocks?hash={hash}&channel={A}"));
        assert_eq!(code, 404, "the auditor serves a forged block");
    }
    // Every node still runs.
    for n in &nodes {
        assert!(n.height(A) >= top, "{}", log_tails());
    }
}
