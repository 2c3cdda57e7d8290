#!/bin/bash
# bench/zoned/vm-zoned.sh - runs inside the VM (see run.sh).
set -u
RT=${RT:-6}
ROUNDS=${ROUNDS:-2}
ATTRS="size=2048 zoned=1 zone_size=64 memory_backed=1 max_sectors=2560"
nb=/sys/kernel/config/nullb/nullb1
mkdir "$nb" || exit 1
for kv in $ATTRS; do echo "${kv#*=}" > "$nb/${kv%%=*}" || exit 1; done
echo 1 > "$nb/power" || exit 1
u=$(mqblk add -d 128 null $ATTRS) || exit 1
devs="/dev/nullb1 $u"
names=(null_blk ublk)
for d in $devs; do
  s=/sys/block/${d#/dev/}/queue
  echo "$d: $(cat $s/zoned), $(cat $s/nr_zones) zones, scheduler $(cat $s/scheduler)," \
    "max_sectors_kb $(cat $s/max_sectors_kb), zone_append_max_bytes $(cat $s/zone_append_max_bytes)"
done
modprobe btrfs || exit 1
declare -A sum
for r in $(seq 1 "$ROUNDS"); do
  i=0
  for d in $devs; do
    f=/tmp/${names[$i]}-seq-r$r.json
    fio --name=b --filename="$d" --ioengine=io_uring --direct=1 --zonemode=zbd --rw=write \
      --bs=128k --iodepth=8 --cpus_allowed=1 --time_based --runtime="$RT" --ramp_time=1 \
      --output-format=json --output="$f" >/dev/null 2>&1 || { echo "fio seq $d failed"; exit 1; }
    iops=$(jq -r '.jobs[0].write.iops | floor' "$f")
    echo "round $r ${names[$i]} zoned seq write 128k qd8: $iops IOPS"
    sum[${names[$i]}-seq]=$(( ${sum[${names[$i]}-seq]:-0} + iops ))
    i=$((i + 1))
  done
  i=0
  for d in $devs; do
    blkzone reset "$d" || exit 1
    mkfs.btrfs -q -f -d single -m single "$d" >/dev/null 2>&1 || { echo "mkfs $d failed"; exit 1; }
    mkdir -p /mnt/b && mount -t btrfs "$d" /mnt/b || exit 1
    f=/tmp/${names[$i]}-app-r$r.json
    fio --name=b --filename=/mnt/b/f --size=256m --ioengine=io_uring --direct=1 \
      --rw=randwrite --bs=4k --iodepth=32 --cpus_allowed=1 --time_based --runtime="$RT" \
      --ramp_time=1 --output-format=json --output="$f" >/dev/null 2>&1 \
      || { echo "fio btrfs $d failed"; cat "$f"; exit 1; }
    iops=$(jq -r '.jobs[0].write.iops | floor' "$f")
    umount /mnt/b
    echo "round $r ${names[$i]} btrfs 4k direct randwrite qd32 (zone appends): $iops IOPS"
    sum[${names[$i]}-app]=$(( ${sum[${names[$i]}-app]:-0} + iops ))
    i=$((i + 1))
  done
done
echo "ublk zone appends served: $(mqblk list --json | jq '[.[0].per_queue[].zone_appends] | add')"
echo
echo "job                                     null_blk      ublk (ratio)"
for job in seq app; do
  b=${sum[null_blk-$job]}; a=${sum[ublk-$job]}
  name="zoned seq write 128k qd8"
  [ $job = app ] && name="btrfs 4k randwrite qd32 (appends)"
  awk -v j="$name" -v b="$b" -v a="$a" -v R="$ROUNDS" 'BEGIN {
    printf "%-38s %9d %9d (%.2f)\n", j, b/R, a/R, a/b }'
done
mqblk del -a >/dev/null
