#!/usr/bin/env bash
# Engram benchmark (`make bench`): builds the release server and engram-bench, then for each SQLite
# scale, each with a fresh `engram serve` (embedded SQLite, default settings) started by
# engram-bench:
#   1. live times: a load from empty to the scale (AddMemories x 500, 4 clients, no time set: the
#      server stamps now), the store's size on disk, then batch-ingest (live) into the loaded store;
#   2. back-filled times (random over the last 7 days, set by the client): the same load from empty,
#      the store's size on disk, every scenario, and the REST overhead versus gRPC of the twin pairs;
#      then the read scenarios again at concurrency 1 (the latency pass);
#   3. the physical limit (`engram-bench limit`): the same rows inserted by a minimal program straight
#      into a new SQLite file with the store's schema, same count, one transaction per
#      BENCH_LIMIT_BATCH memories, live and back-filled.
# Then PostgreSQL (see below), and at the end `python3 bench/targets.py`: the issue's target table,
# each row met or missed, and Engram's load as a share of the physical limit (results/targets.txt).
# Scenarios, in this order (reads on the store as loaded, then the writes, which grow it):
#   recall        gRPC ListMemories of a random agent, since 24h, limit 100
#   search        gRPC SearchMemories, one random tag, EPISODIC, since 7d, limit 100
#   context       gRPC BuildContext of a random agent, since 7d, max_tokens 4000
#   stats         gRPC GetAgentStats of a random agent of the 50 (at 10^6: ~20,000 memories each);
#                 concurrency 1 unless BENCH_CONCURRENCY says otherwise
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
# Results (each file overwritten):
#   bench/results/<scale>.{json,txt}       back-filled load, scenarios, latency pass: one JSON object
#                                          per line (load, each scenario, rest-overhead, disk), and the
#                                          printed tables
#   bench/results/<scale>-live.{json,txt}  live load and batch-ingest (live)
#   bench/results/limit-<scale>.{json,txt} the physical limit on SQLite (limit-sqlite, live and
#                                          backfill)
#   bench/results/pg-r<N>-<scale>.*, pg-noanalyze-<scale>.*, limit-pg-<scale>.*: PostgreSQL
#   bench/results/targets.txt              the target table of bench/targets.py
# The "disk" line of a store: engram.db + engram.db-wal (du -b) once the load's server stopped, in
# bytes, MB and bytes per memory; then engram.db alone after a checkpoint (checkpointed_*), which
# the scenarios that follow start from.
#
# PostgreSQL, for each scale of BENCH_PG_SCALES: for each replica count, a fresh database, `engram
# migrate`, N `engram serve` on it, the back-filled load (with an ANALYZE every 15 s, standing in for
# autovacuum where it is off) and the scenarios; then the physical limit (COPY into a fresh database
# with the store's schema, live and backfill). For each scale of BENCH_PG_NOANALYZE_SCALES: a live
# load from empty into a fresh database with no ANALYZE at all (no analyzer; autovacuum disabled on
# its tables if the cluster runs it).
#
# Environment (all optional):
#   BENCH_SCALES            SQLite store sizes, space-separated; "" skips SQLite
#                                                                         (default "100000 1000000")
#   BENCH_DIR               parent of the data dirs (<dir>/<scale>, <scale>-live, limit-<scale>-<times>,
#                           pg-...), each wiped before its run            (default /tmp/engram-bench)
#   BENCH_SECONDS           measured seconds per scenario                 (default 10)
#   BENCH_WARMUP            unmeasured warm-up seconds per scenario       (default 1)
#   BENCH_CONNECTIONS       gRPC connections (tonic Channels), round robin; also the number of
#                           HTTP/1.1 clients of the REST scenarios        (default 4)
#   BENCH_LOAD_CONCURRENCY  concurrent AddMemories clients of the load    (default 4)
#   BENCH_CONCURRENCY       --concurrency overrides, e.g. "unary-add=64,recall=16" or "8"
#                           (default: batch-ingest 4, unary-add/rest-add 32, recall/search/context/
#                           rest-recall/rest-search 8, stats 1); the live runs' batch-ingest too
#   BENCH_SCENARIOS         comma-separated subset of the scenarios of the back-filled runs
#                                                                         (default: all)
#   BENCH_SERVER_ARGS       extra `engram serve` flags, space-separated, e.g. "--sqlite-sync=normal"
#   BENCH_RESULTS           results directory                             (default bench/results)
#   BENCH_KEEP_DATA         1: keep the data dirs and PostgreSQL databases afterwards
#                                                                         (default: delete them)
#   BENCH_LATENCY_PASS      0: skip the second pass of the read scenarios (recall, search, keyword,
#                           contains, semantic, semantic-org, hybrid, context, stats, rest-recall, rest-search) at
#                           concurrency 1 (BENCH_LATENCY_SCENARIOS: another list)
#   BENCH_LIVE              0: skip the live-times load and batch-ingest of each SQLite scale
#   BENCH_LIMIT             0: skip the physical-limit runs (SQLite and PostgreSQL)
#   BENCH_LIMIT_BATCH       memories per transaction of the physical limit
#                           (default 500 x BENCH_LOAD_CONCURRENCY = 2000: the requests Engram's group
#                           commit coalesces at most from the load's clients)
#   BENCH_TARGETS           0: do not run bench/targets.py at the end
#   BENCH_RETRIEVAL         0: skip the retrieval-quality run (bench/retrieval.py)
#   BENCH_WATCH             0: skip the watch-latency run (engram-bench watch)
#   BENCH_SIMULATION        0: skip the simulation run (engram-bench simulation; BENCH_SIM_AGENTS,
#                           BENCH_SIM_STEPS size it)
#   BENCH_LIFECYCLE         0: skip the lifecycle runs (engram-bench lifecycle: a maintenance pass
#                           over the simulation store, the cold tier on LoCoMo turns)
#   BENCH_CONVERSATIONS     0: skip the conversation run (engram-bench conversations); its size:
#                           BENCH_CONV_COUNT (10000) conversations x BENCH_CONV_MESSAGES (200),
#                           BENCH_CONV_SECONDS (20) per measured phase, BENCH_WINDOW_CACHE_MB (64)
#   BENCH_VECTOR_DIM        dimension of the random client vector every generated memory carries
#                           (the semantic and hybrid scenarios need them; 0: none)  (default 384)
#   BENCH_SKIP_BUILD        1: use the binaries already built             (default: build)
#   BENCH_PG_SCALES         store sizes of the PostgreSQL runs; "" skips them (default "100000 1000000")
#   BENCH_PG_REPLICAS       replica counts of the PostgreSQL runs         (default "1 2")
#   BENCH_PG_NOANALYZE_SCALES  store sizes of the PostgreSQL live loads without ANALYZE; "" skips
#                           them (default "100000"; "" when BENCH_PG_SCALES is "")
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
export BENCH_VECTOR_DIM="${BENCH_VECTOR_DIM:-384}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
ENGRAM="$TARGET/release/engram"
BENCH="$TARGET/release/engram-bench"
LIMIT_BATCH="${BENCH_LIMIT_BATCH:-$((500 * LOAD_CONCURRENCY))}"

