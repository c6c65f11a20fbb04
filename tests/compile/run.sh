#!/usr/bin/env bash
# Compiles ai.hpp in every configuration (sokol's tests/compile idea; STYLE.md habit 10).
#
#   bash tests/compile/run.sh            # the whole matrix, 2 jobs at a time (AI_COMPILE_JOBS=N)
#   AI_COMPILE_FILTER=no_stdio bash tests/compile/run.sh   # only configs whose line matches
#
# Each TU in this folder says at its top what it checks. The matrix:
#   decl impl no_stdio no_mmap custom_alloc all_options (+AI_NO_SIMD) api_static
#       x {g++, clang++} x {-std=c++17, -std=c++20} x {default, -fno-exceptions -fno-rtti}
#       (-fsyntax-only; all with -Wall -Wextra -Wpedantic -Werror)
#   ai.cpp (the two-line file at the root) compiled to an object by each compiler
#   impl compiled at -O2 (flow warnings such as -Wmaybe-uninitialized appear only when optimizing)
#   impl with -march=x86-64-v3 and -march=x86-64-v4 (the AVX2 / AVX-512 code paths)
#   link: link_main.cpp + link_other.cpp + impl.cpp linked into a program (ODR, missing symbols)
#   dispatch: the same program with AI_DISPATCH and the avx2 / avx512 units (ai.cpp with
#       -DAI_DISPATCH_TARGET), as CMake and Meson build it
#   malloc_only, free_only: must FAIL to compile, on ai.hpp's #error (hooks all-or-none)
#   Windows: impl.cpp and the link test cross-compiled with mingw-w64 (the file-mapping path)
#   xsimd 14 (pythran's vendored copy, from tests/setup.sh): impl compiled against it
# One line per config, then "compile: N passed, N failed, N skipped"; exits 1 on any failure.
# A compiler that is not installed is skipped, except under CI=true, where it is a failure.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

