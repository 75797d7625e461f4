//! A BERT-family sentence-transformers model run on the CPU with candle, fully offline: the
//! directory of a model as sentence-transformers saves it (`config.json`, `model.safetensors`,
//! `tokenizer.json`, optionally `sentence_bert_config.json` for the maximum sequence length).
//! Sentence vectors are the attention-masked mean of the last hidden states, normalized
//! (all-MiniLM-L6-v2, bge-small and the like).

use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use engram_core::{Error, Result};

/// Texts per forward pass.
const BATCH: usize = 32;

pub struct LocalModel {
    name: String,
    dim: usize,
    model: BertModel,
    /// The tokenizer (its padding state is per call: kept behind a lock).
    tokenizer: Mutex<Tokenizer>,
}

fn error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("local embedding model: {what}: {e}"))
}

fn read(dir: &Path, file: &str) -> Result<Vec<u8>> {
    std::fs::read(dir.join(file)).map_err(|e| {
        Error::FailedPrecondition(format!(
            "embedding model: cannot read {}: {e} (point --embedding-model-dir at a sentence-transformers model \
             directory with config.json, model.safetensors and tokenizer.json)",
            dir.join(file).display()
        ))
    })
}

impl LocalModel {
    /// Loads the model in `dir` (no network).
    pub fn open(dir: &Path) -> Result<Self> {
        let raw: serde_json::Value =
            serde_json::from_slice(&read(dir, "config.json")?).map_err(|e| error("config.json", e))?;
        let dim = raw["hidden_size"].as_u64().ok_or_else(|| error("config.json", "no hidden_size"))? as usize;
        let config: Config = serde_json::from_value(raw).map_err(|e| error("config.json", e))?;
        let max_len = std::fs::read(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["max_seq_length"].as_u64())
            .unwrap_or(256) as usize;
        let weights = read(dir, "model.safetensors")?;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| error("model.safetensors", e))?;
        let model = BertModel::load(vb, &config).map_err(|e| error("loading the weights", e))?;
        let mut tokenizer =
            Tokenizer::from_bytes(read(dir, "tokenizer.json")?).map_err(|e| error("tokenizer.json", e))?;
        tokenizer.with_padding(Some(PaddingParams { strategy: PaddingStrategy::BatchLongest, ..Default::default() }));
        tokenizer
            .with_truncation(Some(TruncationParams { max_length: max_len, ..Default::default() }))
            .map_err(|e| error("tokenizer truncation", e))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "local".into());
        Ok(Self { name, dim, model, tokenizer: Mutex::new(tokenizer) })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// One normalized vector per text (CPU-bound: call it off the async workers).
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.embed_batch(chunk)?);
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let encodings = {
            let tokenizer = self.tokenizer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| error("tokenizing", e))?
        };
        let device = &Device::Cpu;
        let rows = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<u32>| -> Result<Tensor> {
            let rows = encodings
                .iter()
                .map(|e| Tensor::new(f(e).as_slice(), device))
                .collect::<candle_core::Result<Vec<_>>>()
                .map_err(|e| error("input", e))?;
            Tensor::stack(&rows, 0).map_err(|e| error("input", e))
        };
        let ids = rows(&|e| e.get_ids().to_vec())?;
        let types = rows(&|e| e.get_type_ids().to_vec())?;
        let mask = rows(&|e| e.get_attention_mask().to_vec())?;
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            // Mean over the real tokens (mask 1), then length 1.
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(|e| error("running the model", e))
    }
}
