//! Layering, error and validation behaviour of `lc_config::load`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lc_config::{load, parse_override, Config, ConfigError, Loaded, Overrides};
use serde_json::json;
use tempfile::TempDir;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |k: &str| map.get(k).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn write(dir: &TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write temp file");
    p
}

fn load_ok(env: &dyn Fn(&str) -> Option<String>, user: Option<&Path>, json: Option<&Path>, o: &Overrides) -> Loaded {
    match load(env, user, json, o) {
        Ok(l) => l,
        Err(e) => panic!("load failed: {e}"),
    }
}

fn load_err(
    env: &dyn Fn(&str) -> Option<String>,
    user: Option<&Path>,
    json: Option<&Path>,
    o: &Overrides,
) -> ConfigError {
    match load(env, user, json, o) {
        Ok(l) => panic!("load unexpectedly succeeded: {:?}", l.config),
        Err(e) => e,
    }
}

#[test]
fn defaults() {
    let l = load_ok(&no_env, None, None, &Overrides::default());
    let c = &l.config;
    assert_eq!(c, &Config::default());
    assert_eq!(c.port_peer, 7100);
    assert_eq!(c.port_radiostation, 7102);
    assert_eq!(c.ip_radiostation, "127.0.0.1");
    assert_eq!(c.radio_station_target, "");
    assert_eq!(c.port_diff_rest_service_container, 1900);
    assert!(c.enable_rest_service);
    assert_eq!(c.rest_bind_ip, "0.0.0.0");
    assert_eq!(c.peer_bind_ip, "0.0.0.0");
    assert_eq!(c.loopchain_default_channel, "loopchain_default");
    assert_eq!(c.channel_manage_data_path, "");
    assert!(!c.enable_channel_auth);
    assert_eq!(c.default_storage_path, ".storage");
    assert_eq!(c.interval_blockgeneration, 2.0);
    assert!(c.allow_make_empty_block);
    assert_eq!(c.max_tx_count_in_block, 5000);
    assert_eq!(c.max_block_kbytes, 3000);
    assert_eq!(c.max_tx_bytes, 65536);
    assert_eq!(c.mempool_max_txs, 200_000);
    assert_eq!(c.timestamp_boundary_second, 900);
    assert!(c.allow_unsigned_data_tx);
    assert_eq!(c.rest_max_body_bytes, 33_554_432);
    assert_eq!(c.tps_limit_per_sec, 0);
    assert_eq!(c.rocksdb_block_cache_mb, 256);
    assert_eq!(c.rocksdb_write_buffer_mb, 128);
    assert_eq!(c.log_level, "info");
    assert!(!c.log_json);
    assert_eq!(l.sources, ["defaults"]);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn key_names_are_the_seed_names() {
    let v = serde_json::to_value(Config::default()).expect("serialise");
    let obj = v.as_object().expect("object");
    for key in [
        "PORT_PEER",
        "PORT_RADIOSTATION",
        "IP_RADIOSTATION",
        "RADIO_STATION_TARGET",
        "PORT_DIFF_REST_SERVICE_CONTAINER",
        "ENABLE_REST_SERVICE",
        "LOOPCHAIN_DEFAULT_CHANNEL",
        "CHANNEL_MANAGE_DATA_PATH",
        "ENABLE_CHANNEL_AUTH",
        "DEFAULT_STORAGE_PATH",
        "INTERVAL_BLOCKGENERATION",
        "ALLOW_MAKE_EMPTY_BLOCK",
        "MAX_BLOCK_KBYTES",
        "TIMESTAMP_BOUNDARY_SECOND",
        "TPS_LIMIT_PER_SEC",
        "ROCKSDB_BLOCK_CACHE_MB",
        "LOG_JSON",
        "DEFAULT_SCORE_PACKAGE",
        "SCORE_PACKAGE_PATH",
        "SCORE_AUTO_DEPLOY",
        "SCORE_INVOKE_TIMEOUT",
        "TIMEOUT_PROPOSE_MS",
        "TIMEOUT_VOTE_MS",
        "CONSENSUS_LOG",
        "LOG_COLLECTOR_TARGET",
        "OTLP_ENDPOINT",
        "GRPC_SSL_TYPE",
        "GRPC_SSL_CA_CERT",
        "GRPC_SSL_CERT",
        "GRPC_SSL_KEY",
        "GRPC_SSL_CRL",
        "RATE_LIMIT_PER_CLIENT",
        "RATE_LIMIT_PER_PEER",
    ] {
        assert!(obj.contains_key(key), "missing key {key}");
    }
    assert_eq!(obj.len(), 43);
}

#[test]
fn env_overrides_default_typed() {
    let env = env_of(&[
        ("PORT_PEER", "7200"),
        ("ALLOW_MAKE_EMPTY_BLOCK", "false"),
        ("ENABLE_CHANNEL_AUTH", "TRUE"),
        ("LOG_JSON", "1"),
        ("INTERVAL_BLOCKGENERATION", "0.5"),
        ("LOOPCHAIN_DEFAULT_CHANNEL", "icon_dex"),
    ]);
    let l = load_ok(&env, None, None, &Overrides::default());
    assert_eq!(l.config.port_peer, 7200);
    assert!(!l.config.allow_make_empty_block);
    assert!(l.config.enable_channel_auth);
    assert!(l.config.log_json);
    assert_eq!(l.config.interval_blockgeneration, 0.5);
    assert_eq!(l.config.loopchain_default_channel, "icon_dex");
    assert_eq!(l.sources, ["defaults", "env"]);
}

#[test]
fn user_file_overrides_env() {
    let dir = TempDir::new().expect("tempdir");
    let user = write(&dir, "user.json", r#"{"PORT_PEER": 7300, "LOG_LEVEL": "debug"}"#);
    let env = env_of(&[("PORT_PEER", "7200"), ("MAX_TX_BYTES", "1024")]);
    let l = load_ok(&env, Some(&user), None, &Overrides::default());
    assert_eq!(l.config.port_peer, 7300);
    assert_eq!(l.config.log_level, "debug");
    assert_eq!(l.config.max_tx_bytes, 1024, "env value not touched by the file stays");
    assert_eq!(l.sources, ["defaults".to_owned(), "env".to_owned(), user.display().to_string()]);
}

#[test]
fn json_file_overrides_user_file() {
    let dir = TempDir::new().expect("tempdir");
    let user =
        write(&dir, "user.json", r#"{"PORT_PEER": 7300, "ALLOW_MAKE_EMPTY_BLOCK": false, "LOG_LEVEL": "debug"}"#);
    let conf = write(&dir, "peer.json", r#"{"PORT_PEER": 7400, "ALLOW_MAKE_EMPTY_BLOCK": true}"#);
    let l = load_ok(&no_env, Some(&user), Some(&conf), &Overrides::default());
    assert_eq!(l.config.port_peer, 7400);
    assert!(l.config.allow_make_empty_block);
    assert_eq!(l.config.log_level, "debug");
    assert_eq!(l.sources, ["defaults".to_owned(), user.display().to_string(), conf.display().to_string()]);
}

#[test]
fn cli_port_overrides_all() {
    let dir = TempDir::new().expect("tempdir");
    let user = write(&dir, "user.json", r#"{"PORT_PEER": 7300}"#);
    let conf = write(&dir, "peer.json", r#"{"PORT_PEER": 7400, "RADIO_STATION_TARGET": "10.0.0.1:7102"}"#);
    let env = env_of(&[("PORT_PEER", "7200")]);
    let o = Overrides {
        port: Some(7500),
        radio_station_target: Some("10.0.0.2:7102".to_owned()),
        extra: vec![("PORT_PEER".to_owned(), json!(7600)), ("LOG_JSON".to_owned(), json!(true))],
    };
    let l = load_ok(&env, Some(&user), Some(&conf), &o);
    assert_eq!(l.config.port_peer, 7500, "-p wins over everything, including generic KEY=VALUE");
    assert_eq!(l.config.radio_station_target, "10.0.0.2:7102");
    assert!(l.config.log_json);
    assert_eq!(l.config.rest_port(), 9400);
    assert_eq!(l.sources.last().map(String::as_str), Some("cli"));
    assert_eq!(l.sources.len(), 5);
}

#[test]
fn files_replace_top_level_keys_wholesale_and_keep_others() {
    let dir = TempDir::new().expect("tempdir");
    let user = write(&dir, "user.json", r#"{"MAX_TX_COUNT_IN_BLOCK": 10}"#);
    let conf = write(&dir, "peer.json", r#"{"MAX_BLOCK_KBYTES": 100}"#);
    let l = load_ok(&no_env, Some(&user), Some(&conf), &Overrides::default());
    assert_eq!(l.config.max_tx_count_in_block, 10);
    assert_eq!(l.config.max_block_kbytes, 100);
}

#[test]
fn wrong_type_in_json_file() {
    let dir = TempDir::new().expect("tempdir");
    let conf = write(&dir, "peer.json", r#"{"PORT_PEER": "abc"}"#);
    let e = load_err(&no_env, None, Some(&conf), &Overrides::default());
    let text = e.to_string();
    match &e {
        ConfigError::WrongType { source_name, key, msg } => {
            assert!(source_name.contains(&conf.display().to_string()), "{source_name}");
            assert_eq!(key, "PORT_PEER");
            assert!(msg.contains("expected u16"), "{msg}");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    assert!(text.contains(&conf.display().to_string()), "{text}");
    assert!(text.contains("PORT_PEER"), "{text}");
    assert_eq!(
        text,
        format!("config file {}: key PORT_PEER: invalid type: string \"abc\", expected u16", conf.display())
    );
}

#[test]
fn wrong_type_on_command_line() {
    let o = Overrides { extra: vec![("ENABLE_REST_SERVICE".to_owned(), json!("yes"))], ..Overrides::default() };
    let e = load_err(&no_env, None, None, &o);
    assert!(
        matches!(&e, ConfigError::WrongType { key, source_name, .. } if key == "ENABLE_REST_SERVICE" && source_name == "command line"),
        "{e:?}"
    );
}

#[test]
fn bad_env_names_the_variable() {
    let env = env_of(&[("PORT_PEER", "seventy")]);
    let e = load_err(&env, None, None, &Overrides::default());
    match &e {
        ConfigError::BadEnv { key, value, .. } => {
            assert_eq!(key, "PORT_PEER");
            assert_eq!(value, "seventy");
        }
        other => panic!("expected BadEnv, got {other:?}"),
    }
    assert!(e.to_string().contains("PORT_PEER"), "{e}");
    assert!(e.to_string().contains("seventy"), "{e}");

    let env = env_of(&[("ALLOW_MAKE_EMPTY_BLOCK", "maybe")]);
    let e = load_err(&env, None, None, &Overrides::default());
    assert!(matches!(&e, ConfigError::BadEnv { key, .. } if key == "ALLOW_MAKE_EMPTY_BLOCK"), "{e:?}");

    // Parses as an integer but does not fit the key's type.
    let env = env_of(&[("PORT_PEER", "99999")]);
    let e = load_err(&env, None, None, &Overrides::default());
    assert!(
        matches!(&e, ConfigError::BadEnv { key, value, msg } if key == "PORT_PEER" && value == "99999" && msg.contains("u16")),
        "{e:?}"
    );

    // Non-finite floats are not numbers.
    let env = env_of(&[("INTERVAL_BLOCKGENERATION", "NaN")]);
    let e = load_err(&env, None, None, &Overrides::default());
    assert!(matches!(&e, ConfigError::BadEnv { key, .. } if key == "INTERVAL_BLOCKGENERATION"), "{e:?}");
}

#[test]
fn missing_file_is_unreadable() {
    let dir = TempDir::new().expect("tempdir");
    let missing = dir.path().join("nope.json");
    let e = load_err(&no_env, Some(&missing), None, &Overrides::default());
    match &e {
        ConfigError::Unreadable { path, source } => {
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected Unreadable, got {other:?}"),
    }
    assert!(e.to_string().contains(&missing.display().to_string()), "{e}");
}

#[test]
fn malformed_json_is_not_json_with_line() {
    let dir = TempDir::new().expect("tempdir");
    let conf =
        write(&dir, "peer.json", "{\n  \"PORT_PEER\": 7200,\n  \"LOG_LEVEL\": \"info\"\n  \"LOG_JSON\": true\n}\n");
    let e = load_err(&no_env, None, Some(&conf), &Overrides::default());
    match &e {
        ConfigError::NotJson { path, line, column, .. } => {
            assert_eq!(path, &conf);
            assert_eq!(*line, 4);
            assert!(*column > 0);
        }
        other => panic!("expected NotJson, got {other:?}"),
    }
    let text = e.to_string();
    assert!(text.contains(&conf.display().to_string()) && text.contains("line 4"), "{text}");
}

#[test]
fn top_level_not_an_object_is_not_json() {
    let dir = TempDir::new().expect("tempdir");
    let conf = write(&dir, "peer.json", "\n  [1, 2]\n");
    let e = load_err(&no_env, None, Some(&conf), &Overrides::default());
    assert!(matches!(&e, ConfigError::NotJson { line: 2, column: 3, msg, .. } if msg.contains("array")), "{e:?}");
}

#[test]
fn unknown_key_is_a_warning() {
    let dir = TempDir::new().expect("tempdir");
    let conf = write(&dir, "peer.json", r#"{"FOO": {"deep": [1]}, "PORT_PEER": 7200, "port_radiostation": 1}"#);
    let l = load_ok(&no_env, None, Some(&conf), &Overrides::default());
    assert_eq!(l.config.port_peer, 7200);
    assert_eq!(l.config.port_radiostation, 7102, "lower-case key is not applied");
    assert_eq!(l.warnings.len(), 2, "{:?}", l.warnings);
    let foo = l.warnings.iter().find(|w| w.contains("\"FOO\"")).expect("warning for FOO");
    assert_eq!(foo, &format!("unknown config key \"FOO\" in {} (ignored)", conf.display()));
    let lower = l.warnings.iter().find(|w| w.contains("port_radiostation")).expect("warning for lower-case key");
    assert!(lower.contains("did you mean \"PORT_RADIOSTATION\""), "{lower}");
}

#[test]
fn rest_port_and_data_dir() {
    let dir = TempDir::new().expect("tempdir");
    let conf = write(&dir, "peer.json", r#"{"PORT_PEER": 7200, "DEFAULT_STORAGE_PATH": "/var/lc"}"#);
    let l = load_ok(&no_env, None, Some(&conf), &Overrides::default());
    assert_eq!(l.config.rest_port(), 7200 + 1900);
    assert_eq!(l.config.data_dir(), PathBuf::from("/var/lc").join("7200"));
    let d = Config::default();
    assert_eq!(d.rest_port(), 9000);
    assert_eq!(d.data_dir(), PathBuf::from(".storage/7100"));
}

#[test]
fn validate_rejects_zero_interval() {
    let c = Config { interval_blockgeneration: 0.0, ..Config::default() };
    let e = c.validate().expect_err("interval 0 must be rejected");
    assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "INTERVAL_BLOCKGENERATION"), "{e:?}");
    assert!(e.to_string().contains("INTERVAL_BLOCKGENERATION"), "{e}");

    let c = Config { interval_blockgeneration: 3600.5, ..Config::default() };
    assert!(c.validate().is_err());
    let c = Config { interval_blockgeneration: 3600.0, ..Config::default() };
    assert!(c.validate().is_ok());

    // load runs validate on the final result.
    let env = env_of(&[("INTERVAL_BLOCKGENERATION", "0")]);
    let e = load_err(&env, None, None, &Overrides::default());
    assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "INTERVAL_BLOCKGENERATION"), "{e:?}");
}

#[test]
fn validate_rejects_rest_port_overflow() {
    let c = Config { port_peer: 65000, ..Config::default() };
    let e = c.validate().expect_err("65000 + 1900 overflows");
    assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "PORT_PEER"), "{e:?}");
    assert!(e.to_string().contains("66900"), "{e}");
    let c = Config { port_peer: 65535 - 1900, ..Config::default() };
    assert!(c.validate().is_ok());

    let e = load_err(&no_env, None, None, &Overrides { port: Some(65000), ..Overrides::default() });
    assert!(matches!(&e, ConfigError::Invalid { key, .. } if key == "PORT_PEER"), "{e:?}");
}

#[test]
fn validate_rejects_zero_limits_and_ports() {
    for (c, key) in [
        (Config { port_peer: 0, ..Config::default() }, "PORT_PEER"),
        (Config { port_radiostation: 0, ..Config::default() }, "PORT_RADIOSTATION"),
        (Config { max_tx_count_in_block: 0, ..Config::default() }, "MAX_TX_COUNT_IN_BLOCK"),
        (Config { mempool_max_txs: 0, ..Config::default() }, "MEMPOOL_MAX_TXS"),
        (Config { max_tx_bytes: 4_000_000, ..Config::default() }, "MAX_TX_BYTES"),
        (Config { rest_bind_ip: "localhost:80".to_owned(), ..Config::default() }, "REST_BIND_IP"),
    ] {
        match c.validate() {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key),
            other => panic!("{key}: expected Invalid, got {other:?}"),
        }
    }
    let c = Config { tps_limit_per_sec: 0, ..Config::default() };
    assert!(c.validate().is_ok(), "TPS_LIMIT_PER_SEC 0 means off");
}

#[test]
fn parse_override_types_by_key() {
    assert_eq!(parse_override("PORT_PEER=7200").expect("ok"), ("PORT_PEER".to_owned(), json!(7200)));
    assert_eq!(parse_override("ALLOW_MAKE_EMPTY_BLOCK=False").expect("ok").1, json!(false));
    assert_eq!(parse_override("LOG_LEVEL=debug").expect("ok").1, json!("debug"));
    assert!(matches!(parse_override("PORT_PEER=x"), Err(ConfigError::Invalid { key, .. }) if key == "PORT_PEER"));
    assert!(parse_override("no-equals").is_err());
    assert_eq!(parse_override("FOO={\"a\":1}").expect("ok").1, json!({"a": 1}));
}

#[test]
fn user_file_lookup() {
    let dir = TempDir::new().expect("tempdir");
    assert_eq!(lc_config::user_file_from(&no_env, dir.path()), None);
    let p = write(&dir, "loopchain_user.json", "{}");
    assert_eq!(lc_config::user_file_from(&no_env, dir.path()), Some(p));
    let env = env_of(&[("LOOPCHAIN_USER_CONFIG", "/etc/lc/user.json")]);
    assert_eq!(lc_config::user_file_from(&env, dir.path()), Some(PathBuf::from("/etc/lc/user.json")));
}
