#!/usr/bin/env python3
"""The issue's performance targets, met or missed, from the JSON lines of `make bench`.

Usage: python3 bench/targets.py [RESULTS_DIR]   (default: bench/results next to this script)

Reads the files bench/run.sh writes in RESULTS_DIR:
  <scale>.json            SQLite, back-filled load, scenarios, latency pass (c=1), disk size
  <scale>-live.json       SQLite, live load from empty, disk size, batch-ingest (live) into it
  limit-<scale>.json      the physical limit on SQLite (limit-sqlite, live and backfill)
  pg-r<N>-<scale>.json    PostgreSQL, N replicas, back-filled load (analyzed), scenarios
  pg-noanalyze-<scale>.json  PostgreSQL, fresh database, no ANALYZE, live load from empty
  limit-pg-<scale>.json   the physical limit on PostgreSQL (limit-postgres, COPY)
and prints the target table (measured value, target, met or missed; measured at the largest scale
present: SQLite and PostgreSQL at 10^6 as the issue asks, if that was run), then Engram's load as a
share of the physical limit at each scale (goal: at least 50 %). The same text goes to
RESULTS_DIR/targets.txt. Lines of older runs without a "times" field count as back-filled.
"""

import json
import os
import re
import sys
import time

LIMIT_GOAL_PCT = 50.0


def read_lines(path):
    lines = []
    with open(path) as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                print(f"warning: {path}: a line is not JSON", file=sys.stderr)
    return lines


def collect(results):
    """{kind: {key: (file name, lines)}}, kind one of the file families above."""
    patterns = {
        "sqlite": r"^(\d+)\.json$",
        "sqlite-live": r"^(\d+)-live\.json$",
        "limit-sqlite": r"^limit-(\d+)\.json$",
        "pg": r"^pg-r(\d+)-(\d+)\.json$",
        "pg-noanalyze": r"^pg-noanalyze-(\d+)\.json$",
        "limit-pg": r"^limit-pg-(\d+)\.json$",
    }
    found = {kind: {} for kind in patterns}
    for name in sorted(os.listdir(results)):
        for kind, pattern in patterns.items():
            m = re.match(pattern, name)
            if m:
                key = tuple(int(g) for g in m.groups())
                key = key[0] if len(key) == 1 else key
                found[kind][key] = (name, read_lines(os.path.join(results, name)))
    return found


def times_of(line):
    return line.get("times") or "backfill"


def last(lines, scenario, concurrency=None, times=None, not_concurrency=None):
    """The last line of `scenario` (with successes) matching the filters, or None."""
    for line in reversed(lines):
        if line.get("scenario") != scenario:
            continue
        if concurrency is not None and line.get("concurrency") != concurrency:
            continue
        if not_concurrency is not None and line.get("concurrency") == not_concurrency:
            continue
        if times is not None and times_of(line) != times:
            continue
        if scenario not in ("disk",) and not scenario.startswith("limit") and not line.get("requests"):
            continue
        return line
    return None


def scale_name(n):
    if n is None:
        return "-"
    for exp in range(9, 2, -1):
        if n == 10**exp:
            return f"10^{exp}"
    return f"{n:,}"


def num(x, digits=0):
    return f"{x:,.{digits}f}"