if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    echo "==> cargo build --release -p engram-server -p engram-bench" >&2
    cargo build --release -p engram-server -p engram-bench
fi
for bin in "$ENGRAM" "$BENCH"; do
    [[ -x "$bin" ]] || { echo "error: $bin is missing (build it or unset BENCH_SKIP_BUILD)" >&2; exit 1; }
done

# extra: flags of the scenario runs; common: those of every run that starts a server.
common=()
if [[ -n "${BENCH_SERVER_ARGS:-}" ]]; then
    read -r -a server_args <<<"$BENCH_SERVER_ARGS"
    for arg in "${server_args[@]}"; do
        common+=("--server-arg=$arg")
    done
fi
concurrency=()
if [[ -n "${BENCH_CONCURRENCY:-}" ]]; then
    concurrency+=(--concurrency "$BENCH_CONCURRENCY")
fi
extra=(${concurrency[@]+"${concurrency[@]}"})
if [[ -n "${BENCH_SCENARIOS:-}" ]]; then
    extra+=(--scenarios "$BENCH_SCENARIOS")
fi
LATENCY_SCENARIOS=${BENCH_LATENCY_SCENARIOS:-recall,search,keyword,contains,semantic,semantic-org,hybrid,context,stats,rest-recall,rest-search}

header() {
    echo "# git $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (dirty)'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
}

