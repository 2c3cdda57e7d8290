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
# del of a mounted device is refused, naming the mount point; the device stays live.
out=$(within 30 mqblk del -n "$id" 2>&1) && fail "del of a mounted device succeeded"
[ "$(echo "$out" | wc -l)" = 1 ] && grep -q "mounted on /mnt/u" <<<"$out" \
  || fail "del of a mounted device did not name /mnt/u in one line: $out"
out2=$(within 30 mqblk del -a 2>&1) && fail "del -a of a mounted device succeeded"
grep -q "mounted on /mnt/u" <<<"$out2" || fail "del -a did not name /mnt/u: $out2"
[ "$(jqv '.[0].state' "$(mqblk list --json)")" = live ] || fail "device not live after refusals"
cmp /tmp/f1 /mnt/u/f1 || fail "f1 differs after the refused del"
ok "del refused while mounted: $out"
check "umount" within 60 umount /mnt/u
rep=$(within 30 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"
check "device gone" no_ublk_devices
# --force deletes it while mounted: the file system then sees I/O errors.
dev=$(within 30 mqblk add null size=64M memory_backed=1) || fail "add"
id=${dev#/dev/ublkb}
check "mkfs.ext4" within 60 mkfs.ext4 -q -F "$dev"
check "mount" within 30 mount -t ext4 "$dev" /mnt/u
within 30 mqblk del -n "$id" --force >/dev/null || fail "del --force of a mounted device"
check "device gone after --force" no_ublk_devices
echo data > /mnt/u/after 2>/dev/null; sync 2>/dev/null
within 30 umount /mnt/u || within 30 umount -l /mnt/u || fail "umount after --force"
ok "del --force while mounted"
echo PASS
