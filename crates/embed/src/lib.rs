//! Engram's embedders, chosen per deployment (settings): a local sentence-transformers model run
//! offline with candle ([`local`]), or an OpenAI-compatible `/v1/embeddings` endpoint ([`http`]).
//! (Clients may also send their own vectors; that needs no embedder.) This crate knows the domain
//! types only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use engram_core::{Error, Result};

pub mod http;
pub mod local;

/// Which embedder a server runs.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedderConfig {
    /// A model directory (config.json, model.safetensors, tokenizer.json).
    Local { model_dir: PathBuf },
    /// `base` like `http://localhost:11434/v1`.
    Http { base: String, model: String, api_key: Option<String>, timeout: Duration },
}

/// An embedder: texts to vectors.
pub enum Embedder {
    Local(Arc<local::LocalModel>),
    Http(http::HttpEmbedder),
}

impl Embedder {
    pub fn open(config: &EmbedderConfig) -> Result<Self> {
        Ok(match config {
            EmbedderConfig::Local { model_dir } => Self::Local(Arc::new(local::LocalModel::open(model_dir)?)),
            EmbedderConfig::Http { base, model, api_key, timeout } => {
                Self::Http(http::HttpEmbedder::new(base, model, api_key.clone(), *timeout)?)
            }
        })
    }

    /// What the server reports: `local:<model dir name>` or `http:<model>`.
    pub fn describe(&self) -> String {
        match self {
            Self::Local(m) => format!("local:{}", m.name()),
            Self::Http(h) => format!("http:{}", h.name()),
        }
    }

    /// One vector per text, in order.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>> {
        match self {
            Self::Local(model) => {
                let model = model.clone();
                tokio::task::spawn_blocking(move || model.embed(&texts))
                    .await
                    .map_err(|e| Error::internal(format!("embedding task: {e}")))?
            }
            Self::Http(endpoint) => endpoint.embed(&texts).await,
        }
    }
}
