//! Block sync, both sides: a member serves committed blocks with the finality proof of the last
//! one ([`Channel::sync_batch`]); a lagging member hands a fetched batch to its driver
//! ([`Channel::deliver_sync`]), which checks the hash links from its committed tip, verifies the
//! proof against the current epoch's validator set (every QC signature and the quorum), then
//! re-executes and commits each block — a block whose roots it cannot reproduce halts the channel
//! instead of being applied.
use crate::channel::{Channel, Error};
use crate::driver::CommitEvidence;
use crate::epoch::EpochState;
use lc_proof::FinalityProof;
use lc_types::{decode, Block, Height};

/// Most blocks one sync batch carries.
pub const MAX_SYNC_BLOCKS: usize = 64;

/// Committed blocks of one epoch, consecutive, with the finality proof of the last one.
#[derive(Debug, Clone)]
pub struct SyncBatch {
    /// Blocks in height order.
    pub blocks: Vec<Block>,
    /// Proves the last block committed.
    pub proof: FinalityProof,
}

impl EpochState {
    /// This epoch's validator set as `lc_proof::ValidatorSet`: what a light client (or a syncing
    /// member) needs to check finality proofs.
    pub fn validator_set(&self, channel: &str) -> lc_proof::ValidatorSet {
        let epoch = &self.info;
        let members = &self.voting;
        let validators = members
            .iter()
            .zip(&epoch.validators)
            .map(|(m, v)| lc_proof::ValidatorEntry {
                peer_id: m.peer_id,
                identity_key: m.identity_key,
                bls_key: m.bls_key.unwrap_or_default(),
                bls_pop: m.bls_pop.unwrap_or_default(),
                weight: v.weight,
                group: m.group.clone(),
            })
            .collect();
        let groups = epoch
            .groups()
            .iter()
            .map(|g| lc_proof::GroupEntry {
                name: g.members.first().and_then(|i| members.get(*i)).and_then(|m| m.group.clone()).unwrap_or_default(),
                members: g.members.clone(),
                votes: g.votes,
            })
            .collect();
        lc_proof::ValidatorSet { channel: channel.to_owned(), epoch: epoch.epoch, validators, groups }
    }
}

impl Channel {
    /// The finality proof of committed block `height` (headers `height..=k+1` and QC(k+1), k the
    /// first directly committed block at or above it). A block of a finished epoch is proved
    /// within that epoch.
    pub fn finality_proof(&self, height: Height) -> Result<FinalityProof, Error> {
        let store = &self.store;
        let tip = store.tip()?.map_or(0, |t| t.height);
        if height > tip || height == 0 {
            return Err(Error::NotCommitted { height, committed: tip });
        }
        let (last, evidence) = match self.epoch_ending_at_or_after(height)? {
            Some((last, ev)) => (last, ev),
            None => {
                let ev: Option<CommitEvidence> =
                    store.meta_get(crate::driver::META_COMMIT_EVIDENCE)?.map(|b| decode(&b)).transpose()?;
                (tip, ev)
            }
        };
        // Read lazily: the builder stops at the first directly committed block (usually within a
        // few heights), so a proof never costs a scan to the tip.
        let mut failure: Option<lc_storage::Error> = None;
        let committed = (height..=last).map_while(|h| {
            let found = store.block_hash_at(h).and_then(|hash| match hash {
                Some(hash) => store.header(&hash),
                None => Ok(None),
            });
            match found {
                Ok(x) => x,
                Err(e) => {
                    failure = Some(e);
                    None
                }
            }
        });
        let above = evidence
            .iter()
            .flat_map(|ev| ev.blocks.iter())
            .filter(|b| b.header.height > last)
            .map(|b| (b.header.clone(), b.proposer_signature));
        let built = lc_proof::build_from_chain(committed.chain(above), evidence.as_ref().map(|ev| &ev.qc));
        if let Some(e) = failure {
            return Err(e.into());
        }
        built.map_err(|e| Error::Proof(format!("block {height}: {e}")))
    }

    /// Committed blocks from `from` on (at most `max`, capped at [`MAX_SYNC_BLOCKS`], never past
    /// the end of `from`'s epoch), with the proof of the last one. `None` when `from` is not
    /// committed yet.
    pub fn sync_batch(&self, from: Height, max: usize) -> Result<Option<SyncBatch>, Error> {
        let tip = self.store.tip()?.map_or(0, |t| t.height);
        if from == 0 || from > tip {
            return Ok(None);
        }
        let max = max.clamp(1, MAX_SYNC_BLOCKS) as u64;
        let epoch_last = self.epoch_ending_at_or_after(from)?.map_or(tip, |(last, _)| last);
        let mut to = (from + max - 1).min(epoch_last).min(tip);
        // The newest committed block may lack stored evidence (e.g. right after a sync); prove the
        // highest block that has a proof.
        loop {
            match self.finality_proof(to) {
                Ok(proof) => {
                    let mut blocks = Vec::with_capacity((to - from + 1) as usize);
                    for h in from..=to {
                        match self.store.block_at(h)? {
                            Some(b) => blocks.push(b),
                            None => return Ok(None),
                        }
                    }
                    return Ok(Some(SyncBatch { blocks, proof }));
                }
                Err(Error::Proof(_)) if to > from => to -= 1,
                Err(Error::Proof(_)) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands a fetched batch to the driver. At most one waits; returns `false` when one is
    /// already waiting (the caller retries later).
    pub fn deliver_sync(&self, batch: SyncBatch) -> bool {
        {
            let mut slot = self.sync_slot.lock();
            if slot.is_some() {
                return false;
            }
            *slot = Some(batch);
        }
        let _pool = self.pool.lock();
        self.wake.notify_all();
        true
    }

    pub(crate) fn take_sync(&self) -> Option<SyncBatch> {
        self.sync_slot.lock().take()
    }
}
