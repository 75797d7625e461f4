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
#   BENCH_SCALES            SQLite store sizes, space-separated; "" skips SQLite
#                                                                         (default "100000 1000000")
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
#   BENCH_PG_SCALES         store sizes of the PostgreSQL runs; "" skips them (default "100000")
#   BENCH_PG_REPLICAS       replica counts of the PostgreSQL runs         (default "1 2")
#   BENCH_PG_URL            a PostgreSQL URL where the bench may create and drop databases
#                           engram_bench_* (default $ENGRAM_TEST_DATABASE_URL, else
#                           postgres://postgres@127.0.0.1:5432/postgres, started by
#                           scripts/postgres.sh when it is down)
#   CARGO_TARGET_DIR        honoured to find the binaries
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCALES="${BENCH_SCALES-100000 1000000}"
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

# PostgreSQL: for each scale and replica count, a fresh database, `engram migrate`, N `engram serve`
# on it (the bench's connections spread over them round robin), the same load and scenarios.
PG_SCALES="${BENCH_PG_SCALES-100000}"
PG_REPLICAS="${BENCH_PG_REPLICAS:-1 2}"
if [[ -n "$PG_SCALES" ]]; then
    PG_URL="${BENCH_PG_URL:-${ENGRAM_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
    ENGRAM_TEST_DATABASE_URL="$PG_URL" bash scripts/postgres.sh
    command -v psql >/dev/null || { echo "error: psql is needed to create the bench databases" >&2; exit 1; }
    # postgres://user@host:port/db?params -> the same URL on database $1
    on_database() { python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PG_URL" "$1"; }
    for scale in $PG_SCALES; do
        [[ "$scale" =~ ^[0-9]+$ ]] || { echo "error: BENCH_PG_SCALES: $scale is not a number" >&2; exit 1; }
        for replicas in $PG_REPLICAS; do
            name="engram_bench_${scale}_r${replicas}"
            psql -q -v ON_ERROR_STOP=1 "$PG_URL" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
            db_url=$(on_database "$name")
            data="$BENCH_DIR/pg-$scale-r$replicas"
            rm -rf -- "$data"
            json="$RESULTS/pg-r$replicas-$scale.json"
            table="$RESULTS/pg-r$replicas-$scale.txt"
            rm -f -- "$json"
            echo "==> PostgreSQL, $replicas replica(s), scale $scale: database $name" >&2
            pg=(--server-bin "$ENGRAM" --data-dir "$data" --database-url "$db_url" --replicas "$replicas")
            # Planner statistics: a production server's autovacuum analyzes a growing table every
            # minute or so. Where autovacuum is off (this machine's test cluster is configured so),
            # an ANALYZE every 15 s during the load and a VACUUM ANALYZE before the scenarios
            # stand in for it; without statistics PostgreSQL plans tag queries as full scans.
            autovacuum=$(psql -Atq "$db_url" -c 'SHOW autovacuum')
            analyzer=
            if [[ "$autovacuum" != on ]]; then
                (while sleep 15; do psql -q "$db_url" -c ANALYZE 2>/dev/null || true; done) &
                analyzer=$!
            fi
            {
                echo "# engram-bench on PostgreSQL ($(psql -Atq "$PG_URL" -c 'SHOW server_version')), $replicas replica(s), scale $scale, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
                echo "# git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)'), $(nproc) CPUs shared by PostgreSQL, the server(s) and the load generator"
                echo "# autovacuum=$autovacuum$([[ -n "$analyzer" ]] && echo ': ANALYZE every 15 s during the load, VACUUM ANALYZE before the scenarios')"
                "$BENCH" "${pg[@]}" --connections "$CONNECTIONS" --json "$json" \
                    load --memories "$scale" --load-concurrency "$LOAD_CONCURRENCY"
                if [[ -n "$analyzer" ]]; then
                    kill "$analyzer" 2>/dev/null || true
                    psql -q "$db_url" -c 'VACUUM ANALYZE'
                fi
                "$BENCH" "${pg[@]}" --connections "$CONNECTIONS" --json "$json" --scale "$scale" \
                    run --duration "$SECONDS_PER_SCENARIO" --warmup "$WARMUP" \
                    ${extra[@]+"${extra[@]}"}
            } | tee "$table"
            if [[ "${BENCH_LATENCY_PASS:-1}" == 1 ]]; then
                # One connection per replica, one request at a time.
                echo "# latency pass: concurrency 1" | tee -a "$table"
                "$BENCH" "${pg[@]}" --connections "$replicas" --json "$json" \
                    run --scenarios recall,search,context,rest-recall,rest-search --concurrency 1 \
                    --duration "$SECONDS_PER_SCENARIO" --warmup "$WARMUP" | tee -a "$table"
            fi
            if [[ "${BENCH_KEEP_DATA:-0}" != 1 ]]; then
                rm -rf -- "$data"
                psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)"
            fi
        done
    done
fi
echo "==> results in $RESULTS" >&2
