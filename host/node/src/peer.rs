//! `loopchain peer`.
use crate::channels;
use crate::keys;
use crate::{consensus_libs, scores};
use anyhow::{bail, Context, Result};
use clap::Args;
use lc_config::{Config, Overrides};
use lc_crypto::bls::BlsKeypair;
use lc_crypto::Keypair;
use lc_engine::{Channel, ChannelParams, PluginSchemes, Refusals, ScoreExecutor, ScoreRuntime};
use lc_network::radio::Registered;
use lc_network::{ChannelNet, LibrarySource, Links, Registry};
use lc_plugin_host::{ConsensusRegistry, ScoreRegistry};
use lc_storage::{Backend, ChannelStore, RocksDb, StorageConfig};
use lc_tls::TlsMaterial;
use lc_types::{Address, ChannelDefinition, Member, Role};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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

/// Where this node's channels come from.
enum Source {
    /// `CHANNEL_MANAGE_DATA_PATH` (static membership, no radio station needed).
    File(PathBuf),
    /// The radio station's `GetChannelInfos` (cached under the data directory).
    RadioStation(String),
    /// The copy cached from an earlier radio-station answer (the station is away).
    Cache(PathBuf),
    /// Nothing configured: the one-validator dev chain.
    Dev,
}

/// Decides where the channels come from: the channel file, else the radio station (`-r`, or the
/// default address when it answers), else its cached answer, else the dev chain.
fn channel_source(
    cfg: &Config,
    rt: &tokio::runtime::Runtime,
    peer_id: &str,
    data_dir: &Path,
    tls: Option<&TlsMaterial>,
) -> Result<(Source, Option<String>)> {
    let cache = data_dir.join("channel_infos.json");
    if !cfg.channel_manage_data_path.is_empty() {
        let path = PathBuf::from(&cfg.channel_manage_data_path);
        let json = std::fs::read_to_string(&path)
            .with_context(|| format!("reading CHANNEL_MANAGE_DATA_PATH {}", path.display()))?;
        return Ok((Source::File(path), Some(json)));
    }
    let explicit = !cfg.radio_station_target.is_empty();
    let rs = cfg.radio_station();
    let attempts = if explicit { 5 } else { 1 };
    let mut last_err = String::new();
    for i in 0..attempts {
        match rt.block_on(lc_network::radio::channel_infos(&rs, peer_id, &cfg.peer_target(), tls)) {
            Ok(json) => {
                if let Err(e) = write_atomic(&cache, json.as_bytes()) {
                    warn!(path = %cache.display(), error = %e, "cannot cache the channel infos");
                }
                return Ok((Source::RadioStation(rs), Some(json)));
            }
            Err(e) => {
                last_err = e;
                if i + 1 < attempts {
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }
    if let Ok(json) = std::fs::read_to_string(&cache) {
        warn!(radio_station = %rs, error = %last_err, cache = %cache.display(), "radio station unavailable: running the channels it gave last time");
        return Ok((Source::Cache(cache), Some(json)));
    }
    if explicit {
        bail!("{last_err}; and no channel infos cached in {} (start the radio station first, or set CHANNEL_MANAGE_DATA_PATH)", cache.display());
    }
    Ok((Source::Dev, None))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn copy_keys(key: &Keypair, bls: &BlsKeypair) -> Result<(Keypair, BlsKeypair)> {
    Ok((Keypair::from_seed_hex(&key.seed_hex())?, BlsKeypair::from_secret_bytes(&bls.secret_bytes())?))
}

/// A running channel and what serves it.
struct Running {
    channel: Arc<Channel>,
    net: Arc<ChannelNet>,
    runtime: ScoreRuntime,
    driver: lc_engine::DriverHandle,
    _watcher: Option<Box<dyn std::any::Any>>,
}

pub(crate) fn run(args: PeerArgs) -> Result<()> {
    let (cfg, warnings) = load_config(&args)?;
    crate::events::init_logging(&cfg);
    for w in &warnings {
        warn!("{w}");
    }
    if std::env::var_os("LOOPCHAIN_EXIT_WITH_PARENT").is_some() {
        exit_with_parent();
    }
    let data_dir = cfg.data_dir();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let (own_key, generated) = keys::load_or_generate(&data_dir.join("keys").join("identity.key"))?;
    if generated {
        info!(peer_id = %Address::of(&own_key.public()), path = %data_dir.join("keys").display(), "generated a new identity key");
    }
    let (own_bls, bls_generated) = keys::load_or_generate_bls(&data_dir.join("keys").join("bls.key"))?;
    if bls_generated {
        info!(bls_key = %own_bls.public(), path = %data_dir.join("keys").display(), "generated a new BLS consensus key");
    }
    let tls = load_tls(&cfg)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("loopchain-io").build()?;
    let my_target = cfg.peer_target();
    let (source, json) =
        channel_source(&cfg, &rt, &Address::of(&own_key.public()).to_string(), &data_dir, tls.as_ref())?;

    let (specs, key, bls) = match &json {
        None => {
            let peer_id = Address::of(&own_key.public());
            info!(
                channel = %cfg.loopchain_default_channel,
                %peer_id,
                "no radio station and no channel file: running the default channel as a one-validator dev chain (this node is its only validator and admin)"
            );
            let def =
                dev_channel(&cfg.loopchain_default_channel, &own_key.public(), &own_bls, &cfg.default_score_package);
            let spec = channels::ChannelSpec {
                def,
                targets: vec![(peer_id.to_string(), my_target.clone())],
                tx_allowed_signers: None,
            };
            (vec![spec], own_key, own_bls)
        }
        Some(json) => {
            let what = match &source {
                Source::File(p) => format!("channel file {}", p.display()),
                Source::RadioStation(rs) => format!("radio station {rs}"),
                Source::Cache(p) => format!("cached channel infos {}", p.display()),
                Source::Dev => String::new(),
            };
            let data = channels::parse(json).with_context(|| format!("channel data from {what}"))?;
            let r = channels::resolve(
                &data,
                &my_target,
                (own_key, own_bls),
                &cfg.default_score_package,
                &dev_score_params(),
            )
            .with_context(|| format!("channel data from {what}"))?;
            if r.dev_keys {
                warn!(peer_target = %my_target, "DEV MODE: this node is listed without keys, so it runs with development keys derived from its peer target; anyone can derive them. Use real keys (identity_key, bls_key, bls_pop) outside local tests.");
            }
            for name in &r.skipped {
                info!(channel = %name, peer_target = %my_target, "not listed in this channel: not running it");
            }
            if r.channels.is_empty() {
                bail!("no channel from {what} lists this peer ({my_target}); check PORT_PEER / IP_LOCAL against the peer_target entries");
            }
            (r.channels, r.key, r.bls)
        }
    };
    let peer_id = Address::of(&key.public()).to_string();
    crate::events::set_node_identity(&peer_id, &my_target);
    info!(%peer_id, peer_target = %my_target, channels = specs.len(), "starting peer");
    if let Some(t) = &tls {
        let id = t.own_identity()?;
        if id.peer_id.as_deref() != Some(peer_id.as_str()) {
            bail!(
                "GRPC_SSL_CERT {} is issued to peer {}, but this node is {peer_id}: issue its certificate from its own keys (`loopchain ca issue --keys DIR`)",
                cfg.grpc_ssl_cert,
                id.peer_id.as_deref().unwrap_or("none")
            );
        }
    }

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

    let registry = Arc::new(ScoreRegistry::new(&data_dir.join("plugins").join("score"))?);
    for e in registry.load_existing() {
        warn!(error = %e, "a staged SCORE copy failed to load");
    }
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
    let _consensus_watcher = match consensus_libs::watch(Arc::clone(&consensus_registry), lib_dir.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!("consensus plugin rebuilds will not be staged: {e:#}");
            None
        }
    };

    let refusals = Arc::new(Refusals::default());
    let links = Links::with_tls(&peer_id, rt.handle().clone(), tls.clone());
    schemes.set_fetcher(Arc::new(lc_network::PeerFetcher::consensus(Arc::clone(&links), rt.handle().clone())));
    let net_registry = Registry::with_security(
        &peer_id,
        Some(LibrarySource { scores: Arc::clone(&registry), consensus: Arc::clone(&consensus_registry) }),
        tls.is_some(),
        cfg.rate_limit_per_peer,
        Arc::clone(&refusals),
    );
    let mut running: Vec<Running> = Vec::new();
    for spec in specs {
        let def = &spec.def;
        let store = ChannelStore::open(Arc::clone(&backend), &def.name)?;
        let runtime = ScoreRuntime::new(Arc::clone(&registry), &def.score, def.admins.clone());
        let (k, b) = copy_keys(&key, &bls)?;
        let params =
            ChannelParams { tx_allowed_signers: spec.tx_allowed_signers.clone(), ..channel_params(&cfg, &def.name) };
        let channel = Channel::open(params, store, def, k, Some(b), schemes.clone())
            .with_context(|| format!("opening channel {}", def.name))?;
        channel.set_refusals(Arc::clone(&refusals));
        let others: Vec<(String, String)> = spec.targets.iter().filter(|(id, _)| *id != peer_id).cloned().collect();
        let net = ChannelNet::new(&def.name, Arc::clone(&links), &others).map_err(anyhow::Error::msg)?;
        channel.set_transport(net.clone());
        channel.set_relay(net.clone());
        runtime.set_fetcher(Arc::new(lc_network::PeerFetcher::new(Arc::clone(&net), rt.handle().clone())));
        net_registry.add(Arc::clone(&channel), Arc::clone(&net));
        let driver = channel.spawn(Box::new(ScoreExecutor::new(runtime.clone())))?;
        scores::sync_build(&channel, &runtime, &lib_dir, cfg.score_auto_deploy, &def.score_params);
        let watcher: Option<Box<dyn std::any::Any>> = if def.score.is_empty() {
            None
        } else {
            match scores::watch(
                Arc::clone(&channel),
                runtime.clone(),
                lib_dir.clone(),
                cfg.score_auto_deploy,
                def.score_params.clone(),
            ) {
                Ok(w) => Some(Box::new(w)),
                Err(e) => {
                    warn!("SCORE rebuilds will not be picked up: {e:#}");
                    None
                }
            }
        };
        info!(channel = %def.name, members = spec.targets.len(), score = %def.score, consensus = %def.consensus, "channel running");
        running.push(Running { channel, net, runtime, driver, _watcher: watcher });
    }

    let state = Arc::new(lc_rest::ApiState {
        channels: running.iter().map(|r| (r.channel.name().to_owned(), Arc::clone(&r.channel))).collect(),
        scores: running.iter().map(|r| (r.channel.name().to_owned(), r.runtime.clone())).collect(),
        default_channel: if running.iter().any(|r| r.channel.name() == cfg.loopchain_default_channel) {
            cfg.loopchain_default_channel.clone()
        } else {
            running.first().map(|r| r.channel.name().to_owned()).unwrap_or_default()
        },
        peer_target: my_target.clone(),
        max_body_bytes: cfg.rest_max_body_bytes,
        peer_id: peer_id.clone(),
        refusals: Arc::clone(&refusals),
        // Dashboard and /metrics: every member (this node and its links' peers) with its role
        // and weight in the current epoch.
        members: running
            .iter()
            .map(|r| {
                let es = r.channel.epoch_state();
                let mut ids: Vec<(String, String)> =
                    r.net.links().into_iter().map(|(id, link)| (id, link.target().to_owned())).collect();
                ids.push((peer_id.clone(), my_target.clone()));
                ids.sort();
                let views = ids
                    .into_iter()
                    .map(|(id, target)| {
                        let voting = es.voting.iter().find(|m| m.peer_id.to_string() == id);
                        lc_rest::MemberView {
                            role: if voting.is_some() { "validator" } else { "auditor" }.to_owned(),
                            weight: voting.map_or(0, |m| m.weight),
                            group: voting.and_then(|m| m.group.clone()),
                            peer_id: id,
                            target,
                        }
                    })
                    .collect();
                (r.channel.name().to_owned(), views)
            })
            .collect(),
        link_status: {
            let nets: std::collections::BTreeMap<String, Arc<ChannelNet>> =
                running.iter().map(|r| (r.channel.name().to_owned(), Arc::clone(&r.net))).collect();
            lc_rest::LinkStatusFn::new(move |channel, peer| {
                let (_, link) = nets.get(channel)?.links().into_iter().find(|(id, _)| id == peer)?;
                let s = &link.stats;
                let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
                Some(lc_rest::LinkView {
                    target: link.target().to_owned(),
                    connected: s.connected.load(std::sync::atomic::Ordering::Relaxed),
                    sent: load(&s.sent),
                    dropped: load(&s.dropped),
                    failures: load(&s.failures),
                })
            })
        },
        // The other members' heights (gRPC status, bounded in time): who answers is up.
        peer_heights: {
            let nets: std::collections::BTreeMap<String, Arc<ChannelNet>> =
                running.iter().map(|r| (r.channel.name().to_owned(), Arc::clone(&r.net))).collect();
            lc_rest::PeerHeightsFn::new(move |channel| -> lc_rest::HeightsFuture {
                let links = nets.get(channel).map(|n| n.links()).unwrap_or_default();
                let channel = channel.to_owned();
                Box::pin(async move {
                    let mut asks = tokio::task::JoinSet::new();
                    for (id, link) in links {
                        let mut client = link.client();
                        let req = lc_network::proto::StatusRequest { channel: channel.clone() };
                        asks.spawn(async move {
                            (id, tokio::time::timeout(Duration::from_millis(800), client.get_status(req)).await)
                        });
                    }
                    let mut heights = std::collections::BTreeMap::new();
                    while let Some(done) = asks.join_next().await {
                        if let Ok((id, Ok(Ok(reply)))) = done {
                            heights.insert(id, reply.into_inner().block_height);
                        }
                    }
                    heights
                })
            })
        },
        collector_target: cfg.log_collector_target.clone(),
        // The log shipper's counters (when LOG_COLLECTOR_TARGET is set).
        extra_metrics: match crate::events::shipper_stats() {
            Some(stats) => lc_rest::ExtraMetricsFn::new(move || {
                vec![
                    lc_rest::ExtraCounter {
                        name: "loopchain_log_events_shipped_total".into(),
                        help: "Events shipped to the log collector.".into(),
                        value: stats.shipped(),
                    },
                    lc_rest::ExtraCounter {
                        name: "loopchain_log_events_dropped_total".into(),
                        help: "Events dropped instead of shipped (queue full, collector unreachable).".into(),
                        value: stats.dropped(),
                    },
                    lc_rest::ExtraCounter {
                        name: "loopchain_log_ship_failed_requests_total".into(),
                        help: "Failed deliveries to the log collector (errors, timeouts, non-2xx).".into(),
                        value: stats.failed_requests.load(std::sync::atomic::Ordering::Relaxed),
                    },
                ]
            }),
            None => lc_rest::ExtraMetricsFn::default(),
        },
        rate_limit_per_client: cfg.rate_limit_per_client,
    });

    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let served = rt.block_on(async {
        let grpc_addr: SocketAddr = format!("{}:{}", cfg.peer_bind_ip, cfg.port_peer)
            .parse()
            .with_context(|| format!("PEER_BIND_IP {:?} is not an IP address", cfg.peer_bind_ip))?;
        let grpc_listener = match tokio::net::TcpListener::bind(grpc_addr).await {
            Ok(l) => l,
            Err(e) => bail!("cannot listen on {grpc_addr} for gRPC (PORT_PEER {}): {e}", cfg.port_peer),
        };
        info!(addr = %grpc_addr, "gRPC PeerService listening");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut grpc_stop = stop_rx.clone();
        let grpc_done = async move {
            let _ = grpc_stop.wait_for(|s| *s).await;
        };
        let grpc = match tls.clone() {
            Some(t) => {
                let reg = Arc::clone(&net_registry);
                tokio::spawn(async move { lc_network::serve_tls(reg, grpc_listener, &t, grpc_done).await })
            }
            None => tokio::spawn(lc_network::serve(Arc::clone(&net_registry), grpc_listener, grpc_done)),
        };
        for r in &running {
            let (ch, net, me) = (Arc::clone(&r.channel), Arc::clone(&r.net), peer_id.clone());
            let flag = Arc::clone(&stopping);
            tokio::spawn(lc_network::sync::run(ch, net, me, move || flag.load(std::sync::atomic::Ordering::SeqCst)));
        }
        // Registration (addresses and liveness only) when channels came from a radio station, or
        // when one is named explicitly next to a channel file.
        let rs = match &source {
            Source::RadioStation(rs) => Some(rs.clone()),
            Source::Cache(_) => Some(cfg.radio_station()),
            Source::File(_) if !cfg.radio_station_target.is_empty() => Some(cfg.radio_station()),
            _ => None,
        };
        if let Some(rs) = rs {
            let regs = running
                .iter()
                .map(|r| Registered { channel: Arc::clone(&r.channel), net: Arc::clone(&r.net) })
                .collect();
            tokio::spawn(lc_network::radio::keep_registered(rs, peer_id.clone(), my_target.clone(), regs, tls.clone()));
        }
        let rest = if cfg.enable_rest_service {
            let addr: SocketAddr = format!("{}:{}", cfg.rest_bind_ip, cfg.rest_port())
                .parse()
                .with_context(|| format!("REST_BIND_IP {:?} is not an IP address", cfg.rest_bind_ip))?;
            let listener = match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => bail!("cannot listen on {addr} for REST (PORT_PEER {} + 1900): {e}", cfg.port_peer),
            };
            info!(%addr, "REST API v1 listening");
            let mut rest_stop = stop_rx.clone();
            Some(tokio::spawn(async move {
                axum::serve(listener, lc_rest::router(state).into_make_service_with_connect_info::<SocketAddr>())
                    .with_graceful_shutdown(async move {
                        let _ = rest_stop.wait_for(|s| *s).await;
                    })
                    .await
            }))
        } else {
            info!("REST service disabled (ENABLE_REST_SERVICE=false)");
            None
        };
        let signalled = shutdown_signal().await;
        let _ = stop_tx.send(true);
        if let Some(rest) = rest {
            rest.await.context("REST task")?.context("REST server")?;
        }
        grpc.await.context("gRPC task")?.context("gRPC server")?;
        signalled
    });
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    info!("shutting down: stopping channel drivers");
    let mut stopped = Ok(());
    for r in running {
        if let Err(e) = r.driver.stop() {
            warn!(channel = %r.channel.name(), error = %e, "channel stopped with an error");
            stopped = Err(e);
        }
    }
    db.flush().context("flushing the database")?;
    rt.shutdown_timeout(Duration::from_secs(2));
    served?;
    stopped?;
    info!("stopped cleanly");
    crate::events::shutdown_logging();
    Ok(())
}

/// Loads the mTLS files when `GRPC_SSL_TYPE` is `mutual`; otherwise says loudly that gRPC runs
/// without authentication.
pub(crate) fn load_tls(cfg: &Config) -> Result<Option<TlsMaterial>> {
    if !cfg.mutual_tls() {
        warn!("INSECURE: gRPC runs without TLS (GRPC_SSL_TYPE=none): peer ids are not authenticated and traffic is not encrypted; dev and demo use only (see `loopchain ca`)");
        return Ok(None);
    }
    let crl = (!cfg.grpc_ssl_crl.is_empty()).then(|| PathBuf::from(&cfg.grpc_ssl_crl));
    let t = TlsMaterial::load(
        Path::new(&cfg.grpc_ssl_ca_cert),
        Path::new(&cfg.grpc_ssl_cert),
        Path::new(&cfg.grpc_ssl_key),
        crl.as_deref(),
    )
    .context("loading the mTLS files (GRPC_SSL_CA_CERT, GRPC_SSL_CERT, GRPC_SSL_KEY, GRPC_SSL_CRL)")?;
    info!(ca = %cfg.grpc_ssl_ca_cert, cert = %cfg.grpc_ssl_cert, revocation_list = crl.is_some(), "gRPC uses mutual TLS");
    Ok(Some(t))
}

/// Started by `loopchain demo` (or any supervisor that sets LOOPCHAIN_EXIT_WITH_PARENT): when the
/// parent process dies, this node stops too (SIGTERM to itself, so it shuts down cleanly).
fn exit_with_parent() {
    let parent = std::os::unix::process::parent_id();
    let me = std::process::id();
    let spawned = std::thread::Builder::new().name("parent-watch".into()).spawn(move || loop {
        std::thread::sleep(Duration::from_millis(300));
        if std::os::unix::process::parent_id() != parent {
            warn!("parent process exited: stopping");
            let _ = std::process::Command::new("kill").arg("-TERM").arg(me.to_string()).status();
            return;
        }
    });
    if let Err(e) = spawned {
        warn!("cannot watch the parent process: {e}");
    }
}

pub(crate) async fn shutdown_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
    Ok(())
}
