//! The typed configuration struct, its defaults and its range checks.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// The node's configuration, one field per key of the original loopchain
/// (`configure_default.py`), spelled exactly as there in JSON files and
/// environment variables (`PORT_PEER`, `INTERVAL_BLOCKGENERATION`, ...).
///
/// Keys that are absent from a source keep their previous value, so a file
/// may set only the keys it cares about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "SCREAMING_SNAKE_CASE")]
pub struct Config {
    // ---- network / ports ----
    /// `PORT_PEER`: the peer's port (default 7100).
    pub port_peer: u16,
    /// `PORT_RADIOSTATION`: the radio station's port (default 7102).
    pub port_radiostation: u16,
    /// `IP_RADIOSTATION`: the radio station's address (default `127.0.0.1`).
    pub ip_radiostation: String,
    /// `RADIO_STATION_TARGET`: `-r` target, `ip:port[,ip2:port2]` or a URL; empty = none.
    pub radio_station_target: String,
    /// `PORT_DIFF_REST_SERVICE_CONTAINER`: REST port = `PORT_PEER` + this (default 1900).
    pub port_diff_rest_service_container: u16,
    /// `ENABLE_REST_SERVICE`: serve REST v1 (default true).
    pub enable_rest_service: bool,
    /// `REST_BIND_IP`: address the REST server binds to (default `0.0.0.0`).
    pub rest_bind_ip: String,
    /// `PEER_BIND_IP`: address the peer-to-peer server binds to (default `0.0.0.0`).
    pub peer_bind_ip: String,
    /// `IP_LOCAL`: the address other nodes reach this peer at; its peer target is
    /// `IP_LOCAL:PORT_PEER`, matched against `peer_target` in `channel_manage_data.json`
    /// (default `127.0.0.1`).
    pub ip_local: String,

    // ---- channels ----
    /// `LOOPCHAIN_DEFAULT_CHANNEL`: channel used when a request names none.
    pub loopchain_default_channel: String,
    /// `CHANNEL_MANAGE_DATA_PATH`: channel manage data JSON; empty = none.
    pub channel_manage_data_path: String,
    /// `ENABLE_CHANNEL_AUTH`: only listed peers may join a channel (default false).
    pub enable_channel_auth: bool,

    // ---- SCOREs ----
    /// `DEFAULT_SCORE_PACKAGE`: SCORE of the default channel (default `hello`; empty = none).
    pub default_score_package: String,
    /// `SCORE_PACKAGE_PATH`: directory holding `lib<score>.so` files, watched for rebuilds;
    /// empty = the directory of the running binary (the cargo profile directory).
    pub score_package_path: String,
    /// `SCORE_INVOKE_TIMEOUT`: longest one transaction may execute, seconds (default 10); past it
    /// the channel halts with an error and the node's other channels keep running.
    pub score_invoke_timeout: f64,
    /// `SCORE_AUTO_DEPLOY`: a node holding the admin key deploys a changed SCORE build itself.
    pub score_auto_deploy: bool,

    // ---- consensus ----
    /// `TIMEOUT_PROPOSE_MS`: base propose timeout in ms (default 1000); doubles after each
    /// consecutive failed round (up to 32×); the empty-block interval is added to it.
    pub timeout_propose_ms: u64,
    /// `TIMEOUT_VOTE_MS`: base vote timeout in ms (default 1000): how long a node waits after a
    /// split vote before its LAZY vote.
    pub timeout_vote_ms: u64,
    /// `CONSENSUS_LOG`: record every consensus input and decision of each channel to
    /// `<data>/consensus/<channel>.jsonl` for `loopchain replay` (default false).
    pub consensus_log: bool,

