#!/bin/sh
# Makes sure llama.cpp's oracle (shared/tools/oracle) is built, then prints where it is:
#   AI_ORACLE=/tmp/oracle/llama_oracle
#   LLAMA_BINS=/tmp/oracle/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
# Builds it (npm install of node-llama-cpp + one g++ call, about 10 s after the download) only
# when the binary is missing or does not start. Run by ctest as the `peer_setup` fixture and by
# .ci/run. Needs npm, git and g++. Environment: AI_SHARED_DIR (default: ../shared beside the repo).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
oracle=/tmp/oracle/llama_oracle
bins=/tmp/oracle/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64

works() {
    [ -x "$oracle" ] || return 1
    # Any run that gets as far as printing its usage shows the binary loads its libraries.
    LD_LIBRARY_PATH="$bins${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$oracle" >/dev/null 2>&1 </dev/null
    [ $? -ne 127 ]
}

if ! works; then
    for tool in npm git g++; do
        command -v "$tool" >/dev/null 2>&1 || { echo "oracle.sh: $tool is required to build the oracle" >&2; exit 1; }
    done
    shared=${AI_SHARED_DIR:-$here/../../shared}
    shared=$(cd "$shared" && pwd)   # absolute: build.sh finds its source relative to $0 after a cd
    mkdir -p /tmp/oracle
    # One build at a time (two build trees may run their peer tests at once).
    if command -v flock >/dev/null 2>&1; then
        flock /tmp/oracle/.build.lock sh -c 'works() { [ -x "$1" ] && { "$1" >/dev/null 2>&1 </dev/null; [ $? -ne 127 ]; }; }
            works "$1" || sh "$2" >&2' sh "$oracle" "$shared/tools/oracle/build.sh"
    else
        sh "$shared/tools/oracle/build.sh" >&2
    fi
    works || { echo "oracle.sh: $oracle was not built or does not start" >&2; exit 1; }
fi
echo "AI_ORACLE=$oracle"
echo "LLAMA_BINS=$bins"
