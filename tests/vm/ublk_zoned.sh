#!/bin/bash
# A zoned /dev/ublkbN against the kernel's zoned null_blk with the same attributes, in the
# same boot: queue limits, `blkzone report` after every step of one sequence of zone
# commands and writes (open, close, finish, reset, implicit opens past zone_max_open,
# zone_max_active, writes off the write pointer, conventional zones), the error each step
# gives; then fio --zonemode=zbd writes with verify, and btrfs (which writes data with
# zone append) mkfs, mount, write, umount, check, read back; kill -9 and recover keep
# zones and data. Needs
# -b "blkzone mkfs.btrfs btrfs".
. ./lib.sh

ATTRS="size=256 zoned=1 zone_size=16 zone_capacity=12 zone_nr_conv=2 zone_max_open=3
zone_max_active=5 memory_backed=1 max_sectors=256"
Z=32768  # sectors per 16 MiB zone

# The kernel's null_blk, through configfs, as nullb1.
nb=/sys/kernel/config/nullb/nullb1
mkdir "$nb" || fail "configfs nullb1"
for kv in $ATTRS; do echo "${kv#*=}" > "$nb/${kv%%=*}" || fail "null_blk $kv"; done
echo 1 > "$nb/power" || fail "null_blk power"
kdev=/dev/nullb1
[ -b $kdev ] || fail "no $kdev"

