//! The configuration JSON the host passes to `start`.
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The raw configuration (see the crate docs for the keys).
#[derive(Debug, Deserialize)]
struct Raw {
    #[serde(default = "default_port")]
    port: u16,
    #[serde(default = "default_rest_port")]
    rest_port: u16,
    #[serde(default = "default_bind_ip")]
    bind_ip: String,
    #[serde(default)]
    enable_channel_auth: bool,
    channel_manage_data: Option<Value>,
    #[serde(default = "default_heartbeat_timeout_ms")]
    heartbeat_timeout_ms: u64,
    #[serde(default)]
    conf: Vec<Value>,
    #[serde(default)]
    default_channel: Option<String>,
    #[serde(default)]
    tls: Option<TlsRaw>,
}

/// Mutual TLS material, PEM text (the host reads the files).
#[derive(Debug, Deserialize)]
struct TlsRaw {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    #[serde(default)]
    crl_pem: String,
}

fn default_port() -> u16 {
    7102
}

fn default_rest_port() -> u16 {
    9002
}

fn default_bind_ip() -> String {
    "0.0.0.0".to_owned()
}

fn default_heartbeat_timeout_ms() -> u64 {
    6000
}

/// One channel of `channel_manage_data.json`.
#[derive(Debug, Clone)]
pub(crate) struct ChannelDef {
    /// The entry verbatim (returned by `GetChannelInfos`).
    pub(crate) entry: Value,
    /// The normalized `peer_target`s of its `peers` list (channel auth).
    pub(crate) targets: BTreeSet<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) grpc_addr: SocketAddr,
    pub(crate) rest_addr: SocketAddr,
    pub(crate) enable_channel_auth: bool,
    pub(crate) channels: BTreeMap<String, ChannelDef>,
    pub(crate) default_channel: String,
    pub(crate) heartbeat_timeout: Duration,
    pub(crate) conf: Vec<Value>,
    /// Mutual TLS: every gRPC client needs a certificate of the channel CA, and a request's
    /// peer id must be its certificate's. `None`: plain gRPC (dev mode).
    pub(crate) tls: Option<lc_tls::TlsMaterial>,
}

/// Normalizes a peer target for comparison: `[local_ip]` → `127.0.0.1`, `localhost:` →
/// `127.0.0.1:`, surrounding blanks removed.
pub(crate) fn normalize_target(target: &str) -> String {
    let t = target.trim().replace("[local_ip]", "127.0.0.1");
    match t.strip_prefix("localhost:") {
        Some(rest) => format!("127.0.0.1:{rest}"),
        None => t,
    }
}

