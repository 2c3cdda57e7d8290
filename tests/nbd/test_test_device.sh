#!/usr/bin/env bash
# The test device over NBD, with real clients (fio's nbd engine, python3-libnbd) and the
# live control (`mqblk list/get/set`): bad blocks fail exactly their sectors and clear
# live, timeout faults end through the engine's timeout path, a power cut drops exactly the
# unflushed writes (and a FLUSH on one connection covers writes completed on another:
# multi-conn), refusals change nothing.
source "$(dirname "$0")/lib.sh"

device_id() {  # the control id of the server on $URI, from mqblk list --json
  "$MQBLK" list --json | jq -r --arg u "$URI" '.[] | select(.uri == $u) | .id'
}
get() { "$MQBLK" get "$ID" "$1"; }

start_server null size=64M memory_backed=1 cache_size=8 request_timeout=1 badblocks=+2048-2055
ID=$(device_id)
[[ $ID == nbd* ]] || fail "mqblk list has no NBD entry for $URI: $("$MQBLK" list 2>&1)"
"$MQBLK" list | grep -q "^nbd $ID: $URI, pid $SERVER_PID, null " || fail "mqblk list line: $("$MQBLK" list)"
[[ $(get badblocks) == +2048-2055 ]] || fail "get badblocks: $(get badblocks)"

# fio reads the first 2 MiB block by block, going on after errors: exactly one fails.
fio --name=bb --ioengine=nbd --uri="$URI" --rw=read --bs=4k --size=2M --continue_on_error=all \
  --output-format=json --output="$TMP/bb.json" >/dev/null 2>&1 || true
errs=$(jq '.jobs[0].total_err' "$TMP/bb.json")
[[ $errs == 1 ]] || fail "fio over NBD saw $errs errors reading 2 MiB with one bad 4 KiB block"
# Which one, exactly (and a write there fails too).
$PY - "$URI" <<'PYEOF' || fail "bad block scan"
import sys, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
bad = []
for blk in range(512):
    try: h.pread(4096, blk * 4096)
    except nbd.Error: bad.append(blk)
assert bad == [256], bad            # sectors 2048-2055 = the 4 KiB block at 1 MiB
try:
    h.pwrite(b"x" * 512, 2055 * 512); raise SystemExit("write to a bad sector succeeded")
except nbd.Error as e:
    assert e.errnum == 5, e          # EIO
PYEOF
"$MQBLK" set "$ID" badblocks=-2048-2055 || fail "clear badblocks"
$PY -c "import nbd,sys; h=nbd.NBD(); h.connect_uri(sys.argv[1]); h.pread(4096, 1<<20)" "$URI" \
  || fail "read after clearing the bad block"

# Refusals: one line, status 2, nothing changed.
for bad in "size=1G" "badblocks=7" "mbps=3 error=EWHAT" "nonsense=1" "init_hctx=1,100,0,1"; do
  # shellcheck disable=SC2086 # $bad is one or two items
  err=$("$MQBLK" set "$ID" $bad 2>&1) && fail "set $bad accepted"
  rc=$?
  [[ $rc == 2 && $(wc -l <<<"$err") == 1 ]] || fail "set $bad: rc=$rc: $err"
done
[[ $(get mbps) == 0 ]] || fail "mbps changed by a refused set: $(get mbps)"
[[ $(get size) == 64 ]] || fail "size: $(get size)"

# Timeout faults: the next two requests are held until request_timeout (1 s), then fail.
"$MQBLK" set "$ID" timeout=1,100,0,2
$PY - "$URI" <<'PYEOF' || fail "timeout injection"
import sys, time, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
for i in range(2):
    t = time.monotonic()
    try:
        h.pread(4096, 0); raise SystemExit("a held read succeeded")
    except nbd.Error:
        pass
    dt = time.monotonic() - t
    assert 0.9 < dt < 5, dt          # the timeout scan runs every request_timeout/10
h.pread(4096, 0)                     # times=2: the third is served
PYEOF
[[ $(get timeouts) == 2 ]] || fail "timeouts counted: $(get timeouts)"

# Power cut with the write cache, two connections (multi-conn): A flushed through the
# other connection survives, B (unflushed) is lost, C (FUA) survives.
$PY - "$URI" "$MQBLK" "$ID" <<'PYEOF' || fail "power cut"
import sys, subprocess, nbd
uri, mqblk, dev = sys.argv[1:4]
h1 = nbd.NBD(); h1.connect_uri(uri)
h2 = nbd.NBD(); h2.connect_uri(uri)
assert h1.can_multi_conn() and h1.can_flush() and h1.can_fua()
A, B, C = b"A" * 65536, b"B" * 65536, b"C" * 4096
h1.pwrite(A, 0)
h2.flush()                           # covers h1's completed write
h1.pwrite(B, 1 << 20)
h1.pwrite(C, 2 << 20, nbd.CMD_FLAG_FUA)
dirty = int(subprocess.check_output([mqblk, "get", dev, "cache_dirty_bytes"]))
assert dirty == 65536, dirty
subprocess.check_call([mqblk, "set", dev, "power=0"])
try:
    h1.pread(4096, 0); raise SystemExit("read while powered off")
except nbd.Error:
    pass
subprocess.check_call([mqblk, "set", dev, "power=1"])
assert h2.pread(65536, 0) == A
assert h2.pread(65536, 1 << 20) == bytes(65536)
assert h2.pread(4096, 2 << 20) == C
PYEOF
stop_server
[[ -z $("$MQBLK" list --json 2>/dev/null | jq -r --arg u "$URI" '.[] | select(.uri == $u) | .id') ]] \
  || fail "the stopped server is still listed"
echo PASS
