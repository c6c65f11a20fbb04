#!/usr/bin/env bash
# ai_tests for AArch64: cross-compiled (g++-aarch64-linux-gnu, static) and run under qemu-aarch64.
# Checks the NEON code paths this x86 machine cannot run natively: ai::simd's int8 dot products
# (ai.hpp, "ai::simd int8 kernels on AArch64") and xsimd's float kernels on NEON, against their
# ai::ref twins, and the runtime built on them. Built twice, because the int8 sums take two paths:
#   armv8-a            widening multiplies + pairwise adds (every AArch64 CPU)
#   armv8.2-a+dotprod  sdot (most phones and boards since 2018, Apple M1 and later)
#
#   bash tests/arm.sh                        # both targets, every test case (~1.5 min in all)
#   AI_ARM_CASES='*vec_dot*' bash tests/arm.sh  # doctest's -tc filter
#
# Exit status: 0 passed, 1 failed, 77 skipped (no cross compiler or qemu; under CI=true that is a
# failure, since tests/setup.sh installs both).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cxx=${AI_ARM_CXX:-aarch64-linux-gnu-g++}
qemu=${AI_ARM_QEMU:-qemu-aarch64}
# ai_tests has no x86 dependency: all of it runs (kernels against ref, quantizers, GGUF reader and
# writer, tokenizers, the runtime on random-weight and real models).
cases=${AI_ARM_CASES:-*}

for tool in "$cxx" "$qemu"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "arm: $tool not installed (Debian: g++-aarch64-linux-gnu, qemu-user)"
        [ "${CI:-}" = "true" ] && exit 1
        exit 77
    fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/ai-arm.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The cross compiler does not search the machine's /usr/include: give it xsimd and doctest alone
# (header-only, the same files the native build uses).
mkdir -p "$work/include"
for dep in xsimd doctest; do
    src=$(printf '#include <%s/%s.h%s>\n' "$dep" "$dep" "$([ $dep = xsimd ] && echo pp)" | g++ -x c++ -E -H - 2>&1 >/dev/null | awk 'NR==1{print $2}')
    [ -n "$src" ] || { echo "arm: $dep headers not found"; exit 1; }
    ln -s "$(dirname "$src")" "$work/include/$dep"
done

sources=("$root/tests/test_main.cpp")
for f in "$root"/tests/test_*.cpp; do [ "$f" = "$root/tests/test_main.cpp" ] || sources+=("$f"); done

status=0
for march in armv8-a armv8.2-a+dotprod; do
    exe="$work/ai_tests_${march%%+*}"
    t0=$(date +%s)
    if ! "$cxx" -std=c++17 -O2 -march="$march" -static -pthread -Wall -Wextra -Wpedantic -Werror \
            -I"$root" -isystem "$work/include" "${sources[@]}" -o "$exe" >"$work/build.log" 2>&1; then
        echo "arm: FAIL  build for -march=$march"; tail -n 40 "$work/build.log"; status=1; continue
    fi
    t1=$(date +%s)
    # -cpu max: qemu's model with every extension it emulates (sdot among them).
    if "$qemu" -cpu max "$exe" --no-version -tc="$cases" >"$work/run.log" 2>&1; then
        echo "arm: PASS  -march=$march  (build $((t1 - t0)) s, run $(( $(date +%s) - t1 )) s): $(grep -E '^\[doctest\] (test cases|assertions)' "$work/run.log" | tr -s ' ' | tr '\n' ' ')"
    else
        echo "arm: FAIL  -march=$march"; tail -n 60 "$work/run.log"; status=1
    fi
done
exit $status
