//! Consensus scheme `weighted`: the configured weights (from the channel file, or overridden by
//! params) and a weight-proportional proposer rotation. Trusted groups in the channel file are
//! ignored (use the `groups` scheme for them).
//!
//! Params (all optional): `{"weights": [u64, ...]}` — one weight per voting member, in validator
//! order, replacing the channel file's. A zero weight, a wrong count, or a total whose triple
//! overflows `u64` is refused. Quorum: more than two thirds of the total weight; the scheme
//! tolerates Byzantine validators holding less than one third of it.
//!
//! **Rotation.** With `g = gcd(weights)`, `c_i = w_i / g` and period `P = Σ c_i`, every `P`
//! consecutive rounds contain exactly `c_i` proposals of validator `i`. The proposer is a pure
//! function of `round` (no state changes across calls):
//! - **table** (when `P ≤ 2^20` and `P × n ≤ 2^25`): one period is precomputed at configure time
//!   by smooth weighted round-robin (each step adds `c_i` to every validator's credit and picks
//!   the highest credit, lowest index on ties, then charges it `P`), restricted to validators with
//!   proposals left in the period, never the previous proposer (nor, in the last slot, the first
//!   one of the period) unless the counts force it, and taking a validator first whenever its
//!   remaining count needs every other remaining slot. So nobody proposes twice in a row (also
//!   across period boundaries) unless one validator holds more than half of the period.
//!   `proposer(round) = table[round % P]`.
//! - **stride** (larger periods): the period's slots `0..P` are split into consecutive ranges of
//!   length `c_i` (validator order) and round `r` maps to slot `(r mod P) × M mod P`, where `M` is
//!   the integer nearest `P × (√5 − 1) / 2` (golden-ratio stride, made coprime to `P`). This is a
//!   bijection on each period (exact counts), well spread, and `O(log n)` per call. Consecutive
//!   rounds land `M` slots apart, so nobody proposes twice in a row while every `c_i` is at most
//!   `min(M, P − M)` (about 38% of the total); above that, repeats can occur.
#![warn(missing_docs)]

use loopchain_plugin_api::consensus::{Scheme, VotingMember};
use loopchain_plugin_api::export_consensus;
use loopchain_plugin_api::serde_json::Value;

/// Largest period precomputed as a table.
pub const TABLE_MAX_PERIOD: u64 = 1 << 20;
/// Largest `period × validators` work spent on precomputing a table.
pub const TABLE_MAX_WORK: u64 = 1 << 25;
/// `2^64 × (√5 − 1) / 2`, rounded: the golden-ratio stride as a 64-bit fraction.
const GOLDEN_FRACTION: u128 = 0x9E37_79B9_7F4A_7C15;

/// How the proposer of a round is found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Order {
    /// One precomputed period.
    Table(Vec<u32>),
    /// Golden-ratio stride over the period's slots; `ends[i]` is the end of validator `i`'s range.
    Stride { stride: u64, ends: Vec<u64> },
}

/// The `weighted` scheme configured for an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weighted {
    weights: Vec<u64>,
    period: u64,
    order: Order,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The weights params override, if any.
fn weights_param(params: &Value, n: usize) -> Result<Option<Vec<u64>>, String> {
    let obj = match params {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        other => return Err(format!("weighted: params must be an object or null, got {other}")),
    };
    if let Some(k) = obj.keys().find(|k| k.as_str() != "weights") {
        return Err(format!("weighted: unknown option {k:?} (known: \"weights\")"));
    }
    let Some(list) = obj.get("weights") else { return Ok(None) };
    let list = list.as_array().ok_or_else(|| format!("weighted: \"weights\" must be an array, got {list}"))?;
    if list.len() != n {
        return Err(format!("weighted: \"weights\" has {} entries for {n} voting members", list.len()));
    }
    list.iter()
        .enumerate()
        .map(|(i, w)| w.as_u64().ok_or_else(|| format!("weighted: weight {i} must be an unsigned integer, got {w}")))
        .collect::<Result<Vec<u64>, String>>()
        .map(Some)
}

