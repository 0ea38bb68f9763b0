//! The `PeerService` server.
use crate::net::ChannelNet;
use crate::proto::peer_service_server::{PeerService, PeerServiceServer};
use crate::proto::{
    Ack, BlockSyncReply, BlockSyncRequest, ConsensusBatch, LibraryReply, LibraryRequest, StatusReply, StatusRequest,
    TxBatch,
};
use crate::{code, MAX_CONSENSUS_BATCH, MAX_LIBRARY_BYTES, MAX_MESSAGE_BYTES, MAX_TX_BATCH};
use lc_engine::{Channel, Reason, Refusals};
use lc_plugin_host::{ConsensusRegistry, ScoreRegistry};
use lc_tls::CertIdentity;
use lc_types::{decode, ConsensusMsg, Hash, Transaction};
use lc_types::{Member, Role};
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tracing::{debug, info};

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

/// Per-peer request rate limiter (`RATE_LIMIT_PER_PEER`).
type PeerLimiter = governor::DefaultKeyedRateLimiter<String>;

/// The channels this node serves, by name, and who may ask for them.
pub struct Registry {
    me: String,
    channels: RwLock<BTreeMap<String, Served>>,
    libraries: Option<LibrarySource>,
    /// With mutual TLS, every request is checked against the client's certificate.
    tls: bool,
    limiter: Option<PeerLimiter>,
    /// Refusals by reason (shared with the REST API and channel admission).
    pub refusals: Arc<Refusals>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("me", &self.me).field("tls", &self.tls).finish_non_exhaustive()
    }
}

/// Who sent a request, as far as the transport can tell.
struct Caller {
    /// The identity in the client certificate (mutual TLS only).
    cert: Option<CertIdentity>,
}

impl Registry {
    /// An empty registry for the node `me` (peer id), plain gRPC, no rate limit.
    pub fn new(me: &str, libraries: Option<LibrarySource>) -> Arc<Self> {
        Self::with_security(me, libraries, false, 0, Arc::new(Refusals::default()))
    }

    /// An empty registry: with `tls`, requests are authenticated by the client certificate
    /// (served by [`serve_tls`]); `rate_per_peer` > 0 limits each peer's requests per second.
    pub fn with_security(
        me: &str,
        libraries: Option<LibrarySource>,
        tls: bool,
        rate_per_peer: u32,
        refusals: Arc<Refusals>,
    ) -> Arc<Self> {
        let limiter = std::num::NonZeroU32::new(rate_per_peer)
            .map(|n| governor::RateLimiter::keyed(governor::Quota::per_second(n)));
        Arc::new(Self { me: me.to_owned(), channels: RwLock::new(BTreeMap::new()), libraries, tls, limiter, refusals })
    }

    /// Serves `channel` (its members come from `net`).
    pub fn add(&self, channel: Arc<Channel>, net: Arc<ChannelNet>) {
        self.channels.write().insert(channel.name().to_owned(), (channel, net));
    }

    fn refuse(&self, reason: Reason, status: Status) -> Status {
        self.refusals.count(reason);
        info!(event = "Refused", reason = reason.as_str(), message = %status.message(), "gRPC request refused");
        status
    }

    /// Reads the client certificate (mutual TLS), or nothing (plain gRPC).
    fn caller<T>(&self, req: &Request<T>) -> Result<Caller, Status> {
        if !self.tls {
            return Ok(Caller { cert: None });
        }
        let Some(certs) = req.peer_certs() else {
            return Err(self.refuse(Reason::TlsHandshake, Status::unauthenticated("no client certificate")));
        };
        let Some(leaf) = certs.first() else {
            return Err(self.refuse(Reason::TlsHandshake, Status::unauthenticated("no client certificate")));
        };
        match CertIdentity::from_der(leaf) {
            Ok(id) => Ok(Caller { cert: Some(id) }),
            Err(e) => Err(self.refuse(Reason::Malformed, Status::unauthenticated(format!("client certificate: {e}")))),
        }
    }

    fn rate_limit(&self, key: &str) -> Result<(), Status> {
        if let Some(l) = &self.limiter {
            if l.check_key(&key.to_owned()).is_err() {
                return Err(self.refuse(
                    Reason::PeerRateLimited,
                    Status::resource_exhausted(format!("peer {key:?} exceeds RATE_LIMIT_PER_PEER; retry later")),
                ));
            }
        }
        Ok(())
    }

