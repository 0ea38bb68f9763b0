//! The channel CA and mutual TLS between loopchain processes.
//!
//! - [`Ca`] is a channel certificate authority (ECDSA P-256, rcgen): it issues node certificates
//!   that bind a peer id and its identity and BLS keys ([`Subject`]), and revocation lists.
//!   `loopchain ca init|issue|revoke` drive it.
//! - A certificate's identity is carried in URI subject alternative names
//!   (`urn:loopchain:peer:<peer id>`, `urn:loopchain:identity:<ed25519 key hex>`,
//!   `urn:loopchain:bls:<BLS key hex>`, `urn:loopchain:role:<role>`), read back by
//!   [`CertIdentity::from_der`]. A server compares it with the peer id a request claims and with
//!   the channel membership.
//! - [`TlsMaterial`] holds a node's PEM files (CA certificate, its own certificate and key, and
//!   optionally the CA's revocation list): [`TlsMaterial::server_config`] is a rustls server
//!   configuration that *requires* a client certificate chained to the CA and not revoked;
//!   [`TlsMaterial::client_config`] is tonic's client side (CA trust and this node's identity).
//! - [`incoming`] turns a TCP listener into a stream of handshaken TLS connections for tonic's
//!   `serve_with_incoming`; every failed handshake is reported to a callback (counted and logged
//!   by the caller) and never stalls the accept loop. `Request::peer_certs()` then gives a
//!   handler the client's certificate.
//!
//! The crypto provider is rustls' `ring` (no cmake or NASM needed to build).
#![warn(missing_docs)]

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType,
    SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

/// URI SAN prefix of the peer id a certificate is issued to.
pub const PEER_URI: &str = "urn:loopchain:peer:";
/// URI SAN prefix of the ed25519 identity key (hex).
pub const IDENTITY_URI: &str = "urn:loopchain:identity:";
/// URI SAN prefix of the BLS consensus key (hex).
pub const BLS_URI: &str = "urn:loopchain:bls:";
/// URI SAN prefix of a role (`radiostation`, `client`).
pub const ROLE_URI: &str = "urn:loopchain:role:";
/// The role of the radio station's certificate.
pub const ROLE_RADIO_STATION: &str = "radiostation";

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most handshakes in progress at once on one listener.
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// What can go wrong with certificates and TLS configuration.
#[derive(Debug, Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate, key or CRL.
    #[error("{what}: {msg}")]
    Pem {
        /// Which input.
        what: String,
        /// What is wrong.
        msg: String,
    },
    /// Certificate generation failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// The TLS configuration was refused by rustls.
    #[error("TLS configuration: {0}")]
    Config(String),
    /// A certificate could not be parsed.
    #[error("certificate: {0}")]
    Parse(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io { path: path.to_owned(), source }
}

/// Reads a file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(io_err(path))
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename), mode 0600 when `secret`.
pub fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true).mode(if secret { 0o600 } else { 0o644 });
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// Who a node certificate is issued to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// Common name (the peer id, or a service name).
    pub common_name: String,
    /// Peer id (address derived from the identity key).
    pub peer_id: Option<String>,
    /// ed25519 identity public key, hex.
    pub identity_key: Option<String>,
    /// BLS public key, hex.
    pub bls_key: Option<String>,
    /// Roles (e.g. [`ROLE_RADIO_STATION`]).
    pub roles: Vec<String>,
}

/// A certificate and its private key, PEM, as issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (keep it secret: mode 0600).
    pub key_pem: String,
    /// The certificate's serial number, hex.
    pub serial: String,
}

/// A channel certificate authority.
#[derive(Debug)]
pub struct Ca {
    cert_pem: String,
    key: KeyPair,
}

/// File names inside a CA directory.
pub mod files {
    /// The CA certificate (distribute it to every node).
    pub const CA_CERT: &str = "ca.pem";
    /// The CA private key (mode 0600; keep it off the nodes).
    pub const CA_KEY: &str = "ca.key";
    /// Serial numbers (hex, one per line) of revoked certificates.
    pub const REVOKED: &str = "revoked.txt";
    /// The current revocation list, signed by the CA.
    pub const CRL: &str = "crl.pem";
}

