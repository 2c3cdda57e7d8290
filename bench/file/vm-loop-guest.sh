#!/bin/bash
# bench/file/vm-loop-guest.sh - runs inside the VM (see vm-loop.sh): one file on ext4 (on
# the kernel's ramdisk) served twice, by the kernel's loop device with direct I/O and by
# mqblk's file driver over ublk (O_DIRECT), fio alternating between them, pinned to CPU 1.
set -u
RT=${RT:-6}
ROUNDS=${ROUNDS:-2}
modprobe loop; modprobe brd rd_nr=1 rd_size=327680 || exit 1
mkfs.ext4 -q -F /dev/ram0 && mkdir -p /mnt/e && mount /dev/ram0 /mnt/e || exit 1
dd if=/dev/urandom of=/mnt/e/disk.img bs=1048576 count=256 2>/dev/null || exit 1
loop=$(losetup --direct-io=on -f --show /mnt/e/disk.img) || exit 1
echo "$loop: direct I/O $(cat /sys/block/${loop#/dev/}/loop/dio)"
ublk=$(mqblk add -q 1 -d 128 file path=/mnt/e/disk.img direct=1) || exit 1
devs="$loop $ublk"
names=(loop ublk_file)
for d in $devs; do echo none >/sys/block/${d#/dev/}/queue/scheduler 2>/dev/null; done
jobs="randread:32 randwrite:32 read128k:8"
mkdir -p /out
declare -A sum
for r in $(seq 1 "$ROUNDS"); do
  for job in $jobs; do
    rw=${job%%:*} qd=${job##*:} bs=4k
    [[ $rw == read128k ]] && rw=read bs=128k
    i=0
    for d in $devs; do
      f=/out/${names[$i]}-$rw-$bs-qd$qd-r$r.json
      fio --name=b --filename="$d" --ioengine=io_uring --direct=1 --rw="$rw" --bs=$bs \
        --iodepth="$qd" --cpus_allowed=1 --time_based --runtime="$RT" --ramp_time=1 \
        --output-format=json --output="$f" >/dev/null 2>&1
      iops=$(jq -r ".jobs[0].${rw#rand}.iops | floor" "$f")
      echo "round $r ${names[$i]} $rw $bs qd$qd: $iops IOPS"
      sum[${names[$i]}-$rw$bs-$qd]=$(( ${sum[${names[$i]}-$rw$bs-$qd]:-0} + iops ))
      i=$((i + 1))
    done
  done
done
echo
echo "job                loop IOPS   ublk file IOPS (ratio)"
for job in $jobs; do
  rw=${job%%:*} qd=${job##*:} bs=4k
  [[ $rw == read128k ]] && rw=read bs=128k
  n=${sum[loop-$rw$bs-$qd]}; a=${sum[ublk_file-$rw$bs-$qd]}
  awk -v j="$rw $bs qd$qd" -v n="$n" -v a="$a" -v R="$ROUNDS" 'BEGIN {
    printf "%-18s %9d %9d (%.2f)\n", j, n/R, a/R, a/n }'
done
mqblk del -a >/dev/null
losetup -d "$loop"
