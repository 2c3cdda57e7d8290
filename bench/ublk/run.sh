#!/bin/bash
# bench/ublk/run.sh [MQBLK_BINARY] - the ublk benchmark of issue 4, in one VM boot:
# fio io_uring, direct, 4k randread QD1/QD32 and randwrite QD32, pinned to CPU 1
# (--cpus_allowed=1), against /dev/nullb0 (null_blk irqmode=0 hw_queue_depth=128) and
# mqblk's null irqmode=0 over ublk with -q 1 and -q 2, alternating. Only the ratios mean
# anything under emulation. Env: RT (s per run, 6), ROUNDS (2), COPY (auto|user|mapped),
# SCHED (the scheduler every device gets, none), OUT (where fio's JSON lands,
# build/bench-ublk).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/src/cli/mqblk}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/mqblk"
cp "$here/vm-bench.sh" "$stage/"
export VM_NULLBLK_ARGS="irqmode=0 hw_queue_depth=128"
export VM_CACHE_DIR=${VM_CACHE_DIR:-$root/build/vm-cache}
"$root/../shared/vm/run-in-vm.sh" -q -c 2 -t 600 -b jq -o "${OUT:-$root/build/bench-ublk}" "$stage" \
  "RT=${RT:-6} ROUNDS=${ROUNDS:-2} COPY=${COPY:-auto} SCHED=${SCHED:-none} ./vm-bench.sh"
