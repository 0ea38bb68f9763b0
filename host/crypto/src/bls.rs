//! BLS12-381 consensus signatures (blst, `min_pk`: 48-byte public keys, 96-byte signatures) in the
//! IETF proof-of-possession ciphersuite.
//!
//! - Votes sign [`vote_message`] with [`VOTE_DST`]; the voter's index travels beside the
//!   signature, so every yes vote for one block signs the same bytes and a [`QuorumCert`] is ONE
//!   message checked by ONE `fast_aggregate_verify`.
//! - Keys are `key_validate`d and their proof of possession ([`POP_DST`]) checked when registered
//!   ([`validate_registration`]); that is what makes same-message aggregation safe against
//!   rogue-key attacks.
//! - A single vote is verified once on receipt (with the signature subgroup check) and then
//!   aggregated unchecked; received QCs/TCs are verified with the subgroup check.
use blst::min_pk::{AggregateSignature, PublicKey, SecretKey, Signature};
use blst::BLST_ERROR;
use lc_types::{
    encode, sha3_concat, BlsPublicKey, BlsSignature, Epoch, Hash, Height, QuorumCert, Round, TimeoutCert, Vote,
    VoteKind,
};
use thiserror::Error;

/// Domain separation tag of votes.
pub const VOTE_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
/// Domain separation tag of proofs of possession.
pub const POP_DST: &[u8] = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// BLS failures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BlsError {
    /// Not a valid, non-identity G1 point in the subgroup.
    #[error("invalid BLS public key {0}")]
    InvalidPublicKey(BlsPublicKey),
    /// Not a valid G2 point encoding.
    #[error("malformed BLS signature")]
    MalformedSignature,
    /// The proof of possession does not verify.
    #[error("proof of possession does not verify for {0}")]
    BadProofOfPossession(BlsPublicKey),
    /// The signature does not verify.
    #[error("BLS signature does not verify")]
    BadSignature,
    /// The signer bitmap names validators outside the set, or nobody.
    #[error("signer bitmap is invalid for {validators} validators")]
    BadBitmap {
        /// Validator count.
        validators: usize,
    },
    /// A timeout certificate whose high-QC rounds don't match its signers or its carried QC.
    #[error("timeout certificate is inconsistent: {0}")]
    BadTimeoutCert(&'static str),
    /// Nothing to aggregate.
    #[error("no signatures to aggregate")]
    Empty,
}

/// The bytes a yes vote signs.
pub fn vote_message(channel: &str, epoch: Epoch, round: Round, height: Height, block_hash: Hash) -> Vec<u8> {
    encode(&Vote { kind: VoteKind::Yes, channel: channel.to_owned(), epoch, round, height, block_hash, hqc_round: 0 })
}

/// The bytes a timeout vote signs.
pub fn timeout_message(channel: &str, epoch: Epoch, round: Round, hqc_round: Round) -> Vec<u8> {
    encode(&Vote {
        kind: VoteKind::Timeout,
        channel: channel.to_owned(),
        epoch,
        round,
        height: 0,
        block_hash: Hash::ZERO,
        hqc_round,
    })
}

/// A validator's BLS key pair. The secret never leaves this type (the safety guard owns it).
pub struct BlsKeypair {
    sk: SecretKey,
    pk: BlsPublicKey,
}

impl std::fmt::Debug for BlsKeypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlsKeypair").field("public", &self.pk).finish_non_exhaustive()
    }
}

impl BlsKeypair {
    /// Derives a key pair from 32 bytes of input keying material (IETF KeyGen).
    pub fn from_ikm(ikm: &[u8; 32]) -> Self {
        // KeyGen only fails for ikm shorter than 32 bytes.
        #[allow(clippy::expect_used)]
        let sk = SecretKey::key_gen(ikm, &[]).expect("32-byte ikm is always accepted");
        let pk = BlsPublicKey(sk.sk_to_pk().compress());
        Self { sk, pk }
    }

    /// Deterministic development validator key `index` (tests, simulator, demo).
    pub fn dev(index: u64) -> Self {
        Self::from_ikm(&sha3_concat(&[b"loopchain-dev-bls", &index.to_le_bytes()]).0)
    }

