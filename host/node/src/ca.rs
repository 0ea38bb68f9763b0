//! `loopchain ca`: a channel CA, node certificates bound to peer ids and keys, revocation.
use anyhow::{bail, Context, Result};
use lc_crypto::bls::BlsKeypair;
use lc_crypto::Keypair;
use lc_tls::{files, Ca, Subject};
use std::path::{Path, PathBuf};

/// `loopchain ca` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CaCmd {
    /// Create a channel CA: DIR/ca.pem (give it to every node) and DIR/ca.key (mode 0600; keep it
    /// off the nodes).
    Init(InitArgs),
    /// Issue a node certificate bound to the node's peer id, identity key and BLS key (read from
    /// its key files), or a service certificate (`--role radiostation`).
    Issue(IssueArgs),
    /// Revoke a certificate: adds its serial to DIR/revoked.txt and rewrites DIR/crl.pem
    /// (point GRPC_SSL_CRL at it on every node).
    Revoke(RevokeArgs),
}

/// Flags of `loopchain ca init`.
#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// CA directory.
    #[arg(long, default_value = "ca")]
    dir: PathBuf,
    /// Name in the CA certificate (e.g. the channel or consortium).
    #[arg(long, default_value = "loopchain")]
    name: String,
    /// Validity, days.
    #[arg(long, default_value_t = 3650)]
    days: i64,
    /// Replace an existing CA (every certificate it issued stops being trusted).
    #[arg(long)]
    force: bool,
}

/// Flags of `loopchain ca issue`.
#[derive(Debug, clap::Args)]
pub(crate) struct IssueArgs {
    /// CA directory (from `ca init`).
    #[arg(long, default_value = "ca")]
    ca: PathBuf,
    /// The node's key directory (identity.key, bls.key from `loopchain keygen`).
    #[arg(long, value_name = "DIR", conflicts_with = "port")]
    keys: Option<PathBuf>,
    /// The node's peer port: keys from DEFAULT_STORAGE_PATH/<PORT>/keys, certificate written to
    /// DEFAULT_STORAGE_PATH/<PORT>/tls.
    #[arg(short = 'p', long = "port")]
    port: Option<u16>,
    /// A service certificate with this role instead of a node's (e.g. `radiostation`).
    #[arg(long, conflicts_with_all = ["keys", "port"])]
    role: Option<String>,
    /// Addresses (IP or DNS) the node is reached at; clients check them.
    #[arg(long = "host", default_values_t = ["127.0.0.1".to_owned(), "localhost".to_owned()])]
    hosts: Vec<String>,
    /// Output directory for node.pem and node.key [default: next to the keys, `tls`].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Validity, days.
    #[arg(long, default_value_t = 730)]
    days: i64,
    /// Replace an existing certificate in the output directory.
    #[arg(long)]
    force: bool,
}

/// Flags of `loopchain ca revoke`.
#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    /// CA directory.
    #[arg(long, default_value = "ca")]
    ca: PathBuf,
    /// The certificate to revoke (PEM).
    #[arg(long, conflicts_with = "serial")]
    cert: Option<PathBuf>,
    /// Serial number (hex) to revoke.
    #[arg(long)]
    serial: Option<String>,
    /// Validity of the new revocation list, days.
    #[arg(long, default_value_t = 30)]
    days: i64,
}

pub(crate) fn run(cmd: CaCmd) -> Result<()> {
    match cmd {
        CaCmd::Init(a) => init(a),
        CaCmd::Issue(a) => issue(a),
        CaCmd::Revoke(a) => revoke(a),
    }
}

fn init(a: InitArgs) -> Result<()> {
    if !a.force && a.dir.join(files::CA_KEY).exists() {
        bail!("{} already holds a CA; pass --force to replace it", a.dir.display());
    }
    let ca = Ca::create(&a.name, a.days)?;
    ca.save(&a.dir)?;
    write_crl(&ca, &a.dir, &[], a.days.min(30))?;
    eprintln!(
        "created CA {:?} in {}: {} (distribute), {} (mode 0600, keep private), {} (empty revocation list)",
        a.name,
        a.dir.display(),
        files::CA_CERT,
        files::CA_KEY,
        files::CRL
    );
    Ok(())
}

/// The subject of a node certificate: the node's peer id and public keys.
pub(crate) fn node_subject(identity: &Keypair, bls: Option<&BlsKeypair>) -> Subject {
    let peer_id = lc_types::Address::of(&identity.public()).to_string();
    Subject {
        common_name: peer_id.clone(),
        peer_id: Some(peer_id),
        identity_key: Some(identity.public().to_string()),
        bls_key: bls.map(|b| b.public().to_string()),
        roles: Vec::new(),
    }
}

