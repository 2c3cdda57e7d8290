#!/bin/bash
# More queues than the kernel allows, failed starts, and what they leave: the kernel's
# queue count is used (said in one line); a start that fails with several queues running
# stops them all, deletes the device and leaves no node, config, log or /dev/shm store;
# negative -q/-d/-n are refused; del removes the log. Needs ublk_hold_server.
. ./lib.sh

cpus=$(nproc)
nothing_left() {
  no_ublk_devices || { echo "left: $(ls /dev/ublkb*)"; return 1; }
  ! ls /dev/ublkc[0-9]* >/dev/null 2>&1 || { echo "left: $(ls /dev/ublkc*)"; return 1; }
  [ "$(mqblk list --json | jq length)" = 0 ] || { echo "list: $(mqblk list)"; return 1; }
  [ -z "$(ls /run/mqblk 2>/dev/null)" ] || { echo "run dir: $(ls /run/mqblk)"; return 1; }
  ! ls /dev/shm/mqblk-ublk-* >/dev/null 2>&1 || { echo "left: $(ls /dev/shm)"; return 1; }
}

# 1. -q above the CPU count: the device gets the kernel's count, with one line saying so.
for args in "-q $((cpus + 2)) null size=16M" "null submit_queues=$((cpus + 1)) size=16M"; do
  dev=$(within 30 mqblk add $args 2>/tmp/add.err) || fail "add $args: $(cat /tmp/add.err)"
  [ "$(wc -l </tmp/add.err)" = 1 ] && grep -q "accepts at most $cpus queues" /tmp/add.err \
    || fail "add $args did not say in one line what the kernel accepted: $(cat /tmp/add.err)"
  id=${dev#/dev/ublkb}
  [ "$(ls -d /sys/block/ublkb$id/mq/* | wc -l)" = "$cpus" ] || fail "kernel queues for $args"
  [ "$(jqv '.[0].queues' "$(mqblk list --json)")" = "$cpus" ] || fail "list queues for $args"
  check "I/O on $dev ($args)" dd if=/dev/zero of="$dev" bs=4096 count=64 oflag=direct status=none
  ok "$args: $(cat /tmp/add.err)"
  within 30 mqblk del -n "$id" >/dev/null || fail "del $id"
done
check "nothing left after the -q cases" nothing_left

# 2. A start that fails after every queue thread fetched its tags and START_DEV ran (the
#    driver fails the start-up read): the server exits promptly with one line.
start=$(date +%s)
within 30 ./ublk_hold_server --queues "$cpus" --fail-reads >/tmp/hold.out 2>/tmp/hold.err
rc=$?
took=$(($(date +%s) - start))
[ "$rc" = 1 ] || fail "failed start exited $rc (124: hung): $(cat /tmp/hold.err)"
[ "$took" -le 15 ] || fail "failed start took $took s"
grep -c "^mqblk: " /tmp/hold.err | grep -qx 1 || fail "not one error line: $(cat /tmp/hold.err)"
grep -q "test read" /tmp/hold.err || fail "unexpected failure: $(cat /tmp/hold.err)"
ok "failed start with $cpus queues: exit 1 in $took s: $(grep '^mqblk: ' /tmp/hold.err)"
check "nothing left after the failed start" nothing_left

# 3. A failed add -r 1 memory_backed=1 (the id is taken) leaves no /dev/shm store.
dev=$(within 30 mqblk add -n 5 null size=16M) || fail "add -n 5"
out=$(within 30 mqblk add -r 1 -n 5 null size=16M memory_backed=1 2>&1) && fail "second -n 5 added"
[ "$(echo "$out" | wc -l)" = 1 ] || fail "not one line: $out"
ok "taken id refused: $out"
! ls /dev/shm/mqblk-ublk-* >/dev/null 2>&1 || fail "failed add left $(ls /dev/shm)"
[ -e /run/mqblk/5.log ] || fail "no log for a background server"
within 30 mqblk del -n 5 >/dev/null || fail "del 5"
[ ! -e /run/mqblk/5.log ] || fail "del left /run/mqblk/5.log"
# del -a also removes a store whose server died before it saved its configuration.
head -c 4096 /dev/zero > /dev/shm/mqblk-ublk-999999-1
within 30 mqblk del -a || fail "del -a"
[ ! -e /dev/shm/mqblk-ublk-999999-1 ] || fail "del -a left an orphan store"
check "nothing left after the -r 1 cases" nothing_left

# 4. Negative numbers are refused in one line, not taken as "not given".
for args in "-q -2" "-d -8" "-n -3"; do
  out=$(mqblk add $args null size=16M 2>&1) && fail "add $args accepted"
  [ "$(echo "$out" | wc -l)" = 1 ] || fail "add $args: not one line: $out"
  ok "add $args refused: $out"
done
out=$(mqblk del -n -1 2>&1) && fail "del -n -1 accepted"
check "nothing left after negative numbers" nothing_left
echo PASS