impl Settings {
    /// Parses and checks the configuration JSON.
    pub(crate) fn parse(json: &str) -> Result<Self, String> {
        let raw: Raw = serde_json::from_str(json).map_err(|e| format!("radio station: bad configuration JSON: {e}"))?;
        let ip: IpAddr = raw
            .bind_ip
            .trim()
            .parse()
            .map_err(|e| format!("radio station: bind_ip {:?} is not an IP address: {e}", raw.bind_ip))?;
        if raw.port == raw.rest_port && raw.port != 0 {
            return Err(format!("radio station: port and rest_port are both {}", raw.port));
        }
        if raw.heartbeat_timeout_ms == 0 {
            return Err("radio station: heartbeat_timeout_ms must be above 0".to_owned());
        }
        let data = match raw.channel_manage_data {
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(format!(
                    "radio station: channel_manage_data must be a JSON object (channel name -> entry), got {}",
                    kind(&other)
                ))
            }
            None => return Err("radio station: channel_manage_data is missing from the configuration".to_owned()),
        };
        if data.is_empty() {
            return Err("radio station: channel_manage_data has no channel".to_owned());
        }
        let tls = match raw.tls {
            None => None,
            Some(t) => {
                let m = lc_tls::TlsMaterial {
                    ca_pem: t.ca_pem.into_bytes(),
                    cert_pem: t.cert_pem.into_bytes(),
                    key_pem: t.key_pem.into_bytes(),
                    crl_pem: t.crl_pem.into_bytes(),
                };
                m.server_config().map_err(|e| format!("radio station: tls: {e}"))?;
                Some(m)
            }
        };
        let mut channels = BTreeMap::new();
        for (name, entry) in data {
            channels.insert(name.clone(), channel_def(&name, entry)?);
        }
        let default_channel = match raw.default_channel {
            Some(c) if channels.contains_key(&c) => c,
            _ => channels.keys().next().cloned().unwrap_or_default(),
        };
        Ok(Self {
            grpc_addr: SocketAddr::new(ip, raw.port),
            rest_addr: SocketAddr::new(ip, raw.rest_port),
            enable_channel_auth: raw.enable_channel_auth,
            channels,
            default_channel,
            heartbeat_timeout: Duration::from_millis(raw.heartbeat_timeout_ms),
            conf: raw.conf,
            tls,
        })
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn channel_def(name: &str, entry: Value) -> Result<ChannelDef, String> {
    let Value::Object(obj) = &entry else {
        return Err(format!("radio station: channel {name:?}: entry must be a JSON object, got {}", kind(&entry)));
    };
    let mut targets = BTreeSet::new();
    match obj.get("peers") {
        None | Some(Value::Null) => {}
        Some(Value::Array(peers)) => {
            for (i, p) in peers.iter().enumerate() {
                match p.get("peer_target") {
                    Some(Value::String(t)) => {
                        targets.insert(normalize_target(t));
                    }
                    _ => {
                        return Err(format!(
                            "radio station: channel {name:?}: peers[{i}] has no \"peer_target\" string"
                        ))
                    }
                }
            }
        }
        Some(other) => {
            return Err(format!("radio station: channel {name:?}: \"peers\" must be an array, got {}", kind(other)))
        }
    }
    Ok(ChannelDef { entry, targets })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_targets() {
        assert_eq!(normalize_target("[local_ip]:7100"), "127.0.0.1:7100");
        assert_eq!(normalize_target(" localhost:7100 "), "127.0.0.1:7100");
        assert_eq!(normalize_target("10.0.0.1:7100"), "10.0.0.1:7100");
    }

    #[test]
    fn parses_and_picks_the_default_channel() {
        let data = r#"{"port":1,"rest_port":2,"channel_manage_data":{"b":{"peers":[{"peer_target":"[local_ip]:7100"}]},"a":{"peers":[]}}}"#;
        let s = Settings::parse(data).expect("valid");
        assert_eq!(s.default_channel, "a");
        assert!(s.channels["b"].targets.contains("127.0.0.1:7100"));
        let with_default = data.replacen("{\"port\"", "{\"default_channel\":\"b\",\"port\"", 1);
        assert_eq!(Settings::parse(&with_default).expect("valid").default_channel, "b");
        let unknown_default = data.replacen("{\"port\"", "{\"default_channel\":\"zz\",\"port\"", 1);
        assert_eq!(Settings::parse(&unknown_default).expect("valid").default_channel, "a");
    }

    #[test]
    fn refuses_bad_configs() {
        for (json, needle) in [
            ("{}", "channel_manage_data is missing"),
            (r#"{"channel_manage_data":[]}"#, "must be a JSON object"),
            (r#"{"channel_manage_data":{}}"#, "no channel"),
            (r#"{"channel_manage_data":{"a":{"peers":[{"x":1}]}}}"#, "peers[0]"),
            (r#"{"bind_ip":"nope","channel_manage_data":{"a":{}}}"#, "bind_ip"),
            ("not json", "bad configuration JSON"),
        ] {
            let e = Settings::parse(json).expect_err(json);
            assert!(e.contains(needle), "{json}: {e}");
        }
    }
}
