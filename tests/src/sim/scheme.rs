//! Signature schemes behind one abstraction: the deterministic test scheme (cheap, sha3-based) for
//! thousands of seeds, and real BLS (`lc_crypto::bls`) for a smaller suite.
//!
//! The host layer of a simulated node only talks to [`Scheme`]: sign (through the node's signer,
//! which the safety guard owns), verify single votes, aggregate votes into certificates, verify
//! certificates. Byzantine nodes hold only their own signer, so they cannot forge honest votes.
use lc_crypto::bls::{self, timeout_message, vote_message, BlsKeypair, ValidatorKeys};
use lc_safety::VoteSigner;
use lc_types::{sha3_concat, BlsPublicKey, BlsSignature, Epoch, QuorumCert, Round, TimeoutCert};
use std::sync::Arc;

/// Channel name every simulated message is signed for.
pub const CHANNEL: &str = "sim";

/// Why a signature or certificate was refused by the verification layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The signature (or aggregate) does not verify.
    BadSignature,
    /// Malformed bitmap or signer list.
    BadSigners,
    /// A timeout certificate whose signed rounds do not match its carried QC (V1).
    BadTimeoutCert(&'static str),
}

/// A signature scheme as the simulated host uses it.
pub trait Scheme: std::fmt::Debug + Send + Sync {
    /// The signer the safety guard of validator `index` holds.
    type Signer: VoteSigner + std::fmt::Debug + Send;
    /// Signer of validator `index` (deterministic).
    fn signer(&self, index: usize) -> Self::Signer;
    /// Number of validators.
    fn len(&self) -> usize;
    /// Whether there are no validators.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Verifies validator `index`'s signature over `msg`.
    fn verify(&self, index: usize, msg: &[u8], sig: &BlsSignature) -> Result<(), VerifyError>;
    /// Aggregates individually verified signatures (ascending signer order, each over its own message).
    fn aggregate(&self, parts: &[(usize, &[u8], BlsSignature)]) -> Result<BlsSignature, VerifyError>;
    /// Verifies a QC's aggregate; returns its signers.
    fn verify_qc(&self, qc: &QuorumCert) -> Result<Vec<usize>, VerifyError>;
    /// Verifies a TC: signers, signed `(round, hqc_round)`s, carried QC of the highest signed round
    /// (V1). `bind_hqc = false` is the deliberately broken layer of the V1 regression: it checks
    /// only that the signers timed out the round and the carried QC verifies.
    fn verify_tc(&self, tc: &TimeoutCert, bind_hqc: bool) -> Result<Vec<usize>, VerifyError>;
}

/// Structural TC checks shared by both schemes.
fn check_tc_shape(tc: &TimeoutCert, n: usize, bind_hqc: bool) -> Result<Vec<usize>, VerifyError> {
    let who = bls::signers(&tc.signer_bitmap, n).map_err(|_| VerifyError::BadSigners)?;
    if tc.hqc_rounds.len() != who.len() {
        return Err(VerifyError::BadTimeoutCert("one hqc_round per signer"));
    }
    if bind_hqc {
        let max = tc.hqc_rounds.iter().copied().max().unwrap_or(0);
        if tc.high_qc.round != max || tc.high_qc.epoch != tc.epoch {
            return Err(VerifyError::BadTimeoutCert("high_qc round must equal the highest signed hqc_round"));
        }
        if tc.hqc_rounds.iter().any(|r| *r >= tc.round) {
            return Err(VerifyError::BadTimeoutCert("hqc_round must be below the timed-out round"));
        }
    }
    Ok(who)
}

/// Test signer: secret = sha3("sim-secret" ‖ index); signature = sha3(secret ‖ msg) expanded to 96
/// bytes. Verified by recomputation (the simulator's verifier knows every secret; a Byzantine
/// node's code only ever holds its own signer).
#[derive(Debug, Clone)]
pub struct TestSigner {
    index: usize,
    secret: [u8; 32],
}

impl TestSigner {
    /// Signer of validator `index`.
    pub fn new(index: usize) -> Self {
        Self { index, secret: sha3_concat(&[b"sim-secret", &(index as u64).to_le_bytes()]).0 }
    }

