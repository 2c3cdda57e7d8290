#!/usr/bin/env bash
# The file driver behind the NBD server, with real clients, on tmpfs and on the file system
# of /tmp (ext4 here): qemu-io patterns, nbdcopy in and out, fio's nbd engine with crc32c
# verification, block status (nbdinfo --map) from SEEK_HOLE/SEEK_DATA, discard that frees
# the file's blocks, write-zeroes with and without unmapping.
source "$(dirname "$0")/../nbd/lib.sh"
SHM=$(mktemp -d /dev/shm/mqblk-file-nbd.XXXXXX)
trap 'cleanup; rm -rf "$SHM"' EXIT

blocks() { stat -c %b "$1"; }  # 512-byte blocks allocated to the file

for dir in "$SHM" "$TMP"; do
  img=$dir/disk.img
  rm -f "$img"
  start_server file path="$img" size=64M
  fs=$(stat -f -c %T "$dir")

  out=$(qemu-io -f raw -c 'write -P 0x5a 0 1M' -c 'write -P 0xa5 3M 512' -c 'write -P 0x33 5M 8M' "$URI")
  grep -q "wrote 8388608" <<<"$out" || fail "$fs: qemu-io write: $out"
  out=$(qemu-io -f raw -c 'read -P 0x5a 0 1M' -c 'read -P 0xa5 3M 512' -c 'read -P 0x33 5M 8M' \
    -c 'read -P 0 1M 2M' -c 'read -P 0 60M 4M' "$URI")
  if grep -q "verification failed" <<<"$out"; then fail "$fs: qemu-io read back: $out"; fi
  out=$(qemu-io -f raw -c 'read -P 0x11 0 4k' "$URI" 2>&1 || true)
  grep -q "verification failed" <<<"$out" || fail "$fs: a wrong pattern went unnoticed"
  cmp -n 1048576 <(head -c 1M /dev/zero | tr '\0' '\132') "$img" || fail "$fs: the file lacks the data"

  # Block status: the never-written tail is a hole, the written head is data.
  nbdinfo --map "$URI" >"$TMP/map" || fail "$fs: nbdinfo --map"
  grep -qE "^ +0 +[0-9]+ +0 +data" "$TMP/map" || fail "$fs: offset 0 is not data: $(cat "$TMP/map")"
  grep -qE "^ +[0-9]+ +[0-9]+ +3 +hole,zero" "$TMP/map" || fail "$fs: no hole reported: $(cat "$TMP/map")"

  # nbdcopy in and out.
  head -c 16M /dev/urandom >"$TMP/in.img"
  nbdcopy "$TMP/in.img" "$URI" || fail "$fs: nbdcopy in"
  nbdcopy "$URI" "$TMP/out.img" || fail "$fs: nbdcopy out"
  cmp -n $((16 << 20)) "$TMP/in.img" "$TMP/out.img" || fail "$fs: nbdcopy round trip differs"
  cmp -n $((16 << 20)) "$TMP/in.img" "$img" || fail "$fs: the file differs from what nbdcopy wrote"

  # fio verify over NBD.
  fio --name=w --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --iodepth=32 --size=16M \
    --offset=16M --verify=crc32c --do_verify=1 --verify_fatal=1 --output="$TMP/fio" ||
    fail "$fs: fio randwrite+verify: $(tail -5 "$TMP/fio")"
  grep -q "err= 0" "$TMP/fio" || fail "$fs: fio reported errors"

  # Discard frees the blocks: 8M of data at 40M, trimmed.
  qemu-io -f raw -c 'write -P 0x77 40M 8M' "$URI" >/dev/null || fail "$fs: write before trim"
  before=$(blocks "$img")
  out=$(qemu-io -f raw -c 'discard 40M 8M' "$URI") || fail "$fs: discard: $out"
  after=$(blocks "$img")
  (( before - after >= 8 * 2048 * 9 / 10 )) || fail "$fs: discard freed $(( (before - after) / 2 ))K of 8M"
  out=$(qemu-io -f raw -c 'read -P 0 40M 8M' "$URI")
  if grep -q "verification failed" <<<"$out"; then fail "$fs: discarded range does not read zeros"; fi
  nbdinfo --map "$URI" | awk '$1 <= 41943040 && $1 + $2 >= 50331648 && $3 == 3 {ok=1} END {exit !ok}' ||
    fail "$fs: the discarded range is not a hole: $(nbdinfo --map "$URI")"

  # Write zeroes: may unmap (punch), and with NOUNMAP (-u absent) stays allocated.
  qemu-io -f raw -c 'write -P 0x66 50M 2M' "$URI" >/dev/null
  before=$(blocks "$img")
  qemu-io -f raw -c 'write -z -u 50M 1M' -c 'write -z 51M 1M' "$URI" >/dev/null || fail "$fs: write -z"
  out=$(qemu-io -f raw -c 'read -P 0 50M 2M' "$URI")
  if grep -q "verification failed" <<<"$out"; then fail "$fs: zeroed range does not read zeros"; fi
  after=$(blocks "$img")
  (( before - after >= 2048 * 9 / 10 && before - after <= 2048 * 11 / 10 )) ||
    fail "$fs: write-zeroes freed $(( (before - after) / 2 ))K: want 1M (unmap) + 0 (no unmap)"
  stop_server
  echo "ok: $fs"
done
echo PASS
