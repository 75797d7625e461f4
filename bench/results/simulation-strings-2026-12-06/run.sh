#!/usr/bin/env bash
# The simulation part of bench/run.sh, alone: load, the queries, similar with the local embedder.
set -euo pipefail
ROOT=/work/main
ENGRAM=$ROOT/target/release/engram
BENCH=$ROOT/target/release/engram-bench
RESULTS=$ROOT/bench/results/simulation-strings-2026-12-06
BENCH_DIR=/tmp/simbench
data=$BENCH_DIR/simulation
rm -rf "$data"; mkdir -p "$data" "$RESULTS"
start_server() {
    local dir=$1; shift
    : >"$dir/server.out"
    "$ENGRAM" serve --listen 127.0.0.1:0 --data-dir "$dir" "$@" >"$dir/server.out" 2>>"$dir/server.log" &
    SERVER_PID=$!
    for _ in $(seq 600); do
        SERVER_ADDR=$(sed -n 's/^engram: listening on //p' "$dir/server.out")
        [[ -n "$SERVER_ADDR" ]] && return 0
        sleep 0.1
    done
    exit 1
}
stop_server() { kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
start_server "$data"
"$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" simulation >"$RESULTS/simulation.json"
stop_server
start_server "$data" --embedder local --embedding-model-dir "$(bash "$ROOT/scripts/model.sh")"
"$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" simulation --phases similar --label +embedder >>"$RESULTS/simulation.json"
stop_server
rm -rf "$data"
echo finished
