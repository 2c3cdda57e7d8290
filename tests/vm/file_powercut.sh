#!/bin/bash
# A power cut beneath the file: ext4 on dm-flakey on the kernel's ramdisk holds a buffered
# (direct=0) file device. Writes go through ublk with FUA (O_DSYNC) to one range and plain
# then a flush (fsync) to another; once those are acknowledged, dm-flakey drops every
# later write (the "power" is gone for the media), the server is killed, the page cache
# and the mount are thrown away, and the file system is mounted again from what reached
# the ramdisk: every acknowledged write must be there. Writes without FUA and without a
# following flush would stay in the page cache and be lost, which is what makes the check
# able to fail. Needs -b "mkfs.ext4 e2fsck dmsetup".
. ./lib.sh

check "brd" modprobe brd rd_nr=1 rd_size=262144
check "dm_flakey" modprobe dm_flakey
sectors=$(blockdev --getsz /dev/ram0)
check "flakey up" dmsetup create cut --table "0 $sectors flakey /dev/ram0 0 3600 0"
check "device node (no udev here)" dmsetup mknodes cut
check "mkfs.ext4" within 60 mkfs.ext4 -q -F /dev/mapper/cut
mkdir -p /mnt/c
check "mount" within 30 mount -t ext4 /dev/mapper/cut /mnt/c
dev=$(within 30 mqblk add file path=/mnt/c/disk.img size=64M direct=0) || fail "add"
check "the write-back cache is on" grep -q "write back" "/sys/block/${dev#/dev/}/queue/write_cache"

job() {  # name, offset, sync options..., then fio's verify options
  local name=$1 off=$2
  shift 2
  within 120 fio --name="$name" --filename="$dev" --rw=write --bs=4k --size=2M --offset="$off" \
    --ioengine=psync --eta=never --verify=crc32c "$@" --output="/tmp/$name.out" ||
    fail "$name: $(tail -5 "/tmp/$name.out")"
}
job fua 0 --sync=dsync --do_verify=0               # every write O_DSYNC: REQ_FUA
job flushed 16M --end_fsync=1 --do_verify=0        # plain writes, then one fsync: FLUSH
ok "acknowledged: 2M with FUA, 2M before a flush"

# The cut: from here on nothing reaches the ramdisk.
check "suspend" dmsetup suspend --noflush cut
check "drop writes" dmsetup load cut --table "0 $sectors flakey /dev/ram0 0 0 3600 1 drop_writes"
check "resume" dmsetup resume cut
pid=$(ps -o pid,args | awk '/mqblk add file/ && !/awk/ {print $1; exit}')
[ -n "$pid" ] || fail "no server process"
kill -9 "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
for _ in $(seq 100); do no_ublk_devices && break; sleep 0.1; done
within 60 umount /mnt/c || within 30 umount -l /mnt/c || fail "umount after the cut"
check "remove flakey" dmsetup remove cut
echo 3 >/proc/sys/vm/drop_caches

# Power back: mount what the ramdisk holds (ext4 replays its journal) and check the file.
check "mount after the cut" within 30 mount -t ext4 /dev/ram0 /mnt/c
for j in "fua 0" "flushed 16M"; do
  read -r name off <<<"$j"
  within 120 fio --name="$name" --filename=/mnt/c/disk.img --rw=write --bs=4k --size=2M \
    --offset="$off" --ioengine=psync --eta=never --verify=crc32c --verify_only \
    --verify_fatal=1 --output="/tmp/$name.check" ||
    fail "$name: acknowledged writes lost in the cut: $(grep -m3 -i 'verify\|bad' "/tmp/$name.check")"
  grep -q "err= 0" "/tmp/$name.check" || fail "$name: $(tail -5 "/tmp/$name.check")"
  ok "$name: every acknowledged write survived the cut"
done
check "umount" within 30 umount /mnt/c
echo PASS
