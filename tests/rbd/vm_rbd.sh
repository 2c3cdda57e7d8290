#!/bin/bash
# In the VM's guest (tests/rbd/test_rbd_vm.sh stages it): `mqblk add rbd ...` as a real
# /dev/ublkbN in front of a Ceph cluster running in the guest itself (it has no network to
# the host): fio verify through the kernel, then ext4: mkfs, mount, write, sync, umount,
# e2fsck clean, mount again and read back. The guest has no Python, so the cluster's
# monitor commands go through rbd_mon_command (MON_COMMAND) and the image is created by
# the C++ `rbd` tool.
. ./lib.sh
# One OSD: under TCG every daemon start costs tens of seconds, and nothing here kills one.
export MON_COMMAND=/extra/rbd_mon_command CEPH_LIB_DIR=/extra/cephlib CLUSTER_WAIT_S=120 OSDS=1
t0=$(date +%s)
check "cluster start" within 240 bash ./cluster.sh start /tmp/ceph 64M
ok "cluster up after $(($(date +%s) - t0)) s"
export CEPH_CONF=/tmp/ceph/ceph.conf
trap 'bash ./cluster.sh stop /tmp/ceph' EXIT

dev=$(within 60 mqblk add -q 2 rbd pool=rbd image=img op_timeout=60) || fail "add rbd"
id=${dev#/dev/ublkb}
[ "$(blockdev --getsize64 "$dev")" = $((64 << 20)) ] || fail "$dev is not the image's 64M"
within 240 fio --name=v --filename="$dev" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
  --iodepth=16 --size=4M --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
  --eta=never --output=/tmp/fio.out || fail "fio verify: $(tail -5 /tmp/fio.out)"
grep -q "err= 0" /tmp/fio.out || fail "fio errors: $(tail -5 /tmp/fio.out)"
ok "fio randwrite + verify on $dev"

mkdir -p /mnt/u
check "mkfs.ext4" within 240 mkfs.ext4 -q -F -E nodiscard "$dev"
check "mount" within 60 mount -t ext4 "$dev" /mnt/u
for i in 1 2; do
  head -c $((1048576 + i * 4093)) /dev/urandom >/tmp/f$i
  cp /tmp/f$i /mnt/u/f$i
done
check "sync" within 120 sync
check "umount" within 120 umount /mnt/u
check "e2fsck clean" within 240 e2fsck -f -n "$dev" >/tmp/fsck.out
check "mount again" within 60 mount -t ext4 "$dev" /mnt/u
for i in 1 2; do cmp /tmp/f$i /mnt/u/f$i || fail "f$i differs after remount"; done
check "umount" within 120 umount /mnt/u
rep=$(within 120 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"
ok "ext4 on rbd: written, checked, read back; deleted"
echo PASS
