//! The LFT safety guard (aptos' safety-rules, for LFT).
//!
//! [`SafetyGuard`] is the only holder of a validator's BLS secret key. Before it returns a vote
//! signature it checks the vote rules and **persists** its [`SafetyData`] through a
//! [`SafetyStore`] whose `save` is durable (fsync) — so a crash and restart can never make the
//! node vote twice in one round:
//!
//! 1. epochs never go back;
//! 2. at most one yes vote per round, and only for a round above every round it voted in
//!    (`round > last_voted_round`); a timeout vote in round r also sets `last_voted_round = r`,
//!    so no yes vote follows it in r;
//! 3. at most one timeout vote per round (a LAZY vote after a yes vote in the same round is
//!    allowed, as LFT says);
//! 4. the high QC only rises (it is raised from the QC a proposal carries before voting for it);
//! 5. asking again for the vote it already gave returns the stored vote (idempotent), never a new one.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use borsh::{BorshDeserialize, BorshSerialize};
use lc_crypto::bls::{timeout_message, vote_message, BlsKeypair};
use lc_storage::ChannelStore;
use lc_types::{decode, encode, BlsSignature, Epoch, Hash, Height, QuorumCert, Round, VoteKind};
use thiserror::Error;

/// What the guard persists.
#[derive(Debug, Clone, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SafetyData {
    /// Current epoch.
    pub epoch: Epoch,
    /// Highest round with a vote (yes or timeout).
    pub last_voted_round: Round,
    /// Highest round with a timeout vote.
    pub last_timeout_round: Round,
    /// Highest QC seen.
    pub high_qc: Option<QuorumCert>,
    /// The last yes vote, returned again on a repeated request.
    pub last_yes: Option<SignedVote>,
    /// The last timeout vote, returned again on a repeated request.
    pub last_timeout: Option<SignedVote>,
}

/// A signed vote as it leaves the node (the voter index travels beside it).
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedVote {
    /// Yes or timeout.
    pub kind: VoteKind,
    /// Epoch.
    pub epoch: Epoch,
    /// Round.
    pub round: Round,
    /// Height (yes votes).
    pub height: Height,
    /// Block (yes votes).
    pub block_hash: Hash,
    /// High QC round (timeout votes).
    pub hqc_round: Round,
    /// BLS signature over the canonical vote message.
    pub signature: BlsSignature,
}

/// Signs consensus messages. [`BlsKeypair`] is the real one; the deterministic simulator may plug
/// a cheap test scheme in behind the same trait (never in a node).
pub trait VoteSigner {
    /// Signature over `msg` (DESIGN §4 vote or timeout message bytes).
    fn sign(&self, msg: &[u8]) -> BlsSignature;
    /// The public key votes are checked against.
    fn public(&self) -> lc_types::BlsPublicKey;
}

impl VoteSigner for BlsKeypair {
    fn sign(&self, msg: &[u8]) -> BlsSignature {
        BlsKeypair::sign(self, msg)
    }

    fn public(&self) -> lc_types::BlsPublicKey {
        BlsKeypair::public(self)
    }
}

/// In-memory [`SafetyStore`] (simulator and tests): "durable" for as long as the value lives, so
/// a simulated crash keeps it and a restart reloads it.
#[derive(Debug, Default, Clone)]
pub struct MemSafetyStore(std::sync::Arc<std::sync::Mutex<Option<SafetyData>>>);

impl SafetyStore for MemSafetyStore {
    fn load(&self) -> Result<Option<SafetyData>, SafetyError> {
        Ok(self.0.lock().map_err(|_| SafetyError::Store("poisoned".into()))?.clone())
    }

    fn save(&self, data: &SafetyData) -> Result<(), SafetyError> {
        *self.0.lock().map_err(|_| SafetyError::Store("poisoned".into()))? = Some(data.clone());
        Ok(())
    }
}

/// Durable storage of [`SafetyData`]. `save` must not return before the data is durable.
pub trait SafetyStore {
    /// The stored data, if any.
    fn load(&self) -> Result<Option<SafetyData>, SafetyError>;
    /// Stores durably (fsync) before returning.
    fn save(&self, data: &SafetyData) -> Result<(), SafetyError>;
}

/// Refusals and failures of the guard. A refusal changes nothing.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SafetyError {
    /// The request is for an epoch older than the guard's.
    #[error("epoch {got} is older than the current epoch {current}")]
    OldEpoch {
        /// Requested.
        got: Epoch,
        /// Current.
        current: Epoch,
    },
    /// A yes vote in a round at or below the last voted round.
    #[error("refusing a second vote: round {round} <= last voted round {last_voted_round}")]
    AlreadyVoted {
        /// Requested round.
        round: Round,
        /// Last voted round.
        last_voted_round: Round,
    },
    /// A timeout vote in a round below the last voted round, or a second one in a round.
    #[error("refusing a timeout vote in round {round}: last voted round {last_voted_round}, last timeout round {last_timeout_round}")]
    StaleTimeout {
        /// Requested round.
        round: Round,
        /// Last voted round.
        last_voted_round: Round,
        /// Last timeout round.
        last_timeout_round: Round,
    },
    /// The QC carried by the proposal is not of a lower round than the vote.
    #[error("the carried QC of round {qc_round} is not below the vote round {round}")]
    BadQc {
        /// QC round.
        qc_round: Round,
        /// Vote round.
        round: Round,
    },
    /// Persisting failed: no signature was produced.
    #[error("safety data could not be persisted: {0}")]
    Store(String),
}

