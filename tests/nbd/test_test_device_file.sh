#!/usr/bin/env bash
# The engine's write cache on the file driver, over NBD with python3-libnbd on two
# connections: a write flushed through the other connection (multi-conn) survives a power
# cut, an unflushed one reads as before it, a FUA write survives; and after the cut and the
# server's stop the backing file holds exactly that durable content (read with dd, behind
# the device's back), while before the flush it held none of the cached writes.
source "$(dirname "$0")/lib.sh"

IMG=$TMP/disk.img
truncate -s 64M "$IMG"
start_server file path="$IMG" cache_size=8
ID=$("$MQBLK" list --json | jq -r --arg u "$URI" '.[] | select(.uri == $u) | .id')
[[ $ID == nbd* ]] || fail "mqblk list has no NBD entry for $URI"
[[ $("$MQBLK" get "$ID" cache_size) == 8 ]] || fail "get cache_size: $("$MQBLK" get "$ID" cache_size)"

$PY - "$URI" "$MQBLK" "$ID" "$IMG" <<'PYEOF' || fail "power cut on the file driver"
import sys, subprocess, nbd
uri, mqblk, dev, img = sys.argv[1:5]
def on_disk(off, n):
    with open(img, "rb") as f:
        f.seek(off); return f.read(n)
def dirty():
    return int(subprocess.check_output([mqblk, "get", dev, "cache_dirty_bytes"]))
h1 = nbd.NBD(); h1.connect_uri(uri)
h2 = nbd.NBD(); h2.connect_uri(uri)
assert h1.can_multi_conn() and h1.can_flush() and h1.can_fua()
A, B, C, D = b"A" * 65536, b"B" * 65536, b"C" * 4096, b"D" * 512
h1.pwrite(A, 0)
assert on_disk(0, 65536) == bytes(65536), "a cached write reached the file before a flush"
assert h2.pread(65536, 0) == A, "the other connection does not see the cached write"
h2.flush()                           # covers h1's completed write
assert on_disk(0, 65536) == A, "the flush did not write the cache back"
assert dirty() == 0, dirty()
h1.pwrite(B, 1 << 20)
h1.pwrite(D, 4096 + 512)             # one sector, over flushed A: volatile
h1.pwrite(C, 2 << 20, nbd.CMD_FLAG_FUA)
assert on_disk(2 << 20, 4096) == C, "FUA did not write through"
assert dirty() == 65536 + 4096, dirty()
assert h2.pread(4096, 4096)[512:1024] == D
subprocess.check_call([mqblk, "set", dev, "power=0"])
try:
    h1.pread(4096, 0); raise SystemExit("read while powered off")
except nbd.Error:
    pass
subprocess.check_call([mqblk, "set", dev, "power=1"])
assert dirty() == 0, dirty()
assert h2.pread(65536, 0) == A       # D lost: A again
assert h2.pread(65536, 1 << 20) == bytes(65536)
assert h2.pread(4096, 2 << 20) == C
PYEOF
stop_server
# The file, after the cut and the server's exit: exactly the durable content.
$PY - "$IMG" <<'PYEOF' || fail "the backing file after the power cut"
import sys
with open(sys.argv[1], "rb") as f:
    data = f.read(3 << 20)
assert data[:65536] == b"A" * 65536, "flushed write"
assert data[1 << 20:(1 << 20) + 65536] == bytes(65536), "unflushed write reached the file"
assert data[2 << 20:(2 << 20) + 4096] == b"C" * 4096, "FUA write"
assert data.count(0) == len(data) - 65536 - 4096, "stray bytes in the file"
PYEOF
echo PASS
