//! TLS on the port, through the real binary with certificates made here (rcgen): gRPC (tonic) and
//! REST (reqwest, and HTTP/1.1 and HTTP/2 by hand) over TLS with ALPN; a plaintext client gets no
//! answer; the certificate and key reloaded when their files change (new connections see the new
//! certificate, open ones keep working, a broken or mismatched pair keeps the old one); bad files at
//! start-up; mutual TLS; a client that never sends its ClientHello holds up nobody.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engram_tests::{Clients, Server, engram_bin, pb};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

// ---- certificates -----------------------------------------------------------------------------

/// A test certificate authority.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, PEM.
#[derive(Clone)]
struct Pair {
    cert: String,
    key: String,
}

impl Pair {
    fn der(&self) -> Vec<u8> {
        CertificateDer::from_pem_slice(self.cert.as_bytes()).expect("certificate").to_vec()
    }
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca { pem: cert.pem(), issuer: Issuer::new(params, key) }
    }

    /// A server certificate for localhost and 127.0.0.1.
    fn server(&self) -> Pair {
        self.issue(&["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate.
    fn client(&self, name: &str) -> Pair {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Pair {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.issuer).expect("certificate");
        Pair { cert: cert.pem(), key: key.serialize_pem() }
    }
}

// ---- the server and its clients ---------------------------------------------------------------

/// `engram serve` with --tls-cert/--tls-key in a directory of its own.
struct TlsServer {
    server: Server,
    cert: PathBuf,
    key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TlsServer {
    fn start(pair: &Pair, extra: &[&str]) -> TlsServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
        std::fs::write(&cert, &pair.cert).unwrap();
        std::fs::write(&key, &pair.key).unwrap();
        let mut args = vec!["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
        args.extend_from_slice(extra);
        TlsServer { server: Server::start(&args), cert, key, _dir: dir }
    }

    /// Overwrites the certificate and key files in place, as an operator (or cert-manager) would.
    fn install(&self, pair: &Pair) {
        std::fs::write(&self.cert, &pair.cert).unwrap();
        std::fs::write(&self.key, &pair.key).unwrap();
    }

    fn https(&self) -> String {
        format!("https://{}", self.server.addr)
    }

    /// A gRPC channel trusting `ca`, presenting `identity` if any.
    async fn channel(&self, ca: &Ca, identity: Option<&Pair>) -> Result<Channel, tonic::transport::Error> {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca.pem)).domain_name("localhost");
        if let Some(pair) = identity {
            tls = tls.identity(Identity::from_pem(&pair.cert, &pair.key));
        }
        Endpoint::from_shared(self.https())
            .unwrap()
            .connect_timeout(Duration::from_secs(5))
            .tls_config(tls)?
            .connect()
            .await
    }

    /// A TLS connection (ALPN as given), trusting `ca`.
    async fn connect(&self, ca: &Ca, identity: Option<&Pair>, alpn: &[&[u8]]) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.server.addr).await?;
        let connector = TlsConnector::from(Arc::new(client_config(ca, identity, alpn)));
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await
    }

    /// The certificate a new connection is shown.
    async fn peer_certificate(&self, ca: &Ca) -> Vec<u8> {
        let tls = self.connect(ca, None, &[b"http/1.1"]).await.expect("TLS handshake");
        peer_certificate(&tls)
    }

    /// Waits (up to 15 s) until new connections are shown `pair`'s certificate.
    async fn wait_for_certificate(&self, ca: &Ca, pair: &Pair) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.peer_certificate(ca).await != pair.der() {
            assert!(Instant::now() < deadline, "new connections still get the old certificate after 15 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn client_config(ca: &Ca, identity: Option<&Pair>, alpn: &[&[u8]]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(pair) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(pair.cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(pair.key.as_bytes()).unwrap(),
            )
            .unwrap(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

fn peer_certificate(tls: &TlsStream<TcpStream>) -> Vec<u8> {
    tls.get_ref().1.peer_certificates().expect("the server sent a certificate")[0].to_vec()
}

/// `GET /health` over HTTP/1.1 on an open connection (kept alive): the status line, or the error.
async fn health(stream: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> std::io::Result<String> {
    stream.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n").await?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    // Headers, then Content-Length bytes of body.
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed without an answer"));
        }
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return Ok(head.lines().next().unwrap_or_default().to_owned());
            }
        }
    }
}

