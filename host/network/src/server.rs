//! The `PeerService` server.
use crate::net::ChannelNet;
use crate::proto::peer_service_server::{PeerService, PeerServiceServer};
use crate::proto::{
    Ack, BlockSyncReply, BlockSyncRequest, ConsensusBatch, LibraryReply, LibraryRequest, StatusReply, StatusRequest,
    TxBatch,
};
use crate::{code, MAX_CONSENSUS_BATCH, MAX_LIBRARY_BYTES, MAX_MESSAGE_BYTES, MAX_TX_BATCH};
use lc_engine::Channel;
use lc_plugin_host::{ConsensusRegistry, ScoreRegistry};
use lc_types::{decode, ConsensusMsg, Hash, Transaction};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tracing::debug;

/// Where `GetLibrary` finds libraries: this node's content-addressed plugin stores.
#[derive(Debug, Clone)]
pub struct LibrarySource {
    /// SCORE libraries.
    pub scores: Arc<ScoreRegistry>,
    /// Consensus plugin libraries.
    pub consensus: Arc<ConsensusRegistry>,
}

impl LibrarySource {
    fn read(&self, kind: &str, hash: &Hash) -> Result<Option<Vec<u8>>, String> {
        let path = match kind {
            "score" => self.scores.get(hash).map(|l| l.path.clone()),
            "consensus" => self.consensus.get(hash).map(|l| l.path.clone()),
            other => return Err(format!("unknown library kind {other:?} (score or consensus)")),
        };
        match path {
            None => Ok(None),
            Some(p) => std::fs::read(&p).map(Some).map_err(|e| format!("reading {}: {e}", p.display())),
        }
    }
}

/// A served channel and its members.
type Served = (Arc<Channel>, Arc<ChannelNet>);

/// The channels this node serves, by name.
#[derive(Debug)]
pub struct Registry {
    me: String,
    channels: RwLock<BTreeMap<String, Served>>,
    libraries: Option<LibrarySource>,
    /// Requests refused because the claimed sender is not a member of the channel (the claim is
    /// not authenticated yet: see the crate docs).
    pub refused_non_member: AtomicU64,
    /// Undecodable messages received.
    pub malformed: AtomicU64,
}

impl Registry {
    /// An empty registry for the node `me` (peer id).
    pub fn new(me: &str, libraries: Option<LibrarySource>) -> Arc<Self> {
        Arc::new(Self {
            me: me.to_owned(),
            channels: RwLock::new(BTreeMap::new()),
            libraries,
            refused_non_member: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
        })
    }

    /// Serves `channel` (its members come from `net`).
    pub fn add(&self, channel: Arc<Channel>, net: Arc<ChannelNet>) {
        self.channels.write().insert(channel.name().to_owned(), (channel, net));
    }

    fn member_channel(&self, name: &str, peer_id: &str) -> Result<Arc<Channel>, Status> {
        let channels = self.channels.read();
        let Some((ch, net)) = channels.get(name) else {
            return Err(Status::not_found(format!("this node does not run channel {name:?}")));
        };
        if !net.is_member(peer_id) {
            self.refused_non_member.fetch_add(1, Ordering::Relaxed);
            return Err(Status::permission_denied(format!("peer {peer_id:?} is not a member of channel {name:?}")));
        }
        Ok(Arc::clone(ch))
    }

    fn channel(&self, name: &str) -> Result<Arc<Channel>, Status> {
        self.channels
            .read()
            .get(name)
            .map(|(c, _)| Arc::clone(c))
            .ok_or_else(|| Status::not_found(format!("this node does not run channel {name:?}")))
    }
}

/// Implements `PeerService` over a [`Registry`].
#[derive(Debug, Clone)]
pub struct PeerServer {
    reg: Arc<Registry>,
}

impl PeerServer {
    /// A server for the registry's channels.
    pub fn new(reg: Arc<Registry>) -> Self {
        Self { reg }
    }
}

fn ack(accepted: usize, bad: usize, what: &str) -> Response<Ack> {
    Response::new(Ack {
        response_code: if bad == 0 { code::SUCCESS } else { code::FAIL_VALIDATE_PARAMS },
        message: if bad == 0 { String::new() } else { format!("{bad} malformed {what}") },
        accepted: accepted as u32,
    })
}

#[tonic::async_trait]
impl PeerService for PeerServer {
    async fn consensus(&self, req: Request<ConsensusBatch>) -> Result<Response<Ack>, Status> {
        let b = req.into_inner();
        let ch = self.reg.member_channel(&b.channel, &b.peer_id)?;
        if b.messages.len() > MAX_CONSENSUS_BATCH {
            return Err(Status::invalid_argument(format!(
                "{} messages in one batch, limit {MAX_CONSENSUS_BATCH}",
                b.messages.len()
            )));
        }
        let (mut accepted, mut bad) = (0, 0);
        for m in &b.messages {
            match decode::<ConsensusMsg>(m) {
                Ok(msg) => {
                    if ch.deliver(msg) {
                        accepted += 1;
                    }
                }
                Err(e) => {
                    bad += 1;
                    debug!(channel = %b.channel, peer_id = %b.peer_id, error = %e, "malformed consensus message");
                }
            }
        }
        self.reg.malformed.fetch_add(bad as u64, Ordering::Relaxed);
        Ok(ack(accepted, bad, "consensus messages"))
    }

