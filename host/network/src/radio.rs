//! Radio-station client: channel infos at start, registration per channel, heartbeats with the
//! committed heights, and the join/leave stream (a member's new address updates its link).
//! Losing the radio station never stops a channel: the peer keeps its members' addresses and
//! retries with backoff.
use crate::code;
use crate::net::ChannelNet;
use crate::proto::radio_station_client::RadioStationClient;
use crate::proto::{peer_event, ConnectPeerRequest, GetChannelInfosRequest, HeartbeatRequest, SubscribeRequest};
use lc_engine::Channel;
use lc_tls::TlsMaterial;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::Channel as GrpcChannel;
use tracing::{debug, info, warn};

/// How often a peer reports to the radio station.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(2);

async fn connect(rs_target: &str, tls: Option<&TlsMaterial>) -> Result<RadioStationClient<GrpcChannel>, String> {
    let endpoint = crate::links::endpoint(rs_target, tls)
        .map_err(|e| format!("radio station: {e}"))?
        .connect_timeout(Duration::from_secs(2));
    let channel = endpoint.connect().await.map_err(|e| format!("radio station {rs_target} unreachable: {e}"))?;
    Ok(RadioStationClient::new(channel).max_decoding_message_size(crate::MAX_MESSAGE_BYTES))
}

/// Asks the radio station which channels this peer may run: a JSON object, channel name → its
/// entry of `channel_manage_data.json`.
pub async fn channel_infos(
    rs_target: &str,
    peer_id: &str,
    peer_target: &str,
    tls: Option<&TlsMaterial>,
) -> Result<String, String> {
    let mut client = connect(rs_target, tls).await?;
    let reply = client
        .get_channel_infos(GetChannelInfosRequest {
            peer_id: peer_id.to_owned(),
            peer_target: peer_target.to_owned(),
            group_id: String::new(),
        })
        .await
        .map_err(|e| format!("radio station {rs_target}: GetChannelInfos failed: {}", e.message()))?
        .into_inner();
    if reply.response_code != code::SUCCESS {
        return Err(format!("radio station {rs_target} refused: {} ({})", reply.more_info, reply.response_code));
    }
    Ok(reply.channel_infos)
}

/// One channel this peer registers.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The running channel.
    pub channel: Arc<Channel>,
    /// Its members' links.
    pub net: Arc<ChannelNet>,
}

/// Registers this peer for each channel, then heartbeats and follows membership events until
/// the process ends. Reconnects with backoff when the radio station is away.
pub async fn keep_registered(
    rs_target: String,
    peer_id: String,
    peer_target: String,
    channels: Vec<Registered>,
    tls: Option<TlsMaterial>,
) {
    let mut backoff = Duration::from_millis(500);
    let mut announced_down = false;
    loop {
        match session(&rs_target, &peer_id, &peer_target, &channels, tls.as_ref()).await {
            Ok(()) => {}
            Err(e) => {
                if !announced_down {
                    warn!(event = "DisconnectedPeer", radio_station = %rs_target, error = %e, "radio station unavailable; channels keep running with known members");
                    announced_down = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        }
        // The station forgot this peer (it restarted) or refused every registration: register
        // again after a pause, never in a tight loop.
        announced_down = false;
        backoff = Duration::from_millis(500);
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
    }
}

async fn session(
    rs_target: &str,
    peer_id: &str,
    peer_target: &str,
    channels: &[Registered],
    tls: Option<&TlsMaterial>,
) -> Result<(), String> {
    let mut client = connect(rs_target, tls).await?;
    let mut streams = Vec::new();
    for r in channels {
        let name = r.channel.name().to_owned();
        let reply = client
            .connect_peer(ConnectPeerRequest {
                peer_id: peer_id.to_owned(),
                channel: name.clone(),
                peer_target: peer_target.to_owned(),
                group_id: String::new(),
            })
            .await
            .map_err(|e| format!("ConnectPeer: {}", e.message()))?
            .into_inner();
        if reply.status != code::SUCCESS {
            warn!(channel = %name, status = reply.status, more_info = %reply.more_info, "radio station refused the registration");
            continue;
        }
        info!(channel = %name, radio_station = rs_target, peers = reply.peer_list.len(), "registered with the radio station");
        for p in &reply.peer_list {
            if r.net.is_member(&p.peer_id) && !p.peer_target.is_empty() {
                let _ = r.net.set_target(&p.peer_id, &p.peer_target);
            }
        }
        let stream = client
            .subscribe(SubscribeRequest {
                channel: name.clone(),
                peer_id: peer_id.to_owned(),
                peer_target: peer_target.to_owned(),
            })
            .await
            .map_err(|e| format!("Subscribe: {}", e.message()))?
            .into_inner();
        streams.push((r.clone(), stream));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (r, mut stream) in streams {
        tasks.spawn(async move {
            loop {
                match stream.message().await {
                    Ok(Some(ev)) => {
                        let Some(p) = ev.peer else { continue };
                        let kind = peer_event::Kind::try_from(ev.kind).unwrap_or(peer_event::Kind::Join);
                        match kind {
                            peer_event::Kind::Join => {
                                info!(channel = %r.channel.name(), event = "ConnectedPeer", peer_id = %p.peer_id, target = %p.peer_target, source = "radio_station", "peer joined");
                                if r.net.is_member(&p.peer_id) && !p.peer_target.is_empty() {
                                    let _ = r.net.set_target(&p.peer_id, &p.peer_target);
                                }
                            }
                            peer_event::Kind::Leave => {
                                info!(channel = %r.channel.name(), event = "DisconnectedPeer", peer_id = %p.peer_id, source = "radio_station", "peer left")
                            }
                        }
                    }
                    Ok(None) => return,
                    Err(e) => {
                        debug!(error = %e, "membership stream ended");
                        return;
                    }
                }
            }
        });
    }
    loop {
        let heights: HashMap<String, u64> =
            channels.iter().map(|r| (r.channel.name().to_owned(), r.channel.status().height)).collect();
        let reply = client
            .heartbeat(HeartbeatRequest { peer_id: peer_id.to_owned(), peer_target: peer_target.to_owned(), heights })
            .await
            .map_err(|e| format!("Heartbeat: {}", e.message()))?
            .into_inner();
        if reply.response_code == code::FAIL_NO_PEER_INFO_IN_RS {
            // The station restarted and forgot us: register again.
            return Ok(());
        }
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
    }
}
