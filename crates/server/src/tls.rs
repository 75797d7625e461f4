//! The port's listener: plain TCP, or TLS when `--tls-cert`/`--tls-key` are set (rustls with the
//! `ring` provider, ALPN `h2` and `http/1.1`, so gRPC, REST and MCP all work over it).
//!
//! - Handshakes never hold up the accept loop: each runs in its own task, bounded by
//!   `--tls-handshake-timeout`; [`Port::accept`] hands axum finished streams only, so one client
//!   that never sends its ClientHello delays nobody. At most [`MAX_HANDSHAKES`] run at once (past
//!   that, new connections wait in the kernel's backlog).
//! - Reload: a thread looks at the files' modification times and sizes every [`RELOAD_EVERY`];
//!   on a change it loads the whole TLS configuration again (certificate chain, key, client CA)
//!   and new connections get it; connections already open keep theirs. A broken or mismatched new
//!   pair is logged and the previous configuration kept. At start-up the same problem is an error
//!   naming the flag, the file and the problem.
//! - `--tls-client-ca`: every client must present a certificate signed by one of the CAs in that
//!   file (mutual TLS); without it no client certificate is asked for.
//! - TCP_NODELAY on every connection, before the handshake (small request/response messages:
//!   Nagle would add ~40 ms to each).

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, anyhow};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::TlsConfig;

/// How often the certificate, key and client CA files are looked at for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// TLS handshakes in progress at once; past that, accepting waits for one to finish.
pub const MAX_HANDSHAKES: usize = 1024;

/// The port's listener, for `axum::serve`.
pub struct Port {
    tcp: TcpListener,
    tls: Option<Tls>,
    handshakes: JoinSet<Option<(Stream, SocketAddr)>>,
}

struct Tls {
    /// The configuration new connections get; replaced on reload.
    current: Arc<RwLock<Arc<ServerConfig>>>,
    handshake_timeout: Duration,
}

