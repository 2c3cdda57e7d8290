#!/bin/bash
# bench/ublk/vm-rss.sh - runs inside the VM (see rss.sh).
set -eu
RT=${RT:-6}
echo "THP: $(cat /sys/kernel/mm/transparent_hugepage/enabled)"
echo "depth   idle_KiB   peak_KiB   growth_KiB   requests   peak/peak(d64)"
base=
for d in 64 1024 4096; do
  dev=$(mqblk add -d "$d" null size=1G)
  pid=$(mqblk list --json | jq -r '.[0].pid')
  idle=$(awk '/^VmHWM/ { print $2 }' /proc/$pid/status)
  fio --name=w --filename="$dev" --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k \
    --iodepth=1024 --iodepth_batch_submit=64 --time_based --runtime="$RT" >/dev/null 2>&1
  peak=$(awk '/^VmHWM/ { print $2 }' /proc/$pid/status)
  rec=$(mqblk list --json | jq '[.[0].per_queue[].received] | add')
  base=${base:-$peak}
  awk -v d="$d" -v i="$idle" -v p="$peak" -v r="$rec" -v b="$base" 'BEGIN {
    printf "%5d %10d %10d %12d %10d %10.2f\n", d, i, p, p - i, r, p / b }'
  mqblk del -a >/dev/null
done