# disk DATA_DIR SCALE TIMES JSON: the size of the SQLite store in DATA_DIR (its server stopped):
# engram.db + engram.db-wal as left (du -b), then engram.db alone after a checkpoint (python3's
# sqlite3, wal_checkpoint(TRUNCATE): the WAL holds page images not yet copied back, up to the
# store's 32 MiB autocheckpoint; the server's next start would replay them anyway). Printed and
# appended to JSON as scenario "disk".
disk() {
    python3 - "$1" "$2" "$3" "$4" <<'PY'
import json, os, sqlite3, subprocess, sys, time
data, scale, times, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
db_path, wal_path = os.path.join(data, "engram.db"), os.path.join(data, "engram.db-wal")
def du(p):
    if not os.path.exists(p):
        return 0
    return int(subprocess.run(["du", "-b", p], check=True, capture_output=True, text=True).stdout.split()[0])
db, wal = du(db_path), du(wal_path)
total = db + wal
try:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    conn.close()
    checkpointed = du(db_path) + du(wal_path)
except sqlite3.Error as err:
    print(f"warning: no checkpoint of {db_path}: {err}", file=sys.stderr)
    checkpointed = None
per = lambda b: round(b / max(scale, 1), 1)
line = {"scale": scale, "scenario": "disk", "backend": "sqlite", "times": times, "memories": scale,
        "db_bytes": db, "wal_bytes": wal, "bytes": total, "mb": round(total / 1e6, 3),
        "bytes_per_memory": per(total), "checkpointed_bytes": checkpointed,
        "checkpointed_mb": None if checkpointed is None else round(checkpointed / 1e6, 3),
        "checkpointed_bytes_per_memory": None if checkpointed is None else per(checkpointed),
        "unix_time": int(time.time())}
with open(path, "a") as f:
    f.write(json.dumps(line) + "\n")
after = "" if checkpointed is None else f"; after a checkpoint {checkpointed / 1e6:.1f} MB, {per(checkpointed):.0f} B/memory"
print(f"# on disk after the load ({times}): engram.db {db / 1e6:.1f} MB + engram.db-wal {wal / 1e6:.1f} MB"
      f" = {total / 1e6:.1f} MB, {per(total):.0f} bytes per memory{after}")
PY
}

# limit SCALE TIMES JSON TARGET...: the physical limit of a load of SCALE memories.
limit() {
    local scale=$1 times=$2 json=$3
    shift 3
    "$BENCH" --json "$json" --times "$times" --scale "$scale" \
        limit --memories "$scale" --batch "$LIMIT_BATCH" "$@"
}

