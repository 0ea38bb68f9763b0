//! `ledger` v2: entries carry a word count, a new `total_words` query, and `on_update` migrates
//! v1 state. Deploying this build over v1 shows a migration between two versions.
const V2: bool = true;
include!("../../ledger/src/score.rs");
