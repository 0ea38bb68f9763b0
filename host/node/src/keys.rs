//! Node key files.
use anyhow::{Context, Result};
use lc_crypto::bls::BlsKeypair;
use lc_crypto::Keypair;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Loads the ed25519 identity key at `path`, generating it (mode 0600) on first start.
pub(crate) fn load_or_generate(path: &Path) -> Result<(Keypair, bool)> {
    let (hex, generated) = load_or_write_secret(path, "identity", || Keypair::generate().seed_hex())?;
    let kp = Keypair::from_seed_hex(&hex).with_context(|| format!("identity key file {}", path.display()))?;
    Ok((kp, generated))
}

/// Loads the BLS consensus key at `path` (32-byte secret, hex), generating it on first start.
pub(crate) fn load_or_generate_bls(path: &Path) -> Result<(BlsKeypair, bool)> {
    let (hex, generated) = load_or_write_secret(path, "BLS", || hex::encode(BlsKeypair::generate().secret_bytes()))?;
    let bytes: [u8; 32] = hex::decode(hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| format!("BLS key file {}: expected 64 hex characters", path.display()))?;
    let kp = BlsKeypair::from_secret_bytes(&bytes).with_context(|| format!("BLS key file {}", path.display()))?;
    Ok((kp, generated))
}

/// Reads a secret key file, or writes a new one (mode 0600, fsync, atomic rename).
fn load_or_write_secret(path: &Path, what: &str, generate: impl FnOnce() -> String) -> Result<(String, bool)> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok((s.trim().to_owned(), false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let secret = generate();
            let tmp = path.with_extension("tmp");
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(secret.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
            Ok((secret, true))
        }
        Err(e) => Err(e).with_context(|| format!("reading {what} key file {}", path.display())),
    }
}