fn read_identity(dir: &Path) -> Result<(Keypair, Option<BlsKeypair>)> {
    let id_path = dir.join("identity.key");
    let seed = std::fs::read_to_string(&id_path)
        .with_context(|| format!("reading {} (create keys with `loopchain keygen`)", id_path.display()))?;
    let identity =
        Keypair::from_seed_hex(seed.trim()).with_context(|| format!("identity key {}", id_path.display()))?;
    let bls_path = dir.join("bls.key");
    let bls = match std::fs::read_to_string(&bls_path) {
        Ok(s) => {
            let bytes: [u8; 32] = hex::decode(s.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .with_context(|| format!("BLS key file {}: expected 64 hex characters", bls_path.display()))?;
            Some(BlsKeypair::from_secret_bytes(&bytes).with_context(|| format!("BLS key {}", bls_path.display()))?)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", bls_path.display())),
    };
    Ok((identity, bls))
}

fn issue(a: IssueArgs) -> Result<()> {
    let ca = Ca::load(&a.ca).with_context(|| format!("loading the CA from {}", a.ca.display()))?;
    let (subject, default_out) = match (&a.role, &a.keys, a.port) {
        (Some(role), _, _) => (
            Subject { common_name: format!("loopchain {role}"), roles: vec![role.clone()], ..Subject::default() },
            PathBuf::from(role),
        ),
        (None, keys, port) => {
            let keys = match (keys, port) {
                (Some(k), _) => k.clone(),
                (None, port) => {
                    let overrides = lc_config::Overrides { port, radio_station_target: None, extra: vec![] };
                    let user = lc_config::default_user_file();
                    let loaded = lc_config::load(&lc_config::process_env, user.as_deref(), None, &overrides)?;
                    loaded.config.data_dir().join("keys")
                }
            };
            let (identity, bls) = read_identity(&keys)?;
            let out = keys.parent().map(|p| p.join("tls")).unwrap_or_else(|| PathBuf::from("tls"));
            (node_subject(&identity, bls.as_ref()), out)
        }
    };
    let out = a.out.unwrap_or(default_out);
    let (cert_path, key_path) = (out.join("node.pem"), out.join("node.key"));
    if !a.force && cert_path.exists() {
        bail!("{} exists; pass --force to replace it", cert_path.display());
    }
    let issued = ca.issue(&subject, &a.hosts, a.days)?;
    lc_tls::write_file(&cert_path, issued.cert_pem.as_bytes(), false)?;
    lc_tls::write_file(&key_path, issued.key_pem.as_bytes(), true)?;
    eprintln!(
        "issued certificate serial {} for {} ({}) in {}",
        issued.serial,
        subject.peer_id.as_deref().unwrap_or("service"),
        subject.common_name,
        out.display()
    );
    eprintln!("configure the node with:");
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned()).display().to_string();
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "GRPC_SSL_TYPE": "mutual",
            "GRPC_SSL_CA_CERT": abs(&a.ca.join(files::CA_CERT)),
            "GRPC_SSL_CERT": abs(&cert_path),
            "GRPC_SSL_KEY": abs(&key_path),
            "GRPC_SSL_CRL": abs(&a.ca.join(files::CRL)),
        }))?
    );
    Ok(())
}

fn read_revoked(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join(files::REVOKED);
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(s.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_crl(ca: &Ca, dir: &Path, serials: &[String], days: i64) -> Result<()> {
    let crl = ca.crl(serials, serials.len() as u64 + 1, days)?;
    lc_tls::write_file(&dir.join(files::CRL), crl.as_bytes(), false)?;
    Ok(())
}

fn revoke(a: RevokeArgs) -> Result<()> {
    let ca = Ca::load(&a.ca).with_context(|| format!("loading the CA from {}", a.ca.display()))?;
    let serial = match (&a.cert, &a.serial) {
        (Some(p), _) => {
            let pem = lc_tls::read_file(p)?;
            let der = rustls::pki_types::pem::PemObject::from_pem_slice(&pem)
                .map(|d: rustls::pki_types::CertificateDer<'static>| d)
                .with_context(|| format!("{} holds no PEM certificate", p.display()))?;
            lc_tls::CertIdentity::from_der(&der)?.serial
        }
        (None, Some(s)) => {
            let s = s.trim().trim_start_matches("0x").to_ascii_lowercase();
            if s.is_empty() || hex::decode(&s).is_err() {
                bail!("--serial must be hex, got {s:?}");
            }
            s
        }
        (None, None) => bail!("name the certificate to revoke: --cert FILE or --serial HEX"),
    };
    let mut serials = read_revoked(&a.ca)?;
    if serials.contains(&serial) {
        eprintln!("serial {serial} was already revoked; rewriting the revocation list");
    } else {
        serials.push(serial.clone());
    }
    let list = serials.iter().map(|s| format!("{s}\n")).collect::<String>();
    lc_tls::write_file(&a.ca.join(files::REVOKED), list.as_bytes(), false)?;
    write_crl(&ca, &a.ca, &serials, a.days)?;
    eprintln!(
        "revoked {serial}; {} now lists {} certificate(s). Nodes read GRPC_SSL_CRL at start: restart them (or distribute the file) to apply it.",
        a.ca.join(files::CRL).display(),
        serials.len()
    );
    Ok(())
}
