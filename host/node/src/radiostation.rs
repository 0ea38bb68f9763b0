//! `loopchain radiostation` (alias `rs`): the host process of the radio-station plugin
//! (`libradio_station.so`, DESIGN §6/§7).
//!
//! Loads the layered configuration, reads `CHANNEL_MANAGE_DATA_PATH`, loads the plugin with
//! `lib_header_from_path(..).init_root_module::<RadioStationModuleRef>()` (never
//! `RootModule::load_from*`), starts it with its configuration JSON, prints the plugin's event
//! lines through `tracing` every 200 ms, and on SIGINT/SIGTERM stops it (the plugin drains its
//! servers and joins its thread) and exits 0.
use anyhow::{bail, Context, Result};
use clap::Args;
use lc_config::{Config, Overrides};
use loopchain_plugin_api::abi_stable::library::lib_header_from_path;
use loopchain_plugin_api::abi_stable::std_types::{RResult, RString};
use loopchain_plugin_api::discovery::{RadioStationHandleBox, RadioStationModuleRef, RADIO_STATION_API_VERSION};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::{info, warn};

/// Environment variable naming the radio-station plugin library (overrides the search next to
/// the binary).
const PLUGIN_ENV: &str = "RADIO_STATION_PLUGIN";
/// File name of the plugin library.
const PLUGIN_FILE: &str = "libradio_station.so";
/// How often the plugin's event lines are printed.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Flags of `loopchain radiostation` (the seed's names).
#[derive(Debug, Args)]
pub(crate) struct RadioStationArgs {
    /// JSON configuration file (seed key names, e.g. PORT_RADIOSTATION, CHANNEL_MANAGE_DATA_PATH,
    /// ENABLE_CHANNEL_AUTH); overrides env and user file.
    #[arg(short = 'o', long = "configure_file_path", value_name = "FILE")]
    config: Option<PathBuf>,
    /// gRPC port of the radio station (PORT_RADIOSTATION); REST listens on PORT + 1900.
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Any configuration key, highest precedence (repeatable), e.g. --set ENABLE_CHANNEL_AUTH=true
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// A peer without a heartbeat for this long is marked disconnected (milliseconds).
    #[arg(long = "heartbeat-timeout-ms", default_value_t = 6000, hide = true)]
    heartbeat_timeout_ms: u64,
}

fn load_config(args: &RadioStationArgs) -> Result<(Config, Vec<String>)> {
    let mut overrides = Overrides::default();
    for kv in &args.set {
        overrides.extra.push(lc_config::parse_override(kv)?);
    }
    // `Overrides.port` means PORT_PEER; the radio station's `-p` is PORT_RADIOSTATION.
    if let Some(port) = args.port {
        overrides.extra.push(("PORT_RADIOSTATION".to_owned(), Value::from(port)));
    }
    let user = lc_config::default_user_file();
    let loaded = lc_config::load(&lc_config::process_env, user.as_deref(), args.config.as_deref(), &overrides)?;
    Ok((loaded.config, loaded.warnings))
}

/// Reads and parses `CHANNEL_MANAGE_DATA_PATH` (relative to the current directory).
fn channel_manage_data(cfg: &Config) -> Result<Value> {
    let raw = cfg.channel_manage_data_path.trim();
    if raw.is_empty() {
        bail!(
            "the radio station needs CHANNEL_MANAGE_DATA_PATH (the channel_manage_data.json it serves); \
             set it in the -o file or with --set CHANNEL_MANAGE_DATA_PATH=FILE"
        );
    }
    let path = Path::new(raw);
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read CHANNEL_MANAGE_DATA_PATH {}", path.display()))?;
    let data: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .with_context(|| format!("CHANNEL_MANAGE_DATA_PATH {} is not valid JSON", path.display()))?;
    match &data {
        Value::Object(m) if !m.is_empty() => Ok(data),
        Value::Object(_) => bail!("CHANNEL_MANAGE_DATA_PATH {} defines no channel", path.display()),
        _ => bail!("CHANNEL_MANAGE_DATA_PATH {} must hold a JSON object: channel name -> entry", path.display()),
    }
}

/// The loaded configuration as the original's `/api/v1/conf` list: `{name, value (string),
/// type}` with type 0 str, 1 int, 2 float, 3 bool, 4 dict (or list).
fn conf_list(cfg: &Config) -> Result<Vec<Value>> {
    let Value::Object(map) = serde_json::to_value(cfg).context("serializing the configuration")? else {
        bail!("the configuration did not serialize to a JSON object");
    };
    Ok(map
        .into_iter()
        .map(|(name, v)| {
            let (value, kind) = match v {
                Value::String(s) => (s, 0),
                Value::Number(n) if n.is_f64() => (n.to_string(), 2),
                Value::Number(n) => (n.to_string(), 1),
                Value::Bool(b) => (b.to_string(), 3),
                Value::Null => (String::new(), 0),
                other => (other.to_string(), 4),
            };
            json!({"name": name, "value": value, "type": kind})
        })
        .collect())
}