    async fn add_tx_list(&self, req: Request<TxBatch>) -> Result<Response<Ack>, Status> {
        let b = req.into_inner();
        let ch = self.reg.member_channel(&b.channel, &b.peer_id)?;
        if b.txs.len() > MAX_TX_BATCH {
            return Err(Status::invalid_argument(format!(
                "{} transactions in one batch, limit {MAX_TX_BATCH}",
                b.txs.len()
            )));
        }
        let mut bad = 0;
        let mut txs = Vec::with_capacity(b.txs.len());
        for t in &b.txs {
            match decode::<Transaction>(t) {
                Ok(tx) => txs.push(tx),
                Err(_) => bad += 1,
            }
        }
        self.reg.malformed.fetch_add(bad as u64, Ordering::Relaxed);
        let results = tokio::task::spawn_blocking(move || ch.submit_relayed(txs))
            .await
            .map_err(|e| Status::internal(format!("admission task failed: {e}")))?;
        let accepted = results.iter().filter(|r| r.is_ok()).count();
        Ok(ack(accepted, bad, "transactions"))
    }

    async fn block_sync(&self, req: Request<BlockSyncRequest>) -> Result<Response<BlockSyncReply>, Status> {
        let r = req.into_inner();
        let ch = self.reg.member_channel(&r.channel, &r.peer_id)?;
        let max = r.max_blocks as usize;
        let from = r.from_height;
        let (batch, height) = tokio::task::spawn_blocking(move || (ch.sync_batch(from, max), ch.status().height))
            .await
            .map_err(|e| Status::internal(format!("sync task failed: {e}")))?;
        let batch = batch.map_err(|e| Status::internal(e.to_string()))?;
        let mut reply = BlockSyncReply { max_block_height: height, ..Default::default() };
        match batch {
            None => {
                reply.response_code = code::FAIL_NOT_ENOUGH_DATA;
                reply.message = format!("no committed block at {from} (committed height {height})");
            }
            Some(b) => {
                let mut size = 0;
                for block in &b.blocks {
                    let bytes = lc_types::encode(block);
                    size += bytes.len();
                    reply.blocks.push(bytes);
                    if size > MAX_MESSAGE_BYTES / 2 {
                        break;
                    }
                }
                if reply.blocks.len() < b.blocks.len() {
                    // Too large for one reply: the proof must be of the last block sent.
                    let last = from + reply.blocks.len() as u64 - 1;
                    let ch = self.reg.channel(&r.channel)?;
                    let proof = tokio::task::spawn_blocking(move || ch.finality_proof(last))
                        .await
                        .map_err(|e| Status::internal(format!("proof task failed: {e}")))?;
                    match proof {
                        Ok(p) => reply.proof = p.to_json().into_bytes(),
                        Err(e) => {
                            reply.blocks.clear();
                            reply.response_code = code::FAIL;
                            reply.message = e.to_string();
                        }
                    }
                } else {
                    reply.proof = b.proof.to_json().into_bytes();
                }
            }
        }
        Ok(Response::new(reply))
    }

    async fn get_status(&self, req: Request<StatusRequest>) -> Result<Response<StatusReply>, Status> {
        let r = req.into_inner();
        let ch = self.reg.channel(&r.channel)?;
        let s = ch.status();
        let status = serde_json::json!({
            "status": if s.halted.is_some() { "Service is offline: halted".to_owned() } else { format!("Service is online: {}", u8::from(s.leader)) },
            "peer_type": if s.leader { "1" } else { "0" },
            "peer_id": self.reg.me,
            "block_height": s.height,
            "total_tx": s.total_tx,
            "round": s.round,
            "epoch": s.epoch,
            "unconfirmed_tx": s.mempool,
            "validator": s.validator,
            "halted": s.halted,
        });
        Ok(Response::new(StatusReply {
            response_code: code::SUCCESS,
            status: status.to_string(),
            block_height: s.height,
            total_tx: s.total_tx,
            peer_id: self.reg.me.clone(),
            round: s.round,
            epoch: s.epoch,
        }))
    }

    async fn get_library(&self, req: Request<LibraryRequest>) -> Result<Response<LibraryReply>, Status> {
        let r = req.into_inner();
        let hash: [u8; 32] =
            r.code_hash.as_slice().try_into().map_err(|_| {
                Status::invalid_argument(format!("code_hash must be 32 bytes, got {}", r.code_hash.len()))
            })?;
        let Some(libs) = self.reg.libraries.clone() else {
            return Err(Status::unavailable("this node serves no libraries"));
        };
        let kind = r.kind.clone();
        let found = tokio::task::spawn_blocking(move || libs.read(&kind, &Hash(hash)))
            .await
            .map_err(|e| Status::internal(format!("library task failed: {e}")))?
            .map_err(Status::invalid_argument)?;
        match found {
            Some(bytes) if bytes.len() <= MAX_LIBRARY_BYTES => {
                Ok(Response::new(LibraryReply { response_code: code::SUCCESS, message: String::new(), library: bytes }))
            }
            Some(bytes) => {
                Err(Status::resource_exhausted(format!("library of {} bytes exceeds the limit", bytes.len())))
            }
            None => Ok(Response::new(LibraryReply {
                response_code: code::FAIL_NOT_ENOUGH_DATA,
                message: format!("no {} library with code hash {}", r.kind, Hash(hash)),
                library: Vec::new(),
            })),
        }
    }
}

/// Serves `PeerService` on `listener` until `shutdown` resolves.
pub async fn serve(
    reg: Arc<Registry>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let svc = PeerServiceServer::new(PeerServer::new(reg))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_LIBRARY_BYTES);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(64)
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