# ---- one job: run.sh --job LINE (called through xargs) ------------------------------------------
if [ "${1:-}" = "--job" ]; then
    IFS='|' read -r id name expect cxx std flags mode srcs <<<"$2"
    log="$AI_COMPILE_WORK/$id.log"
    label=$(printf '%-17s %-28s %-6s %s' "$name" "$cxx" "${std#-std=}" "$flags")
    if ! command -v "$cxx" >/dev/null 2>&1; then
        if [ "${CI:-}" = "true" ]; then
            echo "FAIL  $label  ($cxx not installed)"; echo FAIL >"$AI_COMPILE_WORK/$id.res"
        else
            echo "SKIP  $label  ($cxx not installed)"; echo SKIP >"$AI_COMPILE_WORK/$id.res"
        fi
        exit 0
    fi
    inc=(-I"$root")
    case "$cxx" in *mingw*) [ -n "$AI_COMPILE_XSIMD" ] && inc+=(-isystem "$AI_COMPILE_XSIMD") ;; esac
    srcpaths=()
    for s in $srcs; do
        case "$s" in /*) srcpaths+=("$s") ;; *) srcpaths+=("$here/$s") ;; esac
    done
    base=("$std" -Wall -Wextra -Wpedantic -Werror $flags "${inc[@]}")
    t0=$(date +%s%N)
    case "$mode" in
        syntax) "$cxx" "${base[@]}" -fsyntax-only "${srcpaths[@]}" >"$log" 2>&1 ;;
        object) "$cxx" "${base[@]}" -c "${srcpaths[0]}" -o "$AI_COMPILE_WORK/$id.o" >"$log" 2>&1 ;;
        link)   "$cxx" "${base[@]}" "${srcpaths[@]}" -o "$AI_COMPILE_WORK/$id.exe" -pthread >"$log" 2>&1 ;;
        dispatch)  # the two dispatch units (ai.cpp per target), then the sources with AI_DISPATCH
            o="$AI_COMPILE_WORK/$id"
            "$cxx" "${base[@]}" -O2 -DAI_DISPATCH_TARGET=avx2 -mavx2 -mfma -mf16c -c "$root/ai.cpp" -o "$o.avx2.o" >"$log" 2>&1 &&
            "$cxx" "${base[@]}" -O2 -DAI_DISPATCH_TARGET=avx512 -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl \
                -mavx512dq -mavx512vnni -c "$root/ai.cpp" -o "$o.avx512.o" >>"$log" 2>&1 &&
            "$cxx" "${base[@]}" -DAI_DISPATCH "${srcpaths[@]}" "$o.avx2.o" "$o.avx512.o" -o "$o.exe" -pthread >>"$log" 2>&1 ;;
    esac
    rc=$?
    secs=$(( ($(date +%s%N) - t0) / 1000000 ))
    secs=$(printf '%d.%d s' $((secs / 1000)) $(((secs % 1000) / 100)))
    if [ "$expect" = pass ]; then
        if [ $rc -eq 0 ]; then res=PASS; why=""; else res=FAIL; why=" compile error"; fi
    else
        # Must fail, and because of ai.hpp's #error (shown as the source line of the diagnostic).
        if [ $rc -eq 0 ]; then res=FAIL; why=" compiled, but ai.hpp should stop it with #error"
        elif grep -q '#error' "$log"; then res=PASS; why=" (#error fired as expected)"
        else res=FAIL; why=" failed, but not on an #error"; fi
    fi
    echo "$res  $label  ($secs)$why"
    echo "$res" >"$AI_COMPILE_WORK/$id.res"
    exit 0
fi

# ---- the matrix ----------------------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/ai-compile.XXXXXX")
trap 'rm -rf "$work"' EXIT
export AI_COMPILE_WORK="$work"

pick() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 && { echo "$c"; return; }; done; echo "$1"; }
gxx=$(pick g++)
clangxx=$(pick clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14)
# The posix-threads flavour has std::thread and std::mutex; the win32 one (GCC 12) does not.
mingw=$(pick x86_64-w64-mingw32-g++-posix x86_64-w64-mingw32-g++)

# mingw does not search /usr/include: give it a folder holding only xsimd, if xsimd is installed.
export AI_COMPILE_XSIMD=""
for d in ${AI_XSIMD_INCLUDE:-} /usr/include /usr/local/include; do
    if [ -f "$d/xsimd/xsimd.hpp" ]; then
        mkdir -p "$work/xsimd-only" && ln -s "$d/xsimd" "$work/xsimd-only/xsimd"
        AI_COMPILE_XSIMD="$work/xsimd-only"; break
    fi
done

jobs_file="$work/jobs"
n=0
add() {  # name expect compiler std flags mode sources
    n=$((n + 1))
    printf '%03d|%s|%s|%s|%s|%s|%s|%s\n' "$n" "$1" "$2" "$3" "$4" "$5" "$6" "$7" >>"$jobs_file"
}
noexc="-fno-exceptions -fno-rtti"
for cxx in "$gxx" "$clangxx"; do
    for cfg in decl impl no_stdio no_mmap custom_alloc all_options api_static; do
        for std in -std=c++17 -std=c++20; do
            add "$cfg" pass "$cxx" "$std" "" syntax "$cfg.cpp"
            add "$cfg" pass "$cxx" "$std" "$noexc" syntax "$cfg.cpp"
        done
    done
    add ai.cpp pass "$cxx" -std=c++17 "" object "$root/ai.cpp"
    add impl pass "$cxx" -std=c++17 "-O2" object impl.cpp
    add impl pass "$cxx" -std=c++17 "-march=x86-64-v3" syntax impl.cpp
    add impl pass "$cxx" -std=c++17 "-march=x86-64-v4" syntax impl.cpp
    add link pass "$cxx" -std=c++17 "" link "link_main.cpp link_other.cpp impl.cpp"
    add dispatch pass "$cxx" -std=c++17 "" dispatch "link_main.cpp link_other.cpp impl.cpp"
    add dispatch pass "$cxx" -std=c++17 "$noexc" dispatch "link_main.cpp link_other.cpp impl.cpp"
    add malloc_only fail "$cxx" -std=c++17 "" syntax malloc_only.cpp
    add free_only fail "$cxx" -std=c++17 "" syntax free_only.cpp
done
# xsimd 13/14 (the current API; Debian ships 8.1): the headers pythran vendors, fetched from PyPI
# by tests/setup.sh. The shim in ai.hpp must compile against both.
xs14=${AI_XSIMD14_INCLUDE:-$HOME/.cache/ai/xsimd14}
if [ -f "$xs14/xsimd/xsimd.hpp" ]; then
    for cxx in "$gxx" "$clangxx"; do
        add impl_xsimd14 pass "$cxx" -std=c++17 "-isystem $xs14" object impl.cpp
        add impl_xsimd14 pass "$cxx" -std=c++17 "-isystem $xs14 -march=x86-64-v3 $noexc" object impl.cpp
        add impl_xsimd14 pass "$cxx" -std=c++20 "-isystem $xs14 -march=x86-64-v4" object impl.cpp
    done
elif [ "${CI:-}" = "true" ]; then
    add impl_xsimd14_missing pass false -std=c++17 "" syntax impl.cpp
fi
add impl pass "$mingw" -std=c++17 "-O2" object impl.cpp
add impl pass "$mingw" -std=c++17 "$noexc" object impl.cpp
add link pass "$mingw" -std=c++17 "" link "link_main.cpp link_other.cpp impl.cpp"

if [ -n "${AI_COMPILE_FILTER:-}" ]; then
    grep -E -- "$AI_COMPILE_FILTER" "$jobs_file" >"$jobs_file.f" || true
    mv "$jobs_file.f" "$jobs_file"
fi

echo "compile matrix: $(wc -l <"$jobs_file") configs of $root/ai.hpp, ${AI_COMPILE_JOBS:-2} at a time"
t0=$(date +%s)
tr '\n' '\0' <"$jobs_file" | xargs -0 -P "${AI_COMPILE_JOBS:-2}" -n 1 bash "$0" --job

passed=0; failed=0; skipped=0; failed_ids=()
while IFS='|' read -r id rest; do
    case "$(cat "$work/$id.res" 2>/dev/null || echo FAIL)" in
        PASS) passed=$((passed + 1)) ;;
        SKIP) skipped=$((skipped + 1)) ;;
        *) failed=$((failed + 1)); failed_ids+=("$id") ;;
    esac
done <"$jobs_file"

# The first lines of the first few failures' logs.
shown=0
for id in "${failed_ids[@]+"${failed_ids[@]}"}"; do
    [ $shown -ge 4 ] && { echo "(more failures: run with AI_COMPILE_FILTER=... to see them)"; break; }
    line=$(grep "^$id|" "$jobs_file" | cut -d'|' -f2-8 | tr '|' ' ')
    echo "---- $line"
    head -n 25 "$work/$id.log" 2>/dev/null
    shown=$((shown + 1))
done
echo "compile matrix took $(( $(date +%s) - t0 )) s"
echo "compile: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
