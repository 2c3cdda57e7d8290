#!/usr/bin/env bash
# Builds the NBD fuzz target with clang/libFuzzer and runs it for a bounded time.
# Usage: fuzz/run.sh [SECONDS] (default 60). New inputs go to build-fuzz/corpus, not to the
# seed corpus in the repo; a crash leaves its input in build-fuzz/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
CC=clang CXX=clang++ cmake -S fuzz -B build-fuzz -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j2
mkdir -p build-fuzz/corpus
build-fuzz/nbd_fuzz -max_total_time="$secs" -artifact_prefix=build-fuzz/ -print_final_stats=1 \
  build-fuzz/corpus fuzz/corpus/nbd