    /// The secret key bytes (for the key file).
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.sk.to_bytes()
    }

    /// A fresh key from the operating system's randomness.
    pub fn generate() -> Self {
        let mut ikm = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut ikm);
        Self::from_ikm(&ikm)
    }

    /// Restores from [`BlsKeypair::secret_bytes`].
    pub fn from_secret_bytes(bytes: &[u8; 32]) -> Result<Self, BlsError> {
        let sk = SecretKey::from_bytes(bytes).map_err(|_| BlsError::InvalidPublicKey(BlsPublicKey::ZERO))?;
        let pk = BlsPublicKey(sk.sk_to_pk().compress());
        Ok(Self { sk, pk })
    }

    /// The public key.
    pub fn public(&self) -> BlsPublicKey {
        self.pk
    }

    /// Signs a message with the vote DST.
    pub fn sign(&self, msg: &[u8]) -> BlsSignature {
        BlsSignature(self.sk.sign(msg, VOTE_DST, &[]).compress())
    }

    /// The proof of possession: the public key signed with the POP DST.
    pub fn proof_of_possession(&self) -> BlsSignature {
        BlsSignature(self.sk.sign(&self.pk.0, POP_DST, &[]).compress())
    }
}

fn public_key(pk: &BlsPublicKey) -> Result<PublicKey, BlsError> {
    PublicKey::key_validate(&pk.0).map_err(|_| BlsError::InvalidPublicKey(*pk))
}

fn signature(sig: &BlsSignature) -> Result<Signature, BlsError> {
    Signature::from_bytes(&sig.0).map_err(|_| BlsError::MalformedSignature)
}

/// Checks a key at registration: valid subgroup point, not the identity, and its proof of possession.
pub fn validate_registration(pk: &BlsPublicKey, pop: &BlsSignature) -> Result<(), BlsError> {
    let key = public_key(pk)?;
    match signature(pop)?.verify(true, &pk.0, POP_DST, &[], &key, false) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::BadProofOfPossession(*pk)),
    }
}

/// Verifies one signature (with the signature subgroup check), e.g. a vote on receipt.
pub fn verify(pk: &BlsPublicKey, msg: &[u8], sig: &BlsSignature) -> Result<(), BlsError> {
    let key = public_key(pk)?;
    match signature(sig)?.verify(true, msg, VOTE_DST, &[], &key, false) {
        BLST_ERROR::BLST_SUCCESS => Ok(()),
        _ => Err(BlsError::BadSignature),
    }
}

/// An epoch's validator keys, validated once and kept decompressed (bitmap order), so certificate
/// checks pay neither decompression nor subgroup checks per key.
#[derive(Clone)]
pub struct ValidatorKeys {
    keys: Vec<BlsPublicKey>,
    parsed: Vec<PublicKey>,
}

impl std::fmt::Debug for ValidatorKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorKeys").field("keys", &self.keys).finish()
    }
}

impl ValidatorKeys {
    /// Validates every key (`key_validate`: on the curve, in the subgroup, not the identity).
    pub fn new(keys: &[BlsPublicKey]) -> Result<Self, BlsError> {
        let parsed = keys.iter().map(public_key).collect::<Result<_, _>>()?;
        Ok(Self { keys: keys.to_vec(), parsed })
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The compressed keys.
    pub fn keys(&self) -> &[BlsPublicKey] {
        &self.keys
    }
}

/// A signature verified on receipt, kept decompressed for aggregation.
#[derive(Clone)]
pub struct VerifiedSignature(Signature);

impl std::fmt::Debug for VerifiedSignature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifiedSignature(..)")
    }
}

/// Verifies validator `index`'s signature over `msg` once, on receipt (with the subgroup check).
pub fn verify_from(
    keys: &ValidatorKeys,
    index: usize,
    msg: &[u8],
    sig: &BlsSignature,
) -> Result<VerifiedSignature, BlsError> {
    let pk = keys.parsed.get(index).ok_or(BlsError::BadBitmap { validators: keys.len() })?;
    let s = signature(sig)?;
    match s.verify(true, msg, VOTE_DST, &[], pk, false) {
        BLST_ERROR::BLST_SUCCESS => Ok(VerifiedSignature(s)),
        _ => Err(BlsError::BadSignature),
    }
}

