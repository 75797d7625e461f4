#!/usr/bin/env python3
"""Writes crates/embed/tests/fixtures/minilm_reference.json: all-MiniLM-L6-v2 vectors of a few
sentences computed by an implementation independent of Engram's (candle): the BERT encoder written
out in numpy from the model's safetensors, HuggingFace `tokenizers` for the tokens, attention-masked
mean pooling and L2 normalization, as sentence-transformers configures this model (modules.json:
Transformer, Pooling mean, Normalize). Run once; the JSON is committed.

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy safetensors tokenizers
    /tmp/ref/bin/python scripts/reference_embeddings.py "$(bash scripts/model.sh)"
"""

import json
import math
import pathlib
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "Restarted Redis on prod-web-01, memory usage dropped to normal",
    "Found memory leak in Redis connection pool on prod-web-01",
    "Decided to use argon2id for password hashing",
    "The cat sat on the mat.",
    "Caroline: I went to the LGBTQ support group yesterday and it was so powerful.",
    "Über die Grenze: the café menu parser handles UTF-8 now",
    "a",
    "Tests for the billing API fail on leap years because February has 29 days in 2024, "
    "which the date parser rejected; fixed by using the calendar library instead of hand-written rules.",
]


def layer_norm(x, w, b, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def encode(weights, config, ids):
    t = lambda name: weights[name].astype(np.float64)
    n = len(ids)
    h = t("embeddings.word_embeddings.weight")[ids] + t("embeddings.position_embeddings.weight")[:n] \
        + t("embeddings.token_type_embeddings.weight")[0]
    h = layer_norm(h, t("embeddings.LayerNorm.weight"), t("embeddings.LayerNorm.bias"))
    heads = config["num_attention_heads"]
    d = config["hidden_size"] // heads
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        lin = lambda x, name: x @ t(p + name + ".weight").T + t(p + name + ".bias")
        q = lin(h, "attention.self.query").reshape(n, heads, d).transpose(1, 0, 2)
        k = lin(h, "attention.self.key").reshape(n, heads, d).transpose(1, 0, 2)
        v = lin(h, "attention.self.value").reshape(n, heads, d).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(n, heads * d)
        h = layer_norm(lin(context, "attention.output.dense") + h,
                       t(p + "attention.output.LayerNorm.weight"), t(p + "attention.output.LayerNorm.bias"))
        inner = gelu(lin(h, "intermediate.dense"))
        h = layer_norm(lin(inner, "output.dense") + h, t(p + "output.LayerNorm.weight"), t(p + "output.LayerNorm.bias"))
    return h


def main():
    model = pathlib.Path(sys.argv[1])
    config = json.loads((model / "config.json").read_text())
    weights = load_file(str(model / "model.safetensors"))
    weights = {k.removeprefix("bert."): v for k, v in weights.items()}
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(256)
    out = []
    for sentence in SENTENCES:
        ids = tokenizer.encode(sentence).ids
        mean = encode(weights, config, ids).mean(0)
        vector = mean / np.linalg.norm(mean)
        out.append({"text": sentence, "vector": [round(float(x), 7) for x in vector]})
    target = pathlib.Path(__file__).resolve().parents[1] / "crates/embed/tests/fixtures/minilm_reference.json"
    target.write_text(json.dumps({"model": "all-MiniLM-L6-v2", "method": "numpy BERT, mean pooling, L2",
                                  "sentences": out}, indent=0) + "\n")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
