//! `ledger` v1: an append-only list of notes with `Appended` events and `count`/`get` queries.
//! `ledger-v2` is the next version of the same SCORE; see `score.rs`.
const V2: bool = false;
include!("score.rs");
