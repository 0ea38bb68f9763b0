//! Refusal accounting: every place that turns input away counts it here, by reason, at the
//! rejection site. One [`Refusals`] per node, shared by the gRPC server, the REST API and every
//! channel's admission; `/api/v1/status/peer` (field `refusals`) and the Prometheus metrics read
//! [`Refusals::snapshot`].
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// Why an input was refused. [`Reason::as_str`] is the label used in status and metrics.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
        }

        impl Reason {
            /// Every reason, in declaration order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The reason's label (`snake_case`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $name,)*
                }
            }
        }
    };
}

reasons! {
    // ---- transport and membership (gRPC) ----
    /// A TLS handshake failed: no client certificate, one from another CA, or a revoked one.
    TlsHandshake => "tls_handshake",
    /// The request's claimed peer id is not the one in the sender's certificate.
    CertPeerMismatch => "cert_peer_mismatch",
    /// The certificate's keys differ from the member entry of the peer id it names.
    CertKeyMismatch => "cert_key_mismatch",
    /// The sender is not a member of the channel it addressed.
    NonMember => "non_member",
    /// The addressed channel is not run by this node.
    UnknownChannel => "unknown_channel",
    /// Consensus messages (proposal, vote, certificate) from a member that is not a validator.
    NotValidator => "not_validator",
    /// An undecodable message or field.
    Malformed => "malformed",
    /// A request beyond a size or count bound.
    Oversize => "oversize",
    /// A peer sent more requests per second than `RATE_LIMIT_PER_PEER`.
    PeerRateLimited => "peer_rate_limited",
    /// A consensus message the core refused (bad signature, equivocation, stale or future round).
    ConsensusRejected => "consensus_rejected",
    // ---- REST ----
    /// A REST request with a malformed body or parameters.
    BadRequest => "bad_request",
    /// A REST body larger than `REST_MAX_BODY_BYTES`.
    BodyTooLarge => "body_too_large",
    /// A client sent more requests per second than `RATE_LIMIT_PER_CLIENT`.
    ClientRateLimited => "client_rate_limited",
    // ---- transaction admission (client submissions; relayed copies are not counted) ----
    /// The transaction names another channel.
    TxWrongChannel => "tx_wrong_channel",
    /// The transaction exceeds `MAX_TX_BYTES`.
    TxTooLarge => "tx_too_large",
    /// The signature does not verify.
    TxBadSignature => "tx_bad_signature",
    /// The timestamp is outside `TIMESTAMP_BOUNDARY_SECOND` of the node's clock.
    TxTimeBound => "tx_time_bound",
    /// The transaction is already committed, in flight or pending.
    TxDuplicate => "tx_duplicate",
    /// The mempool is full.
    TxMempoolFull => "tx_mempool_full",
    /// More transactions this second than `TPS_LIMIT_PER_SEC`.
    TxTpsLimit => "tx_tps_limit",
    /// Unsigned data transactions are disabled.
    TxUnsigned => "tx_unsigned",
    /// The signer is not on the channel's allow-list.
    TxSignerNotAllowed => "tx_signer_not_allowed",
}

/// Counters of refused inputs, by [`Reason`]. Cheap to bump from any thread.
#[derive(Debug)]
pub struct Refusals {
    counts: Vec<AtomicU64>,
}

impl Default for Refusals {
    fn default() -> Self {
        Self { counts: Reason::ALL.iter().map(|_| AtomicU64::new(0)).collect() }
    }
}

impl Refusals {
    /// Counts `n` refusals for `reason`.
    pub fn add(&self, reason: Reason, n: u64) {
        if n > 0 {
            if let Some(c) = self.counts.get(reason as usize) {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Counts one refusal for `reason`.
    pub fn count(&self, reason: Reason) {
        self.add(reason, 1);
    }

    /// The count for one reason.
    pub fn get(&self, reason: Reason) -> u64 {
        self.counts.get(reason as usize).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every reason's count, by label (zeros included, so a reader sees the full set).
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        Reason::ALL.iter().map(|r| (r.as_str(), self.get(*r))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let r = Refusals::default();
        r.count(Reason::NonMember);
        r.add(Reason::TxDuplicate, 3);
        r.add(Reason::Malformed, 0);
        assert_eq!(r.get(Reason::NonMember), 1);
        assert_eq!(r.get(Reason::TxDuplicate), 3);
        let s = r.snapshot();
        assert_eq!(s.len(), Reason::ALL.len());
        assert_eq!(s["tx_duplicate"], 3);
        assert_eq!(s["malformed"], 0);
    }

    #[test]
    fn labels_are_unique() {
        let labels: std::collections::BTreeSet<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(labels.len(), Reason::ALL.len());
    }
}
