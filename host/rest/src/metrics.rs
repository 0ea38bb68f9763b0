//! `GET /metrics`: Prometheus metrics of every channel of this node, in the OpenMetrics text
//! format. Everything is read at scrape time from counters the engine keeps (atomics, the
//! channel status, the refusal counters, the links' stats): no background task, no per-tx work.
//!
//! | family | type | labels |
//! |---|---|---|
//! | `loopchain_block_height` | gauge | channel |
//! | `loopchain_round`, `loopchain_epoch` | gauge | channel |
//! | `loopchain_leader`, `loopchain_validator`, `loopchain_halted` | gauge (0/1) | channel |
//! | `loopchain_round_failures_total` | counter | channel, cause |
//! | `loopchain_committed_tx_total`, `loopchain_committed_blocks_total` | counter | channel |
//! | `loopchain_finality_latency_seconds` | histogram | channel |
//! | `loopchain_db_write_latency_seconds` | histogram | channel |
//! | `loopchain_mempool_txs`, `loopchain_in_flight_txs` | gauge | channel |
//! | `loopchain_peers` | gauge | channel, state (`connected` / `down`) |
//! | `loopchain_inbox_dropped_total` | counter | channel |
//! | `loopchain_score_calls_total`, `loopchain_score_failures_total` | counter | channel |
//! | `loopchain_refusals_total` | counter | reason |
//! | extra counters (e.g. the log shipper's) | counter | none |
use crate::{ApiState, ExtraCounter};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use lc_engine::HistogramSnapshot;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::Arc;

/// Content type of the answer.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One channel's values at scrape time.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChannelSample {
    pub(crate) channel: String,
    pub(crate) height: u64,
    pub(crate) round: u64,
    pub(crate) epoch: u64,
    pub(crate) leader: bool,
    pub(crate) validator: bool,
    pub(crate) halted: bool,
    pub(crate) mempool: u64,
    pub(crate) in_flight: u64,
    pub(crate) committed_txs: u64,
    pub(crate) committed_blocks: u64,
    pub(crate) inbox_dropped: u64,
    pub(crate) round_failures: Vec<(&'static str, u64)>,
    pub(crate) finality: Option<HistogramSnapshot>,
    pub(crate) db_write: Option<HistogramSnapshot>,
    /// `(calls, failures)` when the channel runs a SCORE runtime.
    pub(crate) score: Option<(u64, u64)>,
    pub(crate) peers_connected: u64,
    pub(crate) peers_down: u64,
}

/// Everything one scrape reports (owned, so it can be registered as a collector).
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub(crate) channels: Vec<ChannelSample>,
    pub(crate) refusals: Vec<(&'static str, u64)>,
    pub(crate) extra: Vec<ExtraCounter>,
}

impl Snapshot {
    /// Reads the node's counters.
    pub(crate) fn collect(state: &ApiState) -> Self {
        let channels = state
            .channels
            .iter()
            .map(|(name, ch)| {
                let s = ch.status();
                let m = &ch.metrics;
                let (mut connected, mut down) = (0u64, 0u64);
                for member in state.members.get(name).map(Vec::as_slice).unwrap_or_default() {
                    if member.peer_id == state.peer_id {
                        continue;
                    }
                    match state.link_status.get(name, &member.peer_id) {
                        Some(l) if l.connected => connected += 1,
                        _ => down += 1,
                    }
                }
                ChannelSample {
                    channel: name.clone(),
                    height: s.height,
                    round: s.round,
                    epoch: s.epoch,
                    leader: s.leader,
                    validator: s.validator,
                    halted: s.halted.is_some(),
                    mempool: s.mempool as u64,
                    in_flight: s.in_flight as u64,
                    committed_txs: m.committed_txs(),
                    committed_blocks: m.committed_blocks(),
                    inbox_dropped: ch.inbox_dropped(),
                    round_failures: m.round_failures().into_iter().map(|(c, n)| (c.as_str(), n)).collect(),
                    finality: Some(m.finality()),
                    db_write: Some(m.db_write()),
                    score: state.scores.get(name).map(|rt| (rt.score_stats().calls(), rt.score_stats().failures())),
                    peers_connected: connected,
                    peers_down: down,
                }
            })
            .collect();
        Self {
            channels,
            refusals: state.refusals.snapshot().into_iter().collect(),
            extra: state.extra_metrics.collect(),
        }
    }

    /// The OpenMetrics text.
    pub(crate) fn encode(self) -> Result<String, std::fmt::Error> {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry)?;
        Ok(out)
    }
}

