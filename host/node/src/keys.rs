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
            write_secret(path, &secret)?;
            Ok((secret, true))
        }
        Err(e) => Err(e).with_context(|| format!("reading {what} key file {}", path.display())),
    }
}

/// Flags of `loopchain keygen`.
#[derive(Debug, clap::Args)]
pub(crate) struct KeygenArgs {
    /// Directory for the key files [default: DEFAULT_STORAGE_PATH/<PORT>/keys, where `loopchain
    /// peer -p PORT` looks for them].
    #[arg(long, value_name = "DIR")]
    out: Option<std::path::PathBuf>,
    /// Peer port whose data directory receives the keys (PORT_PEER).
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// Replace existing key files (the old keys are lost).
    #[arg(long)]
    force: bool,
}

/// `loopchain keygen`: a new ed25519 identity key and BLS consensus key (files of mode 0600),
/// and the member entry for `channel_manage_data.json` (peer id, public keys, proof of
/// possession) on stdout and in `member.json`.
pub(crate) fn keygen(args: KeygenArgs) -> Result<()> {
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => {
            let overrides = lc_config::Overrides { port: args.port, radio_station_target: None, extra: vec![] };
            let user = lc_config::default_user_file();
            let loaded = lc_config::load(&lc_config::process_env, user.as_deref(), None, &overrides)?;
            loaded.config.data_dir().join("keys")
        }
    };
    let identity_path = dir.join("identity.key");
    let bls_path = dir.join("bls.key");
    if !args.force {
        for p in [&identity_path, &bls_path] {
            if p.exists() {
                anyhow::bail!(
                    "{} already exists; keep it, or pass --force to replace it (the old key is lost)",
                    p.display()
                );
            }
        }
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let identity = Keypair::generate();
    let bls = BlsKeypair::generate();
    write_secret(&identity_path, &identity.seed_hex())?;
    write_secret(&bls_path, &hex::encode(bls.secret_bytes()))?;
    let member = serde_json::json!({
        "peer_id": lc_types::Address::of(&identity.public()),
        "identity_key": identity.public(),
        "bls_key": bls.public(),
        "bls_pop": bls.proof_of_possession(),
    });
    let text = serde_json::to_string_pretty(&member)?;
    std::fs::write(dir.join("member.json"), format!("{text}\n"))
        .with_context(|| format!("writing {}", dir.join("member.json").display()))?;
    eprintln!(
        "wrote {} and {} (mode 0600) and member.json in {}",
        identity_path.display(),
        bls_path.display(),
        dir.display()
    );
    eprintln!("add this to the peer's entry in channel_manage_data.json (with its peer_target):");
    println!("{text}");
    Ok(())
}

/// Writes a secret key file: mode 0600, fsync, atomic rename.
fn write_secret(path: &Path, secret: &str) -> Result<()> {
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
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}
