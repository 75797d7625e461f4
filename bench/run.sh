#!/usr/bin/env bash
# Engram benchmark (`make bench`): builds the release server and engram-bench, then for each scale
# starts a fresh `engram serve` (embedded SQLite, default settings) through engram-bench, loads the
# store to that many memories (AddMemories x 500, 4 clients), runs every scenario and prints the
# table, then the REST overhead versus gRPC of the twin pairs. Scenarios, in this order (reads on the
# store as loaded, then the writes, which grow it):
#   recall        gRPC ListMemories of a random agent, since 24h, limit 100
#   search        gRPC SearchMemories, one random tag, EPISODIC, since 7d, limit 100
#   context       gRPC BuildContext of a random agent, since 7d, max_tokens 4000
#   rest-recall   REST twin of recall: GET /api/v1/memories?agent_id=..&since=24h&limit=100&order=desc
#   rest-search   REST twin of search: POST /api/v1/search {"tags": [tag], "memory_types": ["episodic"],
#                 "since": "7d", "limit": 100}
#   batch-ingest  gRPC AddMemories, 500 new memories per request
#   unary-add     gRPC AddMemory, one new memory per request
#   rest-add      REST twin of unary-add: POST /api/v1/memories, one new episodic memory per request
# The REST ones use HTTP/1.1 keep-alive connections to the same port (one per request in flight) and
# read the whole JSON answer. REST overhead = (gRPC req/s / REST req/s - 1) x 100 %, for rest-add vs
# unary-add, rest-recall vs recall, rest-search vs search, with the p50 latency ratio (REST / gRPC);
# also a JSON line with scenario "rest-overhead".
#
# Results: bench/results/<scale>.json  one JSON object per line (load, each scenario, rest-overhead),
#                                      overwritten
#          bench/results/<scale>.txt   the printed table
#
# Environment (all optional):
#   BENCH_SCALES            store sizes to run, space-separated         (default "100000 1000000")
#   BENCH_DIR               parent of the per-scale data dirs; <dir>/<scale> is wiped before each
#                           scale                                         (default /tmp/engram-bench)
#   BENCH_SECONDS           measured seconds per scenario                 (default 10)
#   BENCH_WARMUP            unmeasured warm-up seconds per scenario       (default 1)
#   BENCH_CONNECTIONS       gRPC connections (tonic Channels), round robin; also the number of
#                           HTTP/1.1 clients of the REST scenarios        (default 4)
#   BENCH_LOAD_CONCURRENCY  concurrent AddMemories clients of the load    (default 4)
#   BENCH_CONCURRENCY       --concurrency overrides, e.g. "unary-add=64,recall=16" or "8"
#                           (default: batch-ingest 4, unary-add/rest-add 32, recall/search/context/
#                           rest-recall/rest-search 8)
#   BENCH_SCENARIOS         comma-separated subset of the scenarios       (default: all)
#   BENCH_SERVER_ARGS       extra `engram serve` flags, space-separated, e.g. "--sqlite-sync=normal"
#   BENCH_RESULTS           results directory                             (default bench/results)
#   BENCH_KEEP_DATA         1: keep the data dirs afterwards              (default: delete them)
#   BENCH_LATENCY_PASS      0: skip the second pass of the read scenarios (recall, search, context,
#                           rest-recall, rest-search) at concurrency 1
#   BENCH_SKIP_BUILD        1: use the binaries already built             (default: build)
#   CARGO_TARGET_DIR        honoured to find the binaries
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCALES="${BENCH_SCALES:-100000 1000000}"
BENCH_DIR="${BENCH_DIR:-/tmp/engram-bench}"
SECONDS_PER_SCENARIO="${BENCH_SECONDS:-10}"
WARMUP="${BENCH_WARMUP:-1}"
CONNECTIONS="${BENCH_CONNECTIONS:-4}"
LOAD_CONCURRENCY="${BENCH_LOAD_CONCURRENCY:-4}"
RESULTS="${BENCH_RESULTS:-$ROOT/bench/results}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
ENGRAM="$TARGET/release/engram"
BENCH="$TARGET/release/engram-bench"

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    echo "==> cargo build --release -p engram-server -p engram-bench" >&2
    cargo build --release -p engram-server -p engram-bench
fi
for bin in "$ENGRAM" "$BENCH"; do
    [[ -x "$bin" ]] || { echo "error: $bin is missing (build it or unset BENCH_SKIP_BUILD)" >&2; exit 1; }
done

extra=()
if [[ -n "${BENCH_CONCURRENCY:-}" ]]; then
    extra+=(--concurrency "$BENCH_CONCURRENCY")
fi
if [[ -n "${BENCH_SCENARIOS:-}" ]]; then
    extra+=(--scenarios "$BENCH_SCENARIOS")
fi
if [[ -n "${BENCH_SERVER_ARGS:-}" ]]; then
    read -r -a server_args <<<"$BENCH_SERVER_ARGS"
    for arg in "${server_args[@]}"; do
        extra+=("--server-arg=$arg")
    done
fi

mkdir -p "$RESULTS" "$BENCH_DIR"
for scale in $SCALES; do
    [[ "$scale" =~ ^[0-9]+$ ]] || { echo "error: BENCH_SCALES: $scale is not a number" >&2; exit 1; }
    data="$BENCH_DIR/$scale"
    rm -rf -- "$data"
    json="$RESULTS/$scale.json"
    table="$RESULTS/$scale.txt"
    rm -f -- "$json"
    echo "==> scale $scale: data dir $data, $SECONDS_PER_SCENARIO s per scenario" >&2
    {
        echo "# engram-bench, scale $scale, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "# git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
        "$BENCH" \
            --server-bin "$ENGRAM" --data-dir "$data" \
            --connections "$CONNECTIONS" --json "$json" \
            all --memories "$scale" --load-concurrency "$LOAD_CONCURRENCY" \
            --duration "$SECONDS_PER_SCENARIO" --warmup "$WARMUP" \
            ${extra[@]+"${extra[@]}"}
    } | tee "$table"
    # Latency without queueing: the read scenarios again at concurrency 1 on the same store.
    if [[ "${BENCH_LATENCY_PASS:-1}" == 1 ]]; then
        echo "# latency pass: concurrency 1" | tee -a "$table"
        "$BENCH" \
            --server-bin "$ENGRAM" --data-dir "$data" \
            --connections 1 --json "$json" \
            run --scenarios recall,search,context,rest-recall,rest-search --concurrency 1 \
            --duration "$SECONDS_PER_SCENARIO" --warmup "$WARMUP" | tee -a "$table"
    fi
    if [[ "${BENCH_KEEP_DATA:-0}" != 1 ]]; then
        rm -rf -- "$data"
    fi
done
echo "==> results in $RESULTS" >&2
