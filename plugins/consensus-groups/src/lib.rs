//! Consensus scheme plugin (placeholder until implemented).