fn random_serial() -> SerialNumber {
    let mut b = [0u8; 16];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut b);
    b[0] &= 0x7f; // positive
    b[0] |= 0x01; // no leading zero byte
    SerialNumber::from_slice(&b)
}

fn ca_params(name: &str, days: i64) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("loopchain channel CA {name}"));
    dn.push(DnType::OrganizationName, "loopchain");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let now = OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(days);
    p.serial_number = Some(random_serial());
    p.key_identifier_method = KeyIdMethod::Sha256;
    p
}

impl Ca {
    /// A new CA named `name`, valid for `days`.
    pub fn create(name: &str, days: i64) -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let cert = ca_params(name, days).self_signed(&key)?;
        Ok(Self { cert_pem: cert.pem(), key })
    }

    /// A CA from its PEM certificate and key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, TlsError> {
        let key = KeyPair::from_pem(key_pem)?;
        // Parse once, so a broken certificate is an error here rather than at issue time.
        Issuer::from_ca_cert_pem(cert_pem, &key)?;
        Ok(Self { cert_pem: cert_pem.to_owned(), key })
    }

    /// Loads `ca.pem` and `ca.key` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, TlsError> {
        let cert = read_text(&dir.join(files::CA_CERT))?;
        let key = read_text(&dir.join(files::CA_KEY))?;
        Self::from_pem(&cert, &key)
    }

    /// Writes `ca.pem` (0644) and `ca.key` (0600) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), TlsError> {
        write_file(&dir.join(files::CA_CERT), self.cert_pem.as_bytes(), false)?;
        write_file(&dir.join(files::CA_KEY), self.key.serialize_pem().as_bytes(), true)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Issues a certificate (server and client use) for `subject`, reachable at `hosts` (IP
    /// addresses or DNS names, checked by clients), valid for `days`.
    pub fn issue(&self, subject: &Subject, hosts: &[String], days: i64) -> Result<Issued, TlsError> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)?;
        let mut p = CertificateParams::new(hosts.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, subject.common_name.clone());
        dn.push(DnType::OrganizationName, "loopchain");
        p.distinguished_name = dn;
        let uri = |s: String| -> Result<SanType, TlsError> { Ok(SanType::URI(s.try_into()?)) };
        if let Some(id) = &subject.peer_id {
            p.subject_alt_names.push(uri(format!("{PEER_URI}{id}"))?);
        }
        if let Some(k) = &subject.identity_key {
            p.subject_alt_names.push(uri(format!("{IDENTITY_URI}{k}"))?);
        }
        if let Some(k) = &subject.bls_key {
            p.subject_alt_names.push(uri(format!("{BLS_URI}{k}"))?);
        }
        for r in &subject.roles {
            p.subject_alt_names.push(uri(format!("{ROLE_URI}{r}"))?);
        }
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        p.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(days);
        let serial = random_serial();
        p.serial_number = Some(serial.clone());
        let key = KeyPair::generate()?;
        let cert = p.signed_by(&key, &issuer)?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem(), serial: hex::encode(serial.as_ref()) })
    }

    /// A revocation list of the given serial numbers (hex), numbered `number`, valid `days`.
    pub fn crl(&self, serials: &[String], number: u64, days: i64) -> Result<String, TlsError> {
        let issuer = Issuer::from_ca_cert_pem(&self.cert_pem, &self.key)?;
        let now = OffsetDateTime::now_utc();
        let mut revoked = Vec::with_capacity(serials.len());
        for s in serials {
            let bytes = hex::decode(s.trim())
                .map_err(|e| TlsError::Pem { what: format!("serial {s:?}"), msg: e.to_string() })?;
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&bytes),
                revocation_time: now,
                reason_code: None,
                invalidity_date: None,
            });
        }
        let params = CertificateRevocationListParams {
            this_update: now - time::Duration::minutes(5),
            next_update: now + time::Duration::days(days),
            crl_number: SerialNumber::from_slice(&number.max(1).to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        Ok(params.signed_by(&issuer)?.pem()?)
    }
}

