//! Layering: defaults < env < user file < `-o` JSON file < CLI flags.

use std::path::{Path, PathBuf};

use serde_json::{Map, Number, Value};

use crate::{Config, ConfigError};

/// Environment variable naming the user configuration file.
pub const USER_CONFIG_ENV: &str = "LOOPCHAIN_USER_CONFIG";

/// User configuration file looked for in the working directory when
/// [`USER_CONFIG_ENV`] is not set.
pub const USER_CONFIG_FILE: &str = "loopchain_user.json";

/// Settings given by command-line flags: the highest layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `-p/--port`: sets `PORT_PEER`.
    pub port: Option<u16>,
    /// `-r/--radio_station_target`: sets `RADIO_STATION_TARGET`.
    pub radio_station_target: Option<String>,
    /// Generic `KEY=value` overrides (see [`parse_override`]), applied in
    /// order before `port` and `radio_station_target`, which win.
    pub extra: Vec<(String, Value)>,
}

impl Overrides {
    fn is_empty(&self) -> bool {
        self.port.is_none() && self.radio_station_target.is_none() && self.extra.is_empty()
    }
}

/// The result of [`load`].
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The merged, validated configuration.
    pub config: Config,
    /// Non-fatal findings (unknown keys), for the caller to log once logging is up.
    pub warnings: Vec<String>,
    /// The layers that contributed, lowest first: `"defaults"`, `"env"`,
    /// the file paths, `"cli"`.
    pub sources: Vec<String>,
}

/// Reads a variable of the process environment (non-UTF-8 bytes are
/// replaced, so a garbled value is reported rather than silently ignored).
pub fn process_env(k: &str) -> Option<String> {
    std::env::var_os(k).map(|v| v.to_string_lossy().into_owned())
}

/// The user configuration file: `$LOOPCHAIN_USER_CONFIG` if set (and not
/// empty), else `./loopchain_user.json` if it exists, else none.
pub fn default_user_file() -> Option<PathBuf> {
    user_file_from(&process_env, Path::new("."))
}

/// [`default_user_file`] with an explicit environment and directory.
pub fn user_file_from(env: &dyn Fn(&str) -> Option<String>, dir: &Path) -> Option<PathBuf> {
    if let Some(p) = env(USER_CONFIG_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let p = dir.join(USER_CONFIG_FILE);
    p.exists().then_some(p)
}

/// Parses a command-line `KEY=VALUE` override. For a known key the value is
/// converted by the key's type exactly like an environment variable
/// (`PORT_PEER=7200`, `ALLOW_MAKE_EMPTY_BLOCK=false`); for an unknown key it
/// is kept as JSON if it parses, else as a string ([`load`] then warns).
pub fn parse_override(kv: &str) -> Result<(String, Value), ConfigError> {
    let Some((key, raw)) = kv.split_once('=') else {
        return Err(ConfigError::Invalid {
            key: kv.to_owned(),
            msg: "expected KEY=VALUE, e.g. PORT_PEER=7200".to_owned(),
        });
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(ConfigError::Invalid {
            key: kv.to_owned(),
            msg: "empty key; expected KEY=VALUE, e.g. PORT_PEER=7200".to_owned(),
        });
    }
    let defaults = defaults_map()?;
    let value = match defaults.get(key) {
        Some(default) => convert_typed(default, raw)
            .map_err(|msg| ConfigError::Invalid { key: key.to_owned(), msg: format!("{raw:?}: {msg}") })?,
        None => serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned())),
    };
    Ok((key.to_owned(), value))
}

/// Builds the configuration from its layers, lowest to highest:
/// built-in defaults, environment variables named like the keys (looked up
/// with `env`), `user_file`, `json_file` (`-o`), then `overrides`.
///
/// Files hold one JSON object; each top-level key replaces the previous
/// value wholesale. Unknown keys are ignored with a warning. Each layer is
/// type-checked as it is applied, so an error names the layer and the key;
/// the final configuration is checked with [`Config::validate`].
pub fn load(
    env: &dyn Fn(&str) -> Option<String>,
    user_file: Option<&Path>,
    json_file: Option<&Path>,
    overrides: &Overrides,
) -> Result<Loaded, ConfigError> {
    let defaults = defaults_map()?;
    let mut merged = defaults.clone();
    let mut warnings = Vec::new();
    let mut sources = vec!["defaults".to_owned()];

    // Environment: only keys that exist, converted by the default's type.
    let mut from_env: Vec<(String, String)> = Vec::new();
    for (key, default) in &defaults {
        if let Some(raw) = env(key) {
            let value = convert_typed(default, &raw).map_err(|msg| ConfigError::BadEnv {
                key: key.clone(),
                value: raw.clone(),
                msg,
            })?;
            merged.insert(key.clone(), value);
            from_env.push((key.clone(), raw));
        }
    }
    let mut config = typed(&merged).map_err(|(key, msg)| {
        let value = from_env.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).unwrap_or_default();
        ConfigError::BadEnv { key, value, msg }
    })?;
    if !from_env.is_empty() {
        sources.push("env".to_owned());
    }

    for (path, label) in [(user_file, "user config file"), (json_file, "config file")] {
        if let Some(path) = path {
            let entries = read_json_object(path)?;
            let shown = path.display().to_string();
            config = apply(
                entries,
                &format!("in {shown}"),
                &format!("{label} {shown}"),
                &defaults,
                &mut merged,
                &mut warnings,
            )?;
            sources.push(shown);
        }
    }

    if !overrides.is_empty() {
        let mut entries = overrides.extra.clone();
        if let Some(port) = overrides.port {
            entries.push(("PORT_PEER".to_owned(), Value::from(port)));
        }
        if let Some(target) = &overrides.radio_station_target {
            entries.push(("RADIO_STATION_TARGET".to_owned(), Value::String(target.clone())));
        }
        config = apply(entries, "on the command line", "command line", &defaults, &mut merged, &mut warnings)?;
        sources.push("cli".to_owned());
    }

    config.validate()?;
    Ok(Loaded { config, warnings, sources })
}

