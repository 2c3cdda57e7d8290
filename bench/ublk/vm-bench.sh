#!/bin/bash
# bench/ublk/vm-bench.sh - runs inside the VM (see run.sh): fio against the kernel's
# null_blk (/dev/nullb0) and mqblk's ublk null device with 1 and 2 queues, alternating,
# fio pinned to CPU 1. Prints one line per run and a ratio table; raw JSON goes to /out.
set -u
RT=${RT:-6}
ROUNDS=${ROUNDS:-2}
COPY=${COPY:-auto}
q1=$(mqblk add -q 1 -d 128 --copy "$COPY" null size=4G irqmode=0) || exit 1
q2=$(mqblk add -q 2 -d 128 --copy "$COPY" null size=4G irqmode=0) || exit 1
devs="/dev/nullb0 $q1 $q2"
names=(null_blk ublk_q1 ublk_q2)
# Every device on the same scheduler (SCHED, default none): a one-queue null_blk gets
# mq-deadline from the kernel, which a ublk device of mqblk's does not.
for d in $devs; do
  s=/sys/block/${d#/dev/}/queue/scheduler
  echo "${SCHED:-none}" > "$s" 2>/dev/null
  echo "$d: scheduler $(cat "$s")"
done
jobs="randread:1 randread:32 randwrite:32"
mkdir -p /out
declare -A sum
for r in $(seq 1 "$ROUNDS"); do
  for job in $jobs; do
    rw=${job%%:*} qd=${job##*:}
    i=0
    for d in $devs; do
      f=/out/${names[$i]}-$rw-qd$qd-r$r.json
      fio --name=b --filename="$d" --ioengine=io_uring --direct=1 --rw="$rw" --bs=4k \
        --iodepth="$qd" --cpus_allowed=1 --time_based --runtime="$RT" --ramp_time=1 \
        --output-format=json --output="$f" >/dev/null 2>&1
      iops=$(jq -r ".jobs[0].${rw#rand}.iops | floor" "$f")
      echo "round $r ${names[$i]} $rw qd$qd: $iops IOPS"
      sum[${names[$i]}-$rw-$qd]=$(( ${sum[${names[$i]}-$rw-$qd]:-0} + iops ))
      i=$((i + 1))
    done
  done
done
echo
echo "job            null_blk   ublk_q1 (ratio)   ublk_q2 (ratio)"
for job in $jobs; do
  rw=${job%%:*} qd=${job##*:}
  n=${sum[null_blk-$rw-$qd]}; a=${sum[ublk_q1-$rw-$qd]}; b=${sum[ublk_q2-$rw-$qd]}
  awk -v j="$rw qd$qd" -v n="$n" -v a="$a" -v b="$b" -v R="$ROUNDS" 'BEGIN {
    printf "%-14s %8d %9d (%.2f) %9d (%.2f)\n", j, n/R, a/R, a/n, b/R, b/n }'
done
mqblk list
mqblk del -a
