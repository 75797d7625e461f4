//! An OpenAI-compatible embeddings endpoint (`POST <base>/embeddings`: OpenAI, Ollama, TEI, vLLM,
//! LM Studio…), with a timeout per call, retries with backoff on connection errors, 429 and 5xx,
//! and an error that says which endpoint failed and how.

use std::time::Duration;

use serde::Deserialize;

use engram_core::{Error, Result};

/// Attempts per call (the first and two retries), waiting 250 ms, then 1 s.
const ATTEMPTS: u32 = 3;

pub struct HttpEmbedder {
    url: String,
    model: String,
    api_key: Option<String>,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    embedding: Vec<f32>,
    #[serde(default)]
    index: Option<usize>,
}

impl HttpEmbedder {
    /// `base` is the API's base URL (e.g. `http://localhost:11434/v1`); calls POST `<base>/embeddings`.
    pub fn new(base: &str, model: &str, api_key: Option<String>, timeout: Duration) -> Result<Self> {
        // reqwest's rustls needs a process-wide crypto provider; ring (no C toolchain needed).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| Error::internal(format!("embedding endpoint client: {e}")))?;
        let url = format!("{}/embeddings", base.trim_end_matches('/'));
        Ok(Self { url, model: model.to_owned(), api_key, client })
    }

    pub fn name(&self) -> &str {
        &self.model
    }

    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(250 * 4u64.pow(attempt - 1))).await;
            }
            match self.call(texts).await {
                Ok(vectors) => return Ok(vectors),
                Err(Failure::Final(e)) => return Err(e),
                Err(Failure::Retry(message)) => last = message,
            }
        }
        Err(Error::Unavailable(format!(
            "embedding endpoint {} is unavailable after {ATTEMPTS} attempts: {last}",
            self.url
        )))
    }

    async fn call(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, Failure> {
        let mut request = self.client.post(&self.url).json(&serde_json::json!({ "model": self.model, "input": texts }));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| {
            Failure::Retry(if e.is_timeout() { format!("no answer within the timeout ({e})") } else { e.to_string() })
        })?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Failure::Retry(format!("HTTP {status}")));
        }
        let body = response.bytes().await.map_err(|e| Failure::Retry(e.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            return Err(Failure::Final(Error::FailedPrecondition(format!(
                "embedding endpoint {} refused the request: HTTP {status}: {text}",
                self.url
            ))));
        }
        let parsed: Response = serde_json::from_slice(&body).map_err(|e| {
            Failure::Final(Error::internal(format!("embedding endpoint {}: unexpected answer: {e}", self.url)))
        })?;
        if parsed.data.len() != texts.len() {
            return Err(Failure::Final(Error::internal(format!(
                "embedding endpoint {}: {} vectors for {} texts",
                self.url,
                parsed.data.len(),
                texts.len()
            ))));
        }
        let mut items = parsed.data;
        if items.iter().all(|i| i.index.is_some()) {
            items.sort_by_key(|i| i.index);
        }
        Ok(items.into_iter().map(|i| i.embedding).collect())
    }
}

enum Failure {
    /// Worth another attempt (connection, timeout, 429, 5xx).
    Retry(String),
    Final(Error),
}
