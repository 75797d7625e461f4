"""Fixtures for the REST compatibility tests: the real `engram` binary on a free port, and
memtrace-sdk clients pointed at it."""

import os
import pathlib
import re
import subprocess
import tempfile
import threading
import uuid

import pytest
from memtrace import AsyncMemtrace, Memtrace

ROOT = pathlib.Path(__file__).resolve().parents[2]


def engram_bin() -> str:
    path = os.environ.get("ENGRAM_BIN") or str(ROOT / "target" / "debug" / "engram")
    if not os.path.exists(path):
        raise RuntimeError(f"{path} does not exist: run `cargo build -p engram-server` (make test does)")
    return path


class EngramServer:
    def __init__(self, *args: str):
        self.tmp = tempfile.TemporaryDirectory()
        self.data_dir = pathlib.Path(self.tmp.name)
        env = dict(os.environ, ENGRAM_LOG_LEVEL="warn")
        env.pop("DATABASE_URL", None)
        self.proc = subprocess.Popen(
            [engram_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir), *args],
            stdout=subprocess.PIPE, stderr=None, text=True, env=env,
        )
        found = threading.Event()
        self.addr = None

        def read():
            for line in self.proc.stdout:
                m = re.match(r"engram: listening on (\S+)", line)
                if m:
                    self.addr = m.group(1)
                    found.set()
        threading.Thread(target=read, daemon=True).start()
        if not found.wait(60):
            self.stop()
            raise RuntimeError("engram did not report its address within 60 s")
        self.url = f"http://{self.addr}"
        self.admin_key = (self.data_dir / "admin.key").read_text().strip()

    def cli(self, *args: str) -> str:
        out = subprocess.run([engram_bin(), *args, "--data-dir", str(self.data_dir)],
                             capture_output=True, text=True, check=True)
        return out.stdout.strip()

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.tmp.cleanup()


@pytest.fixture(scope="session")
def server():
    s = EngramServer()
    yield s
    s.stop()


@pytest.fixture
def client(server):
    with Memtrace(server.url, server.admin_key) as c:
        yield c


@pytest.fixture
def async_client_factory(server):
    return lambda: AsyncMemtrace(server.url, server.admin_key)


@pytest.fixture
def name():
    """A unique agent name per test."""
    return f"agent-{uuid.uuid4().hex[:10]}"