    // ---- storage, blocks, transactions ----
    /// `DEFAULT_STORAGE_PATH`: root of the node's data (default `.storage`).
    pub default_storage_path: String,
    /// `INTERVAL_BLOCKGENERATION`: seconds between blocks, in (0, 3600] (default 2.0).
    pub interval_blockgeneration: f64,
    /// `ALLOW_MAKE_EMPTY_BLOCK`: produce blocks without transactions (default true).
    pub allow_make_empty_block: bool,
    /// `MAX_TX_COUNT_IN_BLOCK`: transactions per block (default 5000).
    pub max_tx_count_in_block: usize,
    /// `MAX_BLOCK_KBYTES`: block size limit in KiB (default 3000).
    pub max_block_kbytes: usize,
    /// `MAX_TX_BYTES`: size limit of one transaction (default 65536).
    pub max_tx_bytes: usize,
    /// `MEMPOOL_MAX_TXS`: pending transactions kept at most (default 200000).
    pub mempool_max_txs: usize,
    /// `TIMESTAMP_BOUNDARY_SECOND`: accepted clock skew of a transaction (default 900).
    pub timestamp_boundary_second: u64,
    /// `ALLOW_UNSIGNED_DATA_TX`: accept unsigned data transactions (default true).
    pub allow_unsigned_data_tx: bool,
    /// `REST_MAX_BODY_BYTES`: request body limit of the REST server (default 32 MiB).
    pub rest_max_body_bytes: usize,
    /// `TPS_LIMIT_PER_SEC`: transactions accepted per second; 0 = no limit (default 0).
    pub tps_limit_per_sec: u64,
    /// `ROCKSDB_BLOCK_CACHE_MB`: shared RocksDB block cache (default 256).
    pub rocksdb_block_cache_mb: usize,
    /// `ROCKSDB_WRITE_BUFFER_MB`: shared RocksDB write-buffer budget (default 128).
    pub rocksdb_write_buffer_mb: usize,

    // ---- logging ----
    /// `LOG_LEVEL`: `tracing` filter, e.g. `info` or `info,lc_engine=debug` (default `info`).
    pub log_level: String,
    /// `LOG_JSON`: log as JSON lines (default false).
    pub log_json: bool,
    /// `LOG_COLLECTOR_TARGET`: `HOST:PORT` of a `loopchain logcollector` to ship events to
    /// (default empty: none).
    pub log_collector_target: String,
    /// `OTLP_ENDPOINT`: OTLP/HTTP endpoint (e.g. `http://127.0.0.1:4318`) to export events to as
    /// OpenTelemetry logs (default empty: none).
    pub otlp_endpoint: String,

    // ---- security ----
    /// `GRPC_SSL_TYPE`: `none` (plain gRPC, dev/demo) or `mutual` (mTLS with certificates of the
    /// channel CA on every gRPC link) (default `none`).
    pub grpc_ssl_type: String,
    /// `GRPC_SSL_CA_CERT`: the channel CA's certificate (PEM) that every peer certificate must chain to.
    pub grpc_ssl_ca_cert: String,
    /// `GRPC_SSL_CERT`: this node's certificate (PEM), issued by `loopchain ca issue`.
    pub grpc_ssl_cert: String,
    /// `GRPC_SSL_KEY`: this node's TLS private key (PEM).
    pub grpc_ssl_key: String,
    /// `GRPC_SSL_CRL`: optional certificate revocation list (PEM) of the channel CA
    /// (`loopchain ca revoke`); revoked certificates are refused.
    pub grpc_ssl_crl: String,
    /// `RATE_LIMIT_PER_CLIENT`: REST requests per second from one client address; 0 = no limit
    /// (default 0).
    pub rate_limit_per_client: u32,
    /// `RATE_LIMIT_PER_PEER`: gRPC requests per second from one peer; 0 = no limit (default 0).
    pub rate_limit_per_peer: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port_peer: 7100,
            port_radiostation: 7102,
            ip_radiostation: "127.0.0.1".to_owned(),
            radio_station_target: String::new(),
            port_diff_rest_service_container: 1900,
            enable_rest_service: true,
            rest_bind_ip: "0.0.0.0".to_owned(),
            peer_bind_ip: "0.0.0.0".to_owned(),
            ip_local: "127.0.0.1".to_owned(),
            loopchain_default_channel: "loopchain_default".to_owned(),
            channel_manage_data_path: String::new(),
            enable_channel_auth: false,
            default_storage_path: ".storage".to_owned(),
            interval_blockgeneration: 2.0,
            allow_make_empty_block: true,
            max_tx_count_in_block: 5000,
            max_block_kbytes: 3000,
            max_tx_bytes: 65536,
            mempool_max_txs: 200_000,
            timestamp_boundary_second: 900,
            allow_unsigned_data_tx: true,
            rest_max_body_bytes: 33_554_432,
            tps_limit_per_sec: 0,
            rocksdb_block_cache_mb: 256,
            rocksdb_write_buffer_mb: 128,
            log_level: "info".to_owned(),
            log_json: false,
            log_collector_target: String::new(),
            otlp_endpoint: String::new(),
            grpc_ssl_type: "none".to_owned(),
            grpc_ssl_ca_cert: String::new(),
            grpc_ssl_cert: String::new(),
            grpc_ssl_key: String::new(),
            grpc_ssl_crl: String::new(),
            rate_limit_per_client: 0,
            rate_limit_per_peer: 0,
            default_score_package: "hello".to_owned(),
            score_package_path: String::new(),
            score_auto_deploy: true,
            score_invoke_timeout: 10.0,
            timeout_propose_ms: 1000,
            timeout_vote_ms: 1000,
            consensus_log: false,
        }
    }
}

