//! The gRPC wire: prost decoding of every request and reply of `PeerService` and `RadioStation`
//! (the first input byte picks the message, see `GRPC_MESSAGES`), then the payloads they carry:
//! borsh consensus messages, transactions and blocks, the JSON finality proof, status and
//! channel-info JSON.
//!
//! Invariants: decode(encode(m)) == m with an exact `encoded_len` and a stable encoding; every
//! carried payload that decodes re-encodes canonically.
#![no_main]

use lc_fuzz::proto::*;
use lc_fuzz::{borsh_canonical, prost_roundtrip, GRPC_MESSAGES};
use lc_types::{Block, ConsensusMsg, Transaction};
use libfuzzer_sys::fuzz_target;
use prost::Message;

fn decode<M: Message + Default + PartialEq>(body: &[u8]) -> Option<M> {
    let m = M::decode(body).ok()?;
    prost_roundtrip(&m);
    Some(m)
}

fn json(text: &str) {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let again = serde_json::to_string(&v).expect("a parsed value serialises");
        let _ = serde_json::from_str::<serde_json::Value>(&again).expect("own JSON parses");
    }
}

fn peer(p: &PeerInfo) {
    let _ = lc_types::Address::parse(&p.peer_id);
    let _ = lc_types::validate_channel_name(&p.channel);
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    match GRPC_MESSAGES[selector as usize % GRPC_MESSAGES.len()] {
        "ConsensusBatch" => {
            if let Some(m) = decode::<ConsensusBatch>(body) {
                for bytes in &m.messages {
                    let _ = borsh_canonical::<ConsensusMsg>(bytes);
                }
            }
        }
        "TxBatch" => {
            if let Some(m) = decode::<TxBatch>(body) {
                for bytes in &m.txs {
                    if let Some(tx) = borsh_canonical::<Transaction>(bytes) {
                        let _ = lc_crypto::verify_tx(&tx, &tx.hash());
                    }
                }
            }
        }
        "Ack" => drop(decode::<Ack>(body)),
        "BlockSyncRequest" => drop(decode::<BlockSyncRequest>(body)),
        "BlockSyncReply" => {
            if let Some(m) = decode::<BlockSyncReply>(body) {
                for bytes in &m.blocks {
                    let _ = borsh_canonical::<Block>(bytes).map(|b| b.hash());
                }
                if let Ok(p) = lc_proof::FinalityProof::from_json(&m.proof) {
                    let _ = lc_proof::verify_with(&p, &lc_fuzz::fixtures::epoch().checked);
                }
            }
        }
        "StatusRequest" => drop(decode::<StatusRequest>(body)),
        "StatusReply" => {
            if let Some(m) = decode::<StatusReply>(body) {
                json(&m.status);
            }
        }
        "LibraryRequest" => {
            if let Some(m) = decode::<LibraryRequest>(body) {
                let _ = lc_types::Hash::from_slice(&m.code_hash);
            }
        }
        "LibraryReply" => {
            if let Some(m) = decode::<LibraryReply>(body) {
                let _ = lc_types::sha3(&m.library);
            }
        }
        "ConnectPeerRequest" => drop(decode::<ConnectPeerRequest>(body)),
        "ConnectPeerReply" => {
            if let Some(m) = decode::<ConnectPeerReply>(body) {
                m.peer_list.iter().for_each(peer);
            }
        }
        "PeerListRequest" => drop(decode::<PeerListRequest>(body)),
        "PeerList" => {
            if let Some(m) = decode::<PeerList>(body) {
                m.peers.iter().for_each(peer);
            }
        }
        "SubscribeRequest" => drop(decode::<SubscribeRequest>(body)),
        "PeerEvent" => {
            if let Some(m) = decode::<PeerEvent>(body) {
                let _ = m.kind();
                m.peer.iter().for_each(peer);
            }
        }
        "GetChannelInfosRequest" => drop(decode::<GetChannelInfosRequest>(body)),
        "GetChannelInfosReply" => {
            if let Some(m) = decode::<GetChannelInfosReply>(body) {
                json(&m.channel_infos);
            }
        }
        "HeartbeatRequest" => drop(decode::<HeartbeatRequest>(body)),
        "HeartbeatReply" => drop(decode::<HeartbeatReply>(body)),
        "PeerInfo" => {
            if let Some(m) = decode::<PeerInfo>(body) {
                peer(&m);
            }
        }
        other => unreachable!("no decoder for {other}"),
    }
});
