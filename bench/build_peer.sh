#!/bin/sh
# Builds bench/tokenizer_vs_llama against llama.cpp's prebuilt library (the oracle's: npm
# node-llama-cpp 3.21.1, release v0.4.0; tests/oracle.sh installs it) and prints the binary's path.
#   sh bench/build_peer.sh [OUT_DIR]     (default /tmp/ai-bench)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:-/tmp/ai-bench}
sh "$root/tests/oracle.sh" >/dev/null
bins=/tmp/oracle/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
mkdir -p "$out"
if [ ! -x "$out/tokenizer_vs_llama" ] || [ "$root/ai.hpp" -nt "$out/tokenizer_vs_llama" ] || [ "$here/tokenizer_vs_llama.cpp" -nt "$out/tokenizer_vs_llama" ]; then
    ${CXX:-g++} -O2 -std=c++17 -I"$root" -I/tmp/oracle/src/include -I/tmp/oracle/src/ggml/include \
        "$here/tokenizer_vs_llama.cpp" -L"$bins" -l:libllama.v0.4.0.so -l:libggml.v0.4.0.so -l:libggml-base.so \
        -Wl,-rpath,"$bins" -o "$out/tokenizer_vs_llama"
fi
echo "$out/tokenizer_vs_llama"