    /// The channel `name`, when the caller (claiming `peer_id`) may use it: the channel runs
    /// here, the claim matches the certificate (mutual TLS), the peer is a member, and its
    /// certificate's keys are the member entry's.
    fn member_channel(&self, caller: &Caller, name: &str, peer_id: &str) -> Result<(Arc<Channel>, Member), Status> {
        if let Some(cert) = &caller.cert {
            if cert.peer_id.as_deref() != Some(peer_id) {
                return Err(self.refuse(
                    Reason::CertPeerMismatch,
                    Status::permission_denied(format!(
                        "claimed peer id {peer_id:?} is not the certificate's ({})",
                        cert.peer_id.as_deref().unwrap_or("none")
                    )),
                ));
            }
        }
        self.rate_limit(peer_id)?;
        let ch = {
            let channels = self.channels.read();
            let Some((ch, net)) = channels.get(name) else {
                return Err(self.refuse(
                    Reason::UnknownChannel,
                    Status::not_found(format!("this node does not run channel {name:?}")),
                ));
            };
            if !net.is_member(peer_id) {
                return Err(self.refuse(
                    Reason::NonMember,
                    Status::permission_denied(format!("peer {peer_id:?} is not a member of channel {name:?}")),
                ));
            }
            Arc::clone(ch)
        };
        let es = ch.epoch_state();
        let Some(member) = es.config.members.iter().find(|m| m.peer_id.to_string() == peer_id).cloned() else {
            return Err(self.refuse(
                Reason::NonMember,
                Status::permission_denied(format!(
                    "peer {peer_id:?} is not a member of channel {name:?} in this epoch"
                )),
            ));
        };
        if let Some(cert) = &caller.cert {
            let identity_ok = cert.identity_key.as_deref() == Some(member.identity_key.to_string().as_str());
            let bls_ok = match &member.bls_key {
                Some(k) => cert.bls_key.as_deref() == Some(k.to_string().as_str()),
                None => true,
            };
            if !identity_ok || !bls_ok {
                return Err(self.refuse(
                    Reason::CertKeyMismatch,
                    Status::permission_denied(format!(
                        "the certificate's {} key differs from the member entry of {peer_id} in channel {name:?}",
                        if identity_ok { "BLS" } else { "identity" }
                    )),
                ));
            }
        }
        Ok((ch, member))
    }

    /// Whether the certificate's peer is a member of `name` (or the radio station, which reads
    /// status). Plain gRPC (dev mode) lets every reader through.
    fn may_read(&self, caller: &Caller, name: &str) -> Result<Arc<Channel>, Status> {
        let channels = self.channels.read();
        let Some((ch, net)) = channels.get(name) else {
            return Err(self.refuse(
                Reason::UnknownChannel,
                Status::not_found(format!("this node does not run channel {name:?}")),
            ));
        };
        if let Some(cert) = &caller.cert {
            let member = cert.peer_id.as_deref().is_some_and(|id| id == self.me || net.is_member(id));
            if !member && !cert.has_role(lc_tls::ROLE_RADIO_STATION) {
                return Err(self.refuse(
                    Reason::NonMember,
                    Status::permission_denied(format!(
                        "{} is not a member of channel {name:?}",
                        cert.peer_id.as_deref().unwrap_or(&cert.common_name)
                    )),
                ));
            }
        }
        Ok(Arc::clone(ch))
    }

