import re, sys, statistics
classes = [("id lookup (GetMemory, delete, read-access update)", re.compile(r"legacy_id = \$")),
           ("org advisory lock wait", re.compile(r"pg_advisory_xact_lock")),
           ("COPY (group commit)", re.compile(r"COPY ")),
           ("recent memories of an agent (context)", re.compile(r"m\.agent_key = \(SELECT key FROM agents")),
           ("other", re.compile(r""))]
for label in sys.argv[1:]:
    d = {c: [] for c, _ in classes}
    for line in open(f"/tmp/pgsoak-{label}/slow.log", errors="replace"):
        m = re.search(r"duration: ([0-9.]+) ms", line)
        if not m: continue
        for c, rx in classes:
            if rx.search(line):
                d[c].append(float(m.group(1))); break
    total = sum(len(v) for v in d.values())
    print(f"== {label}: {total} statements over 5 ms")
    print(f"   {'class':52} {'count':>6} {'median ms':>9} {'max ms':>8} {'sum s':>7}")
    for c, v in d.items():
        if v: print(f"   {c:52} {len(v):6} {statistics.median(v):9.1f} {max(v):8.1f} {sum(v)/1000:7.1f}")