fn read_text(path: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

/// The identity a certificate carries (its URI subject alternative names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertIdentity {
    /// Common name.
    pub common_name: String,
    /// `urn:loopchain:peer:` value.
    pub peer_id: Option<String>,
    /// `urn:loopchain:identity:` value (hex).
    pub identity_key: Option<String>,
    /// `urn:loopchain:bls:` value (hex).
    pub bls_key: Option<String>,
    /// `urn:loopchain:role:` values.
    pub roles: Vec<String>,
    /// Serial number, hex.
    pub serial: String,
}

impl CertIdentity {
    /// Reads the identity of a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, TlsError> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| TlsError::Parse(e.to_string()))?;
        let mut id = CertIdentity { serial: hex::encode(cert.raw_serial()), ..Default::default() };
        if let Some(cn) = cert.subject().iter_common_name().next().and_then(|c| c.as_str().ok()) {
            id.common_name = cn.to_owned();
        }
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::URI(u) = name {
                    if let Some(v) = u.strip_prefix(PEER_URI) {
                        id.peer_id = Some(v.to_owned());
                    } else if let Some(v) = u.strip_prefix(IDENTITY_URI) {
                        id.identity_key = Some(v.to_owned());
                    } else if let Some(v) = u.strip_prefix(BLS_URI) {
                        id.bls_key = Some(v.to_owned());
                    } else if let Some(v) = u.strip_prefix(ROLE_URI) {
                        id.roles.push(v.to_owned());
                    }
                }
            }
        }
        Ok(id)
    }

    /// Whether the certificate carries `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// A node's TLS files, loaded: the channel CA, its own certificate and key, and optionally the
/// CA's revocation list.
#[derive(Clone)]
pub struct TlsMaterial {
    /// The CA certificate, PEM.
    pub ca_pem: Vec<u8>,
    /// This node's certificate, PEM.
    pub cert_pem: Vec<u8>,
    /// This node's private key, PEM.
    pub key_pem: Vec<u8>,
    /// The CA's revocation list, PEM (empty: none).
    pub crl_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").field("crl", &!self.crl_pem.is_empty()).finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Reads the files (`crl` may be `None`) and checks that they parse.
    pub fn load(ca: &Path, cert: &Path, key: &Path, crl: Option<&Path>) -> Result<Self, TlsError> {
        let m = Self {
            ca_pem: read_file(ca)?,
            cert_pem: read_file(cert)?,
            key_pem: read_file(key)?,
            crl_pem: match crl {
                Some(p) => read_file(p)?,
                None => Vec::new(),
            },
        };
        m.server_config()?;
        Ok(m)
    }

    fn certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Pem { what: what.to_owned(), msg: e.to_string() })?;
        if certs.is_empty() {
            return Err(TlsError::Pem { what: what.to_owned(), msg: "no certificate in the file".into() });
        }
        Ok(certs)
    }

    /// This node's own certificate's identity.
    pub fn own_identity(&self) -> Result<CertIdentity, TlsError> {
        let certs = Self::certs(&self.cert_pem, "GRPC_SSL_CERT")?;
        CertIdentity::from_der(&certs[0])
    }

    /// A server configuration requiring a client certificate chained to the CA (and not on its
    /// revocation list), presenting this node's certificate. ALPN `h2`.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in Self::certs(&self.ca_pem, "GRPC_SSL_CA_CERT")? {
            roots.add(c).map_err(|e| TlsError::Pem { what: "GRPC_SSL_CA_CERT".into(), msg: e.to_string() })?;
        }
        let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider));
        if !self.crl_pem.is_empty() {
            let crls: Vec<_> = CertificateRevocationListDer::pem_slice_iter(&self.crl_pem)
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::Pem { what: "GRPC_SSL_CRL".into(), msg: e.to_string() })?;
            builder = builder.with_crls(crls);
        }
        let verifier = builder.build().map_err(|e| TlsError::Config(e.to_string()))?;
        let chain = Self::certs(&self.cert_pem, "GRPC_SSL_CERT")?;
        let key = PrivateKeyDer::from_pem_slice(&self.key_pem)
            .map_err(|e| TlsError::Pem { what: "GRPC_SSL_KEY".into(), msg: e.to_string() })?;
        let mut cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(cfg))
    }

    /// tonic's client TLS for a connection to `host` (an IP address or DNS name in the server's
    /// certificate): trusts only the channel CA and presents this node's certificate.
    pub fn client_config(&self, host: &str) -> tonic::transport::ClientTlsConfig {
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&self.ca_pem))
            .identity(tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem))
            .domain_name(host.to_owned())
            .timeout(HANDSHAKE_TIMEOUT)
    }
}

