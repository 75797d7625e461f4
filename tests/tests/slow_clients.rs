//! Slow or stalled clients cannot hold a connection forever (the real binary with short bounds):
//! a silent connection and one that never finishes its headers are closed after
//! `--header-timeout`; a request body that stalls ends with 408 after `--body-timeout`; a
//! well-behaved client on another connection is served meanwhile.

use std::time::{Duration, Instant};

use engram_tests::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until the server closes the connection (or 10 s pass); returns what came and when.
async fn until_closed(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept a stalled connection open for 10 s"),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), started.elapsed())
}

#[tokio::test]
async fn stalled_connections_headers_and_bodies_are_cut_off() {
    let server = Server::start(&["--header-timeout", "1", "--body-timeout", "1"]);

    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    partial.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut slow_body = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "POST /api/v1/memories HTTP/1.1\r\nHost: x\r\nx-api-key: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"agent_id\": ",
        server.admin_key
    );
    slow_body.write_all(request.as_bytes()).await.unwrap();

    // Meanwhile another client is served at once.
    let mut healthy = TcpStream::connect(server.addr).await.unwrap();
    healthy.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let (answer, took) = until_closed(&mut healthy).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(took < Duration::from_millis(900), "{took:?}");

    let (nothing, _) = until_closed(&mut silent).await;
    assert!(nothing.is_empty(), "a silent connection is closed without an answer: {nothing}");
    let (answer, _) = until_closed(&mut partial).await;
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer}");
    let (answer, _) = until_closed(&mut slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "a stalled body ends its request with 408: {answer}");
}
