//! `loopchain proof verify --proof FILE --validators FILE`: checks a finality proof (as served by
//! `GET /api/v1/blocks/proof`) against a validator set (as served by
//! `GET /api/v1/channel/validators`). Exit 0 only when every hash, link, round, QC and proposer
//! signature checks out; otherwise the reason is printed and the exit code is non-zero.
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `loopchain proof verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The proof JSON file.
    #[arg(long)]
    proof: PathBuf,
    /// The validator set JSON file of the proof's epoch.
    #[arg(long)]
    validators: PathBuf,
}

fn read_bounded(path: &PathBuf, max: usize, what: &str) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path).with_context(|| format!("{what} file {}", path.display()))?.len();
    anyhow::ensure!(len <= max as u64, "{what} file {} is {len} bytes, more than the limit of {max}", path.display());
    std::fs::read(path).with_context(|| format!("reading {what} file {}", path.display()))
}

pub(crate) fn verify(args: VerifyArgs) -> Result<()> {
    let proof_bytes = read_bounded(&args.proof, lc_proof::MAX_PROOF_JSON_BYTES, "proof")?;
    let set_bytes = read_bounded(&args.validators, lc_proof::MAX_SET_JSON_BYTES, "validator set")?;
    let proof = lc_proof::FinalityProof::from_json(&proof_bytes)
        .with_context(|| format!("proof file {}", args.proof.display()))?;
    let set = lc_proof::ValidatorSet::from_json(&set_bytes)
        .with_context(|| format!("validator set file {}", args.validators.display()))?;
    let ok = lc_proof::verify(&proof, &set).context("the proof does not verify")?;
    println!(
        "ok: block {} at height {} of channel {} (epoch {}) is final; directly committed at height {}, last QC signed by {} validators",
        ok.block_hash,
        ok.height,
        ok.channel,
        ok.epoch,
        ok.direct_commit_height,
        ok.final_signers.len()
    );
    Ok(())
}