/// [`SafetyStore`] in a channel's `meta` column family (one synced write per save).
impl SafetyStore for ChannelStore {
    fn load(&self) -> Result<Option<SafetyData>, SafetyError> {
        match self.meta_get(b"safety").map_err(|e| SafetyError::Store(e.to_string()))? {
            None => Ok(None),
            Some(b) => decode(&b).map(Some).map_err(|e| SafetyError::Store(format!("corrupt safety data: {e}"))),
        }
    }

    fn save(&self, data: &SafetyData) -> Result<(), SafetyError> {
        self.meta_put_synced(b"safety", encode(data)).map_err(|e| SafetyError::Store(e.to_string()))
    }
}

/// The guard of one validator on one channel.
pub struct SafetyGuard<S: SafetyStore, K: VoteSigner = BlsKeypair> {
    channel: String,
    key: K,
    store: S,
    data: SafetyData,
}

impl<S: SafetyStore, K: VoteSigner> std::fmt::Debug for SafetyGuard<S, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetyGuard").field("channel", &self.channel).field("data", &self.data).finish_non_exhaustive()
    }
}

impl<S: SafetyStore, K: VoteSigner> SafetyGuard<S, K> {
    /// Loads the persisted state (or starts empty).
    pub fn new(channel: &str, key: K, store: S) -> Result<Self, SafetyError> {
        let data = store.load()?.unwrap_or_default();
        Ok(Self { channel: channel.to_owned(), key, store, data })
    }

    /// The persisted state.
    pub fn data(&self) -> &SafetyData {
        &self.data
    }

    /// The BLS public key.
    pub fn public_key(&self) -> lc_types::BlsPublicKey {
        self.key.public()
    }

    fn check_epoch(&self, epoch: Epoch) -> Result<(), SafetyError> {
        if epoch < self.data.epoch {
            return Err(SafetyError::OldEpoch { got: epoch, current: self.data.epoch });
        }
        Ok(())
    }

    /// Persists `next` and only then adopts it.
    fn commit(&mut self, next: SafetyData) -> Result<(), SafetyError> {
        self.store.save(&next)?;
        self.data = next;
        Ok(())
    }

    fn raise_high_qc(next: &mut SafetyData, qc: Option<&QuorumCert>) {
        if let Some(qc) = qc {
            let higher = next.high_qc.as_ref().is_none_or(|h| (qc.epoch, qc.round) > (h.epoch, h.round));
            if higher {
                next.high_qc = Some(qc.clone());
            }
        }
    }

    /// Signs a yes vote for a block of `round` carrying `block_qc` (its parent's QC).
    pub fn sign_yes(
        &mut self,
        epoch: Epoch,
        round: Round,
        height: Height,
        block_hash: Hash,
        block_qc: Option<&QuorumCert>,
    ) -> Result<SignedVote, SafetyError> {
        self.check_epoch(epoch)?;
        if let Some(v) = &self.data.last_yes {
            if v.epoch == epoch && v.round == round && v.block_hash == block_hash && v.height == height {
                return Ok(v.clone());
            }
        }
        if epoch == self.data.epoch && round <= self.data.last_voted_round {
            return Err(SafetyError::AlreadyVoted { round, last_voted_round: self.data.last_voted_round });
        }
        if let Some(qc) = block_qc {
            if qc.round >= round && qc.epoch == epoch {
                return Err(SafetyError::BadQc { qc_round: qc.round, round });
            }
        }
        let signature = self.key.sign(&vote_message(&self.channel, epoch, round, height, block_hash));
        let vote = SignedVote { kind: VoteKind::Yes, epoch, round, height, block_hash, hqc_round: 0, signature };
        let mut next = self.data.clone();
        if epoch > next.epoch {
            next = SafetyData { epoch, high_qc: next.high_qc, ..SafetyData::default() };
        }
        Self::raise_high_qc(&mut next, block_qc);
        next.last_voted_round = round;
        next.last_yes = Some(vote.clone());
        self.commit(next)?;
        Ok(vote)
    }

    /// Signs a timeout vote (NONE or LAZY) for `round`, carrying the guard's high QC round.
    pub fn sign_timeout(
        &mut self,
        epoch: Epoch,
        round: Round,
        high_qc: Option<&QuorumCert>,
    ) -> Result<SignedVote, SafetyError> {
        self.check_epoch(epoch)?;
        if let Some(v) = &self.data.last_timeout {
            if v.epoch == epoch && v.round == round {
                return Ok(v.clone());
            }
        }
        let same_epoch = epoch == self.data.epoch;
        if same_epoch && (round < self.data.last_voted_round || round <= self.data.last_timeout_round) {
            return Err(SafetyError::StaleTimeout {
                round,
                last_voted_round: self.data.last_voted_round,
                last_timeout_round: self.data.last_timeout_round,
            });
        }
        let mut next = self.data.clone();
        if epoch > next.epoch {
            next = SafetyData { epoch, high_qc: next.high_qc, ..SafetyData::default() };
        }
        Self::raise_high_qc(&mut next, high_qc);
        let hqc_round = next.high_qc.as_ref().filter(|q| q.epoch == epoch).map_or(0, |q| q.round);
        let signature = self.key.sign(&timeout_message(&self.channel, epoch, round, hqc_round));
        let vote = SignedVote {
            kind: VoteKind::Timeout,
            epoch,
            round,
            height: 0,
            block_hash: Hash::ZERO,
            hqc_round,
            signature,
        };
        next.last_voted_round = next.last_voted_round.max(round);
        next.last_timeout_round = round;
        next.last_timeout = Some(vote.clone());
        self.commit(next)?;
        Ok(vote)
    }
}

#[cfg(test)]
mod tests;