/// Whether a TLS client (`identity` or none) gets `/health` answered: a handshake, then a request.
async fn answered(server: &TlsServer, ca: &Ca, identity: Option<&Pair>) -> bool {
    let Ok(mut tls) = server.connect(ca, identity, &[b"http/1.1"]).await else { return false };
    matches!(health(&mut tls).await, Ok(status) if status == "HTTP/1.1 200 OK")
}

async fn register(clients: &mut Clients, name: &str) -> Result<pb::Agent, tonic::Status> {
    let request = pb::RegisterAgentRequest { name: name.into(), ..Default::default() };
    clients.agents.register_agent(request).await.map(|r| r.into_inner())
}

fn reqwest_client(ca: &Ca, identity: Option<&Pair>) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls(client_config(ca, identity, &[b"http/1.1"]))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

// ---- tests ------------------------------------------------------------------------------------

/// gRPC and REST (HTTP/1.1 and HTTP/2, as ALPN chose) work over TLS on the one port; a plaintext
/// client of either gets no answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_rest_over_tls_and_nothing_in_plaintext() {
    let ca = Ca::new("engram test CA");
    let tls = TlsServer::start(&ca.server(), &[]);
    let key = tls.server.admin_key.clone();

    // gRPC (tonic, h2 by ALPN).
    let channel = tls.channel(&ca, None).await.expect("gRPC over TLS connects");
    let mut clients = Clients::new(channel.clone(), Some(&key));
    let agent = register(&mut clients, "secure").await.expect("RegisterAgent over TLS");
    let mut grpc_health = tonic_health::pb::health_client::HealthClient::new(channel);
    grpc_health.check(tonic_health::pb::HealthCheckRequest { service: String::new() }).await.expect("health over TLS");

    // REST with reqwest (HTTP/1.1 over rustls): the agent gRPC made.
    let http = reqwest_client(&ca, None);
    let url = format!("https://localhost:{}/api/v1/agents/{}", tls.server.addr.port(), agent.id);
    let response = http.get(&url).header("x-api-key", &key).send().await.expect("REST over TLS");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["name"], "secure", "{body}");

    // ALPN: h2 when the client offers it, http/1.1 otherwise; both are served.
    let mut h1 = tls.connect(&ca, None, &[b"http/1.1"]).await.unwrap();
    assert_eq!(h1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(health(&mut h1).await.unwrap(), "HTTP/1.1 200 OK");
    let h2 = tls.connect(&ca, None, &[b"h2", b"http/1.1"]).await.unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(h2))
            .await
            .expect("HTTP/2 over TLS");
    tokio::spawn(connection);
    let request =
        hyper::Request::get(format!("https://localhost:{}/api/v1/agents/{}", tls.server.addr.port(), agent.id))
            .header("x-api-key", &key)
            .body(http_body_util::Empty::<hyper::body::Bytes>::new())
            .unwrap();
    let response = sender.send_request(request).await.expect("REST over HTTP/2 and TLS");
    assert_eq!(response.status(), 200);

    // Plaintext: gRPC fails, and an HTTP/1.1 request gets no HTTP answer.
    let plain = Endpoint::from_shared(tls.server.url()).unwrap().connect_timeout(Duration::from_secs(5));
    if let Ok(channel) = plain.connect().await {
        // The server answers the plaintext preface with a TLS alert and closes: the client sees
        // a closed connection (Cancelled, Unavailable) or the alert as a bad frame (Internal).
        let err = register(&mut Clients::new(channel, Some(&key)), "plain").await.unwrap_err();
        assert!(matches!(err.code(), Code::Cancelled | Code::Unavailable | Code::Unknown | Code::Internal), "{err:?}");
    }
    let mut raw = TcpStream::connect(tls.server.addr).await.unwrap();
    raw.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a plaintext connection open");
    assert!(!answer.starts_with(b"HTTP/"), "a plaintext request was answered: {:?}", String::from_utf8_lossy(&answer));

    // Graceful shutdown works on TLS connections too (the open ones get GOAWAY / close).
    // Idle connections are closed at once, well before --shutdown-timeout (20 s) would stop it.
    let mut server = tls.server;
    let started = Instant::now();
    let exit = tokio::task::spawn_blocking(move || server.terminate()).await.unwrap();
    assert!(exit.success(), "engram exited with {exit:?} after SIGTERM");
    assert!(started.elapsed() < Duration::from_secs(10), "the drain waited {:?}", started.elapsed());
    drop((h1, clients, sender));
}

