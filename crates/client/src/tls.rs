//! TLS to the server (`--tls`): rustls with the ring provider, trusting the
//! system's certificate authorities, or only `--ca FILE` (PEM) for a
//! private one. The certificate must name the host the client was given.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Debian's bundle of the system's certificate authorities.
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How to speak TLS to the server.
#[derive(Clone)]
pub struct Tls {
    connector: TlsConnector,
}

impl Tls {
    /// Trusts the authorities in `ca` (PEM), or the system's without it.
    pub fn new(ca: Option<&Path>) -> io::Result<Tls> {
        let path = ca.unwrap_or(Path::new(SYSTEM_CAS));
        let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
        for cert in certs {
            let cert = cert.map_err(|e| bad(format!("{}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| bad(format!("{}: {e}", path.display())))?;
        }
        if roots.is_empty() {
            return Err(bad(format!("{} holds no certificate", path.display())));
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The TLS handshake on `tcp`, checking the certificate for `host`.
    pub async fn wrap(&self, host: &str, tcp: TcpStream) -> io::Result<TlsStream<TcpStream>> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        self.connector.connect(name, tcp).await
    }
}
