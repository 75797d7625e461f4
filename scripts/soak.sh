#!/usr/bin/env bash
# The soak (`make soak`; OPERATIONS.md "Soak"): `engram-bench soak` runs mixed load (gRPC and REST
# writes, reads, ranked search, context, conversations) first on the embedded SQLite store, then on
# PostgreSQL with two replicas, SOAK_MINUTES in all (split evenly), and kills a server with
# SIGKILL every SOAK_KILL_EVERY seconds (PostgreSQL: the replicas in turn), restarting it on the
# same data. It fails (non-zero exit) on any acknowledged write lost or changed, any failed
# request outside the restart windows (5xx, INTERNAL, UNKNOWN, DATA_LOSS included), a stale
# conversation window, and, in parts of 10 minutes or more, a server lifetime whose RssAnon grows
# faster than the threshold.
#
# PostgreSQL is required: without one the soak fails (scripts/postgres.sh names what is missing);
# it is never skipped.
#
# Environment (all optional):
#   SOAK_MINUTES       minutes of load in all, split between SQLite and PostgreSQL     (default 30)
#   SOAK_KILL_EVERY    seconds between two kill -9                                      (default 300)
#   SOAK_DIR           parent of the data dirs, wiped first                (default /tmp/engram-soak)
#   SOAK_OUT           where soak.txt (the output) and soak.json (the summary) go   (default SOAK_DIR)
#   SOAK_ARGS          more flags of `engram-bench soak`, e.g. "--rss-warmup 10 --write-rate 100"
#   ENGRAM_BIN, ENGRAM_BENCH_BIN  the binaries to use; when both are set nothing is built
#                      (scripts/test.sh runs the debug ones), else `cargo build --release` builds them
#   SOAK_DB            the database created (dropped first) for the PostgreSQL part   (default engram_soak)
#   ENGRAM_TEST_DATABASE_URL      the PostgreSQL server where the soak's database is created
#                                 (default postgres://postgres@127.0.0.1:5432/postgres)
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${SOAK_MINUTES:-30}
kill_every=${SOAK_KILL_EVERY:-300}
dir=${SOAK_DIR:-/tmp/engram-soak}
out=${SOAK_OUT:-$dir}
pg_url=${ENGRAM_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
read -r -a extra <<<"${SOAK_ARGS:-}"

if [[ -z "${ENGRAM_BIN:-}" || -z "${ENGRAM_BENCH_BIN:-}" ]]; then
    echo "==> cargo build --release -p engram-server -p engram-bench" >&2
    cargo build --release -p engram-server -p engram-bench
    target=${CARGO_TARGET_DIR:-target}
    ENGRAM_BIN=${ENGRAM_BIN:-$target/release/engram}
    ENGRAM_BENCH_BIN=${ENGRAM_BENCH_BIN:-$target/release/engram-bench}
fi
for bin in "$ENGRAM_BIN" "$ENGRAM_BENCH_BIN"; do
    [[ -x "$bin" ]] || { echo "soak.sh: $bin is missing" >&2; exit 1; }
done

echo "==> soak: PostgreSQL (required)" >&2
ENGRAM_TEST_DATABASE_URL="$pg_url" bash scripts/postgres.sh
command -v psql >/dev/null || { echo "soak.sh: psql is needed to create the soak's database" >&2; exit 1; }
db=${SOAK_DB:-engram_soak}
psql_admin() { PGOPTIONS=--client-min-messages=warning psql -q -v ON_ERROR_STOP=1 "$pg_url" "$@"; }
psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_url" "$db")

rm -rf -- "$dir"
mkdir -p "$dir" "$out"
cmd=("$ENGRAM_BENCH_BIN" --server-bin "$ENGRAM_BIN" --data-dir "$dir" --database-url "$db_url" --timeout 60
     soak --minutes "$minutes" --kill-every "$kill_every" --summary "$out/soak.json" "${extra[@]}")
# Planner statistics: a production PostgreSQL's autovacuum analyzes the growing tables every
# minute or so. Where autovacuum is off (this machine's test cluster is configured so), an ANALYZE
# of the soak's database every 15 s stands in for it, as in bench/run.sh: without statistics
# PostgreSQL plans an agent's time-ordered reads (context, listings) as a scan and sort of all its
# memories (lookups by id and ingest do not depend on statistics; OPERATIONS.md "Soak").
analyzer=
if [[ "$(psql -Atq "$db_url" -c 'SHOW autovacuum')" != on ]]; then
    echo "==> soak: autovacuum is off on $pg_url: ANALYZE of $db every 15 s in its stead" >&2
    (while sleep 15; do psql -q "$db_url" -c ANALYZE || true; done) >/dev/null 2>&1 &
    analyzer=$!
    trap 'kill "$analyzer" 2>/dev/null || true' EXIT
fi
echo "==> soak: ${cmd[*]}" >&2
status=0
"${cmd[@]}" 2>&1 | tee "$out/soak.txt" || status=$?
if [[ -n "$analyzer" ]]; then
    kill "$analyzer" 2>/dev/null || true
fi
# The database is kept for a look after a failure; dropped after a pass.
if [[ "$status" -eq 0 ]]; then
    psql_admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"
else
    echo "soak.sh: the soak FAILED (exit $status); output in $out/soak.txt, summary in $out/soak.json," \
         "data in $dir, database $db_url" >&2
fi
exit "$status"