    fn expand(parts: &[&[u8]]) -> BlsSignature {
        let a = sha3_concat(parts).0;
        let b = sha3_concat(&[&a, b"1"]).0;
        let c = sha3_concat(&[&a, b"2"]).0;
        let mut out = [0u8; 96];
        out[..32].copy_from_slice(&a);
        out[32..64].copy_from_slice(&b);
        out[64..].copy_from_slice(&c);
        BlsSignature(out)
    }
}

impl VoteSigner for TestSigner {
    fn sign(&self, msg: &[u8]) -> BlsSignature {
        Self::expand(&[&self.secret, msg])
    }

    fn public(&self) -> BlsPublicKey {
        let h = sha3_concat(&[b"sim-public", &(self.index as u64).to_le_bytes()]).0;
        let mut out = [0u8; 48];
        out[..32].copy_from_slice(&h);
        BlsPublicKey(out)
    }
}

/// The deterministic test scheme.
#[derive(Debug, Clone)]
pub struct TestScheme {
    signers: Vec<TestSigner>,
}

impl TestScheme {
    /// `n` validators.
    pub fn new(n: usize) -> Self {
        Self { signers: (0..n).map(TestSigner::new).collect() }
    }

    fn aggregate_sigs(sigs: &[BlsSignature]) -> BlsSignature {
        let parts: Vec<&[u8]> = std::iter::once(&b"sim-aggregate"[..]).chain(sigs.iter().map(|s| &s.0[..])).collect();
        TestSigner::expand(&parts)
    }
}

impl Scheme for TestScheme {
    type Signer = TestSigner;

    fn signer(&self, index: usize) -> TestSigner {
        TestSigner::new(index)
    }

    fn len(&self) -> usize {
        self.signers.len()
    }

    fn verify(&self, index: usize, msg: &[u8], sig: &BlsSignature) -> Result<(), VerifyError> {
        let s = self.signers.get(index).ok_or(VerifyError::BadSigners)?;
        if s.sign(msg) == *sig {
            Ok(())
        } else {
            Err(VerifyError::BadSignature)
        }
    }

    fn aggregate(&self, parts: &[(usize, &[u8], BlsSignature)]) -> Result<BlsSignature, VerifyError> {
        if parts.is_empty() {
            return Err(VerifyError::BadSigners);
        }
        let sigs: Vec<BlsSignature> = parts.iter().map(|(_, _, s)| *s).collect();
        Ok(Self::aggregate_sigs(&sigs))
    }

    fn verify_qc(&self, qc: &QuorumCert) -> Result<Vec<usize>, VerifyError> {
        let who = bls::signers(&qc.signer_bitmap, self.len()).map_err(|_| VerifyError::BadSigners)?;
        let msg = vote_message(CHANNEL, qc.epoch, qc.round, qc.height, qc.block_hash);
        let sigs: Vec<BlsSignature> = who.iter().map(|i| self.signers[*i].sign(&msg)).collect();
        if Self::aggregate_sigs(&sigs) == qc.aggregate_signature {
            Ok(who)
        } else {
            Err(VerifyError::BadSignature)
        }
    }