class Table:
    def __init__(self):
        self.rows = []

    def add(self, label, at, measured, target, ok, source):
        """ok: True (met), False (missed), None (not measured)."""
        verdict = {True: "met", False: "**missed**", None: "not measured"}[ok]
        self.rows.append((label, scale_name(at) if at else "-", measured if ok is not None else "-", target,
                          verdict, source or "-"))

    def render(self, headers):
        widths = [max(len(str(r[i])) for r in self.rows + [headers]) for i in range(len(headers))]
        out = ["| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths)) + " |",
               "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        for r in self.rows:
            out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
        return out


def rate(line):
    return line.get("memories_per_s") or line.get("throughput") or 0.0


def targets(found):
    t = Table()
    notes = []
    sqlite_scales = sorted(set(found["sqlite"]) | set(found["sqlite-live"]))
    s = sqlite_scales[-1] if sqlite_scales else None
    back_name, back = found["sqlite"].get(s, (None, []))
    live_name, live = found["sqlite-live"].get(s, (None, []))
    if s is not None and s != 10**6:
        notes.append(f"SQLite measured at {scale_name(s)} memories; the targets are for 10^6.")

    # Batch ingest.
    line = last(live, "load", times="live")
    t.add("batch ingest live, AddMemories x 500, 4 clients, 0 -> 10^6", s,
          f"{num(rate(line))} mem/s" if line else None, ">= 25,000 mem/s",
          None if not line else rate(line) >= 25000, live_name)
    line = last(live, "batch-ingest", times="live")
    t.add("the same into a store of 10^6 (batch-ingest, live)", s,
          f"{num(rate(line))} mem/s, p99 {num(line['p99_ms'], 0)} ms" if line else None, ">= 20,000 mem/s",
          None if not line else rate(line) >= 20000, live_name)
    line = last(back, "load", times="backfill")
    t.add("batch ingest back-filled (7 days), 0 -> 10^6", s,
          f"{num(rate(line))} mem/s" if line else None, ">= 8,000 mem/s",
          None if not line else rate(line) >= 8000, back_name)

    # Unary add.
    line = last(back, "unary-add")
    t.add(f"unary AddMemory, {line['concurrency'] if line else 32} clients", s,
          f"{num(line['requests_per_s'])} req/s, p99 {num(line['p99_ms'], 1)} ms" if line else None,
          ">= 5,000 req/s, p99 <= 20 ms",
          None if not line else line["requests_per_s"] >= 5000 and line["p99_ms"] <= 20, back_name)

    # Reads.
    line = last(back, "recall", concurrency=1)
    t.add("recall (agent, since 24h, limit 100), c=1", s,
          f"p99 {num(line['p99_ms'], 2)} ms (p50 {num(line['p50_ms'], 2)})" if line else None, "p99 <= 2 ms",
          None if not line else line["p99_ms"] <= 2, back_name)
    line = last(back, "recall", not_concurrency=1)
    t.add(f"recall, c={line['concurrency'] if line else 8}", s,
          f"{num(line['requests_per_s'])} req/s (p99 {num(line['p99_ms'], 1)} ms)" if line else None,
          ">= 2,000 req/s", None if not line else line["requests_per_s"] >= 2000, back_name)
    line = last(back, "search", concurrency=1)
    t.add("tag search, c=1", s,
          f"p99 {num(line['p99_ms'], 2)} ms (p50 {num(line['p50_ms'], 2)})" if line else None, "p99 <= 3 ms",
          None if not line else line["p99_ms"] <= 3, back_name)
    line = last(back, "context", concurrency=1)
    t.add("BuildContext 4,000 tokens, c=1", s,
          f"p99 {num(line['p99_ms'], 2)} ms (p50 {num(line['p50_ms'], 2)})" if line else None, "p99 <= 5 ms",
          None if not line else line["p99_ms"] <= 5, back_name)
    line = last(back, "stats", concurrency=1)
    t.add("GetAgentStats, c=1" + (f" (agents of ~{num(line['mean_results'])} memories)" if line else ""), s,
          f"p99 {num(line['p99_ms'], 2)} ms (p50 {num(line['p50_ms'], 2)})" if line else None, "p99 <= 5 ms",
          None if not line else line["p99_ms"] <= 5, back_name)

    # Memory and disk.
    hwm = [(l.get("hwm_mb"), l.get("scenario")) for l in back + live if l.get("hwm_mb") is not None]
    if hwm:
        peak, scenario = max(hwm)
        t.add("server RSS (peak over the SQLite runs)", s, f"{num(peak)} MB (during {scenario})", "<= 300 MB",
              peak <= 300, ", ".join(n for n in (back_name, live_name) if n))
    else:
        t.add("server RSS (peak over the SQLite runs)", s, None, "<= 300 MB", None, None)
    disks = [(name, last(lines, "disk")) for name, lines in ((back_name, back), (live_name, live))]
    disks = [(name, d) for name, d in disks if d]
    if disks:
        worst = max(d["bytes_per_memory"] for _, d in disks)
        def one(d):
            text = f"{times_of(d)} {num(d['mb'], 1)} MB ({num(d['bytes_per_memory'])} B/memory"
            if d.get("checkpointed_mb") is not None:
                text += f"; {num(d['checkpointed_mb'], 1)} MB checkpointed"
            return text + ")"
        measured = ", ".join(one(d) for _, d in disks)
        t.add("store on disk, 10^6 memories of ~200 B (engram.db + wal)", s, measured,
              "<= 600 MB (600 B/memory)", worst <= 600, ", ".join(n for n, _ in disks))
    else:
        t.add("store on disk, 10^6 memories of ~200 B (engram.db + wal)", s, None, "<= 600 MB", None, None)

    # PostgreSQL.
    pg1 = sorted(scale for (replicas, scale) in found["pg"] if replicas == 1)
    ps = pg1[-1] if pg1 else None
    pg_name, pg = found["pg"].get((1, ps), (None, []))
    if ps is not None and ps != 10**6:
        notes.append(f"PostgreSQL (1 replica) measured at {scale_name(ps)} memories; the targets are for 10^6.")
    line = last(pg, "batch-ingest")
    t.add("PostgreSQL 1 replica: batch ingest at 10^6", ps,
          f"{num(rate(line))} mem/s ({times_of(line)})" if line else None, ">= 20,000 mem/s",
          None if not line else rate(line) >= 20000, pg_name)
    line = last(pg, "recall", concurrency=1)
    t.add("PostgreSQL 1 replica: recall, c=1", ps,
          f"p99 {num(line['p99_ms'], 2)} ms (p50 {num(line['p50_ms'], 2)})" if line else None, "p99 <= 3 ms",
          None if not line else line["p99_ms"] <= 3, pg_name)
    na_scales = sorted(found["pg-noanalyze"])
    ns = 10**5 if 10**5 in na_scales else (na_scales[-1] if na_scales else None)
    na_name, na = found["pg-noanalyze"].get(ns, (None, []))
    if ns is not None and ns != 10**5:
        notes.append(f"PostgreSQL without ANALYZE measured at {scale_name(ns)} memories; the target is for 10^5.")
    line = last(na, "load")
    t.add("PostgreSQL, fresh database, no ANALYZE: load 0 -> 10^5", ns,
          f"{num(rate(line))} mem/s ({times_of(line)})" if line else None, ">= 15,000 mem/s",
          None if not line else rate(line) >= 15000, na_name)
    return t, notes


def limits(found):
    """Engram's load from empty against the physical limit of the same rows, per backend, scale, times."""
    t = Table()
    pairs = []
    for scale, (limit_name, limit_lines) in sorted(found["limit-sqlite"].items()):
        for times, (name, lines) in (("live", found["sqlite-live"].get(scale, (None, []))),
                                      ("backfill", found["sqlite"].get(scale, (None, [])))):
            pairs.append(("SQLite", scale, times, name, last(lines, "load", times=times),
                          last(lines, "disk", times=times), limit_name, last(limit_lines, "limit-sqlite", times=times)))
    for scale, (limit_name, limit_lines) in sorted(found["limit-pg"].items()):
        for times, label, (name, lines) in (
                ("live", "PostgreSQL, no ANALYZE", found["pg-noanalyze"].get(scale, (None, []))),
                ("backfill", "PostgreSQL 1 replica", found["pg"].get((1, scale), (None, [])))):
            pairs.append((label, scale, times, name, last(lines, "load", times=times), None, limit_name,
                          last(limit_lines, "limit-postgres", times=times)))
    for backend, scale, times, name, engram, disk, limit_name, limit in pairs:
        if not limit or not name:
            # No limit, or no Engram run of that kind at that scale (the limit's own numbers are in
            # limit-*.txt).
            continue
        limit_rate = rate(limit)
        size = f"; limit {num(limit['mb'], 1)} MB ({num(limit['bytes_per_memory'])} B/mem)"
        if disk:
            # The limit's size is after a checkpoint: compare with Engram's checkpointed store.
            mb, per = disk.get("checkpointed_mb"), disk.get("checkpointed_bytes_per_memory")
            if mb is None:
                mb, per = disk["mb"], disk["bytes_per_memory"]
            size += f", Engram {num(mb, 1)} MB ({num(per)} B/mem)"
        if engram and limit_rate > 0:
            pct = rate(engram) / limit_rate * 100
            measured = f"{num(pct, 1)} % ({num(rate(engram))} of {num(limit_rate)} mem/s{size})"
            ok = pct >= LIMIT_GOAL_PCT
        else:
            measured, ok = f"limit {num(limit_rate)} mem/s{size}", None
        t.add(f"{backend}, load 0 -> N, {times} times, {limit.get('batch_size')} per transaction", scale,
              measured if ok is not None else None, f">= {LIMIT_GOAL_PCT:.0f} % of the limit", ok,
              ", ".join(n for n in (name, limit_name) if n))
        if ok is None:
            t.rows[-1] = t.rows[-1][:2] + (measured,) + t.rows[-1][3:]
    return t


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results")
    if not os.path.isdir(results):
        sys.exit(f"error: {results} is not a directory")
    found = collect(results)
    out = [f"# Engram targets, from the JSON lines in {results} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
           ""]
    table, notes = targets(found)
    out += table.render(("target", "at", "measured", "goal", "verdict", "from"))
    met = sum(1 for r in table.rows if r[4] == "met")
    measured = sum(1 for r in table.rows if r[4] != "not measured")
    out += ["", f"{met} of {measured} measured targets met ({len(table.rows)} in all)."]
    out += [f"Note: {n}" for n in notes]
    out += ["", "## Physical limit: Engram's load from empty as a share of a minimal program inserting the same",
            "## rows into the same schema (SQLite: prepared INSERTs, same pragmas; PostgreSQL: COPY binary)", ""]
    limit_table = limits(found)
    if limit_table.rows:
        out += limit_table.render(("comparison", "at", "Engram / limit", "goal", "verdict", "from"))
        out += ["", "(The limit writes memories and memory_tags only: no request handling, dedup lookups, "
                "memory_dedup or memory_counts.)"]
    else:
        out += ["no limit-*.json results"]
    text = "\n".join(out) + "\n"
    print(text, end="")
    with open(os.path.join(results, "targets.txt"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
