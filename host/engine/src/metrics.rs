//! Per-channel metrics: counters and fixed-bucket histograms the driver bumps with one call at
//! the spot where a thing happens, read at scrape time by `/metrics` and the dashboard (no
//! background task, nothing per transaction).
//!
//! - **Finality latency**: from the moment this node first saw a block's proposal (or built it,
//!   as leader) to its commit here. Blocks this node never saw proposed (synced, restored after a
//!   restart) are not observed.
//! - **DB write latency**: the synced write of one committed block (one RocksDB `WriteBatch`).
//! - **Round failures** by [`RoundFailure`] cause, each counted once per round.
//! - **Committed** blocks and transactions since the process started (Prometheus counters).
//! - The latest [`RECENT_BLOCKS`] committed blocks ([`BlockSummary`]) with the QC that certifies
//!   each one, for the dashboard.
//! - SCORE calls and failures ([`ScoreStats`], kept by the channel's `ScoreRuntime`).
use crate::score::ScoreRuntime;
use lc_lft::Timer;
use lc_types::{Address, Block, Hash, Height, QuorumCert, Round};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the finality latency histogram's buckets.
pub const FINALITY_BUCKETS_S: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Upper bounds (seconds) of the block write latency histogram's buckets.
pub const DB_WRITE_BUCKETS_S: &[f64] =
    &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];
/// Committed blocks kept for the dashboard.
pub const RECENT_BLOCKS: usize = 16;
/// Proposals remembered while they wait for their commit (older ones are forgotten first).
pub const MAX_SEEN_PROPOSALS: usize = 256;

/// A histogram with fixed bucket bounds: one atomic per bucket, sum in nanoseconds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then the overflow (`+Inf`) bucket; not cumulative.
    counts: Box<[AtomicU64]>,
    sum_ns: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations in this bucket)`, ascending, NOT cumulative; the
    /// last bound is `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
    /// Observations (the sum of the bucket counts).
    pub count: u64,
    /// Sum of the observed values, seconds.
    pub sum_seconds: f64,
}

impl HistogramSnapshot {
    /// `(upper bound, observations at or below it)`, the Prometheus `le` view.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        self.buckets
            .iter()
            .map(|(le, n)| {
                total += n;
                (*le, total)
            })
            .collect()
    }

    /// Mean observed value in seconds (`None` before the first observation).
    pub fn mean_seconds(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_seconds / self.count as f64)
    }
}

impl Histogram {
    /// An empty histogram over `bounds` (seconds, strictly ascending, finite).
    pub fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.windows(2).all(|w| w[0] < w[1]), "histogram bounds must ascend");
        Self { bounds, counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum_ns: AtomicU64::new(0) }
    }

    /// The bucket bounds, seconds.
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// Records one duration: it lands in the first bucket whose bound is at or above it.
    pub fn observe(&self, d: Duration) {
        let seconds = d.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < seconds);
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The current counts.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(self.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        HistogramSnapshot { buckets, count, sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9 }
    }
}

/// Why a round did not produce a block in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoundFailure {
    /// No valid proposal arrived before the propose timeout.
    ProposeTimeout,
    /// Votes of a quorum arrived but no block gathered a quorum before the vote timeout.
    VoteTimeout,
    /// The leader's proposal failed this node's checks (contents, execution, roots).
    InvalidProposal,
    /// The round ended through a timeout certificate.
    Tc,
}

impl RoundFailure {
    /// Every cause, in declaration order.
    pub const ALL: [Self; 4] = [Self::ProposeTimeout, Self::VoteTimeout, Self::InvalidProposal, Self::Tc];

    /// The cause's label in metrics (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProposeTimeout => "propose_timeout",
            Self::VoteTimeout => "vote_timeout",
            Self::InvalidProposal => "invalid_proposal",
            Self::Tc => "tc",
        }
    }
}

/// One committed block, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSummary {
    /// Height.
    pub height: Height,
    /// Block hash.
    pub hash: Hash,
    /// Transactions in it.
    pub tx_count: usize,
    /// Its proposer's peer id.
    pub proposer: Address,
    /// Its timestamp (µs).
    pub timestamp_us: u64,
    /// The QC it carries (certifying its parent).
    pub carried_qc: Option<QuorumCert>,
    /// The QC certifying it, when this node held it at commit.
    pub certified_by: Option<QuorumCert>,
    /// Finality latency here, µs (see the module docs).
    pub finality_us: Option<u64>,
}

