#!/bin/bash
# Buffer memory follows the I/O, not the depth: at -d 4096 under 4k random writes at
# QD1024 the server's peak resident memory (VmHWM) stays under 128 MiB. (Transparent huge
# pages once backed every touched tag's buffer with 2 MiB: 1.75 GB.)
. ./lib.sh

dev=$(within 30 mqblk add -d 4096 null size=1G) || fail "add -d 4096"
id=${dev#/dev/ublkb}
pid=$(jqv '.[0].pid' "$(mqblk list --json)")
hwm() { awk '/^VmHWM/ { print $2 }' /proc/$pid/status; }
idle=$(hwm)
within 60 fio --eta=never --name=w --filename="$dev" --ioengine=io_uring --direct=1 \
  --rw=randwrite --bs=4k --iodepth=1024 --iodepth_batch_submit=64 --time_based --runtime=6 \
  --output=/tmp/fio.txt || { cat /tmp/fio.txt; fail "fio"; }
peak=$(hwm)
rec=$(jqv '[.[0].per_queue[].received] | add' "$(mqblk list --json)")
inflight_max=$(awk -F'[=,]' '/IO depths/ { print }' /tmp/fio.txt)
echo "server VmHWM: idle $idle KiB, after 4k randwrite QD1024 $peak KiB ($rec requests; fio $inflight_max)"
[ "$rec" -gt 4096 ] || fail "too few requests reached the server: $rec"
[ "$peak" -lt $((128 * 1024)) ] || fail "server peak RSS $peak KiB >= 128 MiB at -d 4096"
ok "peak RSS $((peak / 1024)) MiB at -d 4096"
within 30 mqblk del -n "$id" >/dev/null || fail "del"
echo PASS
