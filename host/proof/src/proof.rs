//! Finality proofs: build, find the direct commit, verify.
use crate::error::{ParseError, ProofError, Site};
use crate::set::{CheckedSet, ValidatorSet};
use lc_types::{BlockHeader, Epoch, Hash, Height, QuorumCert, Signature, BLOCK_VERSION};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Most headers a proof may hold (a long run of rounds without a direct commit is the only reason
/// for more than two).
pub const MAX_PROOF_HEADERS: usize = 10_000;
/// Largest proof JSON document [`FinalityProof::from_json`] reads.
pub const MAX_PROOF_JSON_BYTES: usize = 64 << 20;

/// The proof that the block at `height` with hash `block_hash` is final.
///
/// `headers` are the headers `h, h+1, …, k+1` where `k ≥ h` is the first directly committed block
/// at or above `h` (`round(k+1) == round(k) + 1`), and `qc` is `QC(k+1)`.
///
/// ```json
/// {"channel": "loopchain_default", "height": 7, "block_hash": "…",
///  "headers": [{"hash": "…", "header": {"version": 1, "channel": "loopchain_default", "height": 7, …},
///               "proposer_signature": "…"}, …],
///  "qc": {"epoch": 0, "round": 9, "height": 8, "block_hash": "…", "signer_bitmap": "0f",
///         "aggregate_signature": "…"}}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinalityProof {
    /// Channel.
    pub channel: String,
    /// Height of the proven block.
    pub height: Height,
    /// Hash of the proven block.
    pub block_hash: Hash,
    /// Headers `h ..= k+1`.
    pub headers: Vec<ProofHeader>,
    /// `QC(k+1)`: certifies the last header.
    pub qc: QuorumCert,
}

/// One header of a [`FinalityProof`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofHeader {
    /// The stated block hash (`sha3(borsh(header))`), checked by the verifier.
    pub hash: Hash,
    /// The header.
    pub header: BlockHeader,
    /// The proposer's ed25519 signature over the block hash.
    pub proposer_signature: Signature,
}

impl FinalityProof {
    /// Parses the JSON document (at most [`MAX_PROOF_JSON_BYTES`]); does not verify it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.len() > MAX_PROOF_JSON_BYTES {
            return Err(ParseError::TooLarge { len: bytes.len(), max: MAX_PROOF_JSON_BYTES });
        }
        serde_json::from_slice(bytes).map_err(|e| ParseError::Json(e.to_string()))
    }

    /// The JSON document.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings, numbers and hex cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Height of the directly committed block `k` (the second-to-last header).
    pub fn direct_commit_height(&self) -> Option<Height> {
        let n = self.headers.len();
        n.checked_sub(2).and_then(|i| self.headers.get(i)).map(|h| h.header.height)
    }
}

/// What a verified proof establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedFinality {
    /// Channel.
    pub channel: String,
    /// Epoch of the validator set that certified it.
    pub epoch: Epoch,
    /// Height of the final block.
    pub height: Height,
    /// Hash of the final block.
    pub block_hash: Hash,
    /// Header of the final block.
    pub header: BlockHeader,
    /// Height `k` of the directly committed block the proof runs through (`k ≥ height`).
    pub direct_commit_height: Height,
    /// Validator indices that signed the final QC.
    pub final_signers: Vec<usize>,
}

/// Whether `child` (at `parent.height + 1`) commits `parent` directly once `child` is certified:
/// consecutive rounds, and `child` carries the QC of `parent`'s round.
fn commits_directly(parent: &BlockHeader, child: &BlockHeader) -> bool {
    parent.round.checked_add(1) == Some(child.round) && child.qc.as_ref().map(|qc| qc.round) == Some(parent.round)
}

/// Index of the first directly committed header among `headers` (consecutive heights from `h`
/// upward): the first `j` such that header `j + 1` is in round `round(j) + 1` (and carries the QC
/// of round `round(j)`). The proof of block `h` is then headers `0 ..= j + 1` plus `QC(j + 1)`.
/// Reads the iterator only as far as needed; `None` when no pair qualifies.
pub fn find_direct_commit<'a, I>(headers: I) -> Option<usize>
where
    I: IntoIterator<Item = &'a BlockHeader>,
{
    let mut it = headers.into_iter();
    let mut prev = it.next()?;
    for (j, h) in it.enumerate() {
        if commits_directly(prev, h) {
            return Some(j);
        }
        prev = h;
    }
    None
}

/// Builds the proof of the first header from headers `h ..= k+1` (each with its proposer signature)
/// and `QC(k+1)`. Checks the structure (hashes, links, heights, rounds, that `qc` certifies the
/// last header and that the last pair is a direct commit) but no signature.
pub fn build(headers: Vec<(BlockHeader, Signature)>, qc: QuorumCert) -> Result<FinalityProof, ProofError> {
    let Some((first, _)) = headers.first() else {
        return Err(ProofError::TooFewHeaders { got: 0 });
    };
    let channel = first.channel.clone();
    let height = first.height;
    let headers: Vec<ProofHeader> = headers
        .into_iter()
        .map(|(header, proposer_signature)| ProofHeader { hash: header.hash(), header, proposer_signature })
        .collect();
    let block_hash = headers.first().map(|h| h.hash).unwrap_or_default();
    let proof = FinalityProof { channel, height, block_hash, headers, qc };
    check_structure(&proof)?;
    Ok(proof)
}

