//! `loopchain replay FILE`: re-runs a recorded consensus log (`CONSENSUS_LOG=true` writes
//! `<data>/consensus/<channel>.jsonl`) through fresh LFT cores and checks every decision.
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `loopchain replay`.
#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// The consensus log (JSON lines).
    file: PathBuf,
}

pub(crate) fn run(args: ReplayArgs) -> Result<()> {
    let report =
        lc_engine::replay::replay_file(&args.file).with_context(|| format!("replaying {}", args.file.display()))?;
    println!(
        "ok: {} core starts and {} inputs replayed with identical decisions ({} blocks committed, {} votes, last round {})",
        report.starts, report.steps, report.committed_blocks, report.votes, report.last_round
    );
    Ok(())
}
