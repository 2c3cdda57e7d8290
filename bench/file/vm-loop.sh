#!/bin/bash
# bench/file/vm-loop.sh [MQBLK_BINARY] - the file driver over ublk against the kernel's loop
# device (direct I/O) on the same file, in one VM boot (see vm-loop-guest.sh): fio
# io_uring, direct, 4k randread and randwrite QD32 and 128k read QD8, pinned to CPU 1,
# alternating. Only the ratios mean anything under emulation. Env: RT (s per run, 6),
# ROUNDS (2), OUT (fio's JSON, build/bench-file-loop).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/src/cli/mqblk}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/mqblk"
cp "$here/vm-loop-guest.sh" "$stage/"
export VM_CACHE_DIR=${VM_CACHE_DIR:-$root/build/vm-cache}
"$root/../shared/vm/run-in-vm.sh" -q -c 2 -t 600 -b "jq mkfs.ext4 losetup" \
  -o "${OUT:-$root/build/bench-file-loop}" "$stage" \
  "RT=${RT:-6} ROUNDS=${ROUNDS:-2} ./vm-loop-guest.sh"