/// The host part of a `host:port` target (brackets of an IPv6 literal removed).
pub fn target_host(target: &str) -> &str {
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Called with the remote address and the reason of every refused handshake.
pub type OnRefused = Arc<dyn Fn(SocketAddr, &str) + Send + Sync>;

/// Accepts TCP connections on `listener` and handshakes them with `config` in the background;
/// yields the connections whose handshake succeeded (for tonic's `serve_with_incoming`). A failed
/// or timed-out handshake is reported to `on_refused` and dropped. Stops when the stream is
/// dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    on_refused: OnRefused,
) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_PENDING_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                _ = tx.closed() => return,
            };
            let (tcp, addr) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a gRPC connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                on_refused(addr, "too many TLS handshakes in progress");
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx, on_refused) = (acceptor.clone(), tx.clone(), Arc::clone(&on_refused));
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send(Ok(stream)).await;
                    }
                    Ok(Err(e)) => on_refused(addr, &e.to_string()),
                    Err(_) => on_refused(addr, "TLS handshake timed out"),
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(id: &str) -> Subject {
        Subject {
            common_name: id.into(),
            peer_id: Some(id.into()),
            identity_key: Some("ab".repeat(32)),
            bls_key: Some("cd".repeat(48)),
            roles: vec![],
        }
    }

    #[test]
    fn issued_certificate_carries_the_identity() {
        let ca = Ca::create("test", 30).expect("ca");
        let issued = ca.issue(&subject("hx01"), &["127.0.0.1".into(), "localhost".into()], 30).expect("issue");
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).expect("pem");
        let id = CertIdentity::from_der(&der).expect("parse");
        assert_eq!(id.peer_id.as_deref(), Some("hx01"));
        assert_eq!(id.identity_key.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(id.bls_key.as_deref(), Some("cd".repeat(48).as_str()));
        assert_eq!(id.serial, issued.serial);
        assert_eq!(id.common_name, "hx01");
    }

    #[test]
    fn ca_round_trips_through_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let ca = Ca::create("files", 30).expect("ca");
        ca.save(dir.path()).expect("save");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(files::CA_KEY)).expect("meta").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let again = Ca::load(dir.path()).expect("load");
        assert_eq!(again.cert_pem(), ca.cert_pem());
        assert!(again.issue(&subject("hx02"), &["127.0.0.1".into()], 1).is_ok());
    }

    #[test]
    fn server_config_builds_with_and_without_crl() {
        let ca = Ca::create("cfg", 30).expect("ca");
        let issued = ca.issue(&subject("hx03"), &["127.0.0.1".into()], 30).expect("issue");
        let mut m = TlsMaterial {
            ca_pem: ca.cert_pem().as_bytes().to_vec(),
            cert_pem: issued.cert_pem.clone().into_bytes(),
            key_pem: issued.key_pem.clone().into_bytes(),
            crl_pem: Vec::new(),
        };
        assert!(m.server_config().is_ok());
        m.crl_pem = ca.crl(std::slice::from_ref(&issued.serial), 1, 30).expect("crl").into_bytes();
        assert!(m.server_config().is_ok());
        assert_eq!(m.own_identity().expect("id").peer_id.as_deref(), Some("hx03"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Ca::from_pem("not a cert", "not a key").is_err());
        assert!(CertIdentity::from_der(b"\x30\x03\x02\x01\x00").is_err());
        let m = TlsMaterial {
            ca_pem: b"junk".to_vec(),
            cert_pem: b"junk".to_vec(),
            key_pem: b"junk".to_vec(),
            crl_pem: Vec::new(),
        };
        assert!(m.server_config().is_err());
        assert!(Ca::create("x", 1).expect("ca").crl(&["zz".into()], 1, 1).is_err());
    }

    #[test]
    fn target_host_strips_the_port() {
        assert_eq!(target_host("127.0.0.1:7100"), "127.0.0.1");
        assert_eq!(target_host("[::1]:7100"), "::1");
        assert_eq!(target_host("node.example"), "node.example");
    }
}
