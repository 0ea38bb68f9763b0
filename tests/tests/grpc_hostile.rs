//! Hostile input on the peer-to-peer port: a live 4-node cluster receives malformed, oversized,
//! misaddressed and forged `PeerService` requests. Each gets a typed refusal (a gRPC status or a
//! negative response code), no node stops, and the chain keeps committing identical blocks.
use lc_network::proto::peer_service_client::PeerServiceClient;
use lc_network::proto::{BlockSyncRequest, ConsensusBatch, LibraryRequest, StatusRequest, TxBatch};
use lc_system_tests::Cluster;
use std::time::Duration;
use tonic::Code;

const A: &str = "loopchain_default";
const FAST: &[&str] = &["TIMEOUT_PROPOSE_MS=300", "TIMEOUT_VOTE_MS=300", "INTERVAL_BLOCKGENERATION=0.5"];

#[test]
fn malformed_and_forged_peer_requests_are_refused_and_the_chain_goes_on() {
    let c = Cluster::start_all(4, A, FAST);
    let all = [0, 1, 2, 3];
    c.wait_height(A, &all, 2, Duration::from_secs(90));
    let member =
        c.node(1).get(&format!("/api/v1/status/peer?channel={A}")).1["peer_id"].as_str().expect("peer id").to_owned();
    let target = format!("http://127.0.0.1:{}", c.ports[0]);
    let mut forged = lc_system_tests::signed_data_tx(A, 3, 1, "{\"forged\":1}", lc_system_tests::now_us());
    forged.signature = lc_types::Signature([7; 64]);
    let forged_hash = forged.hash().to_hex();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut client = PeerServiceClient::connect(target).await.expect("connect to node 0");

        // Unknown channel.
        let e = client
            .consensus(ConsensusBatch { channel: "nope".into(), peer_id: member.clone(), messages: vec![] })
            .await
            .expect_err("unknown channel");
        assert_eq!(e.code(), Code::NotFound, "{e}");
        // A sender that is not a member.
        let e = client
            .consensus(ConsensusBatch { channel: A.into(), peer_id: "hx00".into(), messages: vec![vec![1, 2, 3]] })
            .await
            .expect_err("non-member");
        assert_eq!(e.code(), Code::PermissionDenied, "{e}");
        let e = client
            .block_sync(BlockSyncRequest { channel: A.into(), from_height: 1, max_blocks: 10, peer_id: "hx00".into() })
            .await
            .expect_err("non-member sync");
        assert_eq!(e.code(), Code::PermissionDenied, "{e}");
        // Garbage consensus messages: counted as malformed, nothing delivered.
        let ack = client
            .consensus(ConsensusBatch {
                channel: A.into(),
                peer_id: member.clone(),
                messages: vec![vec![], vec![0xff; 64], vec![2, 0, 0, 0, 9]],
            })
            .await
            .expect("a reply")
            .into_inner();
        assert_eq!((ack.response_code, ack.accepted), (-6, 0), "{ack:?}");
        // Too many messages in one batch.
        let e = client
            .consensus(ConsensusBatch { channel: A.into(), peer_id: member.clone(), messages: vec![vec![0]; 1025] })
            .await
            .expect_err("oversized batch");
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        // A message over the size limit (16 MiB).
        let e = client
            .consensus(ConsensusBatch { channel: A.into(), peer_id: member.clone(), messages: vec![vec![7; 17 << 20]] })
            .await
            .expect_err("oversized message");
        assert_eq!(e.code(), Code::OutOfRange, "{e}");
        // Garbage and unsigned transactions: refused, nothing admitted.
        let ack = client
            .add_tx_list(TxBatch {
                channel: A.into(),
                peer_id: member.clone(),
                txs: vec![vec![1, 2, 3], lc_types::encode(&forged)],
            })
            .await
            .expect("a reply")
            .into_inner();
        assert_eq!((ack.response_code, ack.accepted), (-6, 0), "{ack:?}");
        // Block sync beyond the tip: no blocks, a clear code.
        let r = client
            .block_sync(BlockSyncRequest {
                channel: A.into(),
                from_height: 1 << 40,
                max_blocks: 10,
                peer_id: member.clone(),
            })
            .await
            .expect("a reply")
            .into_inner();
        assert!(r.blocks.is_empty() && r.response_code == -13, "{r:?}");
        // Library requests: a malformed hash, an unknown kind, an unknown hash.
        let e = client
            .get_library(LibraryRequest { kind: "score".into(), code_hash: vec![1, 2] })
            .await
            .expect_err("short hash");
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        let e = client
            .get_library(LibraryRequest { kind: "../etc".into(), code_hash: vec![0; 32] })
            .await
            .expect_err("unknown kind");
        assert_eq!(e.code(), Code::InvalidArgument, "{e}");
        let r = client
            .get_library(LibraryRequest { kind: "score".into(), code_hash: vec![9; 32] })
            .await
            .expect("a reply")
            .into_inner();
        assert!(r.library.is_empty() && r.response_code == -13, "{r:?}");
        // The node still answers.
        let s = client.get_status(StatusRequest { channel: A.into() }).await.expect("status").into_inner();
        assert!(s.block_height >= 2, "{s:?}");
    });

    // Nothing stopped, nothing forked, the forged transaction is nowhere, and the chain goes on.
    let h = c.heights(A, &all).into_iter().max().expect("heights");
    c.wait_height(A, &all, h + 3, Duration::from_secs(90));
    assert_eq!(c.running(), all.to_vec());
    c.assert_same_chain(A, &all);
    for i in all {
        let (status, v) = c.node(i).get(&format!("/api/v1/transactions/result?hash={forged_hash}"));
        assert_eq!(status, 404, "node {i} knows the forged transaction: {v}");
    }
}