/// One period of the smooth, repeat-avoiding weighted round-robin (see the crate docs).
pub fn build_table(counts: &[u64]) -> Vec<u32> {
    let n = counts.len();
    let period: u64 = counts.iter().sum();
    let p = period as i128;
    let mut credit = vec![0i128; n];
    let mut left = counts.to_vec();
    let mut table: Vec<u32> = Vec::with_capacity(period as usize);
    let (mut first, mut prev) = (None::<usize>, None::<usize>);
    for t in 0..period {
        let slots = period - t;
        for (c, k) in credit.iter_mut().zip(counts) {
            *c += i128::from(*k);
        }
        let allowed = |i: usize| left[i] > 0 && Some(i) != prev && !(slots == 1 && Some(i) == first && n > 1);
        // Slots `i` could still fill if it skipped this one (no two adjacent, not the last one
        // when `i` opened the period): a validator that needs more than that goes now.
        let capacity_if_skipped = |i: usize| {
            let mut len = slots - 1;
            if t > 0 && Some(i) == first {
                len = len.saturating_sub(1);
            }
            len.div_ceil(2)
        };
        let best = |pred: &dyn Fn(usize) -> bool| {
            (0..n).filter(|i| pred(*i)).fold(None::<usize>, |b, i| match b {
                Some(b) if credit[b] >= credit[i] => Some(b),
                _ => Some(i),
            })
        };
        let pick = best(&|i| allowed(i) && left[i] > capacity_if_skipped(i))
            .or_else(|| best(&allowed))
            .or_else(|| best(&|i| left[i] > 0))
            .unwrap_or(0);
        credit[pick] -= p;
        left[pick] -= 1;
        table.push(pick as u32);
        first = first.or(Some(pick));
        prev = Some(pick);
    }
    table
}

/// The golden-ratio stride for a period: coprime to it, so `r ↦ r × M mod P` is a bijection.
fn golden_stride(period: u64) -> u64 {
    let mut m = ((u128::from(period) * GOLDEN_FRACTION + (1 << 63)) >> 64) as u64;
    m = m.clamp(1, period.saturating_sub(1).max(1));
    while gcd(m, period) != 1 {
        m += 1;
    }
    m
}

impl Weighted {
    /// The rotation period `sum(weights) / gcd(weights)`.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// Whether the rotation uses a precomputed table (else the stride closed form).
    pub fn uses_table(&self) -> bool {
        matches!(self.order, Order::Table(_))
    }
}

impl Scheme for Weighted {
    const NAME: &'static str = "weighted";
    const VERSION: &'static str = "1.0.0";
    const WEIGHT_PROPORTIONAL: bool = true;

    fn configure(members: &[VotingMember], params: &Value) -> Result<Self, String> {
        let weights = weights_param(params, members.len())?;
        if members.is_empty() {
            return Err("weighted: no voting members".into());
        }
        u32::try_from(members.len()).map_err(|_| format!("weighted: too many members ({})", members.len()))?;
        let weights = weights.unwrap_or_else(|| members.iter().map(|m| m.weight).collect());
        if let Some(i) = weights.iter().position(|w| *w == 0) {
            return Err(format!("weighted: validator {i} has weight 0 (weights must be positive)"));
        }
        weights
            .iter()
            .try_fold(0u64, |a, w| a.checked_add(*w))
            .and_then(|t| t.checked_mul(3))
            .ok_or_else(|| "weighted: total weight is too large (3 × total must fit in u64)".to_owned())?;
        let g = weights.iter().fold(0, |a, w| gcd(a, *w));
        let counts: Vec<u64> = weights.iter().map(|w| w / g).collect();
        let period: u64 = counts.iter().sum();
        let n = counts.len() as u64;
        let order = if period <= TABLE_MAX_PERIOD && period.saturating_mul(n) <= TABLE_MAX_WORK {
            Order::Table(build_table(&counts))
        } else {
            let ends = counts
                .iter()
                .scan(0u64, |acc, c| {
                    *acc += c;
                    Some(*acc)
                })
                .collect();
            Order::Stride { stride: golden_stride(period), ends }
        };
        Ok(Self { weights, period, order })
    }

    fn weights(&self) -> Vec<u64> {
        self.weights.clone()
    }

    fn proposer(&self, round: u64) -> u32 {
        let slot = round % self.period;
        match &self.order {
            Order::Table(t) => t.get(slot as usize).copied().unwrap_or(0),
            Order::Stride { stride, ends } => {
                let point = (u128::from(slot) * u128::from(*stride) % u128::from(self.period)) as u64;
                ends.partition_point(|end| *end <= point) as u32
            }
        }
    }

    fn max_gap(&self) -> u64 {
        // Periodic with period P and everyone at least once per period.
        self.period
    }
}

export_consensus!(Weighted);

#[cfg(test)]
mod tests {
    use super::*;
    use loopchain_plugin_api::conformance;
    use loopchain_plugin_api::serde_json::json;

    fn plain(ws: &[u64]) -> Vec<VotingMember> {
        ws.iter().map(|w| VotingMember::new(*w)).collect()
    }

    #[test]
    fn conformance_battery() {
        conformance::check_scheme::<Weighted>();
    }