/// New connections get a new certificate and key once their files change; open connections keep
/// working; a broken or mismatched pair is not taken (the last good one stays) until a good one
/// comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_and_key_are_reloaded_when_their_files_change() {
    let ca = Ca::new("engram test CA");
    let (first, second, third) = (ca.server(), ca.server(), ca.server());
    let tls = TlsServer::start(&first, &[]);
    let key = tls.server.admin_key.clone();

    let mut old = tls.connect(&ca, None, &[b"http/1.1"]).await.unwrap();
    assert_eq!(peer_certificate(&old), first.der());
    assert_eq!(health(&mut old).await.unwrap(), "HTTP/1.1 200 OK");
    let mut old_grpc = Clients::new(tls.channel(&ca, None).await.unwrap(), Some(&key));
    register(&mut old_grpc, "before").await.unwrap();

    tls.install(&second);
    tls.wait_for_certificate(&ca, &second).await;
    // The connections opened before keep working, on the certificate they were shown.
    assert_eq!(health(&mut old).await.unwrap(), "HTTP/1.1 200 OK");
    assert_eq!(peer_certificate(&old), first.der());
    register(&mut old_grpc, "after").await.expect("an open gRPC connection keeps working after a reload");

    // A broken key, then a key of another certificate: neither is taken.
    std::fs::write(&tls.key, "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n").unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(tls.peer_certificate(&ca).await, second.der(), "a broken key replaced the good pair");
    std::fs::write(&tls.cert, &third.cert).unwrap();
    std::fs::write(&tls.key, &first.key).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(tls.peer_certificate(&ca).await, second.der(), "a mismatched pair replaced the good one");
    let mut clients = Clients::new(tls.channel(&ca, None).await.unwrap(), Some(&key));
    register(&mut clients, "still-served").await.expect("served on the last good pair");

    // A good pair again is taken.
    tls.install(&third);
    tls.wait_for_certificate(&ca, &third).await;
    assert!(answered(&tls, &ca, None).await);
}

