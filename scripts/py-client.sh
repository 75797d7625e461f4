#!/usr/bin/env bash
# The Python client (clients/python, distribution engram-client, import engram):
#   gen    regenerate the gRPC stubs src/engram/v1 from proto/ (grpcio-tools, pinned in
#          clients/python/requirements-gen.txt)
#   check  regenerate into a temporary directory and fail when the checked-in stubs differ, or when
#          pyproject.toml's protobuf>= / grpcio>= floors are not the versions the stubs need
#   wheel  build the wheel into DIR (default: clients/python/dist) and print its path
set -euo pipefail
cd "$(dirname "$0")/.."
client=clients/python
out=$client/src/engram/v1
tools=${ENGRAM_PY_TOOLS:-.tools/py-client}
python=${PYTHON:-python3}

tools_env() {
    command -v "$python" >/dev/null || { echo "py-client: $python not found" >&2; exit 1; }
    if [ ! -x "$tools/bin/python" ]; then
        mkdir -p "$(dirname "$tools")"
        "$python" -m venv "$tools" || { echo "py-client: cannot create $tools (install python3-venv)" >&2; exit 1; }
    fi
    if ! cmp -s $client/requirements-gen.txt "$tools/.requirements"; then
        "$tools/bin/python" -m pip install --quiet --disable-pip-version-check -r $client/requirements-gen.txt \
            || { echo "py-client: pip could not install $client/requirements-gen.txt" >&2; exit 1; }
        cp $client/requirements-gen.txt "$tools/.requirements"
    fi
}

# generate DIR: the stubs of every proto/engram/v1/*.proto into DIR (the engram.v1 package).
generate() {
    local dest=$1 tmp
    tmp=$(mktemp -d)
    "$tools/bin/python" -m grpc_tools.protoc -I proto \
        --python_out="$tmp" --pyi_out="$tmp" --grpc_python_out="$tmp" proto/engram/v1/*.proto
    printf '%s\n' '"""engram.v1 messages and service stubs, generated from proto/engram/v1 by' \
        '`scripts/py-client.sh gen` (grpcio-tools). Do not edit."""' > "$tmp/engram/v1/__init__.py"
    rm -rf "$dest"
    mkdir -p "$(dirname "$dest")"
    mv "$tmp/engram/v1" "$dest"
    rm -rf "$tmp"
}

case ${1:-} in
gen)
    tools_env
    generate "$out"
    echo "py-client: regenerated $out"
    ;;
check)
    tools_env
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    generate "$tmp/v1"
    if ! diff -r -q -x __pycache__ "$tmp/v1" "$out" >/dev/null 2>&1; then
        diff -r -u -x __pycache__ "$out" "$tmp/v1" | head -40 >&2 || true
        echo "py-client: $out is stale: it differs from what proto/ generates; run \`make py-client\` (scripts/py-client.sh gen) and commit the result" >&2
        exit 1
    fi
    pb=$(sed -n 's/^# Protobuf Python Version: //p' "$out/common_pb2.py")
    grpc=$(sed -n "s/^GRPC_GENERATED_VERSION = '\(.*\)'/\1/p" "$out/common_pb2_grpc.py")
    for dep in "protobuf>=$pb" "grpcio>=$grpc"; do
        grep -q "\"$dep[,\"]" $client/pyproject.toml \
            || { echo "py-client: $client/pyproject.toml must require $dep (the version the stubs were generated for)" >&2; exit 1; }
    done
    echo "py-client: $out is up to date (protobuf>=$pb, grpcio>=$grpc)"
    ;;
wheel)
    tools_env
    dist=${2:-$client/dist}
    mkdir -p "$dist"
    "$tools/bin/python" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$dist" "./$client" \
        || { echo "py-client: building the wheel failed" >&2; exit 1; }
    wheel=$(ls -t "$dist"/engram_client-*.whl | head -1)
    "$tools/bin/python" - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["engram/__init__.py", "engram/py.typed", "engram/v1/__init__.py", "engram/v1/memories_pb2.py",
        "engram/v1/memories_pb2.pyi", "engram/v1/memories_pb2_grpc.py"]
missing = [n for n in need if n not in names]
if missing:
    sys.exit(f"py-client: the wheel lacks {missing}")
PY
    echo "$wheel"
    ;;
*)
    echo "usage: scripts/py-client.sh gen|check|wheel [DIR]" >&2
    exit 2
    ;;
esac
