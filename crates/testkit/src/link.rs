//! What a [`TestClient`](crate::TestClient) talks over: plain TCP, TLS over
//! TCP, or a WebSocket (plain or over TLS). Lines in, lines out, whatever
//! carries them, so every suite's helpers work on every transport.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// A byte stream (TCP or TLS) split for lines.
type Lines = (
    BufReader<Box<dyn AsyncRead + Send + Unpin>>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

/// A WebSocket over a byte stream.
type Ws = WebSocketStream<Box<dyn Io>>;

/// A byte stream a WebSocket can run on.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

pub(crate) enum Link {
    Lines(Lines),
    Ws(Box<Ws>),
}

/// What a WebSocket closed with, when it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub code: Option<u16>,
}

/// A new CA, and a certificate for `localhost` it signed (with this
/// serial number), written as `cert.pem` and `key.pem` in `dir`; returns
/// the CA's PEM.
pub fn certificates(dir: &std::path::Path, serial: u64) -> anyhow::Result<String> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SerialNumber};
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "chat test CA");
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca, &ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
    params.serial_number = Some(SerialNumber::from(serial));
    let cert = params.signed_by(&key, &issuer)?;
    std::fs::write(dir.join("cert.pem"), cert.pem())?;
    std::fs::write(dir.join("key.pem"), key.serialize_pem())?;
    Ok(ca_cert.pem())
}

/// A client TLS configuration trusting only `ca` (PEM).
pub fn tls_client(ca_pem: &[u8]) -> anyhow::Result<Arc<ClientConfig>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert?)?;
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A TLS stream to `addr`, checking the certificate for `name`.
pub async fn tls_stream(
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
    name: &str,
) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls_pki_types::ServerName::try_from(name.to_owned())?;
    Ok(TlsConnector::from(tls).connect(name, tcp).await?)
}

impl Link {
    pub async fn tcp(addr: SocketAddr) -> anyhow::Result<Link> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (rd, wr) = stream.into_split();
        Ok(Link::Lines((BufReader::new(Box::new(rd)), Box::new(wr))))
    }

    pub async fn tls(addr: SocketAddr, tls: Arc<ClientConfig>, name: &str) -> anyhow::Result<Link> {
        let stream = tls_stream(addr, tls, name).await?;
        let (rd, wr) = tokio::io::split(stream);
        Ok(Link::Lines((BufReader::new(Box::new(rd)), Box::new(wr))))
    }

    /// A WebSocket to `url` (`ws://` or `wss://`) over `stream`, sending
    /// `origin` when given (as a browser does).
    pub async fn ws(url: &str, stream: Box<dyn Io>, origin: Option<&str>) -> anyhow::Result<Link> {
        let mut request = url.into_client_request()?;
        if let Some(o) = origin {
            request
                .headers_mut()
                .insert("Origin", HeaderValue::from_str(o)?);
        }
        let (ws, _) = tokio_tungstenite::client_async(request, stream)
            .await
            .context("websocket handshake")?;
        Ok(Link::Ws(Box::new(ws)))
    }

    /// Writes raw bytes (a WebSocket sends them as one text message, or
    /// binary when they are not UTF-8).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Link::Lines((_, wr)) => Ok(wr.write_all(bytes).await?),
            Link::Ws(ws) => {
                let msg = match std::str::from_utf8(bytes) {
                    Ok(s) => Message::text(s),
                    Err(_) => Message::binary(bytes.to_vec()),
                };
                Ok(ws.send(msg).await?)
            }
        }
    }

    /// Sends frames back to back: one write of lines, or one message each.
    pub async fn send_all(&mut self, frames: &[serde_json::Value]) -> anyhow::Result<()> {
        match self {
            Link::Lines((_, wr)) => {
                let mut buf = Vec::new();
                for f in frames {
                    buf.extend_from_slice(&serde_json::to_vec(f)?);
                    buf.push(b'\n');
                }
                Ok(wr.write_all(&buf).await?)
            }
            Link::Ws(ws) => {
                for f in frames {
                    ws.feed(Message::text(serde_json::to_string(f)?)).await?;
                }
                Ok(ws.flush().await?)
            }
        }
    }

    /// Sends a binary WebSocket message (a line transport sends the bytes).
    pub async fn send_binary(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Link::Lines((_, wr)) => Ok(wr.write_all(bytes).await?),
            Link::Ws(ws) => Ok(ws.send(Message::binary(bytes.to_vec())).await?),
        }
    }

    /// The next line or text message; `Err(Closed)` when the server
    /// closed.
    pub async fn read_line(&mut self) -> anyhow::Result<Result<String, Closed>> {
        match self {
            Link::Lines((rd, _)) => {
                let mut line = String::new();
                match rd.read_line(&mut line).await {
                    Ok(0) | Err(_) => Ok(Err(Closed { code: None })),
                    Ok(_) => Ok(Ok(line)),
                }
            }
            Link::Ws(ws) => loop {
                match ws.next().await {
                    None | Some(Err(_)) => return Ok(Err(Closed { code: None })),
                    Some(Ok(Message::Text(t))) => return Ok(Ok(t.as_str().to_owned())),
                    Some(Ok(Message::Close(frame))) => {
                        return Ok(Err(Closed {
                            code: frame.map(|f| u16::from(f.code)),
                        }));
                    }
                    Some(Ok(Message::Binary(b))) => {
                        anyhow::bail!("the server sent a binary message: {b:?}")
                    }
                    Some(Ok(_)) => continue,
                }
            },
        }
    }
}
