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
