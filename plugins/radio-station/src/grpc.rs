//! gRPC `RadioStation`: registration, peer lists, the join/leave stream, channel infos and
//! heartbeats. Every request field is bounded; nothing here panics.
use crate::proto::radio_station_server::RadioStation;
use crate::proto::{
    ConnectPeerReply, ConnectPeerRequest, GetChannelInfosReply, GetChannelInfosRequest, HeartbeatReply,
    HeartbeatRequest, PeerEvent, PeerList, PeerListRequest, SubscribeRequest,
};
use crate::state::{code, shown, Connect, Registry, INVALID_PEER_TARGET, MAX_FIELD_BYTES, MAX_HEIGHTS};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Most concurrent `Subscribe` streams.
const MAX_SUBSCRIBERS: usize = 1024;
/// Largest gRPC request the station decodes.
pub(crate) const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The service.
#[derive(Debug, Clone)]
pub(crate) struct Service {
    pub(crate) registry: Arc<Registry>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) subscribers: Arc<AtomicUsize>,
}

fn bounded(field: &str, value: &str) -> Result<(), Status> {
    if value.len() > MAX_FIELD_BYTES {
        return Err(Status::invalid_argument(format!(
            "{field} is {} bytes long; at most {MAX_FIELD_BYTES} bytes are accepted",
            value.len()
        )));
    }
    Ok(())
}

fn required(field: &str, value: &str) -> Result<(), Status> {
    bounded(field, value)?;
    if value.trim().is_empty() {
        return Err(Status::invalid_argument(format!("{field} is empty")));
    }
    Ok(())
}

