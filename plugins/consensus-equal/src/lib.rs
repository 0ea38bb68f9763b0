//! Consensus scheme `equal`: every validator has weight 1 (configured weights and groups are
//! ignored) and proposers rotate round-robin (`round % n`).
//!
//! Params: none (`null`, empty, or `{}`); anything else is refused. Quorum: more than two thirds
//! of the validators by count, so the scheme tolerates `f` Byzantine validators out of `3f + 1`.
#![warn(missing_docs)]

use loopchain_plugin_api::consensus::{Scheme, VotingMember};
use loopchain_plugin_api::export_consensus;
use loopchain_plugin_api::serde_json::Value;

/// The `equal` scheme configured for an epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equal {
    n: u32,
}

impl Scheme for Equal {
    const NAME: &'static str = "equal";
    const VERSION: &'static str = "1.0.0";
    const WEIGHT_PROPORTIONAL: bool = true;

    fn configure(members: &[VotingMember], params: &Value) -> Result<Self, String> {
        match params {
            Value::Null => {}
            Value::Object(o) => {
                if let Some(k) = o.keys().next() {
                    return Err(format!("equal: unknown option {k:?} (the scheme takes no params)"));
                }
            }
            other => return Err(format!("equal: params must be an object or null, got {other}")),
        }
        if members.is_empty() {
            return Err("equal: no voting members".into());
        }
        let n = u32::try_from(members.len()).map_err(|_| format!("equal: too many members ({})", members.len()))?;
        Ok(Self { n })
    }

    fn weights(&self) -> Vec<u64> {
        vec![1; self.n as usize]
    }

    fn proposer(&self, round: u64) -> u32 {
        // The remainder is below `n`, which is a `u32`.
        (round % u64::from(self.n)) as u32
    }

    fn max_gap(&self) -> u64 {
        u64::from(self.n)
    }
}

export_consensus!(Equal);

#[cfg(test)]
mod tests {
    use super::*;
    use loopchain_plugin_api::conformance;
    use loopchain_plugin_api::serde_json::json;

    #[test]
    fn conformance_battery() {
        conformance::check_scheme::<Equal>();
    }

    #[test]
    fn ignores_weights_and_groups() {
        let members = vec![
            VotingMember::new(7),
            VotingMember::grouped(100, "g"),
            VotingMember::grouped(3, "g"),
            VotingMember::new(1),
        ];
        let s = conformance::check_configured::<Equal>(&members, &json!({}));
        assert_eq!(s.weights(), vec![1, 1, 1, 1]);
        assert!(s.groups().is_empty());
        let order: Vec<u32> = (0..9).map(|r| s.proposer(r)).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 0, 1, 2, 3, 0]);
        assert_eq!(s.proposer(u64::MAX), (u64::MAX % 4) as u32);
    }

    #[test]
    fn refuses_params() {
        let members = vec![VotingMember::new(1); 3];
        let e = conformance::check_rejects::<Equal>(&members, &json!({"weights": [1, 2, 3]}));
        assert!(e.contains("weights"), "{e}");
    }
}
