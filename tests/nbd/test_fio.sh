#!/usr/bin/env bash
# fio's nbd engine: random writes with crc32c verification, then a verify-only pass.
source "$(dirname "$0")/lib.sh"
start_server null size=256M memory_backed=1
fio --name=w --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --iodepth=32 --size=64M \
  --verify=crc32c --do_verify=1 --verify_fatal=1 --output="$TMP/fio1" || fail "fio randwrite+verify: $(tail -5 "$TMP/fio1")"
fio --name=big --ioengine=nbd --uri="$URI" --rw=write --bs=1M --iodepth=4 --size=64M --offset=128M \
  --verify=crc32c --do_verify=1 --verify_fatal=1 --output="$TMP/fio2" || fail "fio 1M write+verify"
grep -q "err= 0" "$TMP/fio1" || fail "fio reported errors"
stop_server
echo PASS
