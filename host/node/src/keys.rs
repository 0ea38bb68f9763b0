//! Node key files.
use anyhow::{Context, Result};
use lc_crypto::Keypair;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Loads the ed25519 identity key at `path`, generating it (mode 0600) on first start.
pub(crate) fn load_or_generate(path: &Path) -> Result<(Keypair, bool)> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let kp = Keypair::from_seed_hex(&s).with_context(|| format!("identity key file {}", path.display()))?;
            Ok((kp, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let kp = Keypair::generate();
            let tmp = path.with_extension("tmp");
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(kp.seed_hex().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
            Ok((kp, true))
        }
        Err(e) => Err(e).with_context(|| format!("reading identity key file {}", path.display())),
    }
}