    /// Whether the certificate's peer is a member of any channel served here.
    fn may_fetch_libraries(&self, caller: &Caller) -> Result<(), Status> {
        let Some(cert) = &caller.cert else { return Ok(()) };
        let id = cert.peer_id.as_deref().unwrap_or_default();
        if self.channels.read().values().any(|(_, net)| net.is_member(id)) {
            Ok(())
        } else {
            Err(self.refuse(
                Reason::NonMember,
                Status::permission_denied(format!("{id:?} is a member of no channel this node runs")),
            ))
        }
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
        let caller = self.reg.caller(&req)?;
        let b = req.into_inner();
        let (ch, member) = self.reg.member_channel(&caller, &b.channel, &b.peer_id)?;
        if member.role != Role::Validator {
            return Err(self.reg.refuse(
                Reason::NotValidator,
                Status::permission_denied(format!(
                    "{} is not a validator of channel {:?}: it may not propose or vote",
                    b.peer_id, b.channel
                )),
            ));
        }
        if b.messages.len() > MAX_CONSENSUS_BATCH {
            return Err(self.reg.refuse(
                Reason::Oversize,
                Status::invalid_argument(format!(
                    "{} messages in one batch, limit {MAX_CONSENSUS_BATCH}",
                    b.messages.len()
                )),
            ));
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
        self.reg.refusals.add(Reason::Malformed, bad as u64);
        Ok(ack(accepted, bad, "consensus messages"))
    }

    async fn add_tx_list(&self, req: Request<TxBatch>) -> Result<Response<Ack>, Status> {
        let caller = self.reg.caller(&req)?;
        let b = req.into_inner();
        let (ch, _) = self.reg.member_channel(&caller, &b.channel, &b.peer_id)?;
        if b.txs.len() > MAX_TX_BATCH {
            return Err(self.reg.refuse(
                Reason::Oversize,
                Status::invalid_argument(format!("{} transactions in one batch, limit {MAX_TX_BATCH}", b.txs.len())),
            ));
        }
        let mut bad = 0;
        let mut txs = Vec::with_capacity(b.txs.len());
        for t in &b.txs {
            match decode::<Transaction>(t) {
                Ok(tx) => txs.push(tx),
                Err(_) => bad += 1,
            }
        }
        self.reg.refusals.add(Reason::Malformed, bad as u64);
        let results = tokio::task::spawn_blocking(move || ch.submit_relayed(txs))
            .await
            .map_err(|e| Status::internal(format!("admission task failed: {e}")))?;
        let accepted = results.iter().filter(|r| r.is_ok()).count();
        Ok(ack(accepted, bad, "transactions"))
    }

    async fn block_sync(&self, req: Request<BlockSyncRequest>) -> Result<Response<BlockSyncReply>, Status> {
        let caller = self.reg.caller(&req)?;
        let r = req.into_inner();
        let (ch, _) = self.reg.member_channel(&caller, &r.channel, &r.peer_id)?;
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
        let caller = self.reg.caller(&req)?;
        let r = req.into_inner();
        let ch = self.reg.may_read(&caller, &r.channel)?;
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
        let caller = self.reg.caller(&req)?;
        self.reg.may_fetch_libraries(&caller)?;
        let r = req.into_inner();
        let hash: [u8; 32] = r.code_hash.as_slice().try_into().map_err(|_| {
            self.reg.refuse(
                Reason::Malformed,
                Status::invalid_argument(format!("code_hash must be 32 bytes, got {}", r.code_hash.len())),
            )
        })?;
        let Some(libs) = self.reg.libraries.clone() else {
            return Err(Status::unavailable("this node serves no libraries"));
        };
        let kind = r.kind.clone();
        let found = tokio::task::spawn_blocking(move || libs.read(&kind, &Hash(hash)))
            .await
            .map_err(|e| Status::internal(format!("library task failed: {e}")))?
            .map_err(|e| self.reg.refuse(Reason::Malformed, Status::invalid_argument(e)))?;
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

type HttpResponse = tonic::codegen::http::Response<tonic::body::Body>;

/// Counts requests tonic refused before any handler ran because the message exceeds
/// [`MAX_MESSAGE_BYTES`] (`OUT_OF_RANGE`, grpc-status 11, which the handlers never answer) as
/// `oversize`.
fn oversize_counter(refusals: Arc<Refusals>) -> impl Fn(HttpResponse) -> HttpResponse + Clone {
    move |resp: HttpResponse| {
        if resp.headers().get("grpc-status").is_some_and(|v| v.as_bytes() == b"11") {
            refusals.count(Reason::Oversize);
            info!(event = "Refused", reason = Reason::Oversize.as_str(), "gRPC message above the size limit refused");
        }
        resp
    }
}

/// Serves `PeerService` on `listener` until `shutdown` resolves.
pub async fn serve(
    reg: Arc<Registry>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let oversize = oversize_counter(Arc::clone(&reg.refusals));
    let svc = PeerServiceServer::new(PeerServer::new(reg))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_LIBRARY_BYTES);
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(64)
        .layer(tower::util::MapResponseLayer::new(oversize))
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Serves `PeerService` over mutual TLS on `listener` until `shutdown` resolves: a client without
/// a certificate of the channel CA, or with a revoked one, fails the handshake (counted as
/// `tls_handshake` and logged); every request is then checked against the certificate.
pub async fn serve_tls(
    reg: Arc<Registry>,
    listener: tokio::net::TcpListener,
    tls: &lc_tls::TlsMaterial,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let config = match tls.server_config() {
        Ok(c) => c,
        Err(e) => {
            // Checked when the node loaded its files; a failure here is a bug.
            tracing::error!(error = %e, "TLS configuration failed");
            return Ok(());
        }
    };
    let refusals = Arc::clone(&reg.refusals);
    let on_refused: lc_tls::OnRefused = Arc::new(move |addr, reason| {
        refusals.count(Reason::TlsHandshake);
        tracing::warn!(remote = %addr, %reason, "refused a gRPC connection: TLS handshake failed");
    });
    let incoming = lc_tls::incoming(listener, config, on_refused);
    let oversize = oversize_counter(Arc::clone(&reg.refusals));
    let svc = PeerServiceServer::new(PeerServer::new(reg))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_LIBRARY_BYTES);
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(64)
        .layer(tower::util::MapResponseLayer::new(oversize))
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}
