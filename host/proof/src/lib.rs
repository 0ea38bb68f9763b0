//! Finality proofs (placeholder until implemented).
