#!/usr/bin/env bash
# usage: pgsoak.sh ENGRAM_BIN LABEL MINUTES
set -euo pipefail
bin=$1; label=$2; minutes=${3:-5}
db=engram_plan_$label
out=/tmp/pgsoak-$label; rm -rf $out; mkdir -p $out
psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" -c "ALTER DATABASE $db SET log_min_duration_statement = 5"
log=/var/log/postgresql/postgresql-15-main.log
start=$(stat -c %s $log)
/work/main/target/debug/engram-bench --server-bin "$bin" --data-dir $out/data --database-url "postgres://postgres@127.0.0.1:5432/$db" --timeout 60 \
  soak --minutes "$minutes" --kill-every 100000 --backends postgres --summary $out/soak.json > $out/soak.txt 2>&1 || echo "soak rc=$?"
tail -c +$((start+1)) $log | grep "@$db" > $out/slow.log || true
echo "slow statements (>5 ms): $(grep -c 'duration:' $out/slow.log || true)"
grep -o 'statement: .*\|execute [^:]*: .*' $out/slow.log | cut -c1-110 | sort | uniq -c | sort -rn | head -15
grep -E "summary|acked|deleted|PASS|FAIL" $out/soak.txt | tail -15
