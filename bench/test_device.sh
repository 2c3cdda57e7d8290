#!/usr/bin/env bash
# The test device's figures (issue: a test device people test with):
#  1. what the engine's test features cost when nothing is armed: instructions per I/O
#     (callgrind, deterministic) of `null irqmode=0` against the same measure of a binary
#     built before them (BEFORE), as a ratio; and armed-but-never-hit (a bad block at the
#     last sector of a 250 GB device), the write cache (memory_backed with and without
#     cache_size) for their own cost;
#  2. mbps accuracy in process: achieved MiB/s against the limit, 10 to 2000, 128 KiB reads.
# Usage: bench/test_device.sh MQBLK [BEFORE_MQBLK]
#   BEFORE_MQBLK: e.g. a build of commit 4c6819f (before the test features):
#     git worktree add /tmp/before 4c6819f && cmake -S /tmp/before -B /tmp/before/b \
#       -DCMAKE_BUILD_TYPE=Release && cmake --build /tmp/before/b -j2 --target mqblk
# Environment: RUNTIME (5s per mbps point), MBPS ("10 50 100 500 1000 2000").
set -euo pipefail
BIN=${1:?usage: bench/test_device.sh MQBLK [BEFORE_MQBLK]}
BEFORE=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
RUNTIME=${RUNTIME:-5s}
MBPS=${MBPS:-"10 50 100 500 1000 2000"}

per_io() {  # binary attrs... -> instructions per I/O at QD 128
  local bin=$1
  shift
  ATTRS="$*" QDS=128 LIMIT=100000 TOP=0 "$here/callgrind_per_io.sh" "$bin" 2>/dev/null |
    awk '/instructions per I\/O/ {print $3; exit}'
}

echo "== instructions per I/O, QD 128, 4k randread (callgrind)"
now=$(per_io "$BIN" null irqmode=0 hw_queue_depth=128)
echo "null irqmode=0 (features off):          $now"
if [[ -n $BEFORE ]]; then
  was=$(per_io "$BEFORE" null irqmode=0 hw_queue_depth=128)
  echo "same, binary before the features:       $was"
  awk -v a="$now" -v b="$was" 'BEGIN {printf "ratio (off / before):                   %.3f   goal <= 1.10\n", a / b}'
fi
armed=$(per_io "$BIN" null irqmode=0 hw_queue_depth=128 badblocks=+524287999-524287999)
echo "a bad block armed, never hit:           $armed"
mb=$(per_io "$BIN" null irqmode=0 hw_queue_depth=128 size=1G memory_backed=1)
cache=$(per_io "$BIN" null irqmode=0 hw_queue_depth=128 size=1G memory_backed=1 cache_size=64)
echo "memory_backed=1 (reads of holes):       $mb"
echo "memory_backed=1 cache_size=64:          $cache"

echo "== mbps accuracy (in process, 128 KiB sequential reads, QD 32, $RUNTIME each)"
printf "%8s %12s %8s\n" "mbps" "achieved" "ratio"
for m in $MBPS; do
  got=$("$BIN" bench --json --rw read --bs 128k --iodepth 32 --runtime "$RUNTIME" \
    null irqmode=0 mbps="$m" | jq '.bw_bytes_per_s / 1048576')
  awk -v m="$m" -v g="$got" 'BEGIN {printf "%8d %12.1f %8.3f\n", m, g, g / m}'
done
