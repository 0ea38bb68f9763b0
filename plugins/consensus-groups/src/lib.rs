//! Consensus scheme `groups`: the original loopchain's trusted-node groups (`PEER_GROUP_ID`).
//!
//! Members carry an optional group name from the channel file. A group's votes count for X only
//! when an internal quorum of the group (`3 × weight > 2 × group weight`, by the members'
//! configured weights) voted X; a group without an internal quorum contributes 0; ungrouped
//! validators count their own weight. The core (`lc-lft`'s `EpochInfo::weigh`) does that tally;
//! this scheme supplies the weights and the groups.
//!
//! **Fault model**: Byzantine weight below one third **inside every group** and overall (of the
//! total votes: ungrouped weights plus group votes). A group in which a third or more of the
//! weight is Byzantine can cast its votes for two conflicting blocks; that is why the internal
//! threshold is two thirds and not a simple majority.
//!
//! Params (all optional): `{"groups": {"<name>": votes, ...}}` — the votes each named group casts.
//! A group not listed casts the **sum of its members' weights** (so a group of weight-1 members
//! casts its member count, and with every group in internal agreement the total equals the plain
//! weighted total). Unknown group names, zero votes, zero member weights, empty group names and
//! totals whose triple overflows `u64` are refused.
//!
//! **Proposer**: the *units* are the groups and the ungrouped validators, ordered by their lowest
//! validator index. Round `r` goes to unit `r mod U`, and within that unit to member
//! `(r div U) mod size` (members in validator order). Every validator proposes at least once in
//! any `U × max unit size` consecutive rounds.
#![warn(missing_docs)]

use loopchain_plugin_api::consensus::{Scheme, TrustedGroup, VotingMember};
use loopchain_plugin_api::export_consensus;
use loopchain_plugin_api::serde_json::Value;
use std::collections::BTreeMap;

/// The `groups` scheme configured for an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    weights: Vec<u64>,
    groups: Vec<TrustedGroup>,
    /// Proposer units: groups and ungrouped validators, by lowest member index.
    units: Vec<Vec<u32>>,
}

/// Group vote counts given in params.
fn votes_param(params: &Value) -> Result<BTreeMap<String, u64>, String> {
    let obj = match params {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(o) => o,
        other => return Err(format!("groups: params must be an object or null, got {other}")),
    };
    if let Some(k) = obj.keys().find(|k| k.as_str() != "groups") {
        return Err(format!("groups: unknown option {k:?} (known: \"groups\")"));
    }
    let Some(groups) = obj.get("groups") else { return Ok(BTreeMap::new()) };
    let groups = groups.as_object().ok_or_else(|| format!("groups: \"groups\" must be an object, got {groups}"))?;
    groups
        .iter()
        .map(|(name, v)| match v.as_u64() {
            Some(0) => Err(format!("groups: group {name:?} has 0 votes (votes must be positive)")),
            Some(n) => Ok((name.clone(), n)),
            None => Err(format!("groups: votes of group {name:?} must be an unsigned integer, got {v}")),
        })
        .collect()
}

impl Scheme for Groups {
    const NAME: &'static str = "groups";
    const VERSION: &'static str = "1.0.0";