/// Largest allowed `INTERVAL_BLOCKGENERATION`, seconds.
const MAX_INTERVAL_SECONDS: f64 = 3600.0;

fn invalid(key: &str, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.to_owned(), msg: msg.into() }
}

fn non_zero<T: PartialEq + Default>(key: &str, v: T, what: &str) -> Result<(), ConfigError> {
    if v == T::default() {
        return Err(invalid(key, format!("must be greater than 0 ({what})")));
    }
    Ok(())
}

fn non_empty(key: &str, v: &str) -> Result<(), ConfigError> {
    if v.trim().is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    Ok(())
}

fn ip(key: &str, v: &str) -> Result<(), ConfigError> {
    v.parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| invalid(key, format!("{v:?} is not an IP address (e.g. 0.0.0.0 or ::)")))
}

fn fits_bytes(key: &str, v: usize, unit: usize, unit_name: &str) -> Result<(), ConfigError> {
    v.checked_mul(unit).map(|_| ()).ok_or_else(|| invalid(key, format!("{v} {unit_name} is too large")))
}

/// Largest `MAX_BLOCK_KBYTES`: a proposal (block plus headers) must fit one peer message.
pub(crate) const MAX_BLOCK_KBYTES_LIMIT: usize = 12 * 1024;

impl Config {
    /// Whether gRPC links use mutual TLS (`GRPC_SSL_TYPE` = `mutual`).
    pub fn mutual_tls(&self) -> bool {
        self.grpc_ssl_type == "mutual"
    }

    /// The REST port: `PORT_PEER + PORT_DIFF_REST_SERVICE_CONTAINER` (9000 by default).
    ///
    /// [`Config::validate`] guarantees the sum fits a `u16`; on an
    /// unvalidated config an overflowing sum saturates at 65535.
    pub fn rest_port(&self) -> u16 {
        self.port_peer.saturating_add(self.port_diff_rest_service_container)
    }

    /// This peer's target as other nodes reach it: `IP_LOCAL:PORT_PEER`.
    pub fn peer_target(&self) -> String {
        format!("{}:{}", self.ip_local, self.port_peer)
    }

    /// The radio station to use: `RADIO_STATION_TARGET` (`-r`) when set, else
    /// `IP_RADIOSTATION:PORT_RADIOSTATION`.
    pub fn radio_station(&self) -> String {
        if self.radio_station_target.is_empty() {
            format!("{}:{}", self.ip_radiostation, self.port_radiostation)
        } else {
            self.radio_station_target.clone()
        }
    }

