#!/bin/bash
# bench/ublk/brd.sh [MQBLK_BINARY] - memory_backed over ublk against the kernel's ramdisk
# (brd, /dev/ram0), in one VM boot: fio io_uring, direct, pinned to CPU 1 as in run.sh,
# 4k randread QD32, 4k randwrite QD32 and 64k sequential write QD8, over the first SIZE_MB
# of each device (written once first, so that reads find data), devices alternating per
# job and round. Prints IOPS per run and the ublk/brd ratio per job. Only the ratios mean
# anything under emulation. A third device, the same null without a store
# (memory_backed=0), shows what the data path costs without the copy into the page store.
# Env: RT (s per run, 6), ROUNDS (2), SIZE_MB (256), Q (ublk queues, 2), COPY
# (auto|user|mapped), BEFORE (another mqblk binary, e.g. one built from an earlier commit:
# its memory_backed device joins the same runs as "ublk_before", for before/after ratios
# in one boot).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/src/cli/mqblk}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/mqblk"
cp "$here/vm-brd.sh" "$stage/"
if [ -n "${BEFORE:-}" ]; then cp "$BEFORE" "$stage/mqblk-before"; fi
export VM_CACHE_DIR=${VM_CACHE_DIR:-$root/build/vm-cache}
"$root/../shared/vm/run-in-vm.sh" -q -c 2 -t 600 -b jq "$stage" \
  "RT=${RT:-6} ROUNDS=${ROUNDS:-2} SIZE_MB=${SIZE_MB:-256} Q=${Q:-2} COPY=${COPY:-auto} ./vm-brd.sh"