/// Releases a subscriber slot when the stream's task ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Service {
    /// With mutual TLS, the request's claimed `peer_id` must be the one in the client's
    /// certificate (the handshake already required a certificate of the channel CA).
    fn authenticate<T>(&self, req: &Request<T>, peer_id: &str) -> Result<(), Status> {
        if self.registry.settings.tls.is_none() {
            return Ok(());
        }
        let cert =
            req.peer_certs().and_then(|c| c.first().map(|d| lc_tls::CertIdentity::from_der(d))).transpose().map_err(
                |e| {
                    self.registry.count_refusal("malformed");
                    Status::unauthenticated(format!("client certificate: {e}"))
                },
            )?;
        let Some(cert) = cert else {
            self.registry.count_refusal("tls_handshake");
            return Err(Status::unauthenticated("no client certificate"));
        };
        if cert.peer_id.as_deref() != Some(peer_id) {
            self.registry.count_refusal("cert_peer_mismatch");
            self.registry.log.push(format!(
                "warn: refused a request claiming peer {} from a certificate of {}",
                shown(peer_id),
                cert.peer_id.as_deref().unwrap_or(&cert.common_name)
            ));
            return Err(Status::permission_denied(format!(
                "claimed peer id {} is not the certificate's ({})",
                shown(peer_id),
                cert.peer_id.as_deref().unwrap_or("none")
            )));
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl RadioStation for Service {
    async fn connect_peer(&self, req: Request<ConnectPeerRequest>) -> Result<Response<ConnectPeerReply>, Status> {
        required("peer_id", &req.get_ref().peer_id)?;
        self.authenticate(&req, &req.get_ref().peer_id)?;
        let r = req.into_inner();
        required("peer_target", &r.peer_target)?;
        bounded("channel", &r.channel)?;
        bounded("group_id", &r.group_id)?;
        let channel = self.registry.channel_name(&r.channel);
        let reply = match self.registry.connect(channel, &r.peer_id, &r.peer_target, &r.group_id) {
            Connect::Ok { peers, channels } => {
                ConnectPeerReply { status: code::SUCCESS, peer_list: peers, channels, more_info: String::new() }
            }
            Connect::Refused { status, message } => {
                if status == code::FAIL_INVALID_PEER_TARGET {
                    self.registry.count_refusal("invalid_peer_target");
                    self.registry.log.push(format!(
                        "warn: refused peer {} at {} for channel {channel}: not listed (ENABLE_CHANNEL_AUTH)",
                        shown(&r.peer_id),
                        shown(&r.peer_target)
                    ));
                }
                ConnectPeerReply { status, peer_list: Vec::new(), channels: Vec::new(), more_info: message }
            }
        };
        Ok(Response::new(reply))
    }

    async fn get_peer_list(&self, req: Request<PeerListRequest>) -> Result<Response<PeerList>, Status> {
        let r = req.into_inner();
        bounded("channel", &r.channel)?;
        let channel = self.registry.channel_name(&r.channel);
        let reply = match self.registry.peers(channel) {
            Some(peers) => PeerList { response_code: code::SUCCESS, peers, more_info: String::new() },
            None => PeerList {
                response_code: code::FAIL,
                peers: Vec::new(),
                more_info: format!("unknown channel: {}", shown(channel)),
            },
        };
        Ok(Response::new(reply))
    }

    type SubscribeStream = ReceiverStream<Result<PeerEvent, Status>>;

    async fn subscribe(&self, req: Request<SubscribeRequest>) -> Result<Response<Self::SubscribeStream>, Status> {
        self.authenticate(&req, &req.get_ref().peer_id)?;
        let r = req.into_inner();
        bounded("channel", &r.channel)?;
        bounded("peer_id", &r.peer_id)?;
        bounded("peer_target", &r.peer_target)?;
        let channel = self.registry.channel_name(&r.channel).to_owned();
        if !self.registry.settings.channels.contains_key(&channel) {
            return Err(Status::not_found(format!("unknown channel: {}", shown(&channel))));
        }
        if !self.registry.admitted(&channel, &r.peer_target) {
            return Err(Status::permission_denied(format!("{INVALID_PEER_TARGET} {channel}")));
        }
        if self.subscribers.fetch_add(1, Ordering::SeqCst) >= MAX_SUBSCRIBERS {
            self.subscribers.fetch_sub(1, Ordering::SeqCst);
            return Err(Status::resource_exhausted(format!("at most {MAX_SUBSCRIBERS} subscriptions at once")));
        }
        let slot = Slot(Arc::clone(&self.subscribers));
        let Some((current, mut events)) = self.registry.subscribe(&channel) else {
            return Err(Status::not_found(format!("unknown channel: {}", shown(&channel))));
        };
        let (tx, rx) = mpsc::channel(64);
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            for ev in current {
                if tx.send(Ok(ev)).await.is_err() {
                    return;
                }
            }
            loop {
                let ev = tokio::select! {
                    ev = events.recv() => ev,
                    _ = tx.closed() => return,
                    _ = crate::stopped(&mut shutdown) => return,
                };
                match ev {
                    Ok(ev) => {
                        if tx.send(Ok(ev)).await.is_err() {
                            return;
                        }
                    }
                    // A subscriber that lags just skips the events it missed.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_channel_infos(
        &self,
        req: Request<GetChannelInfosRequest>,
    ) -> Result<Response<GetChannelInfosReply>, Status> {
        self.authenticate(&req, &req.get_ref().peer_id)?;
        let r = req.into_inner();
        bounded("peer_id", &r.peer_id)?;
        bounded("peer_target", &r.peer_target)?;
        bounded("group_id", &r.group_id)?;
        let (response_code, channel_infos, more_info) = self.registry.channel_infos(&r.peer_target);
        Ok(Response::new(GetChannelInfosReply { response_code, channel_infos, more_info }))
    }

    async fn heartbeat(&self, req: Request<HeartbeatRequest>) -> Result<Response<HeartbeatReply>, Status> {
        required("peer_id", &req.get_ref().peer_id)?;
        self.authenticate(&req, &req.get_ref().peer_id)?;
        let r = req.into_inner();
        bounded("peer_target", &r.peer_target)?;
        if r.heights.len() > MAX_HEIGHTS {
            return Err(Status::invalid_argument(format!(
                "heights has {} entries; at most {MAX_HEIGHTS} are accepted",
                r.heights.len()
            )));
        }
        for channel in r.heights.keys() {
            bounded("a channel name in heights", channel)?;
        }
        let reply = if self.registry.heartbeat(&r.peer_id, |c| r.heights.get(c).copied()) {
            HeartbeatReply { response_code: code::SUCCESS, more_info: String::new() }
        } else {
            HeartbeatReply {
                response_code: code::FAIL_NO_PEER_INFO_IN_RS,
                more_info: "fail no peer info in rs".to_owned(),
            }
        };
        Ok(Response::new(reply))
    }
}
