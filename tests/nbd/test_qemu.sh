#!/usr/bin/env bash
# qemu-io writes patterns and reads them back verified; qemu-img convert to and from the
# export and qemu-img compare.
source "$(dirname "$0")/lib.sh"
start_server null size=64M memory_backed=1

out=$(qemu-io -f raw -c 'write -P 0x5a 0 1M' -c 'write -P 0xa5 3M 512' -c 'write -P 0x33 5M 8M' "$URI")
grep -q "wrote 8388608" <<<"$out" || fail "qemu-io write: $out"
out=$(qemu-io -f raw -c 'read -P 0x5a 0 1M' -c 'read -P 0xa5 3M 512' -c 'read -P 0x33 5M 8M' \
  -c 'read -P 0 1M 2M' -c 'read -P 0 60M 4M' "$URI")
if grep -q "verification failed" <<<"$out"; then fail "qemu-io read back: $out"; fi
# The check can fail: a wrong pattern must be noticed.
out=$(qemu-io -f raw -c 'read -P 0x11 0 4k' "$URI" 2>&1 || true)
grep -q "verification failed" <<<"$out" || fail "a wrong pattern went unnoticed: $out"

head -c 16M /dev/urandom > "$TMP/in.img"
qemu-img convert -n -f raw -O raw "$TMP/in.img" "$URI" || fail "qemu-img convert into the export"
head -c 16M /dev/zero > "$TMP/zero.img"
qemu-img compare -f raw -F raw "$TMP/zero.img" "$URI" >/dev/null 2>&1 && fail "compare saw no difference"
qemu-img convert -f raw -O raw "$URI" "$TMP/out.img" || fail "qemu-img convert out of the export"
[[ $(stat -c %s "$TMP/out.img") == $((64 << 20)) ]] || fail "exported image has the wrong size"
cmp -n $((16 << 20)) "$TMP/in.img" "$TMP/out.img" || fail "data converted out differs from data converted in"
truncate -s 64M "$TMP/in.img"
qemu-img compare -f raw -F raw "$TMP/in.img" "$URI" || fail "qemu-img compare"
stop_server
echo PASS
