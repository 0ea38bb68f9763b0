//! Typed, layered configuration of a loopchain node, with the original
//! loopchain's key names (`configure_default.py`).
//!
//! # Layers
//!
//! Lowest to highest; a higher layer replaces a key's value wholesale:
//!
//! 1. built-in defaults ([`Config::default`]);
//! 2. environment variables with the **same name** as a key
//!    (`PORT_PEER=7200`), converted by the key's type: booleans accept
//!    `true/false/1/0` (any case), numbers are parsed, strings are taken as is;
//! 3. the user file (JSON; [`default_user_file`]: `$LOOPCHAIN_USER_CONFIG`,
//!    else `./loopchain_user.json` if present);
//! 4. the JSON file given by `-o/--configure_file_path`;
//! 5. command-line flags ([`Overrides`]: `-p`, `-r`, generic `KEY=VALUE`).
//!
//! Files hold one JSON object, e.g. `{"PORT_PEER": 7200, "ALLOW_MAKE_EMPTY_BLOCK": false}`.
//! Unknown keys are ignored with a warning in [`Loaded::warnings`], never an
//! error. A value of the wrong type, a bad environment value, an unreadable
//! or malformed file, or an out-of-range value is a [`ConfigError`] naming
//! the file or variable and the key.
//!
//! # Keys and defaults
//!
//! | key | type | default |
//! |---|---|---|
//! | `PORT_PEER` | u16 | 7100 |
//! | `PORT_RADIOSTATION` | u16 | 7102 |
//! | `IP_RADIOSTATION` | string | `127.0.0.1` |
//! | `RADIO_STATION_TARGET` | string | empty (none; `-r`) |
//! | `PORT_DIFF_REST_SERVICE_CONTAINER` | u16 | 1900 (REST port = `PORT_PEER` + this) |
//! | `ENABLE_REST_SERVICE` | bool | true |
//! | `REST_BIND_IP` | IP | `0.0.0.0` |
//! | `PEER_BIND_IP` | IP | `0.0.0.0` |
//! | `IP_LOCAL` | address others reach this peer at (peer target `IP_LOCAL:PORT_PEER`) | `127.0.0.1` |
//! | `LOOPCHAIN_DEFAULT_CHANNEL` | string | `loopchain_default` |
//! | `CHANNEL_MANAGE_DATA_PATH` | string | empty (none) |
//! | `ENABLE_CHANNEL_AUTH` | bool | false |
//! | `DEFAULT_STORAGE_PATH` | string | `.storage` (data dir = this/`PORT_PEER`) |
//! | `INTERVAL_BLOCKGENERATION` | f64 seconds, (0, 3600] | 2.0 |
//! | `ALLOW_MAKE_EMPTY_BLOCK` | bool | true |
//! | `MAX_TX_COUNT_IN_BLOCK` | usize | 5000 |
//! | `MAX_BLOCK_KBYTES` | usize, 1..=12288 (a block travels in one 16 MiB peer message) | 3000 |
//! | `MAX_TX_BYTES` | usize | 65536 |
//! | `MEMPOOL_MAX_TXS` | usize | 200000 |
//! | `TIMESTAMP_BOUNDARY_SECOND` | u64 | 900 |
//! | `ALLOW_UNSIGNED_DATA_TX` | bool | true |
//! | `REST_MAX_BODY_BYTES` | usize | 33554432 |
//! | `TPS_LIMIT_PER_SEC` | u64 | 0 (no limit) |
//! | `ROCKSDB_BLOCK_CACHE_MB` | usize | 256 |
//! | `ROCKSDB_WRITE_BUFFER_MB` | usize | 128 |
//! | `LOG_LEVEL` | string | `info` |
//! | `LOG_JSON` | bool | false |
//! | `LOG_COLLECTOR_TARGET` | `HOST:PORT` of a log collector | empty (none) |
//! | `OTLP_ENDPOINT` | OTLP/HTTP URL | empty (none) |
//! | `GRPC_SSL_TYPE` | `none` or `mutual` | `none` |
//! | `GRPC_SSL_CA_CERT`, `GRPC_SSL_CERT`, `GRPC_SSL_KEY` | PEM paths (required with `mutual`) | empty |
//! | `GRPC_SSL_CRL` | PEM path of the CA's revocation list | empty (none) |
//! | `RATE_LIMIT_PER_CLIENT` | u32 REST requests/s per client address | 0 (no limit) |
//! | `RATE_LIMIT_PER_PEER` | u32 gRPC requests/s per peer | 0 (no limit) |
//! | `DEFAULT_SCORE_PACKAGE` | string | `hello` |
//! | `SCORE_PACKAGE_PATH` | string | `""` (next to the binary) |
//! | `SCORE_AUTO_DEPLOY` | bool | true |
//! | `SCORE_INVOKE_TIMEOUT` | f64 seconds | 10 |
//! | `TIMEOUT_PROPOSE_MS` | u64 ms | 1000 |
//! | `TIMEOUT_VOTE_MS` | u64 ms | 1000 |
//! | `CONSENSUS_LOG` | bool | false |
//!
//! # Example
//!
//! ```
//! use lc_config::{load, Overrides};
//!
//! let env = |k: &str| (k == "PORT_PEER").then(|| "7200".to_owned());
//! let loaded = load(&env, None, None, &Overrides::default()).expect("valid");
//! assert_eq!(loaded.config.port_peer, 7200);
//! assert_eq!(loaded.config.rest_port(), 9100);
//! assert_eq!(loaded.sources, ["defaults", "env"]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod error;
mod load;

pub use config::Config;
pub use error::ConfigError;
pub use load::{
    default_user_file, load, parse_override, process_env, user_file_from, Loaded, Overrides, USER_CONFIG_ENV,
    USER_CONFIG_FILE,
};
