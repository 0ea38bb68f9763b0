//! Conformance suite for consensus schemes (feature `conformance`). A scheme's tests call
//! [`check_scheme`] (the standard battery) and, for its own member sets and params,
//! [`check_configured`] / [`check_instance`] and [`check_rejects`]. Every check panics with a
//! readable message on failure, so call these from `#[test]` functions.
//!
//! What is checked:
//! - **determinism**: the same answers twice, and from a fresh instance configured the same way,
//!   both through the Rust trait and through the ABI glue ([`module`]);
//! - **proposer in range** for early, late and extreme rounds (up to `u64::MAX`);
//! - **bounded window**: every validator proposes in every `max_gap()` consecutive rounds
//!   (checked exhaustively over several windows when `max_gap() ≤` [`WINDOW_CAP`]);
//! - **weights**: one per member, all > 0, `3 × sum` fits in `u64`; groups disjoint, in range,
//!   non-empty, with votes > 0 and `3 × (ungrouped weights + group votes)` fitting in `u64`;
//! - **bad params** are an `Err`, never a panic (non-object params, unknown options, an empty
//!   member list, malformed JSON through the ABI);
//! - **weight-proportional rotation** when the scheme claims it ([`Scheme::WEIGHT_PROPORTIONAL`]):
//!   each validator proposes exactly `weight / gcd` times in every `sum / gcd` consecutive rounds,
//!   and nobody proposes twice in a row unless one validator holds more than half of the period
//!   (checked when the period is at most [`WINDOW_CAP`]).

use crate::consensus::CONSENSUS_API_VERSION;
use crate::consensus::{member_specs, module, parse_params, Scheme, TrustedGroup, VotingMember};
use abi_stable::std_types::RResult;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Windows and periods above this many rounds are sampled, not checked exhaustively.
pub const WINDOW_CAP: u64 = 200_000;

/// The member sets of the standard battery: single validator, equal, skewed, grouped, large
/// weights, many validators.
pub fn standard_member_sets() -> Vec<Vec<VotingMember>> {
    let plain = |ws: &[u64]| ws.iter().map(|w| VotingMember::new(*w)).collect::<Vec<_>>();
    vec![
        plain(&[1]),
        plain(&[1, 1, 1, 1]),
        plain(&[1, 2, 3, 4]),
        plain(&[5, 1, 1, 1]),
        plain(&[2, 1, 1]),
        plain(&[10, 20, 30, 10, 20, 30, 40]),
        plain(&[1_000_000_007, 999_999_937, 3]),
        vec![1; 100].iter().map(|w| VotingMember::new(*w)).collect(),
        vec![
            VotingMember::grouped(1, "a"),
            VotingMember::grouped(1, "a"),
            VotingMember::grouped(1, "a"),
            VotingMember::grouped(1, "b"),
            VotingMember::grouped(1, "b"),
            VotingMember::new(2),
            VotingMember::new(1),
        ],
        vec![
            VotingMember::grouped(2, "g1"),
            VotingMember::new(3),
            VotingMember::grouped(1, "g1"),
            VotingMember::grouped(1, "g2"),
            VotingMember::grouped(1, "g2"),
            VotingMember::grouped(2, "g2"),
        ],
    ]
}

/// The standard battery: every [`standard_member_sets`] set without params, and the standard
/// rejections ([`check_standard_rejections`]).
pub fn check_scheme<S: Scheme>() {
    for members in standard_member_sets() {
        check_configured::<S>(&members, &Value::Null);
    }
    check_standard_rejections::<S>();
}

/// Configures `S` (which must succeed, without panicking) and runs [`check_instance`] on it.
pub fn check_configured<S: Scheme>(members: &[VotingMember], params: &Value) -> S {
    let scheme = configure_ok::<S>(members, params);
    check_instance(members, params, &scheme);
    scheme
}

fn configure_ok<S: Scheme>(members: &[VotingMember], params: &Value) -> S {
    match catch_unwind(AssertUnwindSafe(|| S::configure(members, params))) {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => panic!("{}: configure({members:?}, {params}) refused: {e}", S::NAME),
        Err(_) => panic!("{}: configure({members:?}, {params}) panicked", S::NAME),
    }
}

/// Rounds every check looks at: the first `early` rounds and some far-away ones.
fn sample_rounds(early: u64) -> Vec<u64> {
    let mut rounds: Vec<u64> = (0..early).collect();
    rounds.extend([1 << 20, 1_000_000_007, 1 << 32, (1 << 32) + 1, 1 << 63, u64::MAX - 1, u64::MAX]);
    rounds
}

