//! Keeps one channel caught up with its members (block sync by height range).
//!
//! Every `POLL` the task asks the other members for their committed height. When one is ahead by
//! two or more blocks (or by one, with this node's height stuck for `STALL`), it fetches the
//! missing blocks from the highest one in batches and hands each batch to the channel's driver,
//! which verifies the hash links and the finality proof (every QC against the epoch's validator
//! set) before re-executing and committing. When a member's batches bring no progress (it lied
//! about its height, or its replies do not verify), the next highest is tried in the same pass.
use crate::net::ChannelNet;
use crate::proto::{BlockSyncRequest, StatusRequest};
use crate::Link;
use lc_engine::{Channel, SyncBatch, MAX_SYNC_BLOCKS};
use lc_proof::FinalityProof;
use lc_types::{decode, Block};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info};

const POLL: Duration = Duration::from_millis(500);
const STALL: Duration = Duration::from_secs(2);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs until the channel stops (`stopped` returns true).
pub async fn run(channel: Arc<Channel>, net: Arc<ChannelNet>, me: String, stopped: impl Fn() -> bool) {
    let mut last_height = channel.status().height;
    let mut last_change = Instant::now();
    while !stopped() {
        tokio::time::sleep(POLL).await;
        let mine = channel.status().height;
        if mine != last_height {
            last_height = mine;
            last_change = Instant::now();
        }
        // Ask every other member for its height.
        let mut ahead: Vec<(u64, String, Arc<Link>)> = Vec::new();
        let mut asks = tokio::task::JoinSet::new();
        for (id, link) in net.links() {
            let mut client = link.client();
            let name = channel.name().to_owned();
            asks.spawn(async move {
                let r =
                    tokio::time::timeout(Duration::from_secs(1), client.get_status(StatusRequest { channel: name }))
                        .await;
                (id, link, r)
            });
        }
        while let Some(done) = asks.join_next().await {
            let Ok((id, link, Ok(Ok(reply)))) = done else { continue };
            ahead.push((reply.into_inner().block_height, id, link));
        }
        // Highest first; a member whose batches do not apply (a lie about its height, a bad
        // proof, an error) is followed by the next one in the same pass.
        ahead.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let stalled = last_change.elapsed() >= STALL;
        for (height, id, link) in ahead {
            let behind = height.saturating_sub(channel.status().height);
            if !(behind >= 2 || (behind == 1 && stalled)) {
                break;
            }
            info!(channel = %channel.name(), event = "BlockSyncStart", mine = channel.status().height, peer = %id, theirs = height, "behind: syncing blocks");
            let before = channel.status().height;
            catch_up(&channel, &link, &me, height).await;
            if channel.status().height > before {
                last_change = Instant::now();
                break;
            }
            debug!(channel = %channel.name(), peer = %id, "no progress from this member; trying the next");
        }
    }
}

/// Fetches and applies batches until this node reaches `target` or a batch fails.
async fn catch_up(channel: &Arc<Channel>, link: &Link, me: &str, target: u64) {
    loop {
        let mine = channel.status().height;
        if mine >= target || channel.status().halted.is_some() {
            return;
        }
        let req = BlockSyncRequest {
            channel: channel.name().to_owned(),
            from_height: mine + 1,
            max_blocks: MAX_SYNC_BLOCKS as u32,
            peer_id: me.to_owned(),
        };
        let mut client = link.client();
        let reply = match tokio::time::timeout(REQUEST_TIMEOUT, client.block_sync(req)).await {
            Ok(Ok(r)) => r.into_inner(),
            Ok(Err(e)) => {
                debug!(channel = %channel.name(), error = %e, "block sync request failed");
                return;
            }
            Err(_) => {
                debug!(channel = %channel.name(), "block sync request timed out");
                return;
            }
        };
        if reply.blocks.is_empty() {
            debug!(channel = %channel.name(), code = reply.response_code, message = %reply.message, "no blocks in sync reply");
            return;
        }
        let blocks: Result<Vec<Block>, _> = reply.blocks.iter().map(|b| decode::<Block>(b)).collect();
        let proof = FinalityProof::from_json(&reply.proof);
        let (Ok(blocks), Ok(proof)) = (blocks, proof) else {
            debug!(channel = %channel.name(), "malformed sync reply");
            return;
        };
        let top = blocks.last().map_or(0, |b| b.header.height);
        // One batch waits in the channel at a time; wait for room.
        let mut batch = Some(SyncBatch { blocks, proof });
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        while let Some(b) = batch.take() {
            if !channel.deliver_sync(b.clone()) {
                if Instant::now() > deadline {
                    return;
                }
                batch = Some(b);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        // Wait for the driver to apply it (or refuse it).
        let deadline = Instant::now() + REQUEST_TIMEOUT;
        while channel.status().height < top && Instant::now() < deadline && channel.status().halted.is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if channel.status().height < top {
            debug!(channel = %channel.name(), top, "sync batch was not applied");
            return;
        }
    }
}
