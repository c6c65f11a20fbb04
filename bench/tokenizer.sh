#!/bin/sh
# Tokenizer throughput, ours vs llama.cpp, on ../shared/text/war-and-peace.txt (3.2 MB) for the
# llama-spm, llama-bpe and qwen2 vocabularies: whole text in one call and one call per paragraph,
# REPS alternating runs each (default 5), medians with min-max. One JSON line per measurement.
#   sh bench/tokenizer.sh [REPS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
shared=${AI_SHARED_DIR:-$(dirname "$here")/../shared}
tool=$(sh "$here/build_peer.sh")
for v in llama-spm llama-bpe qwen2; do
    for mode in bench bench-paragraphs; do
        "$tool" "$mode" "$shared/vocab/ggml-vocab-$v.gguf" "$shared/text/war-and-peace.txt" "${1:-5}"
    done
done