/// Where the plugin library is: `$RADIO_STATION_PLUGIN`, else next to the running binary.
fn plugin_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(PLUGIN_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            bail!("radio-station plugin not found at {} (from ${PLUGIN_ENV})", p.display());
        }
        return Ok(p);
    }
    let exe = std::env::current_exe().context("locating the running binary")?;
    let dir = exe.parent().context("the running binary has no directory")?;
    let p = dir.join(PLUGIN_FILE);
    if !p.is_file() {
        bail!(
            "radio-station plugin not found: looked for {} (next to the binary; ${PLUGIN_ENV} is not set). \
             Build it with `cargo build -p radio-station` (same profile as the binary) or point ${PLUGIN_ENV} at it",
            p.display()
        );
    }
    Ok(p)
}

fn load_plugin(path: &Path) -> Result<RadioStationModuleRef> {
    let header = lib_header_from_path(path)
        .map_err(|e| anyhow::anyhow!("cannot load radio-station plugin {}: {e}", path.display()))?;
    let module = header
        .init_root_module::<RadioStationModuleRef>()
        .map_err(|e| anyhow::anyhow!("{} is not a usable radio-station plugin: {e}", path.display()))?;
    let version = (module.api_version())();
    if version != RADIO_STATION_API_VERSION {
        bail!(
            "radio-station plugin {} speaks API version {version}, this binary needs {RADIO_STATION_API_VERSION}; \
             rebuild it with `cargo build -p radio-station`",
            path.display()
        );
    }
    Ok(module)
}

fn print_events(handle: &mut RadioStationHandleBox) {
    for line in handle.poll_events() {
        match line.as_str().strip_prefix("warn: ") {
            Some(w) => warn!(target: "radio_station", "{w}"),
            None => info!(target: "radio_station", "{}", line.as_str()),
        }
    }
}

/// Runs the radio station until SIGINT/SIGTERM.
pub(crate) fn run(args: RadioStationArgs) -> Result<()> {
    let (cfg, warnings) = load_config(&args)?;
    crate::events::init_logging(&cfg);
    crate::events::set_node_identity("radiostation", &format!("{}:{}", cfg.ip_local, cfg.port_radiostation));
    for w in &warnings {
        warn!("{w}");
    }
    let rest_port = cfg.port_radiostation.checked_add(cfg.port_diff_rest_service_container).with_context(|| {
        format!(
            "REST port PORT_RADIOSTATION + PORT_DIFF_REST_SERVICE_CONTAINER = {} + {} exceeds 65535",
            cfg.port_radiostation, cfg.port_diff_rest_service_container
        )
    })?;
    let tls = match crate::peer::load_tls(&cfg)? {
        None => Value::Null,
        Some(t) => {
            let text = |b: &[u8], what: &str| {
                String::from_utf8(b.to_vec()).with_context(|| format!("{what} is not UTF-8 PEM text"))
            };
            json!({
                "ca_pem": text(&t.ca_pem, "GRPC_SSL_CA_CERT")?,
                "cert_pem": text(&t.cert_pem, "GRPC_SSL_CERT")?,
                "key_pem": text(&t.key_pem, "GRPC_SSL_KEY")?,
                "crl_pem": text(&t.crl_pem, "GRPC_SSL_CRL")?,
            })
        }
    };
    let plugin_config = json!({
        "tls": tls,
        "port": cfg.port_radiostation,
        "rest_port": rest_port,
        "bind_ip": cfg.peer_bind_ip,
        "enable_channel_auth": cfg.enable_channel_auth,
        "channel_manage_data": channel_manage_data(&cfg)?,
        "heartbeat_timeout_ms": args.heartbeat_timeout_ms,
        "default_channel": cfg.loopchain_default_channel,
        "conf": conf_list(&cfg)?,
    });
    let path = plugin_path()?;
    let module = load_plugin(&path)?;
    info!(plugin = %path.display(), port = cfg.port_radiostation, rest_port, "starting the radio station");

    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the signal runtime")?;
    // Signal handlers first, so a signal right after start is not lost.
    let (mut sigint, mut sigterm) = runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        Ok::<_, std::io::Error>((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
    })?;

    let mut handle = match (module.start())(RString::from(plugin_config.to_string())) {
        RResult::ROk(h) => h,
        RResult::RErr(e) => bail!("{e}"),
    };
    // Started by `loopchain demo` (or another supervisor): stop when the parent process dies.
    let parent = std::env::var_os("LOOPCHAIN_EXIT_WITH_PARENT").map(|_| std::os::unix::process::parent_id());
    runtime.block_on(async {
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    print_events(&mut handle);
                    if parent.is_some_and(|p| std::os::unix::process::parent_id() != p) {
                        warn!("parent process exited: stopping the radio station");
                        break;
                    }
                }
                _ = sigint.recv() => { info!("SIGINT: stopping the radio station"); break }
                _ = sigterm.recv() => { info!("SIGTERM: stopping the radio station"); break }
            }
        }
    });
    handle.stop();
    print_events(&mut handle);
    info!("radio station stopped");
    crate::events::shutdown_logging();
    Ok(())
}