/// This node's own signature, just made by its safety guard: parsed for aggregation without a
/// pairing check (never use it for a signature that came from elsewhere).
pub fn own_signature(sig: &BlsSignature) -> Result<VerifiedSignature, BlsError> {
    Ok(VerifiedSignature(signature(sig)?))
}

/// Aggregates signatures verified on receipt (no further checks): the cheap path of QC building.
pub fn aggregate_verified(sigs: &[VerifiedSignature]) -> Result<BlsSignature, BlsError> {
    let refs: Vec<&Signature> = sigs.iter().map(|s| &s.0).collect();
    if refs.is_empty() {
        return Err(BlsError::Empty);
    }
    let agg = AggregateSignature::aggregate(&refs, false).map_err(|_| BlsError::MalformedSignature)?;
    Ok(BlsSignature(agg.to_signature().compress()))
}

/// Aggregates signatures that were each verified on receipt (no per-signature subgroup check).
pub fn aggregate(sigs: &[BlsSignature]) -> Result<BlsSignature, BlsError> {
    if sigs.is_empty() {
        return Err(BlsError::Empty);
    }
    let parsed: Vec<Signature> = sigs.iter().map(signature).collect::<Result<_, _>>()?;
    let refs: Vec<&Signature> = parsed.iter().collect();
    let agg = AggregateSignature::aggregate(&refs, false).map_err(|_| BlsError::MalformedSignature)?;
    Ok(BlsSignature(agg.to_signature().compress()))
}

/// Signer bitmap of `n` validators: bit `i` of byte `i / 8`, least significant first.
pub fn bitmap(n: usize, signers: impl IntoIterator<Item = usize>) -> Vec<u8> {
    let mut b = vec![0u8; n.div_ceil(8)];
    for i in signers {
        if i < n {
            b[i / 8] |= 1 << (i % 8);
        }
    }
    b
}

/// Indices set in a bitmap of `n` validators; errors on a wrong length, bits beyond `n`, or no signer.
pub fn signers(bitmap: &[u8], n: usize) -> Result<Vec<usize>, BlsError> {
    if bitmap.len() != n.div_ceil(8) {
        return Err(BlsError::BadBitmap { validators: n });
    }
    let mut out = Vec::new();
    for (byte, bits) in bitmap.iter().enumerate() {
        for bit in 0..8 {
            if bits & (1 << bit) != 0 {
                let i = byte * 8 + bit;
                if i >= n {
                    return Err(BlsError::BadBitmap { validators: n });
                }
                out.push(i);
            }
        }
    }
    if out.is_empty() {
        return Err(BlsError::BadBitmap { validators: n });
    }
    Ok(out)
}

/// Verifies a QC's aggregate signature against the epoch's validator keys (bitmap order) with ONE
/// `fast_aggregate_verify`. Returns the signer indices; the caller checks their weight is a quorum.
pub fn verify_qc(qc: &QuorumCert, channel: &str, keys: &ValidatorKeys) -> Result<Vec<usize>, BlsError> {
    let who = signers(&qc.signer_bitmap, keys.len())?;
    let refs: Vec<&PublicKey> = who.iter().map(|i| &keys.parsed[*i]).collect();
    let msg = vote_message(channel, qc.epoch, qc.round, qc.height, qc.block_hash);
    match signature(&qc.aggregate_signature)?.fast_aggregate_verify(true, &msg, VOTE_DST, &refs) {
        BLST_ERROR::BLST_SUCCESS => Ok(who),
        _ => Err(BlsError::BadSignature),
    }
}

/// Verifies a TC: its carried high QC, that the QC's round equals the highest signed `hqc_round`,
/// and the aggregate over the distinct timeout messages (`aggregate_verify`). Returns the signers.
pub fn verify_tc(tc: &TimeoutCert, channel: &str, keys: &ValidatorKeys) -> Result<Vec<usize>, BlsError> {
    if tc.high_qc.epoch != tc.epoch {
        return Err(BlsError::BadTimeoutCert("high_qc must be of the TC's epoch"));
    }
    // Round 0 is the genesis root, which has no QC (the caller checks the block is the genesis).
    if tc.high_qc.round > 0 {
        verify_qc(&tc.high_qc, channel, keys)?;
    }
    verify_tc_votes(tc, channel, keys)
}