/// Writes one gauge family with a `channel` label.
fn gauges(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    channels: &[ChannelSample],
    value: impl Fn(&ChannelSample) -> i64,
) -> Result<(), std::fmt::Error> {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for c in channels {
        let labels = [("channel", c.channel.as_str())];
        ConstGauge::new(value(c)).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes one counter family with a `channel` label (`name` without `_total`).
fn counters(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    channels: &[ChannelSample],
    value: impl Fn(&ChannelSample) -> Option<u64>,
) -> Result<(), std::fmt::Error> {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for c in channels {
        if let Some(v) = value(c) {
            let labels = [("channel", c.channel.as_str())];
            ConstCounter::new(v).encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

/// Writes one histogram family with a `channel` label.
fn histograms(
    enc: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    channels: &[ChannelSample],
    value: impl Fn(&ChannelSample) -> Option<&HistogramSnapshot>,
) -> Result<(), std::fmt::Error> {
    let mut family = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for c in channels {
        if let Some(h) = value(c) {
            let labels = [("channel", c.channel.as_str())];
            family.encode_family(&labels)?.encode_histogram::<NoLabelSet>(h.sum_seconds, h.count, &h.buckets, None)?;
        }
    }
    Ok(())
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let ch = &self.channels;
        gauges(&mut enc, "loopchain_block_height", "Height of the last committed block.", ch, |c| {
            gauge_value(c.height)
        })?;
        gauges(&mut enc, "loopchain_round", "Current consensus round.", ch, |c| gauge_value(c.round))?;
        gauges(&mut enc, "loopchain_epoch", "Current epoch.", ch, |c| gauge_value(c.epoch))?;
        gauges(&mut enc, "loopchain_leader", "1 when this node leads the current round.", ch, |c| flag(c.leader))?;
        gauges(&mut enc, "loopchain_validator", "1 when this node votes in the current epoch.", ch, |c| {
            flag(c.validator)
        })?;
        gauges(&mut enc, "loopchain_halted", "1 when the channel stopped because of an error.", ch, |c| {
            flag(c.halted)
        })?;
        gauges(&mut enc, "loopchain_mempool_txs", "Transactions waiting in the mempool.", ch, |c| {
            gauge_value(c.mempool)
        })?;
        gauges(&mut enc, "loopchain_in_flight_txs", "Transactions in proposed, uncommitted blocks.", ch, |c| {
            gauge_value(c.in_flight)
        })?;
        {
            let mut family = enc.encode_descriptor(
                "loopchain_round_failures",
                "Rounds that failed, by cause (propose_timeout, vote_timeout, invalid_proposal, tc), each counted once per round.",
                None,
                MetricType::Counter,
            )?;
            for c in ch {
                for (cause, n) in &c.round_failures {
                    let labels = [("channel", c.channel.as_str()), ("cause", cause)];
                    ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        counters(
            &mut enc,
            "loopchain_committed_tx",
            "Transactions committed since the node started (tx/s = rate()).",
            ch,
            |c| Some(c.committed_txs),
        )?;
        counters(&mut enc, "loopchain_committed_blocks", "Blocks committed since the node started.", ch, |c| {
            Some(c.committed_blocks)
        })?;
        histograms(
            &mut enc,
            "loopchain_finality_latency_seconds",
            "From first seeing (or building) a block's proposal to committing it.",
            ch,
            |c| c.finality.as_ref(),
        )?;
        histograms(
            &mut enc,
            "loopchain_db_write_latency_seconds",
            "Synced storage write of one committed block.",
            ch,
            |c| c.db_write.as_ref(),
        )?;
        {
            let mut family = enc.encode_descriptor(
                "loopchain_peers",
                "Other members of the channel by this node's link to them (connected: the last request succeeded).",
                None,
                MetricType::Gauge,
            )?;
            for c in ch {
                for (state, n) in [("connected", c.peers_connected), ("down", c.peers_down)] {
                    let labels = [("channel", c.channel.as_str()), ("state", state)];
                    ConstGauge::new(gauge_value(n)).encode(family.encode_family(&labels)?)?;
                }
            }
        }
        counters(
            &mut enc,
            "loopchain_inbox_dropped",
            "Consensus messages dropped because the channel's inbox was full.",
            ch,
            |c| Some(c.inbox_dropped),
        )?;
        counters(&mut enc, "loopchain_score_calls", "SCORE executions (re-executions included).", ch, |c| {
            c.score.map(|s| s.0)
        })?;
        counters(
            &mut enc,
            "loopchain_score_failures",
            "SCORE executions that failed (error, panic, or code not available).",
            ch,
            |c| c.score.map(|s| s.1),
        )?;
        {
            let mut family = enc.encode_descriptor(
                "loopchain_refusals",
                "Inputs this node refused, by reason.",
                None,
                MetricType::Counter,
            )?;
            for (reason, n) in &self.refusals {
                let labels = [("reason", *reason)];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        for x in &self.extra {
            let name = x.name.strip_suffix("_total").unwrap_or(&x.name);
            if !valid_name(name) {
                continue;
            }
            let family = enc.encode_descriptor(name, &x.help, None, MetricType::Counter)?;
            ConstCounter::new(x.value).encode(family)?;
        }
        Ok(())
    }
}

/// Whether `name` is a metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), so a bad extra name cannot
/// break the exposition.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `GET /metrics`.
pub(crate) async fn get_metrics(State(state): State<Arc<ApiState>>) -> Response {
    match Snapshot::collect(&state).encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding the metrics failed").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lc_engine::metrics::Histogram;
    use std::time::Duration;

    fn sample(name: &str) -> ChannelSample {
        static BOUNDS: &[f64] = &[0.1, 1.0];
        let h = Histogram::new(BOUNDS);
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(2));
        ChannelSample {
            channel: name.into(),
            height: 42,
            round: 45,
            epoch: 1,
            leader: true,
            validator: true,
            mempool: 7,
            committed_txs: 1000,
            committed_blocks: 40,
            round_failures: vec![("propose_timeout", 3), ("tc", 2)],
            finality: Some(h.snapshot()),
            db_write: Some(h.snapshot()),
            score: Some((12, 1)),
            peers_connected: 2,
            peers_down: 1,
            ..ChannelSample::default()
        }
    }

    fn text() -> String {
        Snapshot {
            channels: vec![sample("a"), ChannelSample { score: None, ..sample("b") }],
            refusals: vec![("non_member", 5), ("tx_duplicate", 0)],
            extra: vec![
                ExtraCounter { name: "loopchain_log_shipped_total".into(), help: "Shipped.".into(), value: 9 },
                ExtraCounter { name: "bad name{".into(), help: "ignored".into(), value: 1 },
            ],
        }
        .encode()
        .expect("encodes")
    }

    #[test]
    fn text_has_every_family_with_labels() {
        let t = text();
        for line in [
            "# TYPE loopchain_block_height gauge",
            "loopchain_block_height{channel=\"a\"} 42",
            "loopchain_round{channel=\"b\"} 45",
            "loopchain_epoch{channel=\"a\"} 1",
            "loopchain_leader{channel=\"a\"} 1",
            "loopchain_mempool_txs{channel=\"a\"} 7",
            "# TYPE loopchain_round_failures counter",
            "loopchain_round_failures_total{channel=\"a\",cause=\"propose_timeout\"} 3",
            "loopchain_round_failures_total{channel=\"b\",cause=\"tc\"} 2",
            "loopchain_committed_tx_total{channel=\"a\"} 1000",
            "loopchain_committed_blocks_total{channel=\"a\"} 40",
            "# TYPE loopchain_finality_latency_seconds histogram",
            "loopchain_finality_latency_seconds_bucket{le=\"0.1\",channel=\"a\"} 1",
            "loopchain_finality_latency_seconds_bucket{le=\"1.0\",channel=\"a\"} 2",
            "loopchain_finality_latency_seconds_bucket{le=\"+Inf\",channel=\"a\"} 3",
            "loopchain_finality_latency_seconds_count{channel=\"a\"} 3",
            "loopchain_db_write_latency_seconds_count{channel=\"b\"} 3",
            "loopchain_peers{channel=\"a\",state=\"connected\"} 2",
            "loopchain_peers{channel=\"a\",state=\"down\"} 1",
            "loopchain_score_calls_total{channel=\"a\"} 12",
            "loopchain_score_failures_total{channel=\"a\"} 1",
            "loopchain_refusals_total{reason=\"non_member\"} 5",
            "loopchain_refusals_total{reason=\"tx_duplicate\"} 0",
            "loopchain_log_shipped_total 9",
            "# EOF",
        ] {
            assert!(t.lines().any(|l| l == line), "missing line {line:?} in:\n{t}");
        }
        assert!(!t.contains("loopchain_score_calls_total{channel=\"b\"}"), "b runs no SCORE runtime:\n{t}");
        assert!(!t.contains("bad name"), "invalid extra names are left out:\n{t}");
        let sum = t.lines().find(|l| l.starts_with("loopchain_finality_latency_seconds_sum{channel=\"a\"}"));
        let sum: f64 = sum.and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok()).expect("a sum line");
        assert!((sum - 2.55).abs() < 1e-9, "sum {sum}");
    }

    #[test]
    fn buckets_are_cumulative_and_end_with_the_count() {
        let t = text();
        let buckets: Vec<u64> = t
            .lines()
            .filter(|l| l.starts_with("loopchain_db_write_latency_seconds_bucket") && l.contains("channel=\"a\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        assert_eq!(buckets, vec![1, 2, 3]);
    }

    #[test]
    fn an_empty_node_still_encodes() {
        let t = Snapshot::default().encode().expect("encodes");
        assert!(t.contains("# TYPE loopchain_block_height gauge") && t.ends_with("# EOF\n"), "{t}");
    }

    #[test]
    fn metric_names_are_checked() {
        assert!(valid_name("loopchain_x:y_1"));
        assert!(!valid_name("1abc") && !valid_name("") && !valid_name("a-b") && !valid_name("a b"));
    }
}