mkdir -p "$RESULTS" "$BENCH_DIR"
for scale in $SCALES; do
    [[ "$scale" =~ ^[0-9]+$ ]] || { echo "error: BENCH_SCALES: $scale is not a number" >&2; exit 1; }

    # 1. Live times: load from empty, size on disk, batch-ingest into the loaded store.
    if [[ "${BENCH_LIVE:-1}" == 1 ]]; then
        data="$BENCH_DIR/$scale-live"
        rm -rf -- "$data"
        json="$RESULTS/$scale-live.json"
        table="$RESULTS/$scale-live.txt"
        rm -f -- "$json"
        echo "==> scale $scale, live times: data dir $data" >&2
        run=(--server-bin "$ENGRAM" --data-dir "$data" --connections "$CONNECTIONS" --json "$json" --times live
            ${common[@]+"${common[@]}"})
        {
            echo "# engram-bench, scale $scale, live times (the server stamps now), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
            header
            "$BENCH" "${run[@]}" load --memories "$scale" --load-concurrency "$LOAD_CONCURRENCY"
            disk "$data" "$scale" live "$json"
            "$BENCH" "${run[@]}" --scale "$scale" \
                run --scenarios batch-ingest --duration "$SECONDS_PER_SCENARIO" --warmup "$WARMUP" \
                ${concurrency[@]+"${concurrency[@]}"}
        } | tee "$table"
        if [[ "${BENCH_KEEP_DATA:-0}" != 1 ]]; then
            rm -rf -- "$data"
        fi
    fi

    # 2. Back-filled times: load from empty, size on disk, every scenario, latency pass.
    data="$BENCH_DIR/$scale"
    rm -rf -- "$data"
    json="$RESULTS/$scale.json"
    table="$RESULTS/$scale.txt"
    rm -f -- "$json"
    echo "==> scale $scale: data dir $data, $SECONDS_PER_SCENARIO s per scenario" >&2
    run=(--server-bin "$ENGRAM" --data-dir "$data" --connections "$CONNECTIONS" --json "$json"
        ${common[@]+"${common[@]}"})
    {
        echo "# engram-bench, scale $scale, back-filled times, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        header
        "$BENCH" "${run[@]}" load --memories "$scale" --load-concurrency "$LOAD_CONCURRENCY"
        disk "$data" "$scale" backfill "$json"
        "$BENCH" "${run[@]}" --scale "$scale" \
            run --duration "$SECONDS_PER_SCENARIO" --warmup "$WARMUP" \
            ${extra[@]+"${extra[@]}"}
    } | tee "$table"
    # Latency without queueing: the read scenarios again at concurrency 1 on the same store.
    if [[ "${BENCH_LATENCY_PASS:-1}" == 1 ]]; then
        echo "# latency pass: concurrency 1" | tee -a "$table"
        "$BENCH" \
            --server-bin "$ENGRAM" --data-dir "$data" \
            --connections 1 --json "$json" ${common[@]+"${common[@]}"} \
            run --scenarios "$LATENCY_SCENARIOS" --concurrency 1 \
            --duration "$SECONDS_PER_SCENARIO" --warmup "$WARMUP" | tee -a "$table"
    fi
    if [[ "${BENCH_KEEP_DATA:-0}" != 1 ]]; then
        rm -rf -- "$data"
    fi

    # 3. The physical limit: the same rows straight into SQLite, live and back-filled.
    if [[ "${BENCH_LIMIT:-1}" == 1 ]]; then
        json="$RESULTS/limit-$scale.json"
        table="$RESULTS/limit-$scale.txt"
        rm -f -- "$json" "$table"
        for times in live backfill; do
            data="$BENCH_DIR/limit-$scale-$times"
            rm -rf -- "$data"
            echo "==> scale $scale: physical limit on SQLite, $times times, $LIMIT_BATCH memories per transaction" >&2
            limit "$scale" "$times" "$json" --sqlite "$data/limit.db" | tee -a "$table"
            if [[ "${BENCH_KEEP_DATA:-0}" != 1 ]]; then
                rm -rf -- "$data"
            fi
        done
    fi
done

# PostgreSQL: for each scale and replica count, a fresh database, `engram migrate`, N `engram serve`
# on it (the bench's connections spread over them round robin), the same load and scenarios; then
# the physical limit at that scale; then the live loads without ANALYZE.
PG_SCALES="${BENCH_PG_SCALES-100000 1000000}"
PG_REPLICAS="${BENCH_PG_REPLICAS:-1 2}"
if [[ -n "$PG_SCALES" ]]; then
    PG_NOANALYZE_SCALES="${BENCH_PG_NOANALYZE_SCALES-100000}"
else
    PG_NOANALYZE_SCALES="${BENCH_PG_NOANALYZE_SCALES-}"
