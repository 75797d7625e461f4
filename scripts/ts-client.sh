#!/usr/bin/env bash
# TypeScript clients from proto/ (README "Other languages"), tested against the real binary:
#   scripts/ts-client.sh          generate TypeScript (ts-proto, @grpc/grpc-js services) from every
#                                 proto/engram/v1/*.proto, type-check it with tsc (strict), start
#                                 `engram serve` on a free port and run clients/typescript/smoke.ts
#                                 against it (add a memory, list it back, the error paths)
#   scripts/ts-client.sh gen DIR  only generate the TypeScript into DIR (a client of your own)
# The tools are the exact versions of clients/typescript/package-lock.json, installed with `npm ci`
# into .tools/ts-client (git-ignored; reinstalled only when the lockfile changes). The server is
# $ENGRAM_BIN (default target/debug/engram).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
client=clients/typescript
tools=${ENGRAM_TS_TOOLS:-.tools/ts-client}

need() {
    command -v "$1" >/dev/null || {
        echo "ts-client: $1 is required and was not found on PATH (install Node.js 18 or later with npm, e.g. apt-get install nodejs npm)" >&2
        exit 1
    }
}

tools_env() {
    need node
    need npm
    mkdir -p "$tools"
    tools=$(cd "$tools" && pwd)
    if ! cmp -s $client/package-lock.json "$tools/.package-lock.json" || [ ! -d "$tools/node_modules" ]; then
        echo "ts-client: installing the pinned tools ($client/package-lock.json) into $tools"
        rm -f "$tools/.package-lock.json"
        cp $client/package.json $client/package-lock.json "$tools/"
        (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error) \
            || { echo "ts-client: npm ci failed in $tools (is the npm registry reachable?)" >&2; exit 1; }
        cp $client/package-lock.json "$tools/.package-lock.json"
    fi
    export PATH="$tools/node_modules/.bin:$PATH"
}

# generate DIR: ts-proto's TypeScript for every proto/engram/v1/*.proto into DIR/engram/v1 (and the
# well-known types it uses into DIR/google/protobuf).
generate() {
    local dest=$1
    rm -rf "$dest"
    mkdir -p "$dest"
    # The template's `out: gen` is relative to -o.
    buf generate "$root/proto" --template "$root/$client/buf.gen.yaml" -o "$dest.buf"
    mv "$dest.buf/gen/"* "$dest/"
    rm -rf "$dest.buf"
}

case ${1:-} in
gen)
    [ $# -eq 2 ] || { echo "usage: scripts/ts-client.sh gen DIR" >&2; exit 2; }
    tools_env
    mkdir -p "$2"
    dest=$(cd "$2" && pwd)
    generate "$dest"
    echo "ts-client: generated $(find "$dest" -name '*.ts' | wc -l) files into $dest"
    ;;
"")
    bin=${ENGRAM_BIN:-target/debug/engram}
    [ -x "$bin" ] || { echo "ts-client: $bin does not exist: run \`cargo build -p engram-server\` (make test does) or set ENGRAM_BIN" >&2; exit 1; }
    tools_env
    start=$(date +%s)

    # The build tree lives under $tools so that tsc and node resolve its node_modules.
    build=$tools/build
    rm -rf "$build"
    mkdir -p "$build"
    cp $client/smoke.ts $client/tsconfig.json "$build/"
    echo "==> ts-client: buf generate (ts-proto) from proto/engram/v1"
    generate "$build/gen"
    echo "==> ts-client: tsc --strict over the generated code and smoke.ts"
    tsc -p "$build" || { echo "ts-client: the generated TypeScript or smoke.ts does not type-check" >&2; exit 1; }

    data=$(mktemp -d)
    mkdir "$data/store"
    pid=
    cleanup() {
        if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
        rm -rf "$data"
    }
    trap cleanup EXIT
    env -u DATABASE_URL ENGRAM_LOG_LEVEL=warn \
        "$bin" serve --listen 127.0.0.1:0 --data-dir "$data/store" >"$data/stdout" &
    pid=$!
    addr=
    for _ in $(seq 600); do
        addr=$(sed -n 's/^engram: listening on \([^ ]*\).*/\1/p' "$data/stdout" | head -1)
        [ -n "$addr" ] && break
        kill -0 "$pid" 2>/dev/null || { echo "ts-client: engram exited before listening" >&2; cat "$data/stdout" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "ts-client: engram did not report its address within 60 s" >&2; exit 1; }
    echo "==> ts-client: smoke.ts against engram on $addr"
    ENGRAM_ADDR=$addr ENGRAM_API_KEY=$(cat "$data/store/admin.key") node "$build/out/smoke.js"
    echo "ts-client: done in $(( $(date +%s) - start )) s"
    ;;
*)
    echo "usage: scripts/ts-client.sh [gen DIR]" >&2
    exit 2
    ;;
esac