/// [`verify_tc`] without checking the carried high QC's signature (the caller verifies it, e.g.
/// against the previous epoch's keys): signers, one `hqc_round` each, the carried QC's round equal
/// to the highest of them, and the aggregate signature.
pub fn verify_tc_votes(tc: &TimeoutCert, channel: &str, keys: &ValidatorKeys) -> Result<Vec<usize>, BlsError> {
    let who = signers(&tc.signer_bitmap, keys.len())?;
    if tc.hqc_rounds.len() != who.len() {
        return Err(BlsError::BadTimeoutCert("one hqc_round per signer"));
    }
    let max = tc.hqc_rounds.iter().copied().max().unwrap_or(0);
    if tc.high_qc.round != max {
        return Err(BlsError::BadTimeoutCert("high_qc round must equal the highest signed hqc_round"));
    }
    if tc.hqc_rounds.iter().any(|r| *r >= tc.round) {
        return Err(BlsError::BadTimeoutCert("hqc_round must be below the timed-out round"));
    }
    let msgs: Vec<Vec<u8>> = tc.hqc_rounds.iter().map(|r| timeout_message(channel, tc.epoch, tc.round, *r)).collect();
    let msg_refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    let pk_refs: Vec<&PublicKey> = who.iter().map(|i| &keys.parsed[*i]).collect();
    match signature(&tc.aggregate_signature)?.aggregate_verify(true, &msg_refs, VOTE_DST, &pk_refs, false) {
        BLST_ERROR::BLST_SUCCESS => Ok(who),
        _ => Err(BlsError::BadSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u64) -> Vec<BlsKeypair> {
        (0..n).map(BlsKeypair::dev).collect()
    }

    fn qc_of(kps: &[BlsKeypair], signers_idx: &[usize], round: Round) -> QuorumCert {
        let h = Hash([7; 32]);
        let msg = vote_message("c", 0, round, 5, h);
        let sigs: Vec<BlsSignature> = signers_idx.iter().map(|i| kps[*i].sign(&msg)).collect();
        QuorumCert {
            epoch: 0,
            round,
            height: 5,
            block_hash: h,
            signer_bitmap: bitmap(kps.len(), signers_idx.iter().copied()),
            aggregate_signature: aggregate(&sigs).expect("aggregate"),
        }
    }

    #[test]
    fn pop_registration() {
        let k = BlsKeypair::dev(1);
        assert_eq!(validate_registration(&k.public(), &k.proof_of_possession()), Ok(()));
        let other = BlsKeypair::dev(2);
        assert_eq!(
            validate_registration(&k.public(), &other.proof_of_possession()),
            Err(BlsError::BadProofOfPossession(k.public()))
        );
        // A vote signature is not a proof of possession (different DST).
        assert!(validate_registration(&k.public(), &k.sign(&k.public().0)).is_err());
        assert!(matches!(
            validate_registration(&BlsPublicKey([0; 48]), &k.proof_of_possession()),
            Err(BlsError::InvalidPublicKey(_))
        ));
    }

    #[test]
    fn qc_verifies_with_one_check_and_rejects_tampering() {
        let kps = keys(4);
        let pks = ValidatorKeys::new(&kps.iter().map(BlsKeypair::public).collect::<Vec<_>>()).expect("keys");
        let qc = qc_of(&kps, &[0, 2, 3], 9);
        assert_eq!(verify_qc(&qc, "c", &pks), Ok(vec![0, 2, 3]));
        assert_eq!(verify_qc(&qc, "other-channel", &pks), Err(BlsError::BadSignature));
        let mut wrong_signers = qc.clone();
        wrong_signers.signer_bitmap = bitmap(4, [0, 1, 3]);
        assert_eq!(verify_qc(&wrong_signers, "c", &pks), Err(BlsError::BadSignature));
        let mut wrong_round = qc.clone();
        wrong_round.round = 10;
        assert_eq!(verify_qc(&wrong_round, "c", &pks), Err(BlsError::BadSignature));
        let mut bad_bitmap = qc.clone();
        bad_bitmap.signer_bitmap = vec![0b1_0000];
        assert_eq!(verify_qc(&bad_bitmap, "c", &pks), Err(BlsError::BadBitmap { validators: 4 }));
        let mut garbage = qc;
        garbage.aggregate_signature.0[5] ^= 0xff;
        assert!(verify_qc(&garbage, "c", &pks).is_err());
    }

    #[test]
    fn tc_requires_the_proven_highest_round() {
        let kps = keys(4);
        let pks = ValidatorKeys::new(&kps.iter().map(BlsKeypair::public).collect::<Vec<_>>()).expect("keys");
        let high_qc = qc_of(&kps, &[0, 1, 2], 7);
        let hqc_rounds = vec![7, 6, 7];
        let sigs: Vec<BlsSignature> = [0usize, 1, 3]
            .iter()
            .zip(&hqc_rounds)
            .map(|(i, r)| kps[*i].sign(&timeout_message("c", 0, 9, *r)))
            .collect();
        let tc = TimeoutCert {
            epoch: 0,
            round: 9,
            signer_bitmap: bitmap(4, [0, 1, 3]),
            hqc_rounds,
            aggregate_signature: aggregate(&sigs).expect("aggregate"),
            high_qc,
        };
        assert_eq!(verify_tc(&tc, "c", &pks), Ok(vec![0, 1, 3]));
        // V1: an unsigned (altered) hqc round is caught by the aggregate.
        let mut forged = tc.clone();
        forged.hqc_rounds = vec![7, 7, 7];
        assert_eq!(verify_tc(&forged, "c", &pks), Err(BlsError::BadSignature));
        // A carried QC below the highest signed round is refused.
        let mut low = tc.clone();
        low.high_qc = qc_of(&kps, &[0, 1, 2], 6);
        assert!(matches!(verify_tc(&low, "c", &pks), Err(BlsError::BadTimeoutCert(_))));
        let mut count = tc;
        count.hqc_rounds.pop();
        assert!(matches!(verify_tc(&count, "c", &pks), Err(BlsError::BadTimeoutCert(_))));
    }

    #[test]
    fn verified_votes_aggregate_into_a_valid_qc() {
        let kps = keys(7);
        let vk = ValidatorKeys::new(&kps.iter().map(BlsKeypair::public).collect::<Vec<_>>()).expect("keys");
        let h = Hash([1; 32]);
        let msg = vote_message("c", 2, 3, 4, h);
        let verified: Vec<VerifiedSignature> = [1usize, 2, 4, 5, 6]
            .iter()
            .map(|i| verify_from(&vk, *i, &msg, &kps[*i].sign(&msg)).expect("valid vote"))
            .collect();
        assert_eq!(
            verify_from(&vk, 0, &msg, &kps[1].sign(&msg)).err(),
            Some(BlsError::BadSignature),
            "wrong voter index"
        );
        assert!(verify_from(&vk, 9, &msg, &kps[1].sign(&msg)).is_err());
        let qc = QuorumCert {
            epoch: 2,
            round: 3,
            height: 4,
            block_hash: h,
            signer_bitmap: bitmap(7, [1, 2, 4, 5, 6]),
            aggregate_signature: aggregate_verified(&verified).expect("aggregate"),
        };
        assert_eq!(verify_qc(&qc, "c", &vk), Ok(vec![1, 2, 4, 5, 6]));
        assert!(ValidatorKeys::new(&[BlsPublicKey([0; 48])]).is_err());
    }

    #[test]
    fn bitmaps_roundtrip() {
        let b = bitmap(10, [0, 3, 9]);
        assert_eq!(b, vec![0b0000_1001, 0b10]);
        assert_eq!(signers(&b, 10), Ok(vec![0, 3, 9]));
        assert!(signers(&b, 17).is_err(), "length must match");
        assert!(signers(&b, 9).is_err(), "bit 9 is outside a 9-validator set");
        assert!(signers(&[0, 0], 10).is_err(), "nobody signed");
    }

    #[test]
    fn secret_roundtrip_and_dev_keys_stable() {
        let k = BlsKeypair::dev(3);
        let back = BlsKeypair::from_secret_bytes(&k.secret_bytes()).expect("valid");
        assert_eq!(back.public(), k.public());
        assert_ne!(BlsKeypair::dev(3).public(), BlsKeypair::dev(4).public());
        let msg = b"m";
        assert_eq!(verify(&k.public(), msg, &k.sign(msg)), Ok(()));
        assert_eq!(verify(&k.public(), b"n", &k.sign(msg)), Err(BlsError::BadSignature));
    }
}
