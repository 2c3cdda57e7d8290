#!/bin/bash
# bench/ublk/vm-brd.sh - runs inside the VM (see brd.sh).
set -u
RT=${RT:-6}
ROUNDS=${ROUNDS:-2}
SIZE_MB=${SIZE_MB:-256}
Q=${Q:-2}
COPY=${COPY:-auto}
modprobe brd rd_nr=1 rd_size=$((SIZE_MB * 1024)) || exit 1
u=$(mqblk add -q "$Q" -d 128 --copy "$COPY" null size=${SIZE_MB}M memory_backed=1) || exit 1
# The same without a store (memory_backed=0): what the data path costs without the copy
# into the page store, for reading the gap.
n=$(mqblk add -q "$Q" -d 128 --copy "$COPY" null size=${SIZE_MB}M) || exit 1
devs="/dev/ram0 $u $n"
names=(brd ublk ublk_nostore)
if [ -x ./mqblk-before ]; then
  b=$(./mqblk-before add -q "$Q" -d 128 --copy "$COPY" null size=${SIZE_MB}M memory_backed=1) \
    || exit 1
  devs="$devs $b"
  names+=(ublk_before)
fi
for d in $devs; do
  s=/sys/block/${d#/dev/}/queue/scheduler
  if [ -e "$s" ]; then
    echo none > "$s" 2>/dev/null
    echo "$d: scheduler $(cat "$s")"
  else
    echo "$d: bio-based, no scheduler"
  fi
  fio --name=fill --filename="$d" --ioengine=io_uring --direct=1 --rw=write --bs=1M \
    --iodepth=8 --size=${SIZE_MB}M >/dev/null 2>&1 || { echo "fill $d failed"; exit 1; }
done
jobs="randread:4k:32 randwrite:4k:32 write:64k:8"
declare -A sum
for r in $(seq 1 "$ROUNDS"); do
  for job in $jobs; do
    IFS=: read -r rw bs qd <<<"$job"
    i=0
    for d in $devs; do
      f=/tmp/${names[$i]}-$rw-$bs-r$r.json
      fio --name=b --filename="$d" --ioengine=io_uring --direct=1 --rw="$rw" --bs="$bs" \
        --iodepth="$qd" --size=${SIZE_MB}M --cpus_allowed=1 --time_based --runtime="$RT" \
        --ramp_time=1 --output-format=json --output="$f" >/dev/null 2>&1
      k=${rw#rand}
      iops=$(jq -r ".jobs[0].$k.iops | floor" "$f")
      echo "round $r ${names[$i]} $rw $bs qd$qd: $iops IOPS"
      sum[${names[$i]}-$job]=$(( ${sum[${names[$i]}-$job]:-0} + iops ))
      i=$((i + 1))
    done
  done
done
echo
echo "job                    brd      ublk (ratio)   ublk_nostore (ratio)   ublk_before (ratio)"
for job in $jobs; do
  b=${sum[brd-$job]}; a=${sum[ublk-$job]}; c=${sum[ublk_nostore-$job]}
  e=${sum[ublk_before-$job]:-0}
  awk -v j="$job" -v b="$b" -v a="$a" -v c="$c" -v e="$e" -v R="$ROUNDS" 'BEGIN {
    printf "%-18s %8d %9d (%.2f) %9d (%.2f)", j, b/R, a/R, a/b, c/R, c/b
    if (e > 0) printf " %9d (%.2f)", e/R, e/b
    printf "\n" }'
done
mqblk del -a >/dev/null
