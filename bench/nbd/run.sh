#!/usr/bin/env bash
# bench/nbd/run.sh - mqblk's NBD server against nbdkit, same run, alternating, with the
# ceiling (`floor`: fio against a server that does nothing) for reference.
#
# Usage: bench/nbd/run.sh [BUILD_DIR] [bench-nbd.sh options...]
#   BUILD_DIR defaults to build; e.g. bench/nbd/run.sh build-nbd -r 3 -T 5
# Prints bench-nbd.sh's tables; paste them into docs/benchmarks.md under "## NBD".
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
shift || true
bench=${BENCH_NBD:-$here/../shared/bench/bench-nbd.sh}
mqblk=$here/$build/mqblk
[[ -x $mqblk ]] || mqblk=$here/$build/src/cli/mqblk
[[ -x $mqblk ]] || { echo "bench/nbd/run.sh: no mqblk binary under $build (build it first)" >&2; exit 1; }
"$bench" "$@" run \
  "nbdkit-mem::nbdkit -f -U {SOCK} memory 1G" \
  "mqblk::$mqblk nbd --foreground --socket {SOCK} null size=1G memory_backed=1"
"$bench" floor
