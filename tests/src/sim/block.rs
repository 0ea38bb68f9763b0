//! Simulated blocks: canonical hash, deterministic payload and state root.
use lc_lft::{BlockInfo, QcInfo, TcInfo};
use lc_types::{sha3_concat, BlsSignature, Hash, Height, QuorumCert, Round, TimeoutCert};

/// A simulated block (header fields the consensus path touches, plus a payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimBlock {
    /// `sha3` of the canonical fields (see [`SimBlock::compute_hash`]).
    pub hash: Hash,
    /// Parent hash.
    pub parent: Hash,
    /// Height.
    pub height: Height,
    /// Round.
    pub round: Round,
    /// Proposer index.
    pub proposer: usize,
    /// Payload bytes (deterministic "transactions").
    pub payload: Vec<u8>,
    /// `sha3(parent.state_root ‖ payload)`.
    pub state_root: Hash,
    /// QC of the parent.
    pub qc: QuorumCert,
    /// TC of `round − 1`, when the proposer entered through one.
    pub tc: Option<TimeoutCert>,
    /// Proposer signature over the hash.
    pub signature: BlsSignature,
}

/// Canonical bytes of a QC (for hashing).
fn qc_bytes(qc: &QuorumCert) -> Vec<u8> {
    lc_types::encode(qc)
}

impl SimBlock {
    /// `sha3` over (parent, height, round, proposer, payload, state_root, qc, tc).
    pub fn compute_hash(&self) -> Hash {
        let tc = self.tc.as_ref().map(lc_types::encode).unwrap_or_default();
        sha3_concat(&[
            b"sim-block",
            &self.parent.0,
            &self.height.to_le_bytes(),
            &self.round.to_le_bytes(),
            &(self.proposer as u64).to_le_bytes(),
            &(self.payload.len() as u64).to_le_bytes(),
            &self.payload,
            &self.state_root.0,
            &qc_bytes(&self.qc),
            &[u8::from(self.tc.is_some())],
            &tc,
        ])
    }

    /// What the core needs to know.
    pub fn info(&self) -> BlockInfo {
        BlockInfo {
            hash: self.hash,
            height: self.height,
            round: self.round,
            parent: self.parent,
            qc: qc_info(&self.qc),
            tc: self.tc.as_ref().map(tc_info),
            proposer: self.proposer,
            empty: self.payload.is_empty(),
            epoch_end: None,
        }
    }
}

/// The state root of a child: `sha3(parent_state_root ‖ payload)`.
pub fn state_root(parent_state_root: &Hash, payload: &[u8]) -> Hash {
    sha3_concat(&[b"sim-state", &parent_state_root.0, payload])
}

/// Deterministic payload of a block (`variant` tells equivocating siblings apart).
pub fn payload(proposer: usize, round: Round, height: Height, variant: u8) -> Vec<u8> {
    format!("tx:p{proposer}:r{round}:h{height}:v{variant}").into_bytes()
}

/// The genesis root (height 0, round 0).
pub fn genesis() -> SimBlock {
    let hash = sha3_concat(&[b"sim-genesis"]);
    SimBlock {
        hash,
        parent: Hash::ZERO,
        height: 0,
        round: 0,
        proposer: 0,
        payload: Vec::new(),
        state_root: sha3_concat(&[b"sim-genesis-state"]),
        qc: QuorumCert {
            epoch: 0,
            round: 0,
            height: 0,
            block_hash: Hash::ZERO,
            signer_bitmap: Vec::new(),
            aggregate_signature: BlsSignature([0; 96]),
        },
        tc: None,
        signature: BlsSignature([0; 96]),
    }
}

/// The core's view of a QC.
pub fn qc_info(qc: &QuorumCert) -> QcInfo {
    QcInfo { round: qc.round, height: qc.height, block_hash: qc.block_hash }
}

/// The core's view of a (verified) TC.
pub fn tc_info(tc: &TimeoutCert) -> TcInfo {
    TcInfo {
        round: tc.round,
        max_hqc_round: tc.hqc_rounds.iter().copied().max().unwrap_or(0),
        high_qc: qc_info(&tc.high_qc),
    }
}