fi
if [[ -n "$PG_SCALES$PG_NOANALYZE_SCALES" ]]; then
    PG_URL="${BENCH_PG_URL:-${ENGRAM_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}}"
    ENGRAM_TEST_DATABASE_URL="$PG_URL" bash scripts/postgres.sh
    command -v psql >/dev/null || { echo "error: psql is needed to create the bench databases" >&2; exit 1; }
    PG_VERSION=$(psql -Atq "$PG_URL" -c 'SHOW server_version')
    # postgres://user@host:port/db?params -> the same URL on database $1
    on_database() { python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$PG_URL" "$1"; }
    fresh_database() { PGOPTIONS=--client-min-messages=warning psql -q -v ON_ERROR_STOP=1 "$PG_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"; }
    drop_database() { PGOPTIONS=--client-min-messages=warning psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }
    # pg_limit SCALE TIMES...: the physical limit on PostgreSQL, a fresh database for each.
    pg_limit() {
        local scale=$1 times name
        shift
        local json="$RESULTS/limit-pg-$scale.json" table="$RESULTS/limit-pg-$scale.txt"
        rm -f -- "$json" "$table"
        for times in "$@"; do
            name="engram_bench_limit_${scale}_${times}"
            fresh_database "$name"
            echo "==> PostgreSQL, scale $scale: physical limit, $times times, $LIMIT_BATCH memories per transaction" >&2
            limit "$scale" "$times" "$json" --database-url "$(on_database "$name")" | tee -a "$table"
            if [[ "${BENCH_KEEP_DATA:-0}" != 1 ]]; then
                drop_database "$name"
            fi
        done
    }
    for scale in $PG_SCALES; do
        [[ "$scale" =~ ^[0-9]+$ ]] || { echo "error: BENCH_PG_SCALES: $scale is not a number" >&2; exit 1; }
        for replicas in $PG_REPLICAS; do
            name="engram_bench_${scale}_r${replicas}"
            fresh_database "$name"
            db_url=$(on_database "$name")
            data="$BENCH_DIR/pg-$scale-r$replicas"
            rm -rf -- "$data"
            json="$RESULTS/pg-r$replicas-$scale.json"
            table="$RESULTS/pg-r$replicas-$scale.txt"
            rm -f -- "$json"
            echo "==> PostgreSQL, $replicas replica(s), scale $scale: database $name" >&2
            pg=(--server-bin "$ENGRAM" --data-dir "$data" --database-url "$db_url" --replicas "$replicas"
                ${common[@]+"${common[@]}"})
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
                echo "# engram-bench on PostgreSQL ($PG_VERSION), $replicas replica(s), scale $scale, back-filled times, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
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
                    run --scenarios "$LATENCY_SCENARIOS" --concurrency 1 \
                    --duration "$SECONDS_PER_SCENARIO" --warmup "$WARMUP" | tee -a "$table"
            fi
            if [[ "${BENCH_KEEP_DATA:-0}" != 1 ]]; then
                rm -rf -- "$data"
                drop_database "$name"
            fi
        done

        # The physical limit: the same rows by COPY into a fresh database, live and back-filled.
        if [[ "${BENCH_LIMIT:-1}" == 1 ]]; then
            pg_limit "$scale" live backfill
        fi
    done

    # A fresh database and no ANALYZE at all (no analyzer; where the cluster runs autovacuum, it is
    # disabled on the store's tables): a live load from empty, as a new deployment sees it.
    for scale in $PG_NOANALYZE_SCALES; do
        [[ "$scale" =~ ^[0-9]+$ ]] || { echo "error: BENCH_PG_NOANALYZE_SCALES: $scale is not a number" >&2; exit 1; }
        name="engram_bench_noanalyze_${scale}"
        fresh_database "$name"
        db_url=$(on_database "$name")
        data="$BENCH_DIR/pg-noanalyze-$scale"
        rm -rf -- "$data"
        mkdir -p "$data"
        json="$RESULTS/pg-noanalyze-$scale.json"
        table="$RESULTS/pg-noanalyze-$scale.txt"
        rm -f -- "$json"
        echo "==> PostgreSQL, scale $scale: live load into a fresh database, no ANALYZE" >&2
        autovacuum=$(psql -Atq "$db_url" -c 'SHOW autovacuum')
        if [[ "$autovacuum" == on ]]; then
            # Migrate first (engram-bench finds the admin key in <data dir>/admin.key), then switch
            # autovacuum off on every table.
            DATABASE_URL="$db_url" ENGRAM_LOG_LEVEL=warn "$ENGRAM" migrate | sed -n 's/.*(shown once): //p' | tr -d '[:space:]' >"$data/admin.key"
            [[ -s "$data/admin.key" ]] || { echo "error: engram migrate printed no admin key" >&2; exit 1; }
            psql -q -v ON_ERROR_STOP=1 "$db_url" -c "DO \$\$ DECLARE t text; BEGIN FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP EXECUTE format('ALTER TABLE %I SET (autovacuum_enabled = off)', t); END LOOP; END \$\$"
        fi
        {
            echo "# engram-bench on PostgreSQL ($PG_VERSION), 1 replica, scale $scale, live times, fresh database without ANALYZE, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
            header
            echo "# autovacuum=$autovacuum$([[ "$autovacuum" == on ]] && echo ', disabled on the tables')"
            "$BENCH" --server-bin "$ENGRAM" --data-dir "$data" --database-url "$db_url" ${common[@]+"${common[@]}"} \
                --connections "$CONNECTIONS" --json "$json" --times live \
                load --memories "$scale" --load-concurrency "$LOAD_CONCURRENCY"
            echo "# planner statistics after the load: $(psql -Atq "$db_url" -c "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema()") pg_stats rows"
        } | tee "$table"
        if [[ "${BENCH_KEEP_DATA:-0}" != 1 ]]; then
            rm -rf -- "$data"
            drop_database "$name"
        fi
        # Its physical limit (live), unless the scale's PostgreSQL runs above measured it.
        if [[ "${BENCH_LIMIT:-1}" == 1 && " $PG_SCALES " != *" $scale "* ]]; then
            pg_limit "$scale" live
        fi
    done
fi

# Conversations (issue 10): a fresh SQLite store of BENCH_CONV_COUNT conversations x
# BENCH_CONV_MESSAGES messages, then windows of a hot set, appends at concurrency 32, windows of
# every conversation (they fill the cache to its bound: its size at shutdown is reported), and
# windows read from the store (a second start of the same store with --window-cache-mb 0). The
# server's RSS after each part goes into the same JSON lines file.
start_server() { # DATA_DIR ARGS...: starts engram serve; sets SERVER_PID and SERVER_ADDR
    local dir=$1
    shift
    : >"$dir/server.out"
    "$ENGRAM" serve --listen 127.0.0.1:0 --data-dir "$dir" "$@" >"$dir/server.out" 2>>"$dir/server.log" &
    SERVER_PID=$!
    SERVER_ADDR=
    for _ in $(seq 600); do
        SERVER_ADDR=$(sed -n 's/^engram: listening on //p' "$dir/server.out")
        [[ -n "$SERVER_ADDR" ]] && return 0
        sleep 0.1
    done
    echo "error: engram serve did not report its address (see $dir/server.log)" >&2
    exit 1
}
stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
}
rss_line() { # LABEL: the server's RSS as a JSON line
    echo "{\"scenario\": \"conversations-rss\", \"after\": \"$1\", \"rss_mb\": $(($(ps -o rss= -p "$SERVER_PID") / 1024))}"
}
cache_line() { # DATA_DIR: the window cache's size and hits as the server logged them at shutdown
    local stats
    stats=$(sed 's/\x1b\[[0-9;]*m//g' "$1/server.log" | grep 'window cache at shutdown' | tail -1 |
        grep -o '\(entries\|bytes\|max_bytes\|hits\|misses\)=[0-9]*' | tr '\n' ' ')
    echo "{\"scenario\": \"conversations-window-cache\", \"stats\": \"$stats\"}"
}
if [[ "${BENCH_CONVERSATIONS:-1}" == 1 ]]; then
    echo "==> conversations" >&2
    data="$BENCH_DIR/conversations"
    rm -rf -- "$data"
    mkdir -p "$data" "$RESULTS"
    json="$RESULTS/conversations.json"
    : >"$json"
    conv=(--conversations "${BENCH_CONV_COUNT:-10000}" --messages "${BENCH_CONV_MESSAGES:-200}"
        --duration "${BENCH_CONV_SECONDS:-20}")
    start_server "$data" --window-cache-mb "${BENCH_WINDOW_CACHE_MB:-64}"
    key=$(cat "$data/admin.key")
    "$BENCH" conversations --addr "http://$SERVER_ADDR" --api-key "$key" "${conv[@]}" --phases load >>"$json"
    rss_line load >>"$json"
    "$BENCH" conversations --addr "http://$SERVER_ADDR" --api-key "$key" "${conv[@]}" \
        --phases window-hot,append,window-all >>"$json"
    rss_line window-hot,append,window-all >>"$json"
    stop_server
    cache_line "$data" >>"$json"
    start_server "$data" --window-cache-mb 0
    "$BENCH" conversations --addr "http://$SERVER_ADDR" --api-key "$key" "${conv[@]}" --phases window-cold >>"$json"
    rss_line window-cold >>"$json"
    stop_server
    [[ "${BENCH_KEEP_DATA:-0}" == 1 ]] || rm -rf -- "$data"