/// What [`ChannelMetrics::commit_started`] hands to [`ChannelMetrics::commit_finished`].
#[derive(Debug)]
pub struct CommitTiming {
    started: Instant,
    summary: BlockSummary,
}

/// Metric state of one channel (see the module docs).
#[derive(Debug)]
pub struct ChannelMetrics {
    finality: Histogram,
    db_write: Histogram,
    failures: [AtomicU64; RoundFailure::ALL.len()],
    /// The last round counted per cause (`u64::MAX`: none), so a repeated timer counts once.
    failure_rounds: [AtomicU64; RoundFailure::ALL.len()],
    committed_txs: AtomicU64,
    committed_blocks: AtomicU64,
    /// Proposals seen and not committed yet: `(hash, height, first seen)`.
    seen: Mutex<VecDeque<(Hash, Height, Instant)>>,
    recent: Mutex<VecDeque<BlockSummary>>,
}

impl Default for ChannelMetrics {
    fn default() -> Self {
        Self {
            finality: Histogram::new(FINALITY_BUCKETS_S),
            db_write: Histogram::new(DB_WRITE_BUCKETS_S),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
            failure_rounds: std::array::from_fn(|_| AtomicU64::new(u64::MAX)),
            committed_txs: AtomicU64::new(0),
            committed_blocks: AtomicU64::new(0),
            seen: Mutex::new(VecDeque::new()),
            recent: Mutex::new(VecDeque::new()),
        }
    }
}

impl ChannelMetrics {
    /// A proposal passed this node's first checks (or this node built it): the start of its
    /// finality latency. Only the first sighting counts.
    pub fn proposal_seen(&self, hash: Hash, height: Height) {
        let mut seen = self.seen.lock();
        if seen.iter().any(|(h, _, _)| *h == hash) {
            return;
        }
        if seen.len() >= MAX_SEEN_PROPOSALS {
            seen.pop_front();
        }
        seen.push_back((hash, height, Instant::now()));
    }

