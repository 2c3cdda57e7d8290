#!/bin/bash
# bench/ublk/rss.sh [MQBLK_BINARY] - the ublk server's peak resident memory (VmHWM) against
# its queue depth, in one VM boot: for -d 64, 1024 and 4096, `mqblk add -d D null size=1G`,
# then fio 4k randwrite at QD1024 (io_uring, direct) for RT seconds. Prints, per depth, the
# idle server's VmHWM (the baseline, same boot), the peak after the load, the growth and
# the peak's ratio to the -d 64 peak. Memory should follow the I/O, not the depth. Env: RT
# (s per depth, 6).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/build/src/cli/mqblk}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/mqblk"
cp "$here/vm-rss.sh" "$stage/"
export VM_CACHE_DIR=${VM_CACHE_DIR:-$root/build/vm-cache}
"$root/../shared/vm/run-in-vm.sh" -q -c 2 -t 600 -b jq "$stage" "RT=${RT:-6} ./vm-rss.sh"
