#!/bin/bash
# add a memory-backed null device, verify data with fio (crc32c), check list --json
# against the truth, delete it; bad attributes and -q/-d conflicts create nothing.
. ./lib.sh

out=$(mqblk add null foo=1 2>&1) && fail "unknown attribute accepted"
[ "$(echo "$out" | wc -l)" = 1 ] || fail "error is not one line: $out"
ok "unknown attribute rejected: $out"
mqblk add -q 2 null submit_queues=3 size=16M 2>/dev/null && fail "-q 2 with submit_queues=3 accepted"
mqblk add null size=abc 2>/dev/null && fail "size=abc accepted"
check "no device after bad attributes" no_ublk_devices
[ "$(mqblk list --json | jq length)" = 0 ] || fail "list shows a device after bad attributes"

dev=$(within 30 mqblk add -q 2 -d 64 null size=256M memory_backed=1) || fail "add"
[ -b "$dev" ] || fail "add printed '$dev', not a block device"
ok "added $dev"
id=${dev#/dev/ublkb}

js=$(mqblk list --json) || fail "list --json"
echo "$js" | jq -e . >/dev/null || fail "list --json does not parse"
pid=$(jqv ".[0].pid" "$js")
[ "$(jqv '.[0].id' "$js")" = "$id" ] || fail "list id"
[ "$(jqv '.[0].state' "$js")" = live ] || fail "list state"
[ "$(jqv '.[0].queues' "$js")" = 2 ] || fail "list queues"
[ "$(jqv '.[0].depth' "$js")" = 64 ] || fail "list depth"
[ "$(jqv '.[0].driver' "$js")" = null ] || fail "list driver"
grep -qx memory_backed=1 <<<"$(jqv '.[0].attributes[]' "$js")" || fail "list attributes"
kill -0 "$pid" 2>/dev/null || fail "list pid $pid is not running"
[ "$(cat /sys/block/ublkb$id/size)" = $((256 * 2048)) ] || fail "capacity"
[ "$(ls -d /sys/block/ublkb$id/mq/* | wc -l)" = 2 ] || fail "kernel sees 2 hw queues"
ok "list --json is truthful"

within 120 fio --eta=never --name=w --filename="$dev" --ioengine=io_uring --direct=1 --rw=randwrite \
  --bs=4k --iodepth=32 --size=32M --verify=crc32c --do_verify=1 --output=/tmp/fio-w.txt \
  || { cat /tmp/fio-w.txt; fail "fio randwrite verify"; }
ok "fio randwrite + verify"
within 120 fio --eta=never --name=w --filename="$dev" --ioengine=io_uring --direct=1 --rw=randread \
  --bs=4k --iodepth=32 --size=32M --verify=crc32c --verify_only=1 --output=/tmp/fio-r.txt \
  || { cat /tmp/fio-r.txt; fail "fio randread verify of the data written before"; }
ok "fio randread verify"
within 60 fio --eta=never --name=mix --filename="$dev" --ioengine=io_uring --direct=1 --rw=randrw \
  --bsrange=512-128k --iodepth=16 --size=64M --offset=64M --verify=crc32c --output=/tmp/fio-m.txt \
  || { cat /tmp/fio-m.txt; fail "fio mixed sizes verify"; }
ok "fio mixed sizes verify"

# One copy (docs/ublk.md): the memory-backed store lends its memory, so READs of data and
# WRITEs over all-hole or all-data ranges move their bytes through it, not a tag buffer;
# mixed ranges and reads of holes take the tag buffer. Each case must read back right, at
# 128M (untouched so far): A over holes, B over the middle of A (data), C over A's last 4k
# and two hole pages (mixed); the pages after C still read zeros.
one0=$(jqv '[.[0].per_queue[].one_copy] | add' "$(mqblk list --json)")
[ "$one0" -gt 8192 ] || fail "one_copy count too low after the fio runs: $one0"
head -c 65536 /dev/urandom > /tmp/A; head -c 16384 /dev/urandom > /tmp/B
head -c 12288 /dev/urandom > /tmp/C; head -c 131072 /dev/zero > /tmp/exp
for f in "A 0" "B 8" "C 15"; do
  set -- $f
  within 10 dd if=/tmp/$1 of="$dev" bs=4k seek=$((32768 + $2)) oflag=direct conv=notrunc \
    status=none || fail "dd write $1"
  dd if=/tmp/$1 of=/tmp/exp bs=4k seek=$2 conv=notrunc status=none
done
within 10 dd if="$dev" of=/tmp/got bs=4k skip=32768 count=32 iflag=direct status=none \
  || fail "dd read back"
cmp /tmp/exp /tmp/got || fail "one-copy writes over holes, data and a mixed range read back wrong"
one1=$(jqv '[.[0].per_queue[].one_copy] | add' "$(mqblk list --json)")
[ "$one1" -gt "$one0" ] || fail "one_copy did not grow ($one0 -> $one1)"
ok "one copy: holes, overwrite, mixed range read back right ($one0 -> $one1 one-copy requests)"

js=$(mqblk list --json)
[ "$(jqv '.[0].in_flight' "$js")" = 0 ] || fail "in-flight not 0 when idle: $js"
rec=$(jqv '[.[0].per_queue[].received] | add' "$js")
[ "$rec" -gt 8192 ] || fail "per-queue received counts too low: $rec"
ok "counters: $rec requests received"

rep=$(within 30 mqblk del -n "$id") || fail "del"
echo "$rep"
report_balanced "$rep" || fail "exit report not balanced: $rep"
check "device gone" no_ublk_devices
[ "$(mqblk list --json | jq length)" = 0 ] || fail "list still shows the device"
kill -0 "$pid" 2>/dev/null && fail "server $pid still running"

# memory_cap: the store lends no memory (the cap is checked before bytes land), so every
# request takes the tag buffer, and the data still verify.
dev=$(within 30 mqblk add -n 3 null size=64M memory_backed=1 memory_cap=64M) || fail "add memory_cap"
within 60 fio --eta=never --name=c --filename="$dev" --ioengine=io_uring --direct=1 --rw=randrw \
  --bsrange=4k-64k --iodepth=8 --size=16M --verify=crc32c --output=/tmp/fio-c.txt \
  || { cat /tmp/fio-c.txt; fail "fio verify with memory_cap"; }
js=$(mqblk list --json)
[ "$(jqv '[.[0].per_queue[].one_copy] | add' "$js")" = 0 ] || fail "one_copy with memory_cap: $js"
within 30 mqblk del -n 3 >/dev/null || fail "del memory_cap device"
ok "memory_cap: tag buffers only, data verified"

# --foreground: serves in this process, prints the path when ready, stops on SIGTERM
# with its per-queue report on stderr.
mqblk add --foreground -n 7 null size=16M > /tmp/fg.out 2> /tmp/fg.err &
fg=$!
for i in $(seq 1 100); do [ -s /tmp/fg.out ] && break; sleep 0.1; done
[ "$(cat /tmp/fg.out)" = /dev/ublkb7 ] || fail "foreground add printed '$(cat /tmp/fg.out)'"
check "foreground device reads" dd if=/dev/ublkb7 of=/dev/null bs=4096 count=4 iflag=direct status=none
kill -TERM $fg
for i in $(seq 1 300); do kill -0 $fg 2>/dev/null || break; sleep 0.1; done
kill -0 $fg 2>/dev/null && fail "foreground server still running 30 s after SIGTERM"
wait $fg || fail "foreground server exited with an error: $(cat /tmp/fg.err)"
grep -q "queue 0: received" /tmp/fg.err || fail "no exit report: $(cat /tmp/fg.err)"
check "foreground device gone" no_ublk_devices
echo PASS
