#!/usr/bin/env bash
# The rbd driver behind the NBD server, with real clients on a real (loopback) cluster:
# qemu-io patterns, fio's nbd engine with crc32c verification, write-zeroes and discard
# that read back zeros, flush, nbdcopy in and the image's own bytes out through `rbd
# export` (what librbd stored, read without mqblk), and the device size from the image.
# Then in process: `mqblk bench --verify` from two jobs on two hardware queues, whose
# completions come straight from librbd's threads (the race test under TSan).
source "$(dirname "$0")/lib.sh"
cluster_start 64M

start_server rbd pool=rbd image=img op_timeout=10
size=$(nbdinfo --size "$URI") || fail "nbdinfo --size"
[[ $size == $((64 << 20)) ]] || fail "export size $size, want the image's 64M"

out=$(qemu-io -f raw -c 'write -P 0x5a 0 1M' -c 'write -P 0xa5 3M 512' -c 'write -P 0x33 5M 8M' -c flush "$URI")
grep -q "wrote 8388608" <<<"$out" || fail "qemu-io write: $out"
out=$(qemu-io -f raw -c 'read -P 0x5a 0 1M' -c 'read -P 0xa5 3M 512' -c 'read -P 0x33 5M 8M' \
  -c 'read -P 0 1M 2M' -c 'read -P 0 60M 4M' "$URI")
if grep -q "verification failed" <<<"$out"; then fail "qemu-io read back: $out"; fi
out=$(qemu-io -f raw -c 'read -P 0x11 0 4k' "$URI" 2>&1 || true)
grep -q "verification failed" <<<"$out" || fail "a wrong pattern went unnoticed"
echo "ok: qemu-io patterns"

# Write zeroes (with and without unmapping) and discard read back zeros.
qemu-io -f raw -c 'write -P 0x66 20M 3M' "$URI" >/dev/null || fail "write before zeroing"
qemu-io -f raw -c 'write -z -u 20M 1M' -c 'write -z 21M 1M' -c 'discard 22M 1M' "$URI" >/dev/null ||
  fail "write -z / discard"
out=$(qemu-io -f raw -c 'read -P 0 20M 2M' "$URI")
if grep -q "verification failed" <<<"$out"; then fail "zeroed range does not read zeros: $out"; fi
echo "ok: write zeroes"

# fio verify over NBD, QD32 from two connections.
fio --name=w --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --iodepth=32 --size=16M \
  --offset=32M --numjobs=1 --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 \
  --output="$TMP/fio" >/dev/null || fail "fio randwrite+verify: $(tail -5 "$TMP/fio")"
grep -q "err= 0" "$TMP/fio" || fail "fio reported errors: $(cat "$TMP/fio")"
echo "ok: fio verify"

# nbdcopy in, then the image's bytes read by librbd alone.
head -c 8M /dev/urandom >"$TMP/in.img"
nbdcopy --flush "$TMP/in.img" "$URI" || fail "nbdcopy in"
stop_server
rbd_cli export --no-progress rbd/img "$TMP/out.img" >/dev/null 2>&1 || fail "rbd export"
cmp -n $((8 << 20)) "$TMP/in.img" "$TMP/out.img" || fail "the image differs from what nbdcopy wrote"
# 0x33 was written at 5M..13M; nbdcopy overwrote up to 8M.
cmp -i $((8 << 20)):0 -n $((5 << 20)) "$TMP/out.img" <(head -c 5M /dev/zero | tr '\0' '\063') ||
  fail "the image lacks the qemu-io pattern at 8M..13M"
echo "ok: nbdcopy and rbd export agree"

out=$("$MQBLK" bench --rw randrw --verify --jobs 2 --iodepth 16 --ios 1500 --size 16M \
  rbd pool=rbd image=img submit_queues=2 op_timeout=10 2>&1) || fail "mqblk bench --verify: $out"
grep -qE "verify: [0-9]+ blocks checked, 0 mismatches" <<<"$out" || fail "bench verify: $out"
grep -q " 0 errors" <<<"$out" || fail "bench errors: $out"
echo "ok: in process, 2 queues: $(grep -oE 'verify: .*' <<<"$out")"
echo PASS