/// All checks on one configured instance (see the module docs).
pub fn check_instance<S: Scheme>(members: &[VotingMember], params: &Value, scheme: &S) {
    let name = S::NAME;
    let n = members.len();
    let weights = scheme.weights();
    let groups = scheme.groups();
    check_weights_and_groups(name, n, &weights, &groups);

    // Determinism: same instance twice, and a fresh one.
    let fresh = configure_ok::<S>(members, params);
    assert_eq!(fresh.weights(), weights, "{name}: weights differ between two configurations");
    assert_eq!(fresh.groups(), groups, "{name}: groups differ between two configurations");
    assert_eq!(fresh.max_gap(), scheme.max_gap(), "{name}: max_gap differs between two configurations");
    let gap = scheme.max_gap();
    assert!(gap >= 1, "{name}: max_gap must be at least 1");
    let rounds = sample_rounds((4 * n as u64).clamp(64, WINDOW_CAP));
    for &r in &rounds {
        let p = scheme.proposer(r);
        assert!((p as usize) < n, "{name}: proposer({r}) = {p} is out of range for {n} validators");
        assert_eq!(scheme.proposer(r), p, "{name}: proposer({r}) changed between two calls");
        assert_eq!(fresh.proposer(r), p, "{name}: proposer({r}) differs on a fresh instance");
    }

    // Bounded window.
    if gap <= WINDOW_CAP {
        let len = 3 * gap;
        for start in [0, 1, 1_000_000_007, u64::MAX - len] {
            check_window(name, n, gap, start, len, |r| scheme.proposer(r));
        }
    }

    if S::WEIGHT_PROPORTIONAL {
        check_weight_proportional(name, &weights, |r| scheme.proposer(r));
    }

    check_abi::<S>(members, params, &weights, &groups, &rounds);
}

fn check_weights_and_groups(name: &str, n: usize, weights: &[u64], groups: &[TrustedGroup]) {
    assert_eq!(weights.len(), n, "{name}: one weight per member expected");
    assert!(weights.iter().all(|w| *w > 0), "{name}: zero weight in {weights:?}");
    let total = weights.iter().try_fold(0u64, |a, w| a.checked_add(*w)).and_then(|t| t.checked_mul(3));
    assert!(total.is_some(), "{name}: 3 × sum of weights overflows u64: {weights:?}");
    let mut seen = BTreeSet::new();
    let mut grouped_votes = 0u64;
    for g in groups {
        assert!(!g.members.is_empty(), "{name}: empty group {g:?}");
        assert!(g.votes > 0, "{name}: group without votes {g:?}");
        assert!(g.members.windows(2).all(|w| w[0] < w[1]), "{name}: group members not ascending {g:?}");
        for m in &g.members {
            assert!((*m as usize) < n, "{name}: group member {m} out of range");
            assert!(seen.insert(*m), "{name}: validator {m} is in two groups");
        }
        grouped_votes = grouped_votes.checked_add(g.votes).unwrap_or_else(|| panic!("{name}: group votes overflow"));
    }
    let ungrouped = (0..n).filter(|i| !seen.contains(&(*i as u32))).map(|i| weights[i]).sum::<u64>();
    let total = ungrouped.checked_add(grouped_votes).and_then(|t| t.checked_mul(3));
    assert!(total.is_some(), "{name}: 3 × total votes overflows u64");
}

