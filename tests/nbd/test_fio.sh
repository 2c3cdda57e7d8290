#!/usr/bin/env bash
# fio's nbd engine: random writes with crc32c verification, then a verify-only pass; once
# with the I/O thread's default busy-poll window and once with it off (--poll-us 0: the
# thread sleeps in epoll between requests), so both event-loop paths carry real traffic.
source "$(dirname "$0")/lib.sh"
for poll in "" "--poll-us 0"; do
  # shellcheck disable=SC2086 # $poll is zero or two words
  start_server $poll null size=256M memory_backed=1
  fio --name=w --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --iodepth=32 --size=64M \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --output="$TMP/fio1" || fail "fio randwrite+verify ($poll): $(tail -5 "$TMP/fio1")"
  fio --name=big --ioengine=nbd --uri="$URI" --rw=write --bs=1M --iodepth=4 --size=64M --offset=128M \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --output="$TMP/fio2" || fail "fio 1M write+verify ($poll)"
  grep -q "err= 0" "$TMP/fio1" || fail "fio reported errors ($poll)"
  stop_server
done
echo PASS