fi

# Simulation (issue 11): BENCH_SIM_AGENTS (1000) agents x BENCH_SIM_STEPS (1000) steps of states
# (and an action every fourth step) on a fresh SQLite store, then step-range, attribute, radius
# and similar-state queries at concurrency 1 (engram-bench simulation).
if [[ "${BENCH_SIMULATION:-1}" == 1 ]]; then
    echo "==> simulation" >&2
    data="$BENCH_DIR/simulation"
    rm -rf -- "$data"
    mkdir -p "$data" "$RESULTS"
    start_server "$data"
    "$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" simulation \
        --agents "${BENCH_SIM_AGENTS:-1000}" --steps "${BENCH_SIM_STEPS:-1000}" >"$RESULTS/simulation.json"
    rss_line simulation >>"$RESULTS/simulation.json"
    # Similar states again on a server with the local embedder: the states' strings (mood) are
    # compared by their embeddings. The store was written without an embedder, so nothing is
    # queued for it; the query's strings are embedded (once, then cached).
    stop_server
    start_server "$data" --embedder local --embedding-model-dir "$(bash "$ROOT/scripts/model.sh")"
    "$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" simulation \
        --agents "${BENCH_SIM_AGENTS:-1000}" --steps "${BENCH_SIM_STEPS:-1000}" --phases similar \
        --label +embedder >>"$RESULTS/simulation.json"
    rss_line simulation-embedder >>"$RESULTS/simulation.json"
    # GetMemory again without the hot tier's in-process cache (every read from the store).
    stop_server
    start_server "$data" --hot-cache-mb 0
    "$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" simulation \
        --agents "${BENCH_SIM_AGENTS:-1000}" --steps "${BENCH_SIM_STEPS:-1000}" --phases get \
        --label +nocache >>"$RESULTS/simulation.json"
    stop_server
    start_server "$data"
    if [[ "${BENCH_LIFECYCLE:-1}" == 1 ]]; then
        # The lifecycle (issue 11) on the same store: a pass moving every memory to cold, with
        # batch ingest before and during it.
        echo "==> lifecycle pass" >&2
        "$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" lifecycle --phases pass \
            >"$RESULTS/lifecycle.json"
        rss_line lifecycle-pass >>"$RESULTS/lifecycle.json"
    fi
    stop_server
    [[ "${BENCH_KEEP_DATA:-0}" == 1 ]] || rm -rf -- "$data"