/// Every validator proposes in every `gap` consecutive rounds of `[start, start + len)`.
pub fn check_window(name: &str, n: usize, gap: u64, start: u64, len: u64, proposer: impl Fn(u64) -> u32) {
    let mut last: Vec<Option<u64>> = vec![None; n];
    for r in start..start + len {
        let p = proposer(r) as usize;
        assert!(p < n, "{name}: proposer({r}) = {p} out of range");
        match last[p] {
            Some(prev) => assert!(
                r - prev <= gap,
                "{name}: validator {p} proposes at {r}, {} rounds after its previous turn (max_gap {gap})",
                r - prev
            ),
            None => assert!(
                r - start < gap,
                "{name}: validator {p} first proposes {} rounds after {start} (max_gap {gap})",
                r - start
            ),
        }
        last[p] = Some(r);
    }
    for (i, l) in last.iter().enumerate() {
        let end = start + len;
        match l {
            Some(l) => assert!(end - l <= gap, "{name}: validator {i} idle for {} rounds (max_gap {gap})", end - l),
            None => panic!("{name}: validator {i} never proposes in {len} rounds from {start} (max_gap {gap})"),
        }
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Weight-proportional rotation: over every `sum / gcd` consecutive rounds each validator proposes
/// exactly `weight / gcd` times; no one proposes twice in a row unless a validator holds more
/// than half of the period. Checked when the period is at most [`WINDOW_CAP`].
pub fn check_weight_proportional(name: &str, weights: &[u64], proposer: impl Fn(u64) -> u32) {
    let g = weights.iter().fold(0, |a, w| gcd(a, *w));
    assert!(g > 0, "{name}: no weights");
    let counts: Vec<u64> = weights.iter().map(|w| w / g).collect();
    let period: u64 = counts.iter().sum();
    if period > WINDOW_CAP {
        return;
    }
    let repeats_forced = weights.len() < 2 || counts.iter().any(|c| 2 * c > period);
    for start in [0, 1, period - 1, 7 * period + 3, 1_000_000_007, u64::MAX - 3 * period] {
        let mut seen = vec![0u64; weights.len()];
        for r in start..start + period {
            let p = proposer(r) as usize;
            assert!(p < weights.len(), "{name}: proposer({r}) = {p} out of range");
            seen[p] += 1;
            if !repeats_forced {
                assert_ne!(
                    proposer(r + 1) as usize,
                    p,
                    "{name}: validator {p} proposes rounds {r} and {} although weights {weights:?} do not force it",
                    r + 1
                );
            }
        }
        assert_eq!(seen, counts, "{name}: proposals per period of {period} rounds from {start} for {weights:?}");
    }
}

fn check_abi<S: Scheme>(
    members: &[VotingMember],
    params: &Value,
    weights: &[u64],
    groups: &[TrustedGroup],
    rounds: &[u64],
) {
    let name = S::NAME;
    let m = module::<S>();
    let meta = (m.metadata())();
    assert_eq!(meta.name.as_str(), S::NAME);
    assert_eq!(meta.version.as_str(), S::VERSION);
    assert_eq!(meta.api_version, CONSENSUS_API_VERSION);
    assert_eq!(meta.weight_proportional, S::WEIGHT_PROPORTIONAL);
    assert!(
        !name.is_empty()
            && name.len() <= 64
            && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'),
        "scheme name {name:?} must be 1-64 of [a-z0-9_-]"
    );
    let specs = member_specs(members);
    let params_json = if params.is_null() { String::new() } else { params.to_string() };
    let handle = match (m.configure())(specs.as_slice().into(), params_json.as_str().into()) {
        RResult::ROk(h) => h,
        RResult::RErr(e) => panic!("{name}: configure through the ABI refused: {e}"),
    };
    assert_eq!(handle.weights().to_vec(), weights, "{name}: ABI weights differ");
    let abi_groups: Vec<TrustedGroup> = handle.groups().iter().map(TrustedGroup::from_spec).collect();
    assert_eq!(abi_groups, groups, "{name}: ABI groups differ");
    let scheme = configure_ok::<S>(members, params);
    for &r in rounds {
        match handle.proposer(r) {
            RResult::ROk(p) => assert_eq!(p, scheme.proposer(r), "{name}: ABI proposer({r}) differs"),
            RResult::RErr(e) => panic!("{name}: ABI proposer({r}) failed: {e}"),
        }
    }
}

/// `configure(members, params)` must be an `Err` (not a panic, not `Ok`), directly and through
/// the ABI. Returns the error message.
pub fn check_rejects<S: Scheme>(members: &[VotingMember], params: &Value) -> String {
    let name = S::NAME;
    let err = match catch_unwind(AssertUnwindSafe(|| S::configure(members, params))) {
        Ok(Ok(_)) => panic!("{name}: configure({members:?}, {params}) must be refused"),
        Ok(Err(e)) => e,
        Err(_) => panic!("{name}: configure({members:?}, {params}) panicked instead of returning Err"),
    };
    assert!(!err.is_empty(), "{name}: empty error message");
    let specs = member_specs(members);
    let json = params.to_string();
    match (module::<S>().configure())(specs.as_slice().into(), json.as_str().into()) {
        RResult::ROk(_) => panic!("{name}: configure through the ABI accepted {params}"),
        RResult::RErr(e) => assert!(!e.as_str().contains("panicked"), "{name}: ABI configure panicked: {e}"),
    }
    err
}

/// Rejections every scheme must make: no members; params that are not an object (or null); an
/// unknown option; malformed JSON through the ABI.
pub fn check_standard_rejections<S: Scheme>() {
    let name = S::NAME;
    let members = vec![VotingMember::new(1); 4];
    check_rejects::<S>(&[], &Value::Null);
    for bad in [json!([1, 2]), json!("equal"), json!(42), json!(true), json!({"no_such_option": 1})] {
        check_rejects::<S>(&members, &bad);
    }
    assert!(parse_params("{not json").is_err());
    let specs = member_specs(&members);
    match (module::<S>().configure())(specs.as_slice().into(), "{not json".into()) {
        RResult::ROk(_) => panic!("{name}: malformed params JSON accepted"),
        RResult::RErr(e) => assert!(e.as_str().contains("JSON"), "{name}: {e}"),
    }
}
