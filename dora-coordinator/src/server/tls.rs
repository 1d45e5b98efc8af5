//! HTTPS for the API: a certificate and key given by the operator, or a
//! cluster CA and a server certificate the coordinator makes for itself on
//! first start and keeps in its state folder.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eyre::{bail, WrapErr};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The cluster's certificate authority: made on first start, kept in the
/// state folder (`ca.pem`, and `ca.key` readable by the coordinator
/// alone). It signs the coordinator's own certificates and those of the
/// machines that join.
pub struct Pki {
    pub ca_file: PathBuf,
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// The CA's certificate parameters; the same on every start, so that the
/// certificates signed after a restart name the same issuer.
fn ca_params() -> eyre::Result<CertificateParams> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).wrap_err("CA parameters")?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "dora cluster CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(ca)
}

impl Pki {
    /// Loads the CA of `dir`, or makes it.
    pub fn load_or_make(dir: &Path) -> eyre::Result<Pki> {
        let (ca_file, key_file) = (dir.join("ca.pem"), dir.join("ca.key"));
        if !ca_file.exists() {
            let key = KeyPair::generate().wrap_err("cannot make the CA's key")?;
            let cert = ca_params()?
                .self_signed(&key)
                .wrap_err("cannot sign the CA")?;
            write_new(&key_file, key.serialize_pem().as_bytes(), 0o600)?;
            write_new(&ca_file, cert.pem().as_bytes(), 0o644)?;
        }
        let read = |path: &Path| {
            std::fs::read_to_string(path)
                .wrap_err_with(|| format!("cannot read {}", path.display()))
        };
        let ca_pem = read(&ca_file)?;
        let key = KeyPair::from_pem(&read(&key_file)?)
            .wrap_err_with(|| format!("{} is not a private key", key_file.display()))?;
        Ok(Pki {
            ca_file,
            ca_pem,
            issuer: Issuer::new(ca_params()?, key),
        })
    }

    /// The certificate and key files `NAME.pem` and `NAME.key` in `dir`,
    /// signed by the CA for `names` (host names or addresses), made unless
    /// they exist and already name all of them.
    pub fn certificate(
        &self,
        dir: &Path,
        name: &str,
        names: &[String],
    ) -> eyre::Result<(PathBuf, PathBuf)> {
        let (cert_file, key_file) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        let names_file = dir.join(format!("{name}.names"));
        let wanted = names.join("\n");
        if cert_file.exists() && key_file.exists() {
            if std::fs::read_to_string(&names_file).is_ok_and(|n| n == wanted) {
                return Ok((cert_file, key_file));
            }
            // Other names than last time (a new --advertise): a new one.
            for file in [&cert_file, &key_file, &names_file] {
                let _ = std::fs::remove_file(file);
            }
        }
        let key = KeyPair::generate().wrap_err("cannot make a key")?;
        let mut params =
            CertificateParams::new(names.to_vec()).wrap_err("the names of the certificate")?;
        params
            .distinguished_name
            .push(DnType::CommonName, "dora coordinator");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = params
            .signed_by(&key, &self.issuer)
            .wrap_err("cannot sign a certificate")?;
        write_new(&key_file, key.serialize_pem().as_bytes(), 0o600)?;
        write_new(&cert_file, cert.pem().as_bytes(), 0o644)?;
        let _ = std::fs::remove_file(&names_file);
        write_new(&names_file, wanted.as_bytes(), 0o644)?;
        Ok((cert_file, key_file))
    }

    /// A certificate for machine `machine`, for the key of its signing
    /// request: the request's own names and uses are ignored, the CA
    /// decides them.
    pub fn sign_machine(&self, csr: &str, machine: &str) -> Result<String, rcgen::Error> {
        let request = rcgen::CertificateSigningRequestParams::from_pem(csr)?;
        let mut params = CertificateParams::new(vec![machine.to_owned()])?;
        params.distinguished_name.push(DnType::CommonName, machine);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        Ok(params.signed_by(&request.public_key, &self.issuer)?.pem())
    }
}

/// The names a certificate of the coordinator listening on `listen`
/// carries: `localhost`, the loopback addresses, the address itself, and
/// `advertise`.
pub fn names(listen: SocketAddr, advertise: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !listen.ip().is_unspecified() {
        names.push(listen.ip().to_string());
    }
    for name in advertise {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    names
}

/// Writes a file that must not exist yet, with `mode` from its creation.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> eyre::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .wrap_err_with(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .wrap_err_with(|| format!("cannot write {}", path.display()))
}

/// The server side of TLS for `cert` and `key` (PEM files).
pub fn server_config(cert: &Path, key: &Path) -> eyre::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .wrap_err_with(|| format!("cannot read the certificate {}", cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .wrap_err_with(|| format!("cannot read the private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .wrap_err("TLS versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .wrap_err("the certificate does not match its key")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener that hands axum connections once their TLS handshake is
/// done. Handshakes run on their own tasks, so a slow or silent client
/// holds up nobody else.
pub struct TlsListener {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl TlsListener {
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (sender, connections) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = tcp.accept().await else {
                    // Out of file descriptors, say: wait, and go on.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        let _ = sender.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { connections, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
