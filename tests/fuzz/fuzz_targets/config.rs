//! Operator input: lc-config's layered loader reading a user file or a `-o` JSON file (the input
//! bytes, written to a scratch file), an environment variable and a `KEY=VALUE` flag; and the
//! channel definition JSON (`ChannelDefinition` + `validate()` + genesis).
//!
//! Invariants: a loaded configuration validates; it loads the same as user file and as `-o` file;
//! writing it back as JSON and loading that gives the same configuration without warnings; a valid
//! channel definition yields its genesis block, whose state root is the definition's hash; JSON
//! and borsh round trips.
#![no_main]

use lc_config::{load, parse_override, Config, Overrides};
use lc_fuzz::{borsh_roundtrip, json_approx_eq, json_roundtrip};
use lc_types::ChannelDefinition;
use libfuzzer_sys::fuzz_target;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn no_env(_: &str) -> Option<String> {
    None
}

fn scratch() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = Path::new("/dev/shm");
        let dir = if dir.is_dir() { dir.to_path_buf() } else { std::env::temp_dir() };
        dir.join(format!("lc-fuzz-config-{}.json", std::process::id()))
    })
}

fn keys() -> &'static [String] {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    KEYS.get_or_init(|| match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => panic!("the defaults serialise to an object"),
    })
}

fn value_of(c: &Config) -> serde_json::Value {
    serde_json::to_value(c).expect("a configuration serialises")
}

fn files(data: &[u8]) {
    let path = scratch();
    std::fs::write(path, data).expect("write the scratch file");
    let user = load(&no_env, Some(path), None, &Overrides::default());
    let file = load(&no_env, None, Some(path), &Overrides::default());
    assert_eq!(user.is_ok(), file.is_ok(), "user file and -o file disagree: {user:?} / {file:?}");
    let Ok(loaded) = user else { return };
    let Ok(other) = file else { return };
    assert_eq!(loaded.config, other.config);
    assert_eq!(loaded.warnings.len(), other.warnings.len());
    loaded.config.validate().expect("a loaded configuration validates");
    assert_eq!(loaded.sources.len(), 2, "{:?}", loaded.sources);

    let text = serde_json::to_vec(&loaded.config).expect("a configuration serialises");
    std::fs::write(path, &text).expect("write the scratch file");
    let again = load(&no_env, Some(path), None, &Overrides::default())
        .unwrap_or_else(|e| panic!("a loaded configuration does not load back: {e}"));
    assert!(again.warnings.is_empty(), "own keys are unknown: {:?}", again.warnings);
    assert!(json_approx_eq(&value_of(&again.config), &value_of(&loaded.config)), "config round trip changed it");
}

fn env_and_flags(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else { return };
    let raw = String::from_utf8_lossy(rest).into_owned();
    let key = &keys()[pick as usize % keys().len()];
    let env = |k: &str| (k == key).then(|| raw.clone());
    if let Ok(l) = load(&env, None, None, &Overrides::default()) {
        l.config.validate().expect("a loaded configuration validates");
    }
    if let Ok((k, v)) = parse_override(&raw) {
        assert_eq!(k, k.trim());
        let overrides = Overrides { extra: vec![(k, v)], ..Overrides::default() };
        if let Ok(l) = load(&no_env, None, None, &overrides) {
            l.config.validate().expect("a loaded configuration validates");
        }
    }
}

fn channel_definition(data: &[u8]) {
    let Ok(def) = serde_json::from_slice::<ChannelDefinition>(data) else { return };
    json_roundtrip(&def);
    borsh_roundtrip(&def);
    let hash = def.hash();
    assert_eq!(hash, lc_types::sha3(&lc_types::encode(&def)));
    match (def.validate(), lc_types::genesis_block(&def)) {
        (Ok(()), Ok(genesis)) => {
            assert_eq!(genesis.header.state_root, hash);
            assert_eq!(genesis.header.height, 0);
            assert_eq!(genesis.header.channel, def.name);
            assert_eq!(genesis.hash(), lc_types::genesis_block(&def).map(|g| g.hash()).ok().unwrap_or_default());
        }
        (Err(_), Err(_)) => {}
        (v, g) => panic!("validate() and genesis_block() disagree: {v:?} / {:?}", g.map(|b| b.hash())),
    }
}

fuzz_target!(|data: &[u8]| {
    files(data);
    env_and_flags(data);
    channel_definition(data);
});
