#!/bin/bash
# The file driver behind ublk: fio verify on /dev/ublkbN over a file on tmpfs, over a file
# on ext4 (on the kernel's ramdisk, mounted here), and over a block device (/dev/ram1:
# BLKGETSIZE64, BLKDISCARD); then ext4 on a file-backed device: mkfs, mount, write, sync,
# umount, e2fsck clean, mount again and read back. Needs -b "mkfs.ext4 e2fsck".
. ./lib.sh

check "brd" modprobe brd rd_nr=2 rd_size=262144
check "mkfs.ext4 on ram0" within 60 mkfs.ext4 -q -F /dev/ram0
mkdir -p /mnt/e /mnt/u
check "mount ram0" within 30 mount -t ext4 /dev/ram0 /mnt/e

verify_fio() {  # what, device
  within 120 fio --name=v --filename="$2" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
    --iodepth=16 --size=16M --verify=crc32c --do_verify=1 --verify_fatal=1 --output=/tmp/fio.out ||
    fail "$1: fio verify: $(tail -5 /tmp/fio.out)"
  grep -q "err= 0" /tmp/fio.out || fail "$1: fio errors: $(tail -5 /tmp/fio.out)"
  ok "$1: fio randwrite + verify"
}

for backing in "tmpfs /tmp/disk.img size=128M" "ext4 /mnt/e/disk.img size=128M" "blockdev /dev/ram1"; do
  read -r what path size <<<"$backing"
  dev=$(within 30 mqblk add -q 2 file path="$path" $size) || fail "$what: add"
  id=${dev#/dev/ublkb}
  verify_fio "$what" "$dev"
  # Discard through the kernel: the block layer sends DISCARD, the driver punches holes
  # (BLKDISCARD on the block device).
  check "$what: blkdiscard" within 30 blkdiscard -o 0 -l 4194304 "$dev"
  z=$(within 30 dd if="$dev" bs=4096 count=1024 iflag=direct 2>/dev/null | tr -d '\0' | wc -c)
  [ "$z" = 0 ] || fail "$what: discarded range does not read zeros ($z non-zero bytes)"
  rep=$(within 30 mqblk del -n "$id") || fail "$what: del"
  report_balanced "$rep" || fail "$what: exit report not balanced: $rep"
  ok "$what: served, discarded, deleted"
done

# ext4 on a file-backed device whose file lives on ext4.
dev=$(within 30 mqblk add file path=/mnt/e/fs.img size=96M) || fail "add fs.img"
id=${dev#/dev/ublkb}
check "mkfs.ext4 on the file device" within 120 mkfs.ext4 -q -F "$dev"
check "mount" within 30 mount -t ext4 "$dev" /mnt/u
for i in 1 2 3; do
  head -c $((2 * 1048576 + i * 4093)) /dev/urandom >/tmp/f$i
  cp /tmp/f$i /mnt/u/f$i
done
check "sync" within 60 sync
check "umount" within 60 umount /mnt/u
check "e2fsck clean" within 120 e2fsck -f -n "$dev"
check "mount again" within 30 mount -t ext4 "$dev" /mnt/u
for i in 1 2 3; do cmp /tmp/f$i /mnt/u/f$i || fail "f$i differs after remount"; done
check "umount" within 60 umount /mnt/u
rep=$(within 30 mqblk del -n "$id") || fail "del fs.img"
report_balanced "$rep" || fail "exit report not balanced: $rep"
check "e2fsck of the image file itself" within 120 e2fsck -f -n /mnt/e/fs.img
check "device gone" no_ublk_devices
echo PASS