fi

# The cold tier on real text (issue 11): LoCoMo's turns (fetched from PyPI like
# bench/retrieval.py does) moved to cold on a fresh store; compression, and search and
# content_contains probes of cold turns (engram-bench lifecycle --phases cold-text).
if [[ "${BENCH_LIFECYCLE:-1}" == 1 ]]; then
    echo "==> lifecycle cold-text" >&2
    data="$BENCH_DIR/lifecycle"
    rm -rf -- "$data"
    mkdir -p "$data" "$RESULTS"
    BENCH_DIR="$BENCH_DIR" "$(bash "$ROOT/scripts/py-env.sh")/bin/python" -c \
        'import sys; sys.path.insert(0, sys.argv[1]); import retrieval; retrieval.fixture("locomo10.json")' "$ROOT/bench"
    start_server "$data"
    "$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" lifecycle --phases cold-text \
        --locomo "$BENCH_DIR/locomo/locomo10.json" >>"$RESULTS/lifecycle.json"
    stop_server
    rm -rf -- "$data"
fi

# Watch (issue 11): how soon a committed memory reaches a WatchMemories stream, alone and with
# 2,000 memories/s of other writes (engram-bench watch).
if [[ "${BENCH_WATCH:-1}" == 1 ]]; then
    echo "==> watch" >&2
    data="$BENCH_DIR/watch"
    rm -rf -- "$data"
    mkdir -p "$data" "$RESULTS"
    start_server "$data"
    for noise in 0 2000; do
        "$BENCH" --addr "http://$SERVER_ADDR" --api-key "$(cat "$data/admin.key")" watch --memories 1000 --rate 50 \
            --noise "$noise"
    done >"$RESULTS/watch.json"
    stop_server
    rm -rf -- "$data"
fi

# Retrieval quality on LoCoMo and a LongMemEval-based set (bench/retrieval.py: downloads the data
# from PyPI into BENCH_DIR).
if [[ "${BENCH_RETRIEVAL:-1}" == 1 ]]; then
    echo "==> retrieval quality" >&2
    ENGRAM_BIN="$ROOT/target/release/engram" BENCH_DIR="$BENCH_DIR" BENCH_RESULTS="$RESULTS" \
        "$(bash "$ROOT/scripts/py-env.sh")/bin/python" "$ROOT/bench/retrieval.py"
fi

if [[ "${BENCH_TARGETS:-1}" == 1 ]]; then
    python3 "$ROOT/bench/targets.py" "$RESULTS"
fi
echo "==> results in $RESULTS" >&2
