#!/usr/bin/env bash
# ai_tests for AArch64: cross-compiled (g++-aarch64-linux-gnu, static) and run under qemu-aarch64.
# Checks the NEON code paths this x86 machine cannot run natively: ai::simd's int8 dot products
# (ai.hpp, "ai::simd int8 kernels on AArch64") and xsimd's float kernels on NEON, against their
# ai::ref twins, and the runtime built on them. One build, as CMake makes it on AArch64: the
# library for baseline armv8-a (int8 sums by widening multiplies and pairwise adds: every AArch64
# CPU) plus the `dotprod` dispatch unit (-march=armv8.2-a+dotprod: sdot), with AI_DISPATCH. It runs
# on two emulated CPUs:
#   -cpu cortex-a76  (Raspberry Pi 5) has dotprod: sets dotprod, neon and scalar all tested;
#                    default dotprod
#   -cpu cortex-a53  (Raspberry Pi 3) has not: dotprod listed but not run (it would fault);
#                    default neon
# and `ai info --cpu --json`, built the same way, must name that default on each. With llama.cpp's
# oracle at hand (AI_ORACLE, LLAMA_BINS and AI_MAKE_MODEL set, as ctest sets them), the AArch64
# programs also face the peer on both CPUs: tests/check_runtime_peer.py --no-real (random-weight
# llama / qwen2 / qwen3 models in F32 ... Q2_K, logits against llama.cpp's by its KL rules, 1 and
# 2 threads bit-identical) through runtime_tool, tests/check_run_cli.py (stories260K: the golden
# greedy ids, logits against llama.cpp) through ai, and tests/check_quants_peer.py (dequantization
# of 13 llama.cpp file types within 1 ulp, our quantizers' error against llama.cpp's) through
# quant_tool. Clang, where installed, compiles the implementation for AArch64 too.
#
#   bash tests/arm.sh                           # everything (~4 min on 2 cores)
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

flags=(-std=c++17 -O2 -Wall -Wextra -Wpedantic -Werror -I"$root" -isystem "$work/include")
fail() { echo "arm: FAIL  $1"; [ -f "${2:-}" ] && tail -n 60 "$2"; exit 1; }
# program NAME SOURCES...: linked as CMake links it on AArch64 (baseline + the dotprod unit)
program() {
    local name=$1; shift
    "$cxx" "${flags[@]}" -march=armv8-a -DAI_DISPATCH -static -pthread "$@" "$work/dotprod.o" -o "$work/$name" >"$work/build.log" 2>&1 ||
        fail "build of $name" "$work/build.log"
}
t0=$(date +%s)
"$cxx" "${flags[@]}" -march=armv8.2-a+dotprod -DAI_DISPATCH_TARGET=dotprod -c "$root/ai.cpp" -o "$work/dotprod.o" >"$work/build.log" 2>&1 ||
    fail "build of the dotprod unit" "$work/build.log"
program ai_tests "${sources[@]}"
program ai "$root/examples/ai.cpp"
peer=0
if [ -n "${AI_ORACLE:-}" ] && [ -x "${AI_ORACLE:-}" ] && [ -n "${LLAMA_BINS:-}" ] && [ -n "${AI_MAKE_MODEL:-}" ] && [ -x "${AI_MAKE_MODEL:-}" ]; then
    peer=1
    program runtime_tool "$root/tests/runtime_tool.cpp"
    program quant_tool "$root/tests/quant_tool.cpp"
    "$AI_MAKE_MODEL" "$work/peer-model.gguf" >"$work/build.log" 2>&1 || fail "make_model" "$work/build.log"
else
    echo "arm: no oracle (AI_ORACLE, LLAMA_BINS, AI_MAKE_MODEL): the peer checks are left out"
    [ "${CI:-}" = "true" ] && fail "CI=true needs the peer checks"
