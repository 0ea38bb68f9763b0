//! loopchain cryptography.
//!
//! - ed25519 under ZIP-215 rules ([`ed25519_consensus`]): single and batch verification always
//!   agree, so a transaction accepted by one node's batch is accepted by every node.
//! - Transactions are signed over their 32-byte hash; blocks over their block hash.
//! - Batch verification splits work across cores ([`rayon`]) and, when a batch fails, finds the
//!   offending signatures one by one so good transactions are never lost with a bad one.
//!
//! - BLS12-381 (blst, min_pk, IETF POP ciphersuite) votes, aggregation and quorum/timeout
//!   certificate verification live in [`bls`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bls;

use ed25519_consensus::{batch, SigningKey, VerificationKey};
use lc_types::{sha3_concat, Block, BlockHeader, Hash, PublicKey, Signature, Transaction, TxBody};
use rayon::prelude::*;
use thiserror::Error;

/// Cryptographic failures.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The public key bytes are not a valid ed25519 point encoding.
    #[error("invalid ed25519 public key {0}")]
    InvalidPublicKey(PublicKey),
    /// The signature does not verify.
    #[error("signature does not verify for key {0}")]
    BadSignature(PublicKey),
    /// A secret key file or hex string is malformed.
    #[error("malformed secret key: {0}")]
    MalformedSecret(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An ed25519 key pair (node identity or client account).
#[derive(Clone)]
pub struct Keypair {
    secret: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair").field("public", &self.public).finish_non_exhaustive()
    }
}

impl Keypair {
    /// A fresh random key pair (OS randomness).
    pub fn generate() -> Self {
        Self::from_seed(SigningKey::new(rand_core::OsRng).to_bytes())
    }

    /// The key pair of a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let secret = SigningKey::from(seed);
        let public = PublicKey(secret.verification_key().to_bytes());
        Self { secret, public }
    }

    /// Deterministic development account `index`: the seed is `sha3("loopchain-dev-account" ‖ index_le)`.
    /// Tools, tests and the token SCORE's default holders derive the same keys.
    pub fn dev_account(index: u64) -> Self {
        Self::from_seed(sha3_concat(&[b"loopchain-dev-account", &index.to_le_bytes()]).0)
    }

    /// Parses the hex seed written by [`Keypair::seed_hex`].
    pub fn from_seed_hex(s: &str) -> Result<Self> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut seed)
            .map_err(|e| Error::MalformedSecret(format!("{e} (expected 64 hex characters)")))?;
        Ok(Self::from_seed(seed))
    }

    /// The seed as hex (for key files).
    pub fn seed_hex(&self) -> String {
        hex::encode(self.secret.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.secret.sign(msg).to_bytes())
    }

    /// Signs a transaction body.
    pub fn sign_tx(&self, body: TxBody) -> Transaction {
        let signature = self.sign(&body.hash().0);
        Transaction { body, signature }
    }

    /// Signs a block header.
    pub fn sign_block(&self, header: BlockHeader, txs: Vec<Transaction>) -> Block {
        let proposer_signature = self.sign(&header.hash().0);
        Block { header, proposer_signature, txs }
    }
}

/// Verifies one ed25519 signature under ZIP-215 rules.
pub fn verify(key: &PublicKey, msg: &[u8], sig: &Signature) -> Result<()> {
    let vk = VerificationKey::try_from(key.0).map_err(|_| Error::InvalidPublicKey(*key))?;
    vk.verify(&ed25519_consensus::Signature::from(sig.0), msg).map_err(|_| Error::BadSignature(*key))
}

/// Verifies a transaction's signature over its hash; `hash` must be `tx.hash()`.
pub fn verify_tx(tx: &Transaction, hash: &Hash) -> Result<()> {
    verify(&tx.body.from, &hash.0, &tx.signature)
}

/// Verifies a block's proposer signature.
pub fn verify_block_signature(block: &Block) -> Result<()> {
    verify(&block.header.proposer, &block.hash().0, &block.proposer_signature)
}

/// Chunk size for batch verification: large enough to amortise the multiscalar multiplication.
const BATCH_CHUNK: usize = 256;

/// Verifies many transactions (with their precomputed hashes) in parallel batches.
///
/// Returns one result per transaction, in input order. A failing batch is re-checked one by one,
/// so a single bad signature never rejects its neighbours.
pub fn verify_txs(items: &[(&Transaction, Hash)]) -> Vec<Result<()>> {
    items
        .par_chunks(BATCH_CHUNK)
        .flat_map_iter(|chunk| {
            // The batch verifier decompresses each key itself (an invalid key fails the batch,
            // and the one-by-one pass below names the culprit): no separate decompression here.
            let mut verifier = batch::Verifier::new();
            for (tx, hash) in chunk {
                verifier.queue((
                    ed25519_consensus::VerificationKeyBytes::from(tx.body.from.0),
                    ed25519_consensus::Signature::from(tx.signature.0),
                    &hash.0[..],
                ));
            }
            let all_ok = verifier.verify(rand_core::OsRng).is_ok();
            let results: Vec<Result<()>> = if all_ok {
                chunk.iter().map(|_| Ok(())).collect()
            } else {
                chunk.iter().map(|(tx, hash)| verify_tx(tx, hash)).collect()
            };
            results.into_iter()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lc_types::Payload;

    fn body(i: u64) -> TxBody {
        TxBody {
            channel: "c".into(),
            from: Keypair::dev_account(i).public(),
            timestamp_us: 1,
            nonce: i,
            payload: Payload::Data { json: "{}".into() },
        }
    }

    #[test]
    fn sign_and_verify_roundtrip() {
        let kp = Keypair::dev_account(0);
        let tx = kp.sign_tx(body(0));
        assert_eq!(verify_tx(&tx, &tx.hash()), Ok(()));
        let mut bad = tx;
        bad.body.nonce += 1;
        assert_eq!(verify_tx(&bad, &bad.hash()), Err(Error::BadSignature(kp.public())));
    }

    #[test]
    fn batch_isolates_the_bad_signature() {
        let mut txs: Vec<Transaction> = (0..600).map(|i| Keypair::dev_account(i).sign_tx(body(i))).collect();
        txs[317].signature.0[5] ^= 1;
        txs[5].body.from = PublicKey([0xff; 32]); // not a valid point encoding
        let items: Vec<(&Transaction, Hash)> = txs.iter().map(|t| (t, t.hash())).collect();
        let results = verify_txs(&items);
        assert_eq!(results.len(), 600);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i != 317 && i != 5, "index {i}: {r:?}");
        }
    }

    #[test]
    fn dev_accounts_are_stable() {
        // A change here breaks every tool and config that derives dev accounts.
        assert_eq!(
            Keypair::dev_account(0).public().to_hex(),
            Keypair::from_seed(sha3_concat(&[b"loopchain-dev-account", &0u64.to_le_bytes()]).0).public().to_hex()
        );
        assert_ne!(Keypair::dev_account(0).public(), Keypair::dev_account(1).public());
    }

    #[test]
    fn seed_hex_roundtrip_and_errors() {
        let kp = Keypair::generate();
        assert_eq!(Keypair::from_seed_hex(&kp.seed_hex()).map(|k| k.public()), Ok(kp.public()));
        assert!(matches!(Keypair::from_seed_hex("zz"), Err(Error::MalformedSecret(_))));
    }
}
