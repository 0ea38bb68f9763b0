//! `loopchain bench`: the load tool.
//!
//! Signs `--txs` transactions from deterministic dev accounts (before the clock starts), posts them
//! through `/api/v1/transactions/batch` with `--concurrency` requests in flight, then polls
//! `/api/v1/status/peer` until every accepted transaction is committed. Reports accepted and
//! committed transactions per second, measured from the first request to the commit of the last
//! transaction.
use anyhow::{bail, Context, Result};
use clap::Args;
use lc_crypto::Keypair;
use lc_types::{Payload, TxBody};
use rayon::prelude::*;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Flags of `loopchain bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// REST base URL of the node.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    target: String,
    /// Channel to load.
    #[arg(long, default_value = "loopchain_default")]
    channel: String,
    /// Number of transactions.
    #[arg(long, default_value_t = 50_000)]
    txs: usize,
    /// Transactions per batch request.
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Batch requests in flight.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Number of dev accounts signing.
    #[arg(long, default_value_t = 256)]
    accounts: u64,
    /// Give up waiting for commits after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
}

async fn status(client: &reqwest::Client, args: &BenchArgs) -> Result<(u64, u64)> {
    let url = format!("{}/api/v1/status/peer?channel={}", args.target, args.channel);
    let v: Value = client.get(&url).send().await.with_context(|| format!("GET {url}"))?.json().await?;
    let total = v["total_tx"].as_u64().context("status has no total_tx")?;
    let height = v["block_height"].as_u64().context("status has no block_height")?;
    Ok((total, height))
}

pub(crate) fn run(args: BenchArgs) -> Result<()> {
    if args.batch == 0 || args.concurrency == 0 || args.accounts == 0 {
        bail!("--batch, --concurrency and --accounts must be positive");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run_async(args))
}

async fn run_async(args: BenchArgs) -> Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let (start_total, start_height) = status(&client, &args).await?;

    let sign_start = Instant::now();
    let accounts: Vec<Keypair> = (0..args.accounts).map(Keypair::dev_account).collect();
    let run_id = lc_engine::now_us();
    let channel = args.channel.clone();
    let bodies: Vec<String> = (0..args.txs)
        .into_par_iter()
        .map(|i| {
            let kp = &accounts[i % accounts.len()];
            let body = TxBody {
                channel: channel.clone(),
                from: kp.public(),
                timestamp_us: lc_engine::now_us(),
                nonce: run_id.wrapping_add(i as u64),
                payload: Payload::Data { json: format!("{{\"bench\":{i}}}") },
            };
            serde_json::to_value(kp.sign_tx(body)).map_err(anyhow::Error::from)
        })
        .collect::<Result<Vec<Value>>>()?
        .chunks(args.batch)
        .map(|chunk| json!({"channel": channel, "signed_txs": chunk}).to_string())
        .collect();
    println!("signed {} transactions from {} dev accounts in {:.2?}", args.txs, args.accounts, sign_start.elapsed());

    let url = format!("{}/api/v1/transactions/batch", args.target);
    let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(bodies.len());
    for body in bodies {
        let permit = Arc::clone(&sem).acquire_owned().await?;
        let client = client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let resp = client.post(&url).body(body).send().await?;
            let v: Value = resp.json().await?;
            let accepted = v["accepted"].as_u64().unwrap_or(0);
            let first_error = v["results"]
                .as_array()
                .and_then(|rs| rs.iter().find(|r| r["response_code"] != "0"))
                .map(|r| r["message"].as_str().unwrap_or("").to_owned())
                .or_else(|| v["message"].as_str().map(str::to_owned));
            Ok::<_, anyhow::Error>((accepted, first_error))
        }));
    }
    let mut accepted = 0u64;
    let mut errors = Vec::new();
    for t in tasks {
        let (a, e) = t.await??;
        accepted += a;
        if let Some(e) = e {
            errors.push(e);
        }
    }
    let submitted_in = started.elapsed();
    println!(
        "submitted: {accepted}/{} accepted in {submitted_in:.2?} ({:.0} tx/s)",
        args.txs,
        accepted as f64 / submitted_in.as_secs_f64()
    );
    if let Some(e) = errors.first() {
        println!("first refusal: {e} ({} batches had refusals)", errors.len());
    }

    let deadline = started + Duration::from_secs(args.timeout_s);
    let target_total = start_total + accepted;
    let (total, height) = loop {
        let (total, height) = status(&client, &args).await?;
        if total >= target_total {
            break (total, height);
        }
        if Instant::now() > deadline {
            bail!("timed out: {} of {accepted} accepted transactions committed", total - start_total);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = started.elapsed();
    let blocks = height - start_height;
    println!(
        "committed: {} transactions in {blocks} blocks in {elapsed:.2?} => {:.0} committed tx/s (avg {:.0} tx/block)",
        total - start_total,
        accepted as f64 / elapsed.as_secs_f64(),
        (total - start_total) as f64 / blocks.max(1) as f64
    );
    Ok(())
}