    fn configure(members: &[VotingMember], params: &Value) -> Result<Self, String> {
        let votes = votes_param(params)?;
        if members.is_empty() {
            return Err("groups: no voting members".into());
        }
        u32::try_from(members.len()).map_err(|_| format!("groups: too many members ({})", members.len()))?;
        let weights: Vec<u64> = members.iter().map(|m| m.weight).collect();
        if let Some(i) = weights.iter().position(|w| *w == 0) {
            return Err(format!("groups: validator {i} has weight 0 (weights must be positive)"));
        }
        let too_large = || "groups: total weight is too large (3 × total must fit in u64)".to_owned();
        weights.iter().try_fold(0u64, |a, w| a.checked_add(*w)).and_then(|t| t.checked_mul(3)).ok_or_else(too_large)?;

        // Units in order of their lowest member; `unit_of_group` finds a named group's unit.
        let mut units: Vec<Vec<u32>> = Vec::new();
        let mut unit_of_group: BTreeMap<&str, usize> = BTreeMap::new();
        let mut group_units: Vec<(usize, &str)> = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let i = i as u32;
            match m.group.as_deref() {
                None => units.push(vec![i]),
                Some(g) if g.trim().is_empty() => return Err(format!("groups: validator {i} has an empty group name")),
                Some(g) => match unit_of_group.get(g) {
                    Some(u) => units[*u].push(i),
                    None => {
                        unit_of_group.insert(g, units.len());
                        group_units.push((units.len(), g));
                        units.push(vec![i]);
                    }
                },
            }
        }
        if let Some(name) = votes.keys().find(|name| !unit_of_group.contains_key(name.as_str())) {
            return Err(format!("groups: params name group {name:?}, which has no voting member"));
        }
        let mut groups = Vec::with_capacity(group_units.len());
        for (u, name) in group_units {
            let members = units[u].clone();
            let votes = match votes.get(name) {
                Some(v) => *v,
                // Sums of weights cannot overflow: the total was checked above.
                None => members.iter().map(|m| weights[*m as usize]).sum(),
            };
            groups.push(TrustedGroup { members, votes });
        }
        let grouped: Vec<bool> = {
            let mut g = vec![false; weights.len()];
            for m in groups.iter().flat_map(|g| &g.members) {
                g[*m as usize] = true;
            }
            g
        };
        let ungrouped: u64 = weights.iter().zip(&grouped).filter(|(_, g)| !**g).map(|(w, _)| *w).sum();
        groups
            .iter()
            .try_fold(ungrouped, |a, g| a.checked_add(g.votes))
            .and_then(|t| t.checked_mul(3))
            .ok_or_else(too_large)?;
        Ok(Self { weights, groups, units })
    }

    fn weights(&self) -> Vec<u64> {
        self.weights.clone()
    }

    fn groups(&self) -> Vec<TrustedGroup> {
        self.groups.clone()
    }

    fn proposer(&self, round: u64) -> u32 {
        let n_units = self.units.len() as u64;
        let Some(unit) = self.units.get((round % n_units) as usize) else { return 0 };
        let turn = (round / n_units) % unit.len() as u64;
        unit.get(turn as usize).copied().unwrap_or(0)
    }

    fn max_gap(&self) -> u64 {
        let largest = self.units.iter().map(Vec::len).max().unwrap_or(1) as u64;
        self.units.len() as u64 * largest
    }
}

export_consensus!(Groups);

#[cfg(test)]
mod tests {
    use super::*;
    use loopchain_plugin_api::conformance;
    use loopchain_plugin_api::serde_json::json;

    fn g(w: u64, name: &str) -> VotingMember {
        VotingMember::grouped(w, name)
    }

    fn u(w: u64) -> VotingMember {
        VotingMember::new(w)
    }

    #[test]
    fn conformance_battery() {
        conformance::check_scheme::<Groups>();
    }

    #[test]
    fn groups_from_members_and_params() {
        let members = vec![g(1, "b"), u(2), g(1, "a"), g(1, "b"), g(3, "a"), u(1), g(1, "b")];
        let s = conformance::check_configured::<Groups>(&members, &json!({"groups": {"a": 5}}));
        assert_eq!(s.weights(), vec![1, 2, 1, 1, 3, 1, 1]);
        assert_eq!(
            s.groups(),
            vec![TrustedGroup { members: vec![0, 3, 6], votes: 3 }, TrustedGroup { members: vec![2, 4], votes: 5 }]
        );
        // Units: b (0,3,6), 1, a (2,4), 5.
        let order: Vec<u32> = (0..12).map(|r| s.proposer(r)).collect();
        assert_eq!(order, vec![0, 1, 2, 5, 3, 1, 4, 5, 6, 1, 2, 5]);
        assert_eq!(s.max_gap(), 12);
    }

    #[test]
    fn ungrouped_members_only_is_plain_weights_and_round_robin() {
        let members = vec![u(3), u(1), u(2)];
        let s = conformance::check_configured::<Groups>(&members, &Value::Null);
        assert!(s.groups().is_empty());
        assert_eq!(s.weights(), vec![3, 1, 2]);
        assert_eq!((0..6).map(|r| s.proposer(r)).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn rejects_bad_params() {
        let members = vec![g(1, "a"), g(1, "a"), u(1), g(1, "b")];
        for (members, params, needle) in [
            (members.clone(), json!({"groups": {"c": 1}}), "no voting member"),
            (members.clone(), json!({"groups": {"a": 0}}), "0 votes"),
            (members.clone(), json!({"groups": {"a": -1}}), "unsigned"),
            (members.clone(), json!({"groups": [1]}), "object"),
            (members.clone(), json!({"groups": {"a": u64::MAX / 3}}), "too large"),
            (members, json!({"group": {"a": 1}}), "unknown option"),
            (vec![g(1, "a"), g(0, "a")], Value::Null, "weight 0"),
            (vec![g(1, " "), u(1)], Value::Null, "empty group name"),
        ] {
            let e = conformance::check_rejects::<Groups>(&members, &params);
            assert!(e.contains(needle), "{params}: {e}");
        }
    }
}
