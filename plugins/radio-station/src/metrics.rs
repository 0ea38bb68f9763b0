//! `GET /metrics` on the radio station's REST port (OpenMetrics text), read from the registry at
//! scrape time:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `loopchain_radio_registered_peers` | gauge | channel |
//! | `loopchain_radio_connected_peers` | gauge | channel (heartbeat within the timeout) |
//! | `loopchain_radio_peer_connected` | gauge (0/1) | channel, peer_id |
//! | `loopchain_radio_peer_height` | gauge | channel, peer_id (height its last heartbeat reported) |
//! | `loopchain_radio_peer_status_age_seconds` | gauge | channel, peer_id (since its last heartbeat, registration or expiry) |
//! | `loopchain_radio_refusals_total` | counter | reason |
use crate::state::{now_us, Registry};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::sync::Arc;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One registered peer of one channel at scrape time.
#[derive(Debug, Clone)]
struct PeerSample {
    channel: String,
    peer_id: String,
    connected: bool,
    height: u64,
    age_seconds: f64,
}

/// Everything one scrape reports.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    /// `(channel, registered, connected)`.
    channels: Vec<(String, u64, u64)>,
    peers: Vec<PeerSample>,
    refusals: Vec<(&'static str, u64)>,
}

impl Snapshot {
    fn collect(registry: &Registry) -> Self {
        let now = now_us();
        let mut s = Self::default();
        for channel in registry.settings.channels.keys() {
            let peers = registry.peers(channel).unwrap_or_default();
            let connected = peers.iter().filter(|p| p.status == 1).count() as u64;
            s.channels.push((channel.clone(), peers.len() as u64, connected));
            for p in peers {
                s.peers.push(PeerSample {
                    channel: channel.clone(),
                    peer_id: p.peer_id,
                    connected: p.status == 1,
                    height: p.block_height,
                    age_seconds: now.saturating_sub(p.status_update_time_us) as f64 / 1e6,
                });
            }
        }
        s.refusals = registry.refusals().into_iter().collect();
        s
    }

    fn encode(self) -> Result<String, std::fmt::Error> {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

fn gauge(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (name, help, pick) in [
            ("loopchain_radio_registered_peers", "Peers registered for the channel.", 1usize),
            ("loopchain_radio_connected_peers", "Registered peers whose heartbeat is within the timeout.", 2),
        ] {
            let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (channel, registered, connected) in &self.channels {
                let v = if pick == 1 { *registered } else { *connected };
                ConstGauge::new(gauge(v)).encode(family.encode_family(&[("channel", channel.as_str())])?)?;
            }
        }
        {
            let mut family = enc.encode_descriptor(
                "loopchain_radio_peer_connected",
                "1 while the peer's heartbeat is within the timeout.",
                None,
                MetricType::Gauge,
            )?;
            for p in &self.peers {
                let labels = [("channel", p.channel.as_str()), ("peer_id", p.peer_id.as_str())];
                ConstGauge::new(i64::from(p.connected)).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = enc.encode_descriptor(
                "loopchain_radio_peer_height",
                "Committed height the peer reported in its last heartbeat.",
                None,
                MetricType::Gauge,
            )?;
            for p in &self.peers {
                let labels = [("channel", p.channel.as_str()), ("peer_id", p.peer_id.as_str())];
                ConstGauge::new(gauge(p.height)).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let mut family = enc.encode_descriptor(
                "loopchain_radio_peer_status_age_seconds",
                "Seconds since the peer's last heartbeat (or registration, or expiry).",
                None,
                MetricType::Gauge,
            )?;
            for p in &self.peers {
                let labels = [("channel", p.channel.as_str()), ("peer_id", p.peer_id.as_str())];
                ConstGauge::new(p.age_seconds).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = enc.encode_descriptor(
            "loopchain_radio_refusals",
            "Requests and connections the radio station refused, by reason.",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in &self.refusals {
            ConstCounter::new(*n).encode(family.encode_family(&[("reason", *reason)])?)?;
        }
        Ok(())
    }
}

/// `GET /metrics`.
pub(crate) async fn get_metrics(State(registry): State<Arc<Registry>>) -> Response {
    match Snapshot::collect(&registry).encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding the metrics failed").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn registry() -> Registry {
        let config = serde_json::json!({
            "port": 0, "rest_port": 0, "bind_ip": "127.0.0.1",
            "channel_manage_data": {"a": {"peers": []}, "b": {"peers": []}},
        });
        Registry::new(Settings::parse(&config.to_string()).expect("settings"))
    }

    #[test]
    fn text_reports_peers_per_channel_and_refusals() {
        let r = registry();
        assert!(matches!(r.connect("a", "hx01", "127.0.0.1:7100", ""), crate::state::Connect::Ok { .. }));
        assert!(matches!(r.connect("a", "hx02", "127.0.0.1:7200", ""), crate::state::Connect::Ok { .. }));
        assert!(r.heartbeat("hx01", |c| (c == "a").then_some(17)));
        r.count_refusal("malformed");
        let t = Snapshot::collect(&r).encode().expect("encodes");
        for line in [
            "loopchain_radio_registered_peers{channel=\"a\"} 2",
            "loopchain_radio_registered_peers{channel=\"b\"} 0",
            "loopchain_radio_connected_peers{channel=\"a\"} 2",
            "loopchain_radio_peer_connected{channel=\"a\",peer_id=\"hx01\"} 1",
            "loopchain_radio_peer_height{channel=\"a\",peer_id=\"hx01\"} 17",
            "loopchain_radio_peer_height{channel=\"a\",peer_id=\"hx02\"} 0",
            "loopchain_radio_refusals_total{reason=\"malformed\"} 1",
            "# EOF",
        ] {
            assert!(t.lines().any(|l| l == line), "missing {line:?} in:\n{t}");
        }
        assert!(t.contains("loopchain_radio_peer_status_age_seconds{channel=\"a\",peer_id=\"hx02\"}"), "{t}");
    }

    #[test]
    fn served_on_the_rest_port() {
        use loopchain_plugin_api::discovery::RadioStation;
        use std::io::{Read, Write};
        let config = serde_json::json!({
            "port": 0, "rest_port": 0, "bind_ip": "127.0.0.1", "channel_manage_data": {"a": {"peers": []}},
        });
        let mut station = crate::Station::start(&config.to_string()).expect("start");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut lines = Vec::new();
        let rest = loop {
            lines.extend(station.poll_events());
            let addr = lines
                .iter()
                .find_map(|l| l.strip_prefix("radio station listening: ")?.split("REST ").nth(1)?.split(';').next());
            if let Some(a) = addr {
                break a.to_owned();
            }
            assert!(std::time::Instant::now() < deadline, "no listening line: {lines:?}");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let mut conn = std::net::TcpStream::connect(&rest).expect("connect");
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: station\r\nConnection: close\r\n\r\n").expect("request");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("answer");
        station.stop();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("content-type: application/openmetrics-text"), "{answer}");
        assert!(answer.contains("loopchain_radio_registered_peers{channel=\"a\"} 0"), "{answer}");
    }
}
