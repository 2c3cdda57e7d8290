#!/bin/bash
# kill -9 the server of a device added with -r 1; the device waits (quiesced); recover
# brings it back with the data written before (page store in /dev/shm).
. ./lib.sh

dev=$(within 30 mqblk add -r 1 null size=64M memory_backed=1) || fail "add -r 1"
id=${dev#/dev/ublkb}
head -c 1048576 /dev/urandom > /tmp/pattern
check "write pattern" dd if=/tmp/pattern of="$dev" bs=65536 oflag=direct status=none
pid=$(jqv '.[0].pid' "$(mqblk list --json)")
kill -9 "$pid"
for i in $(seq 1 100); do
  st=$(jqv '.[0].state' "$(mqblk list --json)")
  [ "$st" = quiesced ] && break
  sleep 0.1
done
[ "$st" = quiesced ] || fail "state after kill -9 is '$st', not quiesced"
ok "quiesced after kill -9"
[ -b "$dev" ] || fail "$dev vanished while quiesced"
out=$(within 30 mqblk recover -n "$id") || fail "recover"
[ "$out" = "$dev" ] || fail "recover printed '$out'"
js=$(mqblk list --json)
[ "$(jqv '.[0].state' "$js")" = live ] || fail "not live after recover: $js"
newpid=$(jqv '.[0].pid' "$js")
[ "$newpid" != "$pid" ] && kill -0 "$newpid" || fail "no new server pid"
check "read back" dd if="$dev" of=/tmp/back bs=65536 count=16 iflag=direct status=none
cmp /tmp/pattern /tmp/back || fail "data differs after recover"
ok "data intact after kill -9 and recover"
check "write after recover" dd if=/tmp/pattern of="$dev" bs=65536 seek=32 oflag=direct status=none
shm=$(jq -r .shm_file /run/mqblk/$id.json)
rep=$(within 30 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"
check "device gone" no_ublk_devices
[ -z "$shm" ] || [ ! -e "$shm" ] || fail "$shm left behind"
# A device without -r 1 cannot be recovered, and says so.
dev=$(within 30 mqblk add null size=16M) || fail "add"
id=${dev#/dev/ublkb}
mqblk recover -n "$id" 2>/dev/null && fail "recover of a device without -r 1 succeeded"
within 30 mqblk del -n "$id" >/dev/null || fail "del"
echo PASS
