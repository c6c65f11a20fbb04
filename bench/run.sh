#!/bin/sh
# bench/run.sh [compare.py options] — ai.hpp vs llama.cpp speed table (see bench/compare.py).
# Builds `ai` and `make_model` as users get them (build-bench/: Release, baseline x86-64 flags,
# runtime dispatch picks the AVX2 / AVX-512 kernels; AI_BENCH_BUILD to use another folder), then
# runs bench/compare.py with them. Examples:
#   sh bench/run.sh --quick                                   # smoke test, ~30 s
#   sh bench/run.sh --models tinyllama-1.1b --types Q4_0      # one model x type, threads 1 and 2
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${AI_BENCH_BUILD:-$root/build-bench}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS= >/dev/null
cmake --build "$build" --target ai_cli make_model >&2
exec python3 "$root/bench/compare.py" --ai "$build/ai" --make-model "$build/make_model" "$@"