/// A missing, unreadable or mismatched file at start-up stops `engram serve` with an error naming
/// the flag and the file; so do incomplete flags.
#[test]
fn bad_tls_files_at_start_up_are_errors_naming_the_flag_and_the_file() {
    let ca = Ca::new("engram test CA");
    let (good, other) = (ca.server(), ca.server());
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(path("good.crt"), &good.cert).unwrap();
    std::fs::write(path("good.key"), &good.key).unwrap();
    std::fs::write(path("other.key"), &other.key).unwrap();
    std::fs::write(path("junk.pem"), "hello\n").unwrap();

    let serve = |args: &[&str]| {
        let output = std::process::Command::new(engram_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(args)
            .env_remove("DATABASE_URL")
            .env("ENGRAM_LOG_LEVEL", "warn")
            .output()
            .expect("run engram");
        assert!(!output.status.success(), "engram serve {args:?} started");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let (good_crt, good_key) = (path("good.crt"), path("good.key"));
    let (missing, junk, other_key) = (path("missing.crt"), path("junk.pem"), path("other.key"));
    let cases: Vec<(Vec<&str>, Vec<String>)> = vec![
        (
            vec!["--tls-cert", &missing, "--tls-key", &good_key],
            vec!["--tls-cert".into(), path("missing.crt"), "cannot read it".into()],
        ),
        (
            vec!["--tls-cert", &good_crt, "--tls-key", &junk],
            vec!["--tls-key".into(), path("junk.pem"), "no PEM PRIVATE KEY".into()],
        ),
        (
            vec!["--tls-cert", &junk, "--tls-key", &good_key],
            vec!["--tls-cert".into(), path("junk.pem"), "no PEM CERTIFICATE".into()],
        ),
        (
            vec!["--tls-cert", &good_crt, "--tls-key", &other_key],
            vec![path("other.key"), "does not belong to the certificate".into()],
        ),
        (
            vec!["--tls-cert", &good_crt, "--tls-key", &good_key, "--tls-client-ca", &junk],
            vec!["--tls-client-ca".into(), path("junk.pem")],
        ),
        (vec!["--tls-cert", &good_crt], vec!["--tls-cert needs --tls-key".into()]),
        (vec!["--tls-client-ca", &good_crt], vec!["--tls-client-ca needs TLS".into()]),
        (
            vec!["--tls-cert", &good_crt, "--tls-key", &good_key, "--tls-handshake-timeout", "0"],
            vec!["--tls-handshake-timeout".into()],
        ),
    ];
    for (args, expected) in cases {
        let stderr = serve(&args);
        for part in expected {
            assert!(stderr.contains(&part), "engram serve {args:?}: {part:?} not in {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// --tls-client-ca: a client without a certificate, or with one from another CA, is refused; one
/// with a certificate of that CA is served (gRPC and REST).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_only_clients_with_a_certificate_of_the_ca() {
    let (server_ca, client_ca, stranger_ca) = (Ca::new("server CA"), Ca::new("client CA"), Ca::new("stranger CA"));
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("clients.crt");
    std::fs::write(&ca_file, &client_ca.pem).unwrap();
    let tls = TlsServer::start(&server_ca.server(), &["--tls-client-ca", ca_file.to_str().unwrap()]);
    let key = tls.server.admin_key.clone();
    let (member, stranger) = (client_ca.client("agent-runner"), stranger_ca.client("agent-runner"));

    assert!(!answered(&tls, &server_ca, None).await, "a client without a certificate was served");
    assert!(!answered(&tls, &server_ca, Some(&stranger)).await, "a certificate of another CA was accepted");
    assert!(answered(&tls, &server_ca, Some(&member)).await, "the CA's client certificate was refused");

    // gRPC: refused without a certificate, served with the right one.
    match tls.channel(&server_ca, None).await {
        Err(_) => {}
        Ok(channel) => {
            register(&mut Clients::new(channel, Some(&key)), "anonymous")
                .await
                .expect_err("served without a certificate");
        }
    }
    let channel = tls.channel(&server_ca, Some(&member)).await.expect("mutual TLS connects");
    register(&mut Clients::new(channel, Some(&key)), "mutual").await.expect("served with the CA's certificate");

    // REST with reqwest, with and without the certificate.
    let url = format!("https://localhost:{}/ready", tls.server.addr.port());
    let response = reqwest_client(&server_ca, Some(&member)).get(&url).send().await.expect("REST with mutual TLS");
    assert_eq!(response.status(), 200);
    assert!(reqwest_client(&server_ca, None).get(&url).send().await.is_err());
}

/// Clients that connect and never send a ClientHello (or stop halfway through) do not hold up
/// another client's handshake, and are closed after --tls-handshake-timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_holds_up_nobody_and_times_out() {
    let ca = Ca::new("engram test CA");
    let tls = TlsServer::start(&ca.server(), &["--tls-handshake-timeout", "2"]);
    assert!(answered(&tls, &ca, None).await);

    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(TcpStream::connect(tls.server.addr).await.unwrap());
    }
    // One more sends the first bytes of a TLS record, then nothing.
    let mut halfway = TcpStream::connect(tls.server.addr).await.unwrap();
    halfway.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).await.unwrap();
    stalled.push(halfway);

    let started = Instant::now();
    assert!(answered(&tls, &ca, None).await, "a handshake behind stalled clients failed");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "a handshake waited behind stalled clients: {took:?}");

    // The stalled connections are closed once the timeout passes (and not before).
    let started = Instant::now();
    for mut stream in stalled {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await;
        assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "a stalled connection was not closed: {read:?}");
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1000), "stalled connections were closed before the timeout: {took:?}");
    assert!(took < Duration::from_secs(5), "stalled connections outlived the 2 s timeout: {took:?}");
    assert!(answered(&tls, &ca, None).await);
}
