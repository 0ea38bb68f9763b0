//! `loopchain`: one binary, clap subcommands (DESIGN §2).
//!
//! - `loopchain peer [-o FILE] [-p PORT] [-r HOST:PORT] [--set KEY=VALUE]...` runs a node: every
//!   channel that lists it (channel file or radio station), else the one-validator dev chain.
//! - `loopchain radiostation [-o FILE] [-p PORT]` runs the radio station (a plugin).
//! - `loopchain demo` runs a radio station and 4 peers with two channels, with live progress.
//! - `loopchain keygen [-p PORT | --out DIR]` writes a node's identity and BLS keys.
//! - `loopchain ca init|issue|revoke` runs a channel CA: node certificates for mutual TLS, bound
//!   to peer ids and keys, and the revocation list.
//! - `loopchain bench ...` is the load tool: signed transactions through the batch API into
//!   committed blocks, reporting committed tx/s.
//! - `loopchain tx call|data|deploy ...` signs and sends one transaction.
//! - `loopchain score new NAME` scaffolds a SCORE crate.
//! - `loopchain proof verify --proof FILE --validators FILE` checks a finality proof.
//! - `loopchain replay FILE` re-runs a recorded consensus log and checks every decision.
//! - `loopchain logcollector [-p PORT] [--dir DIR]` gathers the structured events of every node
//!   (`LOG_COLLECTOR_TARGET`) into files per node and channel, and answers queries over HTTP.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod bench;
mod ca;
mod channels;
mod consensus_libs;
mod demo;
mod events;
mod keys;
mod logcollector;
mod peer;
mod proof;
mod radiostation;
mod replay;
mod score_new;
mod scores;
mod tx;

#[derive(Debug, Parser)]
#[command(
    name = "loopchain",
    version,
    about = "loopchain: a permissioned blockchain node (LFT consensus, SCOREs, channels)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a peer node: its channels, consensus and the REST API on PORT+1900.
    Peer(peer::PeerArgs),
    /// Run the radio station (radio-station plugin): peer discovery, channel membership and channel
    /// auth over gRPC on PORT (PORT_RADIOSTATION), REST /api/v1/peer/* and /conf on PORT+1900.
    #[command(alias = "rs")]
    Radiostation(radiostation::RadioStationArgs),
    /// Generate this node's identity (ed25519) and consensus (BLS, with proof of possession)
    /// keys, and print its member entry for channel_manage_data.json.
    Keygen(keys::KeygenArgs),
    /// Run a whole local network: a radio station and 4 peers, two channels, sample traffic and
    /// live progress, until Ctrl-C.
    Demo(demo::DemoArgs),
    /// Load tool: sign transactions from dev accounts, push them through
    /// /api/v1/transactions/batch and report committed transactions per second.
    Bench(bench::BenchArgs),
    /// Build, sign and send a transaction (signed_tx REST form).
    Tx(tx::TxArgs),
    /// SCORE tools.
    #[command(subcommand)]
    Score(ScoreCmd),
    /// Finality proofs.
    #[command(subcommand)]
    Proof(ProofCmd),
    /// Re-run a recorded consensus log (CONSENSUS_LOG=true) and check every decision.
    Replay(replay::ReplayArgs),
    /// Log collector: receives the structured events of every node (LOG_COLLECTOR_TARGET) on
    /// PORT (default 9500), writes them into rotating files per node and channel, and serves
    /// GET /api/v1/events, /api/v1/events/tail (live) and /api/v1/nodes on the same port.
    Logcollector(logcollector::LogCollectorArgs),
    /// Channel CA: create it, issue node certificates bound to peer ids and keys, revoke.
    #[command(subcommand)]
    Ca(ca::CaCmd),
}

#[derive(Debug, Subcommand)]
enum ProofCmd {
    /// Check a proof (GET /api/v1/blocks/proof) against a validator set
    /// (GET /api/v1/channel/validators); exit 0 only if it holds.
    Verify(proof::VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum ScoreCmd {
    /// Scaffold a SCORE crate pinned to this node's plugin-api.
    New(score_new::ScoreNewArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Cmd::Peer(args) => peer::run(args),
        Cmd::Radiostation(args) => radiostation::run(args),
        Cmd::Demo(args) => demo::run(args),
        Cmd::Keygen(args) => keys::keygen(args),
        Cmd::Bench(args) => bench::run(args),
        Cmd::Tx(args) => tx::run(args),
        Cmd::Score(ScoreCmd::New(args)) => score_new::run(args),
        Cmd::Proof(ProofCmd::Verify(args)) => proof::verify(args),
        Cmd::Replay(args) => replay::run(args),
        Cmd::Ca(cmd) => ca::run(cmd),
        Cmd::Logcollector(args) => logcollector::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loopchain: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
