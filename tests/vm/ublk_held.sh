#!/bin/bash
# A driver that never lets go of a request (ublk_hold_server: the read of the block at
# 1 MiB): `list` shows it hung; on SIGTERM the server waits (reporting it), then leaves
# with _exit status 70 and one line saying why, freeing nothing; the kernel fails the held
# read (EIO) and `del` removes the device. With -r 1 the device stays, quiesced.
. ./lib.sh

# start_server [-r]: runs the server in the background; sets srv (pid), dev and id.
start_server() {
  ./ublk_hold_server --held-wait-ms 3000 "$@" >/tmp/srv.out 2>/tmp/srv.err &
  srv=$!
  for i in $(seq 1 300); do
    dev=$(head -n 1 /tmp/srv.out 2>/dev/null)
    [ -n "$dev" ] && break
    kill -0 "$srv" 2>/dev/null || fail "the server died during start-up: $(cat /tmp/srv.err)"
    sleep 0.1
  done
  [ -n "$dev" ] || fail "the server did not say ready in 30 s: $(cat /tmp/srv.err)"
  id=${dev#/dev/ublkb}
}

# held_read_then_stop: a held read, list shows it, SIGTERM, the server exits 70.
held_read_then_stop() {
  dd if="$dev" of=/dev/null bs=4096 skip=256 count=1 iflag=direct 2>/tmp/dd.err &
  dd_pid=$!
  # The request times out after 1 s while the driver still holds it: hung.
  local js hung
  for i in $(seq 1 50); do
    js=$(mqblk list --json)
    hung=$(jqv '.[0].hung' "$js")
    [ "$hung" = 1 ] && break
    sleep 0.2
  done
  [ "$hung" = 1 ] || fail "list does not show the held request as hung: $js"
  [ "$(jqv '.[0].per_queue[0].engine.hung_longest_ns' "$js")" -gt 0 ] || fail "no hung_longest_ns: $js"
  mqblk list | grep -q "hung 1 (oldest" || fail "list text without the hung request: $(mqblk list)"
  ok "list shows the hung request"
  kill -TERM "$srv"
  # While the server waits for its driver, list still shows the request.
  sleep 1
  kill -0 "$srv" 2>/dev/null || fail "the server did not wait for its driver: $(cat /tmp/srv.err)"
  js=$(mqblk list --json)
  [ "$(jqv '.[0].hung' "$js")" = 1 ] || fail "list during the stop does not show the hung request: $js"
  ok "list shows it while the server waits"
  local rc=0
  wait "$srv" || rc=$?
  cat /tmp/srv.err
  [ "$rc" = 70 ] || fail "server exit status $rc, not 70"
  grep -q "still held by its driver" /tmp/srv.err || fail "no hung-request report"
  grep -q "exiting with status 70 without freeing memory it can still write" /tmp/srv.err ||
    fail "no exit line"
  ok "server reported the held request and exited 70"
}

start_server
held_read_then_stop
# The kernel fails the read its server never answered.
for i in $(seq 1 100); do kill -0 $dd_pid 2>/dev/null || break; sleep 0.1; done
kill -0 $dd_pid 2>/dev/null && fail "the held read still waits 10 s after its server died"
wait $dd_pid && fail "the held read succeeded although its server died"
ok "held read failed: $(tr '\n' ' ' </tmp/dd.err)"
rep=$(within 30 mqblk del -n "$id") || fail "del after the server's exit"
check "device gone" no_ublk_devices

# With -r 1 the kernel keeps the device for recover.
start_server -r
held_read_then_stop
for i in $(seq 1 100); do
  st=$(jqv '.[0].state' "$(mqblk list --json)")
  [ "$st" = quiesced ] && break
  sleep 0.1
done
[ "$st" = quiesced ] || fail "state after the exit with -r 1 is '$st', not quiesced"
ok "-r 1: quiesced after the server's exit"
kill $dd_pid 2>/dev/null
within 30 mqblk del -n "$id" >/dev/null || fail "del of the quiesced device"
check "device gone" no_ublk_devices
echo PASS