dev=$(within 30 mqblk add null $ATTRS) || fail "add"
id=${dev#/dev/ublkb}
ok "added $dev"

q=/sys/block/ublkb$id/queue
[ "$(cat $q/zoned)" = host-managed ] || fail "$q/zoned says $(cat $q/zoned)"
for f in zoned chunk_sectors nr_zones max_open_zones max_active_zones zone_append_max_bytes \
  logical_block_size; do
  a=$(cat /sys/block/nullb1/queue/$f) b=$(cat $q/$f)
  [ "$a" = "$b" ] || fail "queue/$f: null_blk $a, ublk $b"
done
ok "queue limits match null_blk: $(cat $q/nr_zones) zones of $(cat $q/chunk_sectors) sectors, \
open $(cat $q/max_open_zones), active $(cat $q/max_active_zones)"

report() { blkzone report "$1" 2>&1; }
# Runs one command on both devices (DEV in it stands for the device) and compares exit
# status, its message (device names taken out) and then the zone reports.
step=0
both() {
  step=$((step + 1))
  local ka kb oa ob
  oa=$(eval "${*//DEV/$kdev}" 2>&1); ka=$?
  ob=$(eval "${*//DEV/$dev}" 2>&1); kb=$?
  oa=${oa//$kdev/DEV} ob=${ob//$dev/DEV}
  [ "$ka" = "$kb" ] || fail "step $step '$*': null_blk exit $ka ($oa), ublk exit $kb ($ob)"
  [ "$oa" = "$ob" ] || fail "step $step '$*': null_blk said '$oa', ublk said '$ob'"
  report $kdev > /tmp/ra; report "$dev" > /tmp/rb
  diff /tmp/ra /tmp/rb > /tmp/rd || { cat /tmp/rd; fail "step $step '$*': reports differ"; }
  echo "ok: step $step: $* -> exit $ka${oa:+ ($oa)}"
}
wr() {  # wr ZONE [BLOCK_OFFSET]: one 4k direct write
  echo "dd if=/tmp/4k of=DEV bs=4096 seek=$(($1 * Z / 8 + ${2:-0})) count=1 oflag=direct \
status=none"
}
head -c 4096 /dev/urandom > /tmp/4k
head -c 4096 /dev/urandom > /tmp/4k-other
report $kdev | head -3

both true
both blkzone open -o $((2 * Z)) -c 1 DEV
both blkzone close -o $((2 * Z)) -c 1 DEV
both "$(wr 3)"
both "$(wr 3 | sed s,/tmp/4k,/tmp/4k-other,)"  # behind the write pointer: changes nothing
both "$(wr 3 5)"    # ahead of it
both "$(wr 3 1)"
both blkzone close -o $((3 * Z)) -c 1 DEV
both blkzone finish -o $((4 * Z)) -c 1 DEV
both blkzone open -o $((5 * Z)) -c 3 DEV
both blkzone open -o $((8 * Z)) -c 1 DEV   # a fourth open zone: past zone_max_open
both "$(wr 8)"                              # neither can a write open it
both blkzone close -o $((7 * Z)) -c 1 DEV
both "$(wr 8)"
both "$(wr 9)"                              # closes zone 8 to open zone 9
both "$(wr 10)"                             # past zone_max_active
both blkzone reset -o $((5 * Z)) -c 1 DEV
both "$(wr 10)"
both "$(wr 0 7)"                            # conventional: anywhere
both blkzone reset -o 0 -c 1 DEV
both "$(wr 11 $((12 * 256 - 1)))"           # not at the wp, at the zone capacity's end
both "dd if=DEV bs=4096 skip=$((3 * Z / 8)) count=3 iflag=direct status=none | md5sum"
both blkzone reset DEV
ok "blkzone report identical after each of $step steps"

rep=$(within 30 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"
echo 0 > "$nb/power"; rmdir "$nb"

# fio's zoned mode: sequential then random writes over 8 zones, with verify, at the open
# limit fio is told about.
dev=$(within 30 mqblk add null size=256 zoned=1 zone_size=16 zone_nr_conv=1 zone_max_open=4 \
  zone_max_active=99 memory_backed=1 2>/tmp/add.err) || fail "add for fio"
grep -q "zone_max_active=99: zone_max_active limit disabled" /tmp/add.err \
  || fail "add did not say how it adjusted zone_max_active: $(cat /tmp/add.err)"
[ "$(cat /sys/block/${dev#/dev/}/queue/max_active_zones)" = 0 ] || fail "max_active_zones"
ok "add said: $(cat /tmp/add.err)"
id=${dev#/dev/ublkb}
for rw in write randwrite; do
  within 120 fio --eta=never --name=z --filename="$dev" --direct=1 --ioengine=io_uring \
    --zonemode=zbd --max_open_zones=4 --rw=$rw --bs=64k --iodepth=8 --offset=16m \
    --size=128m --verify=crc32c --do_verify=1 --output=/tmp/fio-$rw.txt \
    || { cat /tmp/fio-$rw.txt; fail "fio zbd $rw + verify"; }
  grep -q "err= 0" /tmp/fio-$rw.txt || { cat /tmp/fio-$rw.txt; fail "fio zbd $rw errors"; }
  ok "fio --zonemode=zbd --rw=$rw with verify"
done
one=$(jqv '[.[0].per_queue[].one_copy] | add' "$(mqblk list --json)")
[ "$one" -gt 0 ] || fail "no write at a write pointer took one copy"
ok "$one writes at write pointers went straight into the store (one copy)"
rep=$(within 30 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"

# btrfs on the zoned device: its data writes are zone appends.
modprobe btrfs || fail "modprobe btrfs"
dev=$(within 30 mqblk add null size=1024 zoned=1 zone_size=32 memory_backed=1) \
  || fail "add for btrfs"
id=${dev#/dev/ublkb}
check "mkfs.btrfs on a zoned device" within 120 mkfs.btrfs -q -f -d single -m single "$dev"
mkdir -p /mnt/z
check "mount btrfs" within 60 mount -t btrfs "$dev" /mnt/z
for i in 1 2 3 4 5 6; do
  head -c $((2 * 1048576 + i * 4093)) /dev/urandom > /tmp/b$i
  cp /tmp/b$i /mnt/z/b$i
done
check "sync" within 60 sync
appends=$(jqv '[.[0].per_queue[].zone_appends] | add' "$(mqblk list --json)")
[ "$appends" -gt 0 ] || fail "btrfs wrote no zone appends"

check "umount" within 60 umount /mnt/z
check "btrfs check" within 120 btrfs check --readonly "$dev"
check "mount again" within 60 mount -t btrfs "$dev" /mnt/z
for i in 1 2 3 4 5 6; do cmp /tmp/b$i /mnt/z/b$i || fail "b$i differs after remount"; done
ok "btrfs files read back (their data written with $appends zone appends)"
check "umount" within 60 umount /mnt/z
rep=$(within 30 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"

# Zone state lives with the data: kill -9 the server of a -r 1 device (its page store, and
# the zone state after the data, in a file under /dev/shm), recover, and the zones and data
# are as they were; writes go on at the write pointers.
dev=$(within 30 mqblk add -r 1 null size=64 zoned=1 zone_size=8 zone_nr_conv=1 zone_max_open=2 \
  memory_backed=1) || fail "add -r 1"
id=${dev#/dev/ublkb}
head -c 1048576 /dev/urandom > /tmp/pattern
check "write zone 1" dd if=/tmp/pattern of="$dev" bs=65536 seek=128 oflag=direct status=none
check "write zone 2" dd if=/tmp/pattern of="$dev" bs=4096 seek=4096 count=3 oflag=direct \
  status=none
check "finish zone 3" blkzone finish -o $((3 * 16384)) -c 1 "$dev"
check "close zone 2" blkzone close -o $((2 * 16384)) -c 1 "$dev"
check "open zone 4" blkzone open -o $((4 * 16384)) -c 1 "$dev"
report "$dev" > /tmp/before
pid=$(jqv '.[0].pid' "$(mqblk list --json)")
kill -9 "$pid"
for i in $(seq 1 100); do
  st=$(jqv '.[0].state' "$(mqblk list --json)")
  [ "$st" = quiesced ] && break
  sleep 0.1
done
[ "$st" = quiesced ] || fail "state after kill -9 is '$st', not quiesced"
out=$(within 30 mqblk recover -n "$id") || fail "recover"
[ "$out" = "$dev" ] || fail "recover printed '$out'"
report "$dev" > /tmp/after
diff /tmp/before /tmp/after || fail "zones differ after kill -9 and recover"
within 10 dd if="$dev" of=/tmp/back bs=65536 skip=128 count=16 iflag=direct status=none \
  || fail "read back"
cmp /tmp/pattern /tmp/back || fail "data differs after recover"
check "write at zone 2's write pointer after recover" dd if=/tmp/pattern of="$dev" bs=4096 \
  seek=4099 count=1 oflag=direct status=none
dd if=/tmp/pattern of="$dev" bs=4096 seek=4099 count=1 oflag=direct status=none 2>/dev/null \
  && fail "a write behind the recovered write pointer succeeded"
ok "zones and data intact after kill -9 and recover ($(grep -c zcond /tmp/after) zones)"
rep=$(within 30 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"

# Refusals, one line each, before a device exists.
out=$(mqblk add null size=100 zoned=1 zone_size=16 2>&1) && fail "a smaller last zone accepted"
[ "$(echo "$out" | wc -l)" = 1 ] && grep -q "whole number of zones" <<<"$out" \
  || fail "smaller last zone: $out"
out=$(mqblk add null size=64 zoned=1 zone_size=16 zone_append_max_sectors=0 2>&1) \
  && fail "zone append emulation accepted"
[ "$(echo "$out" | wc -l)" = 1 ] && grep -q "native zone append" <<<"$out" \
  || fail "zone_append_max_sectors=0: $out"
check "no device after refusals" no_ublk_devices
ok "refusals: $out"
