#!/usr/bin/env bash
# nbdcopy of a file in and out with checksums; a sparse device copies as holes.
source "$(dirname "$0")/lib.sh"
start_server null size=128M memory_backed=1 discard=1
head -c 48M /dev/urandom > "$TMP/in.img"
truncate -s 128M "$TMP/in.img"
nbdcopy "$TMP/in.img" "$URI" || fail "nbdcopy in"
nbdcopy "$URI" "$TMP/out.img" || fail "nbdcopy out"
[[ $(sha256sum < "$TMP/in.img") == $(sha256sum < "$TMP/out.img") ]] || fail "checksums differ"
stop_server

# A device with 1 MiB written at 64 MiB: the copy must be sparse (holes not written).
start_server null size=1G memory_backed=1
$PY -c 'import nbd, sys; h = nbd.NBD(); h.connect_uri(sys.argv[1]); h.pwrite(b"Z" * (1 << 20), 64 << 20); h.shutdown()' "$URI" \
  || fail "libnbd write"
nbdcopy "$URI" "$TMP/sparse.img" || fail "nbdcopy sparse"
[[ $(stat -c %s "$TMP/sparse.img") == $((1 << 30)) ]] || fail "sparse copy has the wrong size"
used=$(( $(stat -c %b "$TMP/sparse.img") * $(stat -c %B "$TMP/sparse.img") ))
(( used <= 8 << 20 )) || fail "sparse device copied as $used bytes of data, not holes"
cmp -s -i $((64 << 20)):0 -n $((1 << 20)) "$TMP/sparse.img" <(head -c 1M /dev/zero | tr '\0' 'Z') \
  || fail "data in the sparse copy is wrong"
nbdinfo --map "$URI" > "$TMP/map" || fail "nbdinfo --map"
grep -Eq "^ +0 +67108864 +3 +hole,zero" "$TMP/map" || fail "map does not start with a hole: $(cat "$TMP/map")"
grep -Eq "^ +67108864 +1048576 +0 +data" "$TMP/map" || fail "map lacks the data extent: $(cat "$TMP/map")"
stop_server
echo PASS