impl Port {
    /// Plain TCP with `tls` None; else loads the certificate, key and client CA (an error names
    /// the flag, the file and the problem) and starts watching them.
    pub fn new(tcp: TcpListener, tls: Option<&TlsConfig>) -> anyhow::Result<Port> {
        let tls = match tls {
            None => None,
            Some(config) => {
                let seen = Stamps::of(config);
                let server = load(config)?;
                let current = Arc::new(RwLock::new(Arc::new(server)));
                let watched = (config.clone(), Arc::downgrade(&current));
                std::thread::Builder::new()
                    .name("engram-tls-reload".into())
                    .spawn(move || watch(watched.0, watched.1, seen))
                    .context("cannot start the TLS reload thread")?;
                tracing::info!(
                    cert = %config.cert.display(),
                    key = %config.key.display(),
                    client_ca = ?config.client_ca.as_ref().map(|p| p.display().to_string()),
                    "TLS on: the port speaks only TLS"
                );
                Some(Tls { current, handshake_timeout: config.handshake_timeout })
            }
        };
        Ok(Port { tcp, tls, handshakes: JoinSet::new() })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl axum::serve::Listener for Port {
    type Io = Stream;
    type Addr = SocketAddr;

    /// Cancel-safe (axum drops it on shutdown): a TCP accept and a finished handshake both are.
    async fn accept(&mut self) -> (Stream, SocketAddr) {
        let Port { tcp, tls, handshakes } = self;
        loop {
            let Some(tls) = tls else {
                match TcpListener::accept(tcp).await {
                    Ok((stream, addr)) => {
                        nodelay(&stream);
                        return (Stream::Plain(stream), addr);
                    }
                    Err(err) => accept_error(err).await,
                }
                continue;
            };
            tokio::select! {
                Some(done) = handshakes.join_next(), if !handshakes.is_empty() => {
                    if let Ok(Some(finished)) = done {
                        return finished;
                    }
                }
                accepted = TcpListener::accept(tcp), if handshakes.len() < MAX_HANDSHAKES => match accepted {
                    Ok((stream, addr)) => {
                        nodelay(&stream);
                        let config = tls.current.read().unwrap_or_else(PoisonError::into_inner).clone();
                        handshakes.spawn(handshake(TlsAcceptor::from(config), stream, addr, tls.handshake_timeout));
                    }
                    Err(err) => accept_error(err).await,
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

fn nodelay(stream: &TcpStream) {
    if let Err(err) = stream.set_nodelay(true) {
        tracing::warn!(error = %err, "cannot set TCP_NODELAY");
    }
}

/// As axum's own listener: a connection's own error is skipped; anything else (e.g. out of file
/// descriptors) is logged and retried after a second.
async fn accept_error(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(err.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset) {
        return;
    }
    tracing::error!(error = %err, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    addr: SocketAddr,
    timeout: Duration,
) -> Option<(Stream, SocketAddr)> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some((Stream::Tls(Box::new(tls)), addr)),
        Ok(Err(err)) => {
            tracing::debug!(peer = %addr, error = %err, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(peer = %addr, timeout_s = timeout.as_secs_f64(), "TLS handshake timed out");
            None
        }
    }
}

/// A connection on the port: plain TCP or TLS over it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// What tells a file changed: its modification time and size (None: it cannot be read).
#[derive(Debug, PartialEq, Eq)]
struct Stamps(Vec<Option<(SystemTime, u64)>>);

impl Stamps {
    fn of(config: &TlsConfig) -> Stamps {
        let files = [Some(&config.cert), Some(&config.key), config.client_ca.as_ref()];
        Stamps(
            files
                .into_iter()
                .flatten()
                .map(|path| std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len()))))
                .collect(),
        )
    }
}

/// The reload thread: until the port is dropped, loads the configuration again whenever a file's
/// stamp changed. Stamps are taken before reading, so a file still being written when it was read
/// changes again and is read again.
fn watch(config: TlsConfig, current: Weak<RwLock<Arc<ServerConfig>>>, mut seen: Stamps) {
    loop {
        std::thread::sleep(RELOAD_EVERY);
        let Some(current) = current.upgrade() else { return };
        let stamps = Stamps::of(&config);
        if stamps == seen {
            continue;
        }
        seen = stamps;
        match load(&config) {
            Ok(server) => {
                *current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(server);
                tracing::info!(cert = %config.cert.display(), "TLS: reloaded; new connections get the new certificate");
            }
            Err(err) => tracing::error!(
                error = format!("{err:#}"),
                "TLS: the changed files do not load; keeping the previous certificate and key"
            ),
        }
    }
}

/// The TLS configuration from the files.
pub fn load(config: &TlsConfig) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates("--tls-cert", &config.cert)?;
    let key = private_key(&config.key)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS: the ring provider supports no safe protocol version")?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates("--tls-client-ca", path)? {
                roots.add(cert).map_err(|e| {
                    anyhow!("--tls-client-ca {}: a certificate is not usable as a CA: {e}", path.display())
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| anyhow!("--tls-client-ca {}: {e}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder.with_single_cert(chain, key).map_err(|e| {
        let why = match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                "the private key does not belong to the certificate".to_owned()
            }
            other => other.to_string(),
        };
        anyhow!("--tls-cert {} with --tls-key {}: {why}", config.cert.display(), config.key.display())
    })?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(server)
}

fn read(flag: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow!("{flag} {}: cannot read it: {e}", path.display()))
}

/// Every CERTIFICATE block of a PEM file, in order (a server's chain: its own certificate first).
fn certificates(flag: &str, path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(flag, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("{flag} {}: not valid PEM: {e}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "{flag} {}: no PEM CERTIFICATE block in it", path.display());
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read("--tls-key", path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            anyhow!("--tls-key {}: no PEM PRIVATE KEY block in it", path.display())
        }
        other => anyhow!("--tls-key {}: not valid PEM: {other}", path.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> TlsConfig {
        TlsConfig {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            client_ca: None,
            handshake_timeout: Duration::from_secs(10),
        }
    }

    fn error(config: &TlsConfig) -> String {
        format!("{:#}", load(config).expect_err("must not load"))
    }

    #[test]
    fn unreadable_or_empty_files_are_errors_naming_the_flag_and_the_file() {
        let dir = std::env::temp_dir().join(format!("engram-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = config(&dir);
        let _ = std::fs::remove_file(&config.cert);
        let err = error(&config);
        assert!(err.starts_with("--tls-cert ") && err.contains("cert.pem: cannot read it"), "{err}");
        std::fs::write(&config.cert, "not a certificate\n").unwrap();
        let err = error(&config);
        assert!(err.contains("cert.pem: no PEM CERTIFICATE block"), "{err}");
        std::fs::write(&config.cert, "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n").unwrap();
        let err = error(&config);
        assert!(err.starts_with("--tls-cert ") && err.contains("not valid PEM"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
