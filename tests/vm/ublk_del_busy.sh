#!/bin/bash
# del while fio runs: fio gets errors, nothing hangs, the device goes, and the server's
# exit report shows every request it received ended, per queue.
. ./lib.sh

# Timer completions (irqmode=2) keep requests in flight inside the engine.
dev=$(within 30 mqblk add -q 2 -d 32 null size=1G irqmode=2 completion_nsec=2000000) || fail "add"
id=${dev#/dev/ublkb}
fio --name=busy --filename="$dev" --ioengine=io_uring --direct=1 --rw=randread --bs=4k \
  --iodepth=32 --numjobs=2 --time_based --runtime=40 --output=/tmp/fio.txt 2>/tmp/fio.err &
fio_pid=$!
sleep 3
# One snapshot may catch the instant every request has completed and fio's threads have
# not resubmitted yet (two emulated vCPUs shared by fio, two queue threads and `list`):
# look up to ten times; a device under load must show requests in flight in one of them.
for try in $(seq 1 10); do
  js=$(mqblk list --json)
  inflight=$(jqv '.[0].in_flight' "$js")
  [ "$inflight" -gt 0 ] && break
  sleep 0.3
done
echo "in flight before del: $inflight (snapshot $try)"
[ "$inflight" -gt 0 ] || fail "list shows no request in flight under load in 10 snapshots: $js"
rep=$(within 60 mqblk del -n "$id") || fail "del did not succeed within 60 s"
echo "$rep"
report_balanced "$rep" || fail "exit report not balanced: $rep"
for i in $(seq 1 200); do kill -0 $fio_pid 2>/dev/null || break; sleep 0.1; done
kill -0 $fio_pid 2>/dev/null && { kill -9 $fio_pid; cat /tmp/fio.txt; fail "fio still running 20 s after del"; }
wait $fio_pid && { cat /tmp/fio.txt; fail "fio saw no error although its device was deleted"; }
grep -q "err=" /tmp/fio.txt && grep "err=" /tmp/fio.txt
ok "fio ended with an error"
check "device gone" no_ublk_devices
[ "$(mqblk list --json | jq length)" = 0 ] || fail "list still shows the device"
echo PASS
