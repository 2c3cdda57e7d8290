#!/bin/bash
# ext4 on /dev/ublkbN: mkfs, mount, write and sync files, umount, e2fsck clean, mount
# again and read them back. Needs -b "mkfs.ext4 e2fsck".
. ./lib.sh

dev=$(within 30 mqblk add -q 2 null size=512M memory_backed=1 discard=1) || fail "add"
id=${dev#/dev/ublkb}
check "mkfs.ext4" within 120 mkfs.ext4 -q -F "$dev"
mkdir -p /mnt/u
check "mount" within 30 mount -t ext4 "$dev" /mnt/u
for i in 1 2 3 4; do
  head -c $((3 * 1048576 + i * 4093)) /dev/urandom > /tmp/f$i
  cp /tmp/f$i /mnt/u/f$i
done
mkdir /mnt/u/dir && echo hello > /mnt/u/dir/small
check "sync" within 60 sync
check "fstrim-free delete" rm /mnt/u/f4
check "umount" within 60 umount /mnt/u
check "e2fsck clean" within 120 e2fsck -f -n "$dev"
check "mount again" within 30 mount -t ext4 "$dev" /mnt/u
for i in 1 2 3; do cmp /tmp/f$i /mnt/u/f$i || fail "f$i differs after remount"; done
[ "$(cat /mnt/u/dir/small)" = hello ] || fail "small file"
[ ! -e /mnt/u/f4 ] || fail "deleted file is back"
ok "files read back"
check "umount" within 60 umount /mnt/u
rep=$(within 30 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"
check "device gone" no_ublk_devices
echo PASS
