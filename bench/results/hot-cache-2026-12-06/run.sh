#!/usr/bin/env bash
# GetMemory with and without the hot cache on the simulation store (the get part of bench/run.sh).
set -euo pipefail
ROOT=/work/main
ENGRAM=$ROOT/target/release/engram
BENCH=$ROOT/target/release/engram-bench
RESULTS=$ROOT/bench/results/hot-cache-2026-12-06
data=/tmp/getbench; rm -rf "$data"; mkdir -p "$data" "$RESULTS"
start_server() {
    local dir=$1; shift
    : >"$dir/server.out"
    "$ENGRAM" serve --listen 127.0.0.1:0 --data-dir "$dir" "$@" >"$dir/server.out" 2>>"$dir/server.log" &
    SERVER_PID=$!
    for _ in $(seq 600); do
        SERVER_ADDR=$(sed -n 's/^engram: listening on //p' "$dir/server.out"); [[ -n "$SERVER_ADDR" ]] && return 0; sleep 0.1
    done; exit 1
}
stop_server() { kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
start_server "$data"
"$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" simulation --phases load,get >"$RESULTS/simulation.json"
stop_server
start_server "$data" --hot-cache-mb 0
"$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" simulation --phases get --label +nocache >>"$RESULTS/simulation.json"
stop_server
sed 's/\x1b\[[0-9;]*m//g' "$data/server.log" | grep "hot cache at shutdown" >"$RESULTS/hot-cache.log" || true
rm -rf "$data"
echo finished