/// Builds the proof of the first header of `chain`, reading it lazily: `chain` yields the headers
/// from `h` upward — the committed chain, then (for the chain tip) the stored commit evidence's
/// header `k+1` — and `latest_qc` is the evidence's `QC(k+1)`, used only when the direct commit's
/// child is the last header `chain` yields (otherwise `QC(k+1)` is the `qc` of the header after it).
pub fn build_from_chain<I>(chain: I, latest_qc: Option<&QuorumCert>) -> Result<FinalityProof, ProofError>
where
    I: IntoIterator<Item = (BlockHeader, Signature)>,
{
    let mut it = chain.into_iter();
    let mut headers: Vec<(BlockHeader, Signature)> = Vec::new();
    while let Some(item) = it.next() {
        if headers.len() >= MAX_PROOF_HEADERS {
            return Err(ProofError::TooManyHeaders { max: MAX_PROOF_HEADERS });
        }
        let direct = match headers.last() {
            Some((parent, _)) => commits_directly(parent, &item.0),
            None => false,
        };
        headers.push(item);
        if direct {
            let index = headers.len() - 1;
            let qc = match it.next() {
                Some((next, _)) => next.qc.ok_or(ProofError::MissingQc { index: index + 1 })?,
                None => latest_qc.cloned().ok_or(ProofError::MissingCommitQc { index })?,
            };
            return build(headers, qc);
        }
    }
    Err(ProofError::NotCommitted { searched: headers.len() })
}

/// Verifies `proof` against the validator set of its epoch (checking the set first; use
/// [`verify_with`] to check a set once for many proofs).
pub fn verify(proof: &FinalityProof, set: &ValidatorSet) -> Result<VerifiedFinality, ProofError> {
    verify_with(proof, &set.check()?)
}

/// Verifies `proof` against a checked validator set:
/// - channel and epoch of every header and checked QC are the set's;
/// - 2 to [`MAX_PROOF_HEADERS`] headers, each hashing to its stated hash, the first to `block_hash`
///   at `height`, heights consecutive, each `prev_hash` the previous header's hash, rounds rising;
/// - every header after the first carries a QC certifying the one before it, the final `qc`
///   certifies the last, and the last two headers are in consecutive rounds (a direct commit);
/// - every proposer is a validator of the set and its signature over the block hash verifies;
/// - every one of those QCs is signed by a quorum of the set (groups counted as a whole) and its
///   aggregate signature verifies (one `fast_aggregate_verify` each).
///
/// Cheap checks run before signatures. Never panics.
pub fn verify_with(proof: &FinalityProof, set: &CheckedSet) -> Result<VerifiedFinality, ProofError> {
    check_channel_and_epoch(proof, set)?;
    check_structure(proof)?;
    let info = set.epoch_info();
    for (index, h) in proof.headers.iter().enumerate() {
        if info.index_of(&h.header.proposer).is_none() {
            return Err(ProofError::UnknownProposer { index, proposer: h.header.proposer });
        }
        lc_crypto::verify(&h.header.proposer, &h.hash.0, &h.proposer_signature)
            .map_err(|source| ProofError::BadProposerSignature { index, source })?;
    }
    for (index, h) in proof.headers.iter().enumerate().skip(1) {
        let qc = h.header.qc.as_ref().ok_or(ProofError::MissingQc { index })?;
        verify_qc(Site::HeaderQc(index), qc, set)?;
    }
    let final_signers = verify_qc(Site::FinalQc, &proof.qc, set)?;
    let n = proof.headers.len();
    let (Some(first), Some(k)) = (proof.headers.first(), n.checked_sub(2).and_then(|i| proof.headers.get(i))) else {
        return Err(ProofError::TooFewHeaders { got: n });
    };
    Ok(VerifiedFinality {
        channel: proof.channel.clone(),
        epoch: set.epoch(),
        height: proof.height,
        block_hash: proof.block_hash,
        header: first.header.clone(),
        direct_commit_height: k.header.height,
        final_signers,
    })
}