    /// Counts a round failure once per `(cause, round)`.
    pub fn round_failed(&self, cause: RoundFailure, round: Round) {
        let i = cause as usize;
        if self.failure_rounds[i].swap(round, Ordering::Relaxed) != round {
            self.failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A consensus timer of `round` fired while the core is in `current`: a timeout of the
    /// current round is a failure of that round.
    pub fn timer_fired(&self, timer: Timer, round: Round, current: Round) {
        if round == current {
            let cause = match timer {
                Timer::Propose => RoundFailure::ProposeTimeout,
                Timer::Vote => RoundFailure::VoteTimeout,
            };
            self.round_failed(cause, round);
        }
    }

    /// The core entered a round; `entry_tc` is the round of the TC it entered through, if any.
    pub fn round_entered(&self, entry_tc: Option<Round>) {
        if let Some(r) = entry_tc {
            self.round_failed(RoundFailure::Tc, r);
        }
    }

    /// Right before the synced write of committed block `hash`; `certified_by` is the QC that
    /// certifies it, when known.
    pub fn commit_started(&self, hash: Hash, block: &Block, certified_by: Option<&QuorumCert>) -> CommitTiming {
        let h = &block.header;
        let summary = BlockSummary {
            height: h.height,
            hash,
            tx_count: block.txs.len(),
            proposer: Address::of(&h.proposer),
            timestamp_us: h.timestamp_us,
            carried_qc: h.qc.clone(),
            certified_by: certified_by.cloned(),
            finality_us: None,
        };
        CommitTiming { started: Instant::now(), summary }
    }

    /// Right after that write succeeded.
    pub fn commit_finished(&self, timing: CommitTiming) {
        let now = Instant::now();
        self.db_write.observe(now.saturating_duration_since(timing.started));
        let mut summary = timing.summary;
        self.committed_blocks.fetch_add(1, Ordering::Relaxed);
        self.committed_txs.fetch_add(summary.tx_count as u64, Ordering::Relaxed);
        {
            let mut seen = self.seen.lock();
            if let Some((_, _, at)) = seen.iter().find(|(h, _, _)| *h == summary.hash) {
                let latency = now.saturating_duration_since(*at);
                self.finality.observe(latency);
                summary.finality_us = Some(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
            }
            // This block and every other proposal at or below its height are settled.
            seen.retain(|(_, height, _)| *height > summary.height);
        }
        let mut recent = self.recent.lock();
        if recent.len() >= RECENT_BLOCKS {
            recent.pop_front();
        }
        recent.push_back(summary);
    }

    /// Finality latency histogram.
    pub fn finality(&self) -> HistogramSnapshot {
        self.finality.snapshot()
    }

    /// Block write latency histogram.
    pub fn db_write(&self) -> HistogramSnapshot {
        self.db_write.snapshot()
    }

    /// Round failures by cause (every cause, zeros included).
    pub fn round_failures(&self) -> Vec<(RoundFailure, u64)> {
        RoundFailure::ALL.iter().map(|c| (*c, self.failures[*c as usize].load(Ordering::Relaxed))).collect()
    }

    /// Transactions committed since the process started.
    pub fn committed_txs(&self) -> u64 {
        self.committed_txs.load(Ordering::Relaxed)
    }

    /// Blocks committed since the process started.
    pub fn committed_blocks(&self) -> u64 {
        self.committed_blocks.load(Ordering::Relaxed)
    }

    /// The latest committed blocks, ascending height (at most [`RECENT_BLOCKS`]).
    pub fn recent_blocks(&self) -> Vec<BlockSummary> {
        self.recent.lock().iter().cloned().collect()
    }

    /// Mean finality latency of the recent blocks that have one, milliseconds.
    pub fn recent_finality_ms(&self) -> Option<f64> {
        let recent = self.recent.lock();
        let values: Vec<u64> = recent.iter().filter_map(|b| b.finality_us).collect();
        (!values.is_empty()).then(|| values.iter().sum::<u64>() as f64 / values.len() as f64 / 1000.0)
    }
}

/// SCORE calls of one channel's runtime and how many failed (the SCORE returned an error or
/// panicked, or its code was not available). Every execution counts, re-executions included.
#[derive(Debug, Default)]
pub struct ScoreStats {
    calls: AtomicU64,
    failures: AtomicU64,
}

impl ScoreStats {
    /// Counts one call and whether it succeeded.
    pub fn record(&self, ok: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Calls so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Failed calls so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

impl ScoreRuntime {
    /// SCORE call counters of this runtime.
    pub fn score_stats(&self) -> &ScoreStats {
        &self.score_stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lc_types::{BlockHeader, PublicKey, Signature, BLOCK_VERSION};

    #[test]
    fn observations_land_in_the_first_bucket_at_or_above_them() {
        static BOUNDS: &[f64] = &[0.001, 0.01, 0.1];
        let h = Histogram::new(BOUNDS);
        h.observe(Duration::from_micros(500)); // ≤ 1 ms
        h.observe(Duration::from_millis(1)); // exactly on a bound: that bucket
        h.observe(Duration::from_millis(5)); // ≤ 10 ms
        h.observe(Duration::from_millis(100)); // ≤ 100 ms
        h.observe(Duration::from_secs(3)); // overflow
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(0.001, 2), (0.01, 1), (0.1, 1), (f64::INFINITY, 1)]);
        assert_eq!(s.count, 5);
        assert_eq!(s.cumulative(), vec![(0.001, 2), (0.01, 3), (0.1, 4), (f64::INFINITY, 5)]);
        assert!((s.sum_seconds - 3.1065).abs() < 1e-9, "sum {}", s.sum_seconds);
        assert!(s.mean_seconds().is_some_and(|m| (m - 0.6213).abs() < 1e-9));
        assert_eq!(Histogram::new(BOUNDS).snapshot().mean_seconds(), None);
    }

    #[test]
    fn default_buckets_ascend() {
        for bounds in [FINALITY_BUCKETS_S, DB_WRITE_BUCKETS_S] {
            assert!(bounds.windows(2).all(|w| w[0] < w[1]));
            assert!(bounds.iter().all(|b| b.is_finite() && *b > 0.0));
        }
    }

    #[test]
    fn round_failures_count_once_per_round() {
        let m = ChannelMetrics::default();
        m.timer_fired(Timer::Propose, 4, 4);
        m.timer_fired(Timer::Propose, 4, 4); // repeated timeout vote
        m.timer_fired(Timer::Propose, 3, 4); // stale timer: ignored
        m.timer_fired(Timer::Vote, 4, 4);
        m.round_entered(Some(4));
        m.round_entered(Some(4));
        m.round_entered(None);
        m.round_failed(RoundFailure::InvalidProposal, 7);
        m.timer_fired(Timer::Propose, 5, 5);
        let f: std::collections::BTreeMap<&str, u64> =
            m.round_failures().into_iter().map(|(c, n)| (c.as_str(), n)).collect();
        assert_eq!(f["propose_timeout"], 2);
        assert_eq!(f["vote_timeout"], 1);
        assert_eq!(f["tc"], 1);
        assert_eq!(f["invalid_proposal"], 1);
    }

    fn block(height: Height, txs: usize) -> Block {
        let header = BlockHeader {
            version: BLOCK_VERSION,
            channel: "c".into(),
            height,
            round: height,
            epoch: 0,
            prev_hash: Hash::ZERO,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            qc: None,
            tc: None,
            timestamp_us: height * 1000,
            proposer: PublicKey::ZERO,
        };
        let tx = lc_types::Transaction {
            body: lc_types::TxBody {
                channel: "c".into(),
                from: PublicKey::ZERO,
                timestamp_us: 0,
                nonce: 0,
                payload: lc_types::Payload::Data { json: "{}".into() },
            },
            signature: Signature::ZERO,
        };
        Block { header, txs: vec![tx; txs], proposer_signature: Signature::ZERO }
    }

    #[test]
    fn commits_observe_latencies_and_keep_a_bounded_block_list() {
        let m = ChannelMetrics::default();
        let seen = Hash([1; 32]);
        m.proposal_seen(seen, 1);
        m.proposal_seen(Hash([0xAA; 32]), 1); // a competing proposal at the same height
        m.proposal_seen(Hash([2; 32]), 2);
        std::thread::sleep(Duration::from_millis(2));
        let t = m.commit_started(seen, &block(1, 3), None);
        m.commit_finished(t);
        assert_eq!(m.finality().count, 1);
        assert!(m.finality().sum_seconds >= 0.002);
        assert_eq!(m.db_write().count, 1);
        assert_eq!((m.committed_blocks(), m.committed_txs()), (1, 3));
        assert_eq!(m.seen.lock().len(), 1, "settled proposals are forgotten; height 2 waits");
        let recent = m.recent_blocks();
        assert_eq!(recent.len(), 1);
        assert_eq!((recent[0].height, recent[0].tx_count), (1, 3));
        assert!(recent[0].finality_us.is_some_and(|us| us >= 2000));
        assert!(m.recent_finality_ms().is_some_and(|ms| ms >= 2.0));

        // A synced block nobody saw proposed: no latency, still listed; the list is bounded.
        for h in 2..(2 + RECENT_BLOCKS as u64 + 5) {
            let t = m.commit_started(Hash([h as u8; 32]), &block(h, 0), None);
            m.commit_finished(t);
        }
        let recent = m.recent_blocks();
        assert_eq!(recent.len(), RECENT_BLOCKS);
        assert!(recent.windows(2).all(|w| w[0].height + 1 == w[1].height));
        assert_eq!(m.finality().count, 2, "height 2 was seen proposed");
        assert!(m.seen.lock().is_empty());
    }

    #[test]
    fn proposals_seen_are_bounded() {
        let m = ChannelMetrics::default();
        for i in 0..(MAX_SEEN_PROPOSALS as u64 + 10) {
            let mut b = [0u8; 32];
            b[..8].copy_from_slice(&i.to_le_bytes());
            m.proposal_seen(Hash(b), i + 1);
        }
        assert_eq!(m.seen.lock().len(), MAX_SEEN_PROPOSALS);
    }

    #[test]
    fn score_stats_count_calls_and_failures() {
        let s = ScoreStats::default();
        s.record(true);
        s.record(false);
        s.record(true);
        assert_eq!((s.calls(), s.failures()), (3, 1));
    }
}
