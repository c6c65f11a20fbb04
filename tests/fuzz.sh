#!/bin/sh
# fuzz.sh SECONDS — build tests/fuzz_gguf.cpp with libFuzzer + ASan + UBSan and fuzz the GGUF reader
# for SECONDS, seeded with the malformed corpus of tests/make_malformed.py (which includes the small
# valid files it writes) and the real models' small files. Exits non-zero on any crash, leak,
# timeout, out-of-memory or invariant failure; the input that triggered it is left in
# $FUZZ_CRASH_DIR (default /tmp/fuzz-crashes/) and replays with `$FUZZ_BUILD/fuzz_gguf FILE`.
#
# Needs clang and libFuzzer (Debian 12: apt-get install clang libclang-rt-14-dev).
# Env: CXX (default clang++), FUZZ_BUILD (default /tmp/ai-fuzz), FUZZ_CRASH_DIR, AI_SHARED_DIR,
#      FUZZ_JOBS (parallel fuzzing processes, default 1), FUZZ_ARGS (extra libFuzzer flags),
#      FUZZ_CXXFLAGS (extra compile flags, e.g. -DFUZZ_STRICT=0 to skip known contract failures).
set -eu
SECONDS_TO_RUN=${1:?usage: tests/fuzz.sh SECONDS}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
SHARED=${AI_SHARED_DIR:-$REPO/../shared}
CXX=${CXX:-clang++}
BUILD=${FUZZ_BUILD:-/tmp/ai-fuzz}
CRASH_DIR=${FUZZ_CRASH_DIR:-/tmp/fuzz-crashes}
JOBS=${FUZZ_JOBS:-1}
MAX_LEN=131072

mkdir -p "$BUILD" "$CRASH_DIR" "$BUILD/corpus"
echo "fuzz.sh: building $BUILD/fuzz_gguf"
# shellcheck disable=SC2086
$CXX -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -std=c++17 \
    ${FUZZ_CXXFLAGS:-} -I"$REPO" "$HERE/fuzz_gguf.cpp" -o "$BUILD/fuzz_gguf"

# Seeds: the malformed corpus (regenerated each run) and the shared files that fit MAX_LEN.
rm -rf "$BUILD/seeds"
python3 "$HERE/make_malformed.py" "$BUILD/seeds" --shared "$SHARED" >/dev/null
find "$BUILD/seeds" -type f -size +$((MAX_LEN / 1024))k -delete
find "$SHARED/models" "$SHARED/vocab" -name '*.gguf' -size -$((MAX_LEN / 1024))k \
    -exec cp {} "$BUILD/seeds/" \; 2>/dev/null || true
rm -f "$BUILD/seeds/manifest.tsv"
echo "fuzz.sh: $(ls "$BUILD/seeds" | wc -l) seeds, $(ls "$BUILD/corpus" | wc -l) inputs in the working corpus"

set +e
if [ "$JOBS" -gt 1 ]; then
    PAR="-fork=$JOBS -ignore_crashes=0"
else
    PAR=""
fi
# shellcheck disable=SC2086
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
"$BUILD/fuzz_gguf" "$BUILD/corpus" "$BUILD/seeds" \
    -max_total_time="$SECONDS_TO_RUN" -max_len=$MAX_LEN -timeout=5 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -artifact_prefix="$CRASH_DIR/" -print_final_stats=1 $PAR ${FUZZ_ARGS:-} \
    2>"$BUILD/fuzz.log"
rc=$?
set -e
tail -n 25 "$BUILD/fuzz.log"
if [ $rc -ne 0 ]; then
    echo "fuzz.sh: FAILED (libFuzzer exit $rc); log: $BUILD/fuzz.log; artifacts in $CRASH_DIR:"
    ls -t "$CRASH_DIR" | head -5
    exit 1
fi
echo "fuzz.sh: no crash in $SECONDS_TO_RUN s"
