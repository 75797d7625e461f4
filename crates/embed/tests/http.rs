//! The OpenAI-compatible embedder against a real local server (`tests/fake_embeddings.py`,
//! started by the test): vectors in input order, retries past a failing call, a clear error when
//! the endpoint is down or too slow.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engram_core::Error;
use engram_embed::http::HttpEmbedder;

struct FakeServer {
    child: Child,
    port: u16,
}

impl FakeServer {
    fn start(mode: &str) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fake_embeddings.py");
        let mut child = Command::new("python3")
            .args([script, "--mode", mode])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs tests/fake_embeddings.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("listening on ").expect("the fake server's port").parse().unwrap();
        Self { child, port }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn vectors_come_back_in_input_order_and_a_failing_call_is_retried() {
    let server = FakeServer::start("normal");
    let embedder = HttpEmbedder::new(&server.base(), "fake", Some("secret".into()), Duration::from_secs(5)).unwrap();
    let vectors = embedder.embed(&texts(&["restart redis", "deploy the api", "restart redis"])).await.unwrap();
    assert_eq!(vectors.len(), 3);
    assert!(vectors.iter().all(|v| v.len() == 16));
    assert_eq!(vectors[0], vectors[2], "same text, same vector, whatever order the server answered in");
    assert_ne!(vectors[0], vectors[1]);

    let flaky = FakeServer::start("flaky");
    let embedder = HttpEmbedder::new(&flaky.base(), "fake", None, Duration::from_secs(5)).unwrap();
    let retried = embedder.embed(&texts(&["restart redis"])).await.unwrap();
    assert_eq!(retried[0], vectors[0], "the retry after HTTP 500 succeeded");
}

#[tokio::test]
async fn a_down_or_slow_endpoint_is_a_clear_error() {
    // Down: nothing listens on the port any more.
    let gone = FakeServer::start("normal");
    let base = gone.base();
    drop(gone);
    let embedder = HttpEmbedder::new(&base, "fake", None, Duration::from_secs(2)).unwrap();
    let started = Instant::now();
    match embedder.embed(&texts(&["hello"])).await {
        Err(Error::Unavailable(message)) => {
            assert!(message.contains(&base) && message.contains("after 3 attempts"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "gave up after {:?}", started.elapsed());

    // Slow: answers after 3 s; the timeout is 1 s per attempt.
    let slow = FakeServer::start("slow");
    let embedder = HttpEmbedder::new(&slow.base(), "fake", None, Duration::from_secs(1)).unwrap();
    let started = Instant::now();
    match embedder.embed(&texts(&["hello"])).await {
        Err(Error::Unavailable(message)) => assert!(message.contains("timeout"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(6), "gave up after {:?}", started.elapsed());
}