    /// The node's data directory: `DEFAULT_STORAGE_PATH/<PORT_PEER>`.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(&self.default_storage_path).join(self.port_peer.to_string())
    }

    /// Checks ranges and consistency; the error names the offending key.
    ///
    /// [`crate::load`] calls this on the final configuration.
    pub fn validate(&self) -> Result<(), ConfigError> {
        non_zero("PORT_PEER", self.port_peer, "a TCP port")?;
        non_zero("PORT_RADIOSTATION", self.port_radiostation, "a TCP port")?;
        non_zero(
            "PORT_DIFF_REST_SERVICE_CONTAINER",
            self.port_diff_rest_service_container,
            "the REST port must differ from PORT_PEER",
        )?;
        if self.port_peer.checked_add(self.port_diff_rest_service_container).is_none() {
            return Err(invalid(
                "PORT_PEER",
                format!(
                    "REST port PORT_PEER + PORT_DIFF_REST_SERVICE_CONTAINER = {} + {} = {} exceeds 65535",
                    self.port_peer,
                    self.port_diff_rest_service_container,
                    u32::from(self.port_peer) + u32::from(self.port_diff_rest_service_container),
                ),
            ));
        }
        non_empty("IP_RADIOSTATION", &self.ip_radiostation)?;
        ip("REST_BIND_IP", &self.rest_bind_ip)?;
        ip("PEER_BIND_IP", &self.peer_bind_ip)?;
        non_empty("IP_LOCAL", &self.ip_local)?;
        non_empty("LOOPCHAIN_DEFAULT_CHANNEL", &self.loopchain_default_channel)?;
        non_empty("DEFAULT_STORAGE_PATH", &self.default_storage_path)?;

        let iv = self.interval_blockgeneration;
        if !(iv.is_finite() && iv > 0.0 && iv <= MAX_INTERVAL_SECONDS) {
            return Err(invalid(
                "INTERVAL_BLOCKGENERATION",
                format!("{iv} seconds is out of range; must be > 0 and <= {MAX_INTERVAL_SECONDS}"),
            ));
        }

        // A proposal carries the whole block in one gRPC message (16 MiB limit, lc-network).
        if self.max_block_kbytes == 0 || self.max_block_kbytes > MAX_BLOCK_KBYTES_LIMIT {
            return Err(invalid(
                "MAX_BLOCK_KBYTES",
                format!(
                    "{} is out of range; must be 1..={MAX_BLOCK_KBYTES_LIMIT} (a block travels in one 16 MiB message)",
                    self.max_block_kbytes
                ),
            ));
        }

        let t = self.score_invoke_timeout;
        if !(t.is_finite() && t > 0.0 && t <= 86_400.0) {
            return Err(invalid(
                "SCORE_INVOKE_TIMEOUT",
                format!("{t} seconds is out of range; must be > 0 and <= 86400"),
            ));
        }

        non_zero("TIMEOUT_PROPOSE_MS", self.timeout_propose_ms, "milliseconds")?;
        non_zero("TIMEOUT_VOTE_MS", self.timeout_vote_ms, "milliseconds")?;
        non_zero("MAX_TX_COUNT_IN_BLOCK", self.max_tx_count_in_block, "transactions per block")?;
        non_zero("MAX_BLOCK_KBYTES", self.max_block_kbytes, "block size in KiB")?;
        fits_bytes("MAX_BLOCK_KBYTES", self.max_block_kbytes, 1 << 10, "KiB")?;
        non_zero("MAX_TX_BYTES", self.max_tx_bytes, "transaction size in bytes")?;
        if self.max_tx_bytes > self.max_block_kbytes.saturating_mul(1 << 10) {
            return Err(invalid(
                "MAX_TX_BYTES",
                format!(
                    "{} bytes exceeds the block size MAX_BLOCK_KBYTES = {} KiB; such a transaction could never be included",
                    self.max_tx_bytes, self.max_block_kbytes
                ),
            ));
        }
        non_zero("MEMPOOL_MAX_TXS", self.mempool_max_txs, "pending transactions")?;
        non_zero("TIMESTAMP_BOUNDARY_SECOND", self.timestamp_boundary_second, "seconds")?;
        non_zero("REST_MAX_BODY_BYTES", self.rest_max_body_bytes, "bytes")?;
        non_zero("ROCKSDB_BLOCK_CACHE_MB", self.rocksdb_block_cache_mb, "MiB")?;
        fits_bytes("ROCKSDB_BLOCK_CACHE_MB", self.rocksdb_block_cache_mb, 1 << 20, "MiB")?;
        non_zero("ROCKSDB_WRITE_BUFFER_MB", self.rocksdb_write_buffer_mb, "MiB")?;
        fits_bytes("ROCKSDB_WRITE_BUFFER_MB", self.rocksdb_write_buffer_mb, 1 << 20, "MiB")?;
        non_empty("LOG_LEVEL", &self.log_level)?;
        match self.grpc_ssl_type.as_str() {
            "none" => {}
            "mutual" => {
                for (key, v) in [
                    ("GRPC_SSL_CA_CERT", &self.grpc_ssl_ca_cert),
                    ("GRPC_SSL_CERT", &self.grpc_ssl_cert),
                    ("GRPC_SSL_KEY", &self.grpc_ssl_key),
                ] {
                    if v.trim().is_empty() {
                        return Err(invalid(key, "must name a PEM file when GRPC_SSL_TYPE is \"mutual\""));
                    }
                }
            }
            other => return Err(invalid("GRPC_SSL_TYPE", format!("{other:?} is not one of \"none\", \"mutual\""))),
        }
        Ok(())
    }
}
