#!/bin/bash
# -i 1 (USER_RECOVERY_REISSUE): fio writes with verify through kill -9 of the server and
# `recover`; the requests in flight at the kill (the kernel's inflight count, read just
# before it; timer completions keep them in the engine) are reissued to the new server, so
# fio sees no error and no mismatch. -e 1 (FAIL_IO) is refused in one line where the
# kernel lacks it; -i 1 with -e 1 too, and -i 1 for a driver whose writes are not declared
# idempotent. Needs ublk_hold_server.
. ./lib.sh

feat=$(mqblk features --json)
if ! jq -e '.. | .features? // empty | index("USER_RECOVERY_FAIL_IO")' <<<"$feat" >/dev/null; then
  out=$(mqblk add -e 1 null size=16M 2>&1) && fail "-e 1 accepted by a kernel without FAIL_IO"
  [ "$(echo "$out" | wc -l)" = 1 ] && grep -q USER_RECOVERY_FAIL_IO <<<"$out" \
    || fail "-e 1 refusal is not one line naming the feature: $out"
  ok "-e 1 refused: $out"
fi
out=$(mqblk add -i 1 -e 1 null size=16M 2>&1) && fail "-i 1 -e 1 accepted"
ok "-i 1 -e 1 refused: $out"
# A driver that does not declare idempotent writes ("hold" of ublk_hold_server).
out=$(within 30 ./ublk_hold_server --add-reissue 2>&1) && fail "-i 1 accepted for driver hold"
[ "$(echo "$out" | wc -l)" = 1 ] && grep -q "idempotent" <<<"$out" \
  || fail "-i 1 refusal for hold is not one line about idempotent writes: $out"
ok "-i 1 refused for a driver without idempotent writes: $out"
check "nothing added by the refusals" no_ublk_devices

dev=$(within 30 mqblk add -i 1 -q 2 -d 64 null size=256M memory_backed=1 irqmode=2 \
  completion_nsec=2000000) || fail "add -i 1"
id=${dev#/dev/ublkb}
js=$(mqblk list --json)
jq -e '.[0].flags | index("USER_RECOVERY_REISSUE")' <<<"$js" >/dev/null \
  || fail "device flags lack USER_RECOVERY_REISSUE: $js"
pid=$(jqv '.[0].pid' "$js")
fio --eta=never --name=v --filename="$dev" --ioengine=io_uring --direct=1 --rw=randwrite \
  --bs=4k --iodepth=32 --size=128M --verify=crc32c --do_verify=1 --verify_fatal=1 \
  --output=/tmp/fio.txt 2>/tmp/fio.err &
fio_pid=$!
# Kill the server at an instant the kernel counts writes in flight (bounded look).
sleep 1
for try in $(seq 1 100); do
  read -r r w < /sys/block/ublkb$id/inflight
  [ "$w" -gt 0 ] && break
  sleep 0.02
done
kill -9 "$pid"
echo "kernel in flight at kill -9: reads $r, writes $w"
[ "$w" -gt 0 ] || fail "no write in flight at the kill (fio finished too early?)"
kill -0 $fio_pid 2>/dev/null || fail "fio ended before the kill"
for i in $(seq 1 100); do
  st=$(jqv '.[0].state' "$(mqblk list --json)")
  [ "$st" = quiesced ] && break
  sleep 0.1
done
[ "$st" = quiesced ] || fail "state after kill -9 is '$st', not quiesced"
out=$(within 30 mqblk recover -n "$id") || fail "recover"
[ "$out" = "$dev" ] || fail "recover printed '$out'"
ok "recovered with writes in flight"
for i in $(seq 1 900); do kill -0 $fio_pid 2>/dev/null || break; sleep 0.1; done
kill -0 $fio_pid 2>/dev/null && { kill -9 $fio_pid; fail "fio still running 90 s after recover"; }
wait $fio_pid || { cat /tmp/fio.txt /tmp/fio.err; fail "fio saw an error or a mismatch"; }
grep -q "err= 0" /tmp/fio.txt || { cat /tmp/fio.txt; fail "fio reports errors"; }
ok "fio randwrite + verify through kill -9 and recover: no error, no mismatch"
rec=$(jqv '[.[0].per_queue[].received] | add' "$(mqblk list --json)")
echo "new server received $rec requests (the reissued ones, the rest of the writes, the verify)"
rep=$(within 30 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"
check "device gone" no_ublk_devices
echo PASS