fi
echo "arm: built ai_tests, ai$([ $peer = 1 ] && echo ', runtime_tool, quant_tool') for armv8-a + the dotprod unit in $(( $(date +%s) - t0 )) s"
# Clang too, where installed (its pragmas and warnings differ on this target): the implementation
# for both -march levels and the dotprod unit, as objects.
if command -v clang++ >/dev/null 2>&1; then
    for march in armv8-a armv8.2-a+dotprod; do
        clang++ --target=aarch64-linux-gnu -march="$march" "${flags[@]}" -c "$root/tests/compile/impl.cpp" -o "$work/clang.o" >"$work/build.log" 2>&1 ||
            fail "clang++ --target=aarch64-linux-gnu -march=$march, tests/compile/impl.cpp" "$work/build.log"
    done
    clang++ --target=aarch64-linux-gnu -march=armv8.2-a+dotprod -DAI_DISPATCH_TARGET=dotprod "${flags[@]}" -c "$root/ai.cpp" -o "$work/clang.o" >"$work/build.log" 2>&1 ||
        fail "clang++ --target=aarch64-linux-gnu, the dotprod unit" "$work/build.log"
    echo "arm: clang++ compiles the implementation for armv8-a and armv8.2-a+dotprod, and the dotprod unit"
fi

for cpu_default in cortex-a76:dotprod cortex-a53:neon; do
    cpu=${cpu_default%%:*} want=${cpu_default#*:}
    info=$("$qemu" -cpu "$cpu" "$work/ai" info --cpu --json 2>&1) || fail "ai info --cpu under -cpu $cpu: $info"
    got=$(printf '%s' "$info" | python3 -c 'import json, sys; print([k["name"] for k in json.load(sys.stdin)["kernel_sets"] if k["default"]][0])') ||
        fail "ai info --cpu --json under -cpu $cpu: $info"
    [ "$got" = "$want" ] || fail "-cpu $cpu: default kernel set $got, expected $want ($info)"
    t1=$(date +%s)
    "$qemu" -cpu "$cpu" "$work/ai_tests" --no-version -tc="$cases" >"$work/run.log" 2>&1 || fail "ai_tests under -cpu $cpu" "$work/run.log"
    echo "arm: PASS  -cpu $cpu (default set $got; ai_tests $(( $(date +%s) - t1 )) s): $(grep -E '^\[doctest\] (test cases|assertions)' "$work/run.log" | tr -s ' ' | tr '\n' ' ')"
    [ $peer = 1 ] || continue
    for prog in ai runtime_tool quant_tool; do  # the scripts run programs by path: a wrapper per CPU
        printf '#!/bin/sh\nexec "%s" -cpu %s "%s" "$@"\n' "$qemu" "$cpu" "$work/$prog" >"$work/$prog-$cpu"
        chmod +x "$work/$prog-$cpu"
    done
    t1=$(date +%s)
    python3 "$root/tests/check_runtime_peer.py" --tool "$work/runtime_tool-$cpu" --work "$work/peer-$cpu" --no-real >"$work/peer.log" 2>&1 ||
        fail "check_runtime_peer.py under -cpu $cpu" "$work/peer.log"
    AI_CLI="$work/ai-$cpu" python3 "$root/tests/check_run_cli.py" >>"$work/peer.log" 2>&1 || fail "check_run_cli.py under -cpu $cpu" "$work/peer.log"
    python3 "$root/tests/check_quants_peer.py" --tool "$work/quant_tool-$cpu" --oracle "$AI_ORACLE" --model "$work/peer-model.gguf" \
        --work "$work/quants-$cpu" >>"$work/peer.log" 2>&1 || fail "check_quants_peer.py under -cpu $cpu" "$work/peer.log"
    echo "arm: PASS  -cpu $cpu against llama.cpp ($(( $(date +%s) - t1 )) s): $(grep -E '^[0-9]+ passed, [0-9]+ failed|all checks passed' "$work/peer.log" | tr '\n' ' ')"
done
