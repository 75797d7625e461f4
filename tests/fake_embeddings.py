#!/usr/bin/env python3
"""A small OpenAI-compatible embeddings server for the tests (standard library only): POST
/v1/embeddings {"model", "input": [texts]} answers {"data": [{"embedding", "index"}], "model"}.
Vectors are deterministic: 16 dimensions, each word of a text adds 1 to the dimension of its hash.

    python3 tests/fake_embeddings.py [--mode normal|slow|flaky]   (prints "listening on <port>")

slow: every answer waits 3 s. flaky: the first request of each text batch answers 500, the retry
succeeds. Every request is counted; GET /count answers the count."""

import argparse
import hashlib
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIM = 16
requests = 0
failed_once = set()


def vector(text: str) -> list:
    v = [0.0] * DIM
    for word in text.lower().split():
        v[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIM] += 1.0
    if not any(v):
        v[0] = 1.0
    return v


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer(200, {"count": requests})

    def do_POST(self):
        global requests
        requests += 1
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if self.path != "/v1/embeddings":
            return self.answer(404, {"error": "not found"})
        if MODE == "slow":
            time.sleep(3)
        key = tuple(texts)
        if MODE == "flaky" and key not in failed_once:
            failed_once.add(key)
            return self.answer(500, {"error": "try again"})
        data = [{"object": "embedding", "index": i, "embedding": vector(t)} for i, t in reversed(list(enumerate(texts)))]
        self.answer(200, {"object": "list", "model": body.get("model"), "data": data})


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="normal", choices=["normal", "slow", "flaky"])
    MODE = parser.parse_args().mode
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()
