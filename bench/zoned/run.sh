#!/bin/bash
# bench/zoned/run.sh [MQBLK_BINARY] - a zoned null device over ublk against the kernel's
# zoned null_blk with the same attributes (memory_backed=1), in one VM boot:
#  * zoned sequential write, fio --zonemode=zbd, 128k QD8, on the raw devices (fio resets
#    zones as it wraps);
#  * zone append 4k QD32: no tool in the guest sends zone appends to a block device (fio
#    has none for block devices), so this runs fio 4k direct random writes QD32 into a file
#    on btrfs on each device, whose data writes are zone appends (the ublk device counts
#    them: per_queue[].zone_appends); the file system's own cost is in both figures.
# Devices alternate per job and round; prints IOPS per run and the ublk/null_blk ratio per
# job. Only the ratios mean anything under emulation.
# Env: RT (s per run, 6), ROUNDS (2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/src/cli/mqblk}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/mqblk"
cp "$here/vm-zoned.sh" "$stage/"
export VM_CACHE_DIR=${VM_CACHE_DIR:-$root/build/vm-cache}
"$root/../shared/vm/run-in-vm.sh" -q -c 2 -t 900 -b "jq mkfs.btrfs blkzone" "$stage" \
  "RT=${RT:-6} ROUNDS=${ROUNDS:-2} ./vm-zoned.sh"
