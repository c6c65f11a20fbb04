#!/usr/bin/env bash
# Installs everything the build and the tests need on a Debian machine (as root; idempotent, fast
# when all is present): Debian packages, the Python packages of the peer scripts, and llama.cpp's
# oracle (the npm package node-llama-cpp, built by ../shared/tools/oracle). The README's test
# command and .ci/run start with it.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
export AI_SHARED_DIR=${AI_SHARED_DIR:-$(cd "$root/.." && pwd)/shared}
export DEBIAN_FRONTEND=noninteractive
logs=$(mktemp -d /tmp/ai-setup.XXXXXX)
begin() { phase=$1; t_phase=$(date +%s); echo "==== setup: $phase"; }
end() { echo "==== setup: $phase done in $(( $(date +%s) - t_phase )) s"; }
trap 'echo "==== setup FAILED in: $phase"' ERR

# ---- 1. packages ---------------------------------------------------------------------------------
begin "apt packages"
pkgs=(g++ clang cmake ninja-build meson pkg-config git libxsimd-dev doctest-dev libstb-dev
      g++-mingw-w64-x86-64 libclang-rt-14-dev    # clang's sanitizer/libFuzzer runtime (tests/fuzz.sh)
      g++-aarch64-linux-gnu qemu-user)           # the NEON kernels, built and run by tests/arm.sh
# node/npm and python3 usually come with the machine (not from Debian): only add them if absent.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
command -v python3 >/dev/null 2>&1 || pkgs+=(python3 python3-pip)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
            </dev/null >"$logs/apt.log" 2>&1; then
        tail -n 40 "$logs/apt.log"; false
    fi
else
    echo "all present: ${pkgs[*]}"
fi
end

begin "pip packages"
pip_args=(install -q --disable-pip-version-check --no-input gguf==0.19.0 numpy==2.4.6 unicodedata2==15.1.0)
if ! python3 -m pip "${pip_args[@]}" >"$logs/pip.log" 2>&1; then
    if grep -q externally-managed "$logs/pip.log"; then   # Debian's own python3
        python3 -m pip "${pip_args[@]}" --break-system-packages
    else
        cat "$logs/pip.log"; false
    fi
fi
python3 -c 'import sys, gguf, numpy, importlib.metadata as m; print("python", sys.version.split()[0], "gguf", m.version("gguf"), "numpy", numpy.__version__)'
end

begin "xsimd 14 headers (compile matrix)"
# Debian has xsimd 8.1; the current API (13/14) is compiled too, from the copy pythran vendors.
xs14=${AI_XSIMD14_INCLUDE:-$HOME/.cache/ai/xsimd14}
if [ ! -f "$xs14/xsimd/xsimd.hpp" ]; then
    tmp=$(mktemp -d)
    python3 -m pip download -q --disable-pip-version-check --no-deps pythran==0.19.0 -d "$tmp" >"$logs/pythran.log" 2>&1 || { cat "$logs/pythran.log"; false; }
    python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith("pythran/xsimd/")]' "$tmp"/pythran-*.whl "$tmp"
    mkdir -p "$xs14" && cp -r "$tmp/pythran/xsimd" "$xs14/" && rm -rf "$tmp"
fi
grep -h '#define XSIMD_VERSION_MAJOR' "$xs14/xsimd/config/xsimd_config.hpp"
end

begin "llama.cpp oracle"
sh tests/oracle.sh >/dev/null
end