/// The defaults as a JSON object, keyed by the SCREAMING_SNAKE names.
fn defaults_map() -> Result<Map<String, Value>, ConfigError> {
    let invalid = |msg: String| ConfigError::Invalid { key: "(built-in defaults)".to_owned(), msg };
    match serde_json::to_value(Config::default()) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(invalid(format!("serialised to {other}, not an object"))),
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// Converts an environment (or `KEY=VALUE`) string by the JSON type of the
/// key's default.
fn convert_typed(default: &Value, raw: &str) -> Result<Value, String> {
    let t = raw.trim();
    match default {
        Value::String(_) => Ok(Value::String(raw.to_owned())),
        Value::Bool(_) => match t.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => Err("expected a boolean: true, false, 1 or 0".to_owned()),
        },
        Value::Number(n) if n.is_f64() => t
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| "expected a finite number, e.g. 2 or 0.5".to_owned()),
        Value::Number(_) => {
            if let Ok(u) = t.parse::<u64>() {
                Ok(Value::from(u))
            } else if let Ok(i) = t.parse::<i64>() {
                Ok(Value::from(i))
            } else {
                Err("expected an integer".to_owned())
            }
        }
        Value::Null | Value::Array(_) | Value::Object(_) => {
            serde_json::from_str(t).map_err(|e| format!("expected JSON: {e}"))
        }
    }
}

/// Deserialises the merged map; on failure returns (key, message).
fn typed(merged: &Map<String, Value>) -> Result<Config, (String, String)> {
    let value = Value::Object(merged.clone());
    serde_path_to_error::deserialize::<_, Config>(&value).map_err(|e| {
        let key = e.path().to_string();
        let key = if key == "." { "(top level)".to_owned() } else { key };
        (key, e.into_inner().to_string())
    })
}

/// Merges `entries` (known keys only, warning about the rest) and type-checks.
fn apply(
    entries: impl IntoIterator<Item = (String, Value)>,
    where_: &str,
    source_name: &str,
    defaults: &Map<String, Value>,
    merged: &mut Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<Config, ConfigError> {
    for (key, value) in entries {
        if defaults.contains_key(&key) {
            merged.insert(key, value);
        } else {
            warnings.push(unknown_key_warning(&key, where_, defaults));
        }
    }
    typed(merged).map_err(|(key, msg)| ConfigError::WrongType { source_name: source_name.to_owned(), key, msg })
}

fn unknown_key_warning(key: &str, where_: &str, defaults: &Map<String, Value>) -> String {
    let upper = key.trim().to_ascii_uppercase().replace('-', "_");
    if defaults.contains_key(&upper) {
        format!("unknown config key {key:?} {where_} (ignored; did you mean {upper:?}?)")
    } else {
        format!("unknown config key {key:?} {where_} (ignored)")
    }
}

/// Reads a file holding one JSON object.
fn read_json_object(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Unreadable { path: path.to_owned(), source })?;
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let value: Value = serde_json::from_slice(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let full = e.to_string();
        let msg = full.strip_suffix(&format!(" at line {line} column {column}")).map(str::to_owned).unwrap_or(full);
        ConfigError::NotJson { path: path.to_owned(), line, column, msg }
    })?;
    let kind = match value {
        Value::Object(m) => return Ok(m),
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
    };
    let (line, column) = first_token_position(text);
    Err(ConfigError::NotJson {
        path: path.to_owned(),
        line,
        column,
        msg: format!("the top level is {kind}; expected an object like {{\"PORT_PEER\": 7100}}"),
    })
}

/// 1-based line and column of the first non-whitespace byte.
fn first_token_position(text: &[u8]) -> (usize, usize) {
    let (mut line, mut column) = (1, 1);
    for &b in text {
        match b {
            b'\n' => {
                line += 1;
                column = 1;
            }
            b' ' | b'\t' | b'\r' => column += 1,
            _ => break,
        }
    }
    (line, column)
}