/// The proof's channel, and the channel and epoch of every header and every QC that gets checked,
/// are the set's.
fn check_channel_and_epoch(proof: &FinalityProof, set: &CheckedSet) -> Result<(), ProofError> {
    let wrong_channel = |site: Site, got: &str| ProofError::WrongChannel {
        site,
        expected: set.channel().to_owned(),
        got: got.to_owned(),
    };
    let epoch = set.epoch();
    let check_epoch = |site: Site, got: Epoch| {
        if got == epoch {
            Ok(())
        } else {
            Err(ProofError::WrongEpoch { site, expected: epoch, got })
        }
    };
    if proof.channel != set.channel() {
        return Err(wrong_channel(Site::Proof, &proof.channel));
    }
    for (index, h) in proof.headers.iter().enumerate().take(MAX_PROOF_HEADERS + 1) {
        if h.header.channel != set.channel() {
            return Err(wrong_channel(Site::Header(index), &h.header.channel));
        }
        check_epoch(Site::Header(index), h.header.epoch)?;
        if index > 0 {
            if let Some(qc) = &h.header.qc {
                check_epoch(Site::HeaderQc(index), qc.epoch)?;
            }
        }
    }
    check_epoch(Site::FinalQc, proof.qc.epoch)
}

/// Everything but signatures and set membership.
fn check_structure(proof: &FinalityProof) -> Result<(), ProofError> {
    let n = proof.headers.len();
    if n < 2 {
        return Err(ProofError::TooFewHeaders { got: n });
    }
    if n > MAX_PROOF_HEADERS {
        return Err(ProofError::TooManyHeaders { max: MAX_PROOF_HEADERS });
    }
    let mut parent: Option<&ProofHeader> = None;
    for (index, ph) in proof.headers.iter().enumerate() {
        let h = &ph.header;
        if h.version != BLOCK_VERSION {
            return Err(ProofError::UnsupportedVersion { index, got: h.version, supported: BLOCK_VERSION });
        }
        if h.channel != proof.channel {
            return Err(ProofError::WrongChannel {
                site: Site::Header(index),
                expected: proof.channel.clone(),
                got: h.channel.clone(),
            });
        }
        let computed = h.hash();
        if computed != ph.hash {
            return Err(ProofError::HeaderHashMismatch { index, stated: ph.hash, computed });
        }
        match parent {
            None => {
                if h.height != proof.height {
                    return Err(ProofError::HeightMismatch { stated: proof.height, got: h.height });
                }
                if computed != proof.block_hash {
                    return Err(ProofError::BlockHashMismatch { stated: proof.block_hash, computed });
                }
            }
            Some(p) => {
                if p.header.height.checked_add(1) != Some(h.height) {
                    return Err(ProofError::NonConsecutiveHeight {
                        index,
                        parent_height: p.header.height,
                        got: h.height,
                    });
                }
                if h.prev_hash != p.hash {
                    return Err(ProofError::BrokenLink { index, expected: p.hash, got: h.prev_hash });
                }
                if h.round <= p.header.round {
                    return Err(ProofError::RoundNotIncreasing { index, parent_round: p.header.round, round: h.round });
                }
                let qc = h.qc.as_ref().ok_or(ProofError::MissingQc { index })?;
                check_certifies(Site::HeaderQc(index), qc, index - 1, p)?;
            }
        }
        parent = Some(ph);
    }
    let (k, last) = match proof.headers.as_slice() {
        [.., k, last] => (k, last),
        _ => return Err(ProofError::TooFewHeaders { got: n }),
    };
    if k.header.round.checked_add(1) != Some(last.header.round) {
        return Err(ProofError::NotDirectCommit { parent_round: k.header.round, round: last.header.round });
    }
    check_certifies(Site::FinalQc, &proof.qc, n - 1, last)
}

/// `qc` certifies `target` (header number `index`, whose hash was already checked).
fn check_certifies(site: Site, qc: &QuorumCert, index: usize, target: &ProofHeader) -> Result<(), ProofError> {
    let mismatch = |field: &'static str, expected: String, got: String| ProofError::QcMismatch {
        site,
        target: index,
        field,
        expected,
        got,
    };
    if qc.block_hash != target.hash {
        return Err(mismatch("block_hash", target.hash.to_hex(), qc.block_hash.to_hex()));
    }
    if qc.round != target.header.round {
        return Err(mismatch("round", target.header.round.to_string(), qc.round.to_string()));
    }
    if qc.height != target.header.height {
        return Err(mismatch("height", target.header.height.to_string(), qc.height.to_string()));
    }
    Ok(())
}

/// Quorum of the signers (cheap, first), then the aggregate signature. Returns the signers.
fn verify_qc(site: Site, qc: &QuorumCert, set: &CheckedSet) -> Result<Vec<usize>, ProofError> {
    let keys = set.keys();
    let signers = lc_crypto::bls::signers(&qc.signer_bitmap, keys.len())
        .map_err(|source| ProofError::BadQcSignature { site, source })?;
    let info = set.epoch_info();
    let weight = info.weigh(&signers.iter().copied().collect::<BTreeSet<usize>>());
    if !info.is_quorum(weight) {
        return Err(ProofError::NoQuorum { site, weight, total: info.total_weight() });
    }
    lc_crypto::bls::verify_qc(qc, set.channel(), keys).map_err(|source| ProofError::BadQcSignature { site, source })
}
