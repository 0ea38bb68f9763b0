//! `loopchain peer`.
use crate::keys;
use crate::{consensus_libs, scores};
use anyhow::{bail, Context, Result};
use clap::Args;
use lc_config::{Config, Overrides};
use lc_engine::{Channel, ChannelParams, PluginSchemes, ScoreExecutor, ScoreRuntime};
use lc_plugin_host::{ConsensusRegistry, ScoreRegistry};
use lc_storage::{Backend, ChannelStore, RocksDb, StorageConfig};
use lc_types::{Address, ChannelDefinition, Member, Role};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Flags of `loopchain peer` (the seed's names).
#[derive(Debug, Args)]
pub(crate) struct PeerArgs {
    /// JSON configuration file (seed key names, e.g. PORT_PEER); overrides env and user file.
    #[arg(short = 'o', long = "configure_file_path", value_name = "FILE")]
    config: Option<PathBuf>,
    /// gRPC port of this peer (PORT_PEER); REST listens on PORT + 1900; data in DEFAULT_STORAGE_PATH/PORT.
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Radio station HOST:PORT (RADIO_STATION_TARGET).
    #[arg(short = 'r', long = "radio_station_target", value_name = "HOST:PORT")]
    radio_station_target: Option<String>,
    /// Any configuration key, highest precedence (repeatable), e.g. --set INTERVAL_BLOCKGENERATION=0.5
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

fn load_config(args: &PeerArgs) -> Result<(Config, Vec<String>)> {
    let mut overrides =
        Overrides { port: args.port, radio_station_target: args.radio_station_target.clone(), extra: vec![] };
    for kv in &args.set {
        overrides.extra.push(lc_config::parse_override(kv)?);
    }
    let user = lc_config::default_user_file();
    let loaded = lc_config::load(&lc_config::process_env, user.as_deref(), args.config.as_deref(), &overrides)?;
    Ok((loaded.config, loaded.warnings))
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if cfg.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn channel_params(cfg: &Config, channel: &str) -> ChannelParams {
    ChannelParams {
        interval: Duration::from_secs_f64(cfg.interval_blockgeneration),
        allow_empty_blocks: cfg.allow_make_empty_block,
        max_tx_count: cfg.max_tx_count_in_block,
        max_block_bytes: cfg.max_block_kbytes.saturating_mul(1024),
        max_tx_bytes: cfg.max_tx_bytes,
        mempool_max: cfg.mempool_max_txs,
        timestamp_boundary_s: cfg.timestamp_boundary_second,
        allow_unsigned_data: cfg.allow_unsigned_data_tx,
        tps_limit_per_sec: cfg.tps_limit_per_sec,
        invoke_timeout: Duration::from_secs_f64(cfg.score_invoke_timeout),
        propose_timeout: Duration::from_millis(cfg.timeout_propose_ms),
        vote_timeout: Duration::from_millis(cfg.timeout_vote_ms),
        consensus_log: cfg.consensus_log.then(|| cfg.data_dir().join("consensus").join(format!("{channel}.jsonl"))),
        ..ChannelParams::default()
    }
}

/// Install parameters of the dev chain's SCORE: the first 16 deterministic dev accounts
/// (`Keypair::dev_account(0..16)`, used by `loopchain bench` and the tests) hold 10^24 each; a
/// token SCORE uses them, others ignore them.
fn dev_score_params() -> String {
    let holders: Vec<serde_json::Value> = (0..16)
        .map(|i| serde_json::json!({"address": Address::of(&lc_crypto::Keypair::dev_account(i).public()), "balance": "1000000000000000000000000"}))
        .collect();
    serde_json::json!({ "holders": holders }).to_string()
}

/// The one-validator dev chain: this node is the only validator and the admin.
fn dev_channel(
    name: &str,
    key: &lc_types::PublicKey,
    bls: &lc_crypto::bls::BlsKeypair,
    score: &str,
) -> ChannelDefinition {
    ChannelDefinition {
        name: name.to_owned(),
        members: vec![Member {
            peer_id: Address::of(key),
            identity_key: *key,
            bls_key: Some(bls.public()),
            bls_pop: Some(bls.proof_of_possession()),
            weight: 1,
            group: None,
            role: Role::Validator,
        }],
        admins: vec![*key],
        score: score.to_owned(),
        score_params: dev_score_params(),
        consensus: "equal".into(),
        consensus_params: "{}".into(),
        consensus_code_hash: None,
        genesis_timestamp_us: 0,
    }
}

pub(crate) fn run(args: PeerArgs) -> Result<()> {
    let (cfg, warnings) = load_config(&args)?;
    init_logging(&cfg);
    for w in &warnings {
        warn!("{w}");
    }
    let data_dir = cfg.data_dir();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let (key, generated) = keys::load_or_generate(&data_dir.join("keys").join("identity.key"))?;
    let peer_id = Address::of(&key.public());
    if generated {
        info!(%peer_id, path = %data_dir.join("keys").display(), "generated a new identity key");
    }
    let (bls, bls_generated) = keys::load_or_generate_bls(&data_dir.join("keys").join("bls.key"))?;
    if bls_generated {
        info!(bls_key = %bls.public(), path = %data_dir.join("keys").display(), "generated a new BLS consensus key");
    }
    if !cfg.radio_station_target.is_empty() || !cfg.channel_manage_data_path.is_empty() {
        warn!("RADIO_STATION_TARGET / CHANNEL_MANAGE_DATA_PATH are set, but multi-node channels are not implemented yet; running the one-validator dev chain");
    }
    info!(
        channel = %cfg.loopchain_default_channel,
        %peer_id,
        "no radio station and no channel file: running the default channel as a one-validator dev chain (this node is its only validator and admin)"
    );

    let db: Arc<RocksDb> = Arc::new(
        RocksDb::open(
            &data_dir.join("db"),
            StorageConfig {
                block_cache_bytes: cfg.rocksdb_block_cache_mb << 20,
                write_buffer_bytes: cfg.rocksdb_write_buffer_mb << 20,
            },
        )
        .with_context(|| format!("opening the database in {}", data_dir.display()))?,
    );
    let backend: Arc<dyn Backend> = db.clone();
    let def = dev_channel(&cfg.loopchain_default_channel, &key.public(), &bls, &cfg.default_score_package);
    let store = ChannelStore::open(backend, &def.name)?;

    let registry = Arc::new(ScoreRegistry::new(&data_dir.join("plugins").join("score"))?);
    for e in registry.load_existing() {
        warn!(error = %e, "a staged SCORE copy failed to load");
    }
    let runtime = ScoreRuntime::new(Arc::clone(&registry), &def.score, def.admins.clone());
    let lib_dir = scores::library_dir(&cfg.score_package_path)?;
    let consensus_registry = Arc::new(ConsensusRegistry::new(&data_dir.join("plugins").join("consensus"))?);
    for e in consensus_registry.load_existing() {
        warn!(error = %e, "a staged consensus plugin copy failed to load");
    }
    // Consensus plugins: next to the SCOREs (a configured SCORE_PACKAGE_PATH), else next to the binary.
    let mut plugin_dirs = vec![lib_dir.clone()];
    if let Ok(exe_dir) = scores::library_dir("") {
        if exe_dir != lib_dir {
            plugin_dirs.push(exe_dir);
        }
    }
    let preferred = consensus_libs::stage_all(&consensus_registry, &plugin_dirs);
    let schemes = Arc::new(PluginSchemes::new(Arc::clone(&consensus_registry), preferred));
    let channel = Channel::open(channel_params(&cfg, &def.name), store, &def, key, Some(bls), schemes)?;
    let _consensus_watcher = match consensus_libs::watch(Arc::clone(&consensus_registry), lib_dir.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!("consensus plugin rebuilds will not be staged: {e:#}");
            None
        }
    };
    let driver = channel.spawn(Box::new(ScoreExecutor::new(runtime.clone())))?;
    scores::sync_build(&channel, &runtime, &lib_dir, cfg.score_auto_deploy, &def.score_params);
    let _watcher = if def.score.is_empty() {
        None
    } else {
        match scores::watch(
            Arc::clone(&channel),
            runtime.clone(),
            lib_dir,
            cfg.score_auto_deploy,
            def.score_params.clone(),
        ) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!("SCORE rebuilds will not be picked up: {e:#}");
                None
            }
        }
    };
    let mut scores_by_channel = BTreeMap::new();
    scores_by_channel.insert(def.name.clone(), runtime);

    let mut channels = BTreeMap::new();
    channels.insert(def.name, Arc::clone(&channel));
    let state = Arc::new(lc_rest::ApiState {
        channels,
        scores: scores_by_channel,
        default_channel: cfg.loopchain_default_channel.clone(),
        peer_target: format!("{}:{}", cfg.peer_bind_ip, cfg.port_peer),
        max_body_bytes: cfg.rest_max_body_bytes,
    });

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("loopchain-io").build()?;
    let served = rt.block_on(async {
        if !cfg.enable_rest_service {
            info!("REST service disabled (ENABLE_REST_SERVICE=false)");
            return shutdown_signal().await;
        }
        let addr: SocketAddr = format!("{}:{}", cfg.rest_bind_ip, cfg.rest_port())
            .parse()
            .with_context(|| format!("REST_BIND_IP {:?} is not an IP address", cfg.rest_bind_ip))?;
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => bail!("cannot listen on {addr} for REST (PORT_PEER {} + 1900): {e}", cfg.port_peer),
        };
        info!(%addr, "REST API v1 listening");
        axum::serve(listener, lc_rest::router(state))
            .with_graceful_shutdown(async {
                if let Err(e) = shutdown_signal().await {
                    warn!("signal handling failed: {e}");
                }
            })
            .await
            .context("REST server")
    });
    info!("shutting down: stopping channel drivers");
    let stopped = driver.stop();
    db.flush().context("flushing the database")?;
    rt.shutdown_timeout(Duration::from_secs(2));
    served?;
    stopped?;
    info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
    Ok(())
}
