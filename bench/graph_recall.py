#!/usr/bin/env python3
"""Recall of whole-org vector search (the HNSW graph past 50,000 admitted vectors) against the
exact answer, on a store that `make bench` kept (BENCH_KEEP_DATA=1).

Reads every vector of the SQLite store (`memory_vectors`) with numpy, makes queries near stored
vectors (a random stored vector plus noise), asks a running server for the top 10 over the whole
org (REST /api/v1/search with `query_embedding`, no agent: the REST surface leaves out the memory
types Memtrace does not know, so the exact answer leaves them out too) and compares with the exact
top 10 by cosine. Prints recall@10 and the latencies seen by the client.

    python3 bench/graph_recall.py --db /tmp/engram-bench/1000000/engram.db --url http://127.0.0.1:9311 \\
        --key "$(cat /tmp/engram-bench/1000000/admin.key)" [--queries 100] [--noise 0.5]

Needs numpy and httpx (not in the test requirements: a throwaway venv is enough).
"""

import argparse
import sqlite3
import time

import httpx
import numpy as np

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
HIDDEN_TYPES = (5, 6, 7, 8)  # semantic, state, action, interaction (crates/store/src/encode.rs)


def key_of(memory_id: str) -> int:
    value = 0
    for ch in memory_id.removeprefix("mem_"):
        value = value * 32 + CROCKFORD.index(ch)
    return value & ((1 << 64) - 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--noise", type=float, default=0.5, help="noise added to a stored unit vector, per value, times its scale")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    t = time.time()
    hidden = {k for (k,) in db.execute(
        f"SELECT key FROM memories WHERE memory_type IN ({','.join(map(str, HIDDEN_TYPES))}) "
        "OR (expires_at IS NOT NULL AND expires_at <= ?)", (int(time.time() * 1e6),))}
    rows = db.execute("SELECT memory_key, vector FROM memory_vectors ORDER BY memory_key").fetchall()
    keys = np.array([k for k, _ in rows if k not in hidden], dtype=np.int64)
    matrix = np.stack([np.frombuffer(v, dtype="<f4") for k, v in rows if k not in hidden])
    del rows
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    print(f"{len(keys)} vectors of {matrix.shape[1]} dimensions admitted, read in {time.time() - t:.1f} s")

    rng = np.random.default_rng(args.seed)
    found = total = 0
    latencies = []
    with httpx.Client(base_url=args.url, headers={"x-api-key": args.key}, timeout=30) as client:
        for _ in range(args.queries):
            base = matrix[rng.integers(len(keys))]
            q = base + rng.normal(0, args.noise / np.sqrt(matrix.shape[1]), matrix.shape[1]).astype(np.float32)
            q /= np.linalg.norm(q)
            exact = keys[np.argpartition(-(matrix @ q), 10)[:10]]
            t = time.perf_counter()
            r = client.post("/api/v1/search", json={"query_embedding": q.tolist(), "mode": "semantic", "limit": 10})
            latencies.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
            got = {key_of(m["id"]) for m in r.json()["results"]}
            found += len(got & set(exact.tolist()))
            total += 10
    latencies.sort()
    print(f"recall@10 {found / total:.3f} over {args.queries} queries (noise {args.noise}); client latency "
          f"p50 {latencies[len(latencies) // 2]:.1f} ms, p90 {latencies[int(len(latencies) * 0.9)]:.1f} ms")


if __name__ == "__main__":
    main()