    #[test]
    fn conformance_with_params_override() {
        let members = plain(&[1, 1, 1, 1]);
        let s = conformance::check_configured::<Weighted>(&members, &json!({"weights": [4, 3, 2, 1]}));
        assert_eq!(s.weights(), vec![4, 3, 2, 1]);
        assert_eq!(s.period(), 10);
        let s = conformance::check_configured::<Weighted>(&members, &json!({}));
        assert_eq!(s.weights(), vec![1, 1, 1, 1]);
    }

    #[test]
    fn rejects_bad_params() {
        let members = plain(&[1, 2, 3]);
        for (params, needle) in [
            (json!({"weights": [1, 0, 1]}), "weight 0"),
            (json!({"weights": [1, 2]}), "entries"),
            (json!({"weights": "1,2,3"}), "array"),
            (json!({"weights": [1, -2, 3]}), "unsigned"),
            (json!({"weights": [1, 2.5, 3]}), "unsigned"),
            (json!({"weights": [u64::MAX / 3, 1, 1]}), "too large"),
            (json!({"weight": [1, 2, 3]}), "unknown option"),
        ] {
            let e = conformance::check_rejects::<Weighted>(&members, &params);
            assert!(e.contains(needle), "{params}: {e}");
        }
        let e = conformance::check_rejects::<Weighted>(&plain(&[1, 0]), &Value::Null);
        assert!(e.contains("weight 0"), "{e}");
    }

    #[test]
    fn smooth_order_examples() {
        let s = conformance::check_configured::<Weighted>(&plain(&[5, 1, 1]), &Value::Null);
        let order: Vec<u32> = (0..7).map(|r| s.proposer(r)).collect();
        assert_eq!(order.iter().filter(|p| **p == 0).count(), 5);
        // Equal weights in any scale are plain round-robin.
        let s = conformance::check_configured::<Weighted>(&plain(&[7, 7, 7]), &Value::Null);
        assert_eq!((0..6).map(|r| s.proposer(r)).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1, 2]);
        let s = conformance::check_configured::<Weighted>(&plain(&[2, 1, 1]), &Value::Null);
        let order: Vec<u32> = (0..4).map(|r| s.proposer(r)).collect();
        assert_eq!(order, vec![0, 1, 0, 2], "no repeat across the period boundary");
    }

    /// Every count vector with up to 5 validators and counts up to 6: exact counts, and no
    /// repeat (cyclically) unless a validator holds more than half of the period.
    #[test]
    fn table_is_exact_and_repeat_free_exhaustively() {
        let mut checked = 0;
        for n in 1..=5usize {
            let mut counts = vec![1u64; n];
            loop {
                let table = build_table(&counts);
                let period: u64 = counts.iter().sum();
                assert_eq!(table.len() as u64, period);
                for (i, c) in counts.iter().enumerate() {
                    assert_eq!(table.iter().filter(|p| **p as usize == i).count() as u64, *c, "{counts:?}");
                }
                let forced = n < 2 || counts.iter().any(|c| 2 * c > period);
                if !forced {
                    for k in 0..table.len() {
                        assert_ne!(table[k], table[(k + 1) % table.len()], "{counts:?}: {table:?}");
                    }
                }
                checked += 1;
                // Next vector.
                let Some(i) = counts.iter().position(|c| *c < 6) else { break };
                for c in &mut counts[..i] {
                    *c = 1;
                }
                counts[i] += 1;
            }
        }
        assert!(checked > 9000);
    }

    #[test]
    fn large_periods_use_the_stride() {
        let ws = [1_000_000_007, 999_999_937, 3, 500_000_000];
        let s = conformance::check_configured::<Weighted>(&plain(&ws), &Value::Null);
        assert!(!s.uses_table());
        // Each period is a permutation of the slots: check exact counts on a smaller stride case.
        let ws = [1_700_001, 300_000, 2];
        let s = conformance::check_configured::<Weighted>(&plain(&ws), &Value::Null);
        assert!(!s.uses_table());
        let period = s.period();
        assert_eq!(period, 2_000_003);
        let mut seen = [0u64; 3];
        for r in 5 * period..6 * period {
            seen[s.proposer(r) as usize] += 1;
        }
        assert_eq!(seen, ws);
        // Small shares never repeat.
        for r in 0..100_000 {
            if s.proposer(r) == 2 {
                assert_ne!(s.proposer(r + 1), 2);
            }
        }
    }

    #[test]
    fn stride_is_coprime() {
        for p in [2u64, 3, 10, 1_000_003, 1 << 40, (1 << 40) + 1, u64::MAX / 3] {
            let m = golden_stride(p);
            assert!(m >= 1 && m < p, "{p}: {m}");
            assert_eq!(gcd(m, p), 1, "{p}: {m}");
        }
    }
}
