//! `loopchain tx`: build, sign and send a transaction in the REST `signed_tx` form.
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use lc_crypto::Keypair;
use lc_types::{Payload, TxBody};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Flags of `loopchain tx`.
#[derive(Debug, Args)]
pub(crate) struct TxArgs {
    /// REST base URL of a node.
    #[arg(long, default_value = "http://127.0.0.1:9000", global = true)]
    target: String,
    /// Channel.
    #[arg(long, default_value = "loopchain_default", global = true)]
    channel: String,
    /// Sign with this key file (64 hex characters, e.g. a node's keys/identity.key).
    #[arg(long, value_name = "FILE", global = true)]
    key_file: Option<PathBuf>,
    /// Sign with deterministic dev account N (when no --key-file).
    #[arg(long, default_value_t = 0, global = true)]
    account: u64,
    /// Wait until the transaction is committed and print its receipt (exit 1 on a failure receipt).
    #[arg(long, global = true)]
    wait: bool,
    #[command(subcommand)]
    kind: TxKind,
}

#[derive(Debug, Subcommand)]
enum TxKind {
    /// Call a SCORE method.
    Call {
        /// SCORE name.
        #[arg(long)]
        score: String,
        /// Method.
        #[arg(long)]
        method: String,
        /// JSON parameters.
        #[arg(long, default_value = "{}")]
        params: String,
    },
    /// A data transaction (handed to the channel SCORE's on_data).
    Data {
        /// JSON document.
        json: String,
    },
    /// Activate a SCORE build (signer must be a channel admin; the node must have staged it).
    Deploy {
        /// SCORE name.
        #[arg(long)]
        score: String,
        /// The library file; its SHA3-256 is the code hash.
        #[arg(long)]
        library: PathBuf,
        /// JSON parameters for on_install / on_update.
        #[arg(long, default_value = "{}")]
        params: String,
    },
    /// Schedule the next epoch (signer must be a channel admin): a ChannelConfig document such as
    /// `{"epoch_start_height": 120, "consensus": "weighted", "consensus_params": {"weights": [3, 1, 1, 1]}}`
    /// with `--consensus-library target/debug/libconsensus_weighted.so` (optional: `members`).
    Config {
        /// The ChannelConfig JSON document.
        json: String,
        /// The consensus plugin library the document names: its SHA3-256 becomes
        /// `consensus_code_hash`.
        #[arg(long, value_name = "FILE")]
        consensus_library: Option<PathBuf>,
    },
}

fn json_arg(s: &str, what: &str) -> Result<String> {
    let v: Value = serde_json::from_str(s).with_context(|| format!("{what} is not valid JSON"))?;
    Ok(v.to_string())
}

pub(crate) fn run(args: TxArgs) -> Result<()> {
    let key = match &args.key_file {
        Some(path) => {
            let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Keypair::from_seed_hex(&s).with_context(|| format!("key file {}", path.display()))?
        }
        None => Keypair::dev_account(args.account),
    };
    let payload = match &args.kind {
        TxKind::Call { score, method, params } => {
            Payload::Call { score: score.clone(), method: method.clone(), params_json: json_arg(params, "--params")? }
        }
        TxKind::Data { json } => Payload::Data { json: json_arg(json, "the data")? },
        TxKind::Config { json, consensus_library } => {
            let mut doc: Value = serde_json::from_str(json).context("the ChannelConfig document is not valid JSON")?;
            if let Some(lib) = consensus_library {
                let bytes = std::fs::read(lib).with_context(|| format!("reading {}", lib.display()))?;
                let Some(obj) = doc.as_object_mut() else { bail!("the ChannelConfig document must be a JSON object") };
                obj.insert("consensus_code_hash".into(), Value::String(lc_types::sha3(&bytes).to_hex()));
            }
            Payload::ChannelConfig { json: doc.to_string() }
        }
        TxKind::Deploy { score, library, params } => {
            let bytes = std::fs::read(library).with_context(|| format!("reading {}", library.display()))?;
            Payload::Deploy {
                score: score.clone(),
                code_hash: lc_types::sha3(&bytes),
                params: json_arg(params, "--params")?,
            }
        }
    };
    let tx = key.sign_tx(TxBody {
        channel: args.channel.clone(),
        from: key.public(),
        timestamp_us: lc_engine::now_us(),
        nonce: lc_engine::now_us(),
        payload,
    });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
        let url = format!("{}/api/v1/transactions", args.target);
        let resp = client
            .post(&url)
            .body(json!({"signed_tx": tx}).to_string())
            .send()
            .await
            .with_context(|| format!("POST {url}"))?;
        let status = resp.status();
        let body: Value = resp.json().await.context("response is not JSON")?;
        if !status.is_success() {
            bail!("refused ({status}): {body}");
        }
        let hash = body["tx_hash"].as_str().context("no tx_hash in the answer")?.to_owned();
        println!("{hash}");
        if !args.wait {
            return Ok(());
        }
        let url = format!("{}/api/v1/transactions/result?hash={hash}&channel={}", args.target, args.channel);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v: Value = client.get(&url).send().await?.json().await?;
            match v["response"]["code"].as_u64() {
                Some(2) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
                Some(0) => {
                    println!("{}", serde_json::to_string_pretty(&v["response"])?);
                    return Ok(());
                }
                _ => bail!("transaction failed or timed out: {v}"),
            }
        }
    })
}
