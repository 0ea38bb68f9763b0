//! A small real chain: 4 validators with BLS and ed25519 dev keys, headers with real QCs, TCs and
//! proposer signatures.
#![allow(dead_code)]

use lc_crypto::bls::{aggregate, bitmap, timeout_message, vote_message, BlsKeypair};
use lc_crypto::Keypair;
use lc_proof::{GroupEntry, ValidatorEntry, ValidatorSet};
use lc_types::{
    Address, BlockHeader, BlsSignature, Epoch, Hash, Height, QuorumCert, Round, Signature, TimeoutCert, BLOCK_VERSION,
};

pub(crate) const CHANNEL: &str = "proof_test";
pub(crate) const N: usize = 4;

/// Keys of the validators: BLS dev keys `bls_base..`, ed25519 dev accounts `ed_base..`.
pub(crate) struct Keys {
    pub(crate) bls: Vec<BlsKeypair>,
    pub(crate) ed: Vec<Keypair>,
}

impl Keys {
    pub(crate) fn dev() -> Self {
        Self::with_bases(0, 0)
    }

    pub(crate) fn with_bases(bls_base: u64, ed_base: u64) -> Self {
        Self {
            bls: (0..N as u64).map(|i| BlsKeypair::dev(bls_base + i)).collect(),
            ed: (0..N as u64).map(|i| Keypair::dev_account(ed_base + 100 + i)).collect(),
        }
    }

    pub(crate) fn set(&self, epoch: Epoch) -> ValidatorSet {
        self.weighted_set(epoch, &[1; N], &[])
    }

    /// `groups`: (name, members, votes).
    pub(crate) fn weighted_set(&self, epoch: Epoch, weights: &[u64], groups: &[(&str, &[usize], u64)]) -> ValidatorSet {
        let validators = (0..N)
            .map(|i| ValidatorEntry {
                peer_id: Address::of(&self.ed[i].public()),
                identity_key: self.ed[i].public(),
                bls_key: self.bls[i].public(),
                bls_pop: self.bls[i].proof_of_possession(),
                weight: weights[i],
                group: groups.iter().find(|g| g.1.contains(&i)).map(|g| g.0.to_owned()),
            })
            .collect();
        let groups = groups
            .iter()
            .map(|(name, members, votes)| GroupEntry {
                name: (*name).to_owned(),
                members: members.to_vec(),
                votes: *votes,
            })
            .collect();
        ValidatorSet { channel: CHANNEL.into(), epoch, validators, groups }
    }

    pub(crate) fn qc(&self, signers: &[usize], epoch: Epoch, round: Round, height: Height, hash: Hash) -> QuorumCert {
        let msg = vote_message(CHANNEL, epoch, round, height, hash);
        let sigs: Vec<BlsSignature> = signers.iter().map(|i| self.bls[*i].sign(&msg)).collect();
        QuorumCert {
            epoch,
            round,
            height,
            block_hash: hash,
            signer_bitmap: bitmap(N, signers.iter().copied()),
            aggregate_signature: aggregate(&sigs).expect("aggregate"),
        }
    }

    pub(crate) fn qc_of(&self, signers: &[usize], h: &BlockHeader) -> QuorumCert {
        self.qc(signers, h.epoch, h.round, h.height, h.hash())
    }

    pub(crate) fn tc(&self, epoch: Epoch, round: Round, high_qc: QuorumCert) -> TimeoutCert {
        let signers = [0usize, 1, 2];
        let hqc_rounds = vec![high_qc.round; 3];
        let sigs: Vec<BlsSignature> =
            signers.iter().map(|i| self.bls[*i].sign(&timeout_message(CHANNEL, epoch, round, high_qc.round))).collect();
        TimeoutCert {
            epoch,
            round,
            signer_bitmap: bitmap(N, signers),
            hqc_rounds,
            aggregate_signature: aggregate(&sigs).expect("aggregate"),
            high_qc,
        }
    }
}

/// A chain of headers at heights 1.. in the given rounds (all in `epoch`), every header certified:
/// `qcs[i]` certifies `headers[i]`. A round gap makes the header carry a TC of the round before it.
pub(crate) struct Chain {
    pub(crate) headers: Vec<(BlockHeader, Signature)>,
    pub(crate) qcs: Vec<QuorumCert>,
}

impl Chain {
    pub(crate) fn build(keys: &Keys, epoch: Epoch, rounds: &[Round]) -> Self {
        Self::build_from(keys, epoch, epoch, rounds)
    }

    /// `parent_epoch`: epoch of the block before the first header (and of the QC it carries).
    pub(crate) fn build_from(keys: &Keys, parent_epoch: Epoch, epoch: Epoch, rounds: &[Round]) -> Self {
        let all = [0usize, 1, 2, 3];
        let genesis_hash = Hash([9; 32]);
        let mut parent_qc = keys.qc(&all, parent_epoch, 0, 0, genesis_hash);
        let mut prev_hash = genesis_hash;
        let mut prev_round = 0;
        let mut headers = Vec::new();
        let mut qcs = Vec::new();
        for (i, &round) in rounds.iter().enumerate() {
            let tc = (round > prev_round + 1).then(|| keys.tc(epoch, round - 1, parent_qc.clone()));
            let proposer = &keys.ed[(round % N as u64) as usize];
            let header = BlockHeader {
                version: BLOCK_VERSION,
                channel: CHANNEL.into(),
                height: i as u64 + 1,
                round,
                epoch,
                prev_hash,
                tx_root: Hash([1; 32]),
                state_root: Hash([2; 32]),
                receipts_root: Hash([3; 32]),
                qc: Some(parent_qc.clone()),
                tc,
                timestamp_us: 1_700_000_000_000_000 + round,
                proposer: proposer.public(),
            };
            let sig = proposer.sign(&header.hash().0);
            let qc = keys.qc_of(&[0, 1, 3], &header);
            prev_hash = header.hash();
            prev_round = round;
            parent_qc = qc.clone();
            headers.push((header, sig));
            qcs.push(qc);
        }
        Self { headers, qcs }
    }

    /// Headers `from ..= to` (indices) and the QC of `to`.
    pub(crate) fn span(&self, from: usize, to: usize) -> (Vec<(BlockHeader, Signature)>, QuorumCert) {
        (self.headers[from..=to].to_vec(), self.qcs[to].clone())
    }
}