    fn verify_tc(&self, tc: &TimeoutCert, bind_hqc: bool) -> Result<Vec<usize>, VerifyError> {
        let who = check_tc_shape(tc, self.len(), bind_hqc)?;
        verify_carried_qc(self, &tc.high_qc)?;
        if !bind_hqc {
            return Ok(who);
        }
        let sigs: Vec<BlsSignature> = who
            .iter()
            .zip(&tc.hqc_rounds)
            .map(|(i, r)| self.signers[*i].sign(&timeout_message(CHANNEL, tc.epoch, tc.round, *r)))
            .collect();
        if Self::aggregate_sigs(&sigs) == tc.aggregate_signature {
            Ok(who)
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}

/// The QC of the genesis root: signed by every validator (so it verifies like any other QC).
pub fn genesis_qc<S: Scheme + ?Sized>(scheme: &S) -> QuorumCert {
    use lc_safety::VoteSigner as _;
    let g = crate::sim::block::genesis();
    let msg = yes_msg(0, g.round, g.height, g.hash);
    let sigs: Vec<(usize, BlsSignature)> = (0..scheme.len()).map(|i| (i, scheme.signer(i).sign(&msg))).collect();
    let parts: Vec<(usize, &[u8], BlsSignature)> = sigs.iter().map(|(i, s)| (*i, &msg[..], *s)).collect();
    QuorumCert {
        epoch: 0,
        round: g.round,
        height: g.height,
        block_hash: g.hash,
        signer_bitmap: bls::bitmap(scheme.len(), 0..scheme.len()),
        aggregate_signature: scheme.aggregate(&parts).expect("genesis signatures aggregate"),
    }
}

/// Verifies a QC carried by a block, vote or TC.
pub fn verify_carried_qc<S: Scheme + ?Sized>(scheme: &S, qc: &QuorumCert) -> Result<(), VerifyError> {
    scheme.verify_qc(qc).map(|_| ())
}

/// Real BLS12-381 (`lc_crypto::bls`, `BlsKeypair::dev(i)`).
#[derive(Debug, Clone)]
pub struct BlsScheme {
    keys: Arc<ValidatorKeys>,
}

impl BlsScheme {
    /// `n` dev validators.
    pub fn new(n: usize) -> Self {
        let pks: Vec<BlsPublicKey> = (0..n as u64).map(|i| BlsKeypair::dev(i).public()).collect();
        let keys = ValidatorKeys::new(&pks).expect("dev BLS keys are valid");
        Self { keys: Arc::new(keys) }
    }
}

/// A BLS dev key that is `Debug` + `Send` (the guard owns it).
pub type BlsSigner = BlsKeypair;

impl Scheme for BlsScheme {
    type Signer = BlsSigner;

    fn signer(&self, index: usize) -> BlsKeypair {
        BlsKeypair::dev(index as u64)
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn verify(&self, index: usize, msg: &[u8], sig: &BlsSignature) -> Result<(), VerifyError> {
        let pk = self.keys.keys().get(index).ok_or(VerifyError::BadSigners)?;
        bls::verify(pk, msg, sig).map_err(|_| VerifyError::BadSignature)
    }

    fn aggregate(&self, parts: &[(usize, &[u8], BlsSignature)]) -> Result<BlsSignature, VerifyError> {
        let sigs: Vec<BlsSignature> = parts.iter().map(|(_, _, s)| *s).collect();
        bls::aggregate(&sigs).map_err(|_| VerifyError::BadSignature)
    }

    fn verify_qc(&self, qc: &QuorumCert) -> Result<Vec<usize>, VerifyError> {
        bls::verify_qc(qc, CHANNEL, &self.keys).map_err(|e| match e {
            bls::BlsError::BadBitmap { .. } => VerifyError::BadSigners,
            _ => VerifyError::BadSignature,
        })
    }

    fn verify_tc(&self, tc: &TimeoutCert, bind_hqc: bool) -> Result<Vec<usize>, VerifyError> {
        if bind_hqc {
            return bls::verify_tc(tc, CHANNEL, &self.keys).map_err(|e| match e {
                bls::BlsError::BadTimeoutCert(m) => VerifyError::BadTimeoutCert(m),
                bls::BlsError::BadBitmap { .. } => VerifyError::BadSigners,
                _ => VerifyError::BadSignature,
            });
        }
        let who = check_tc_shape(tc, self.len(), false)?;
        verify_carried_qc(self, &tc.high_qc)?;
        Ok(who)
    }
}

/// The bytes of a yes vote in the simulated channel.
pub fn yes_msg(epoch: Epoch, round: Round, height: u64, hash: lc_types::Hash) -> Vec<u8> {
    vote_message(CHANNEL, epoch, round, height, hash)
}

/// The bytes of a timeout vote in the simulated channel.
pub fn timeout_msg(epoch: Epoch, round: Round, hqc_round: Round) -> Vec<u8> {
    timeout_message(CHANNEL, epoch, round, hqc_round)
}
