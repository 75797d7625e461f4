#!/usr/bin/env bash
# Makes sure the PostgreSQL the tests use answers. With ENGRAM_TEST_DATABASE_URL set, only checks
# it; otherwise checks the local server on 127.0.0.1:5432 and starts it (Debian's pg_ctlcluster)
# when it is down. Fails loudly: the PostgreSQL suites are never skipped.
set -euo pipefail

url=${ENGRAM_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

ready() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -d "$url"
    else
        (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
    fi
}

if ready; then
    exit 0
fi
if [ -z "${ENGRAM_TEST_DATABASE_URL:-}" ] && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "postgres.sh: starting the local PostgreSQL $version cluster" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do
        ready && exit 0
        sleep 1
    done
fi
echo "postgres.sh: no PostgreSQL answers at $url; install and start one (e.g. apt-get install postgresql)," \
     "or set ENGRAM_TEST_DATABASE_URL to a server where the tests may create databases" >&2
exit 1
