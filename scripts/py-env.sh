#!/usr/bin/env bash
# Creates the virtualenv of the Python compatibility tests (.venv, or $ENGRAM_VENV) and installs
# tests/python/requirements.txt from PyPI. Fails loudly: the REST suite must never be skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${ENGRAM_VENV:-.venv}
python=${PYTHON:-python3}
command -v "$python" >/dev/null || { echo "py-env: $python not found; the REST tests need Python 3.9+" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv" || { echo "py-env: cannot create $venv (install python3-venv)" >&2; exit 1; }
fi
stamp="$venv/.requirements"
# The stamp also holds the client's pyproject.toml (installed editable from requirements.txt), so a
# change of its dependencies reinstalls.
if ! cat tests/python/requirements.txt clients/python/pyproject.toml | cmp -s - "$stamp"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt \
        || { echo "py-env: pip could not install tests/python/requirements.txt from PyPI" >&2; exit 1; }
    cat tests/python/requirements.txt clients/python/pyproject.toml > "$stamp"
fi
echo "$venv"
