#!/usr/bin/env bash
# nbdinfo --json: size, block sizes, every flag, the meta context; then a read-only export.
source "$(dirname "$0")/lib.sh"
start_server --name disk0 --description "test disk" -- null size=256M memory_backed=1 discard=1 blocksize=4096 rotational=1
nbdinfo --json "nbd+unix:///disk0?socket=$SOCK" > "$TMP/info.json" || fail "nbdinfo"
$PY - "$TMP/info.json" <<'PYEOF' || fail "nbdinfo --json contents"
import json, sys
j = json.load(open(sys.argv[1]))
e = j["exports"][0]
want = {
    "export-name": "disk0", "description": "test disk", "export-size": 256 << 20,
    "block_size_minimum": 4096, "block_size_preferred": 4096, "block_size_maximum": 32 << 20,
    "is_read_only": False, "is_rotational": True, "can_flush": True, "can_fua": True,
    "can_trim": True, "can_zero": True, "can_fast_zero": True, "can_df": True,
    "can_multi_conn": True, "can_cache": True,
}
bad = {k: (e.get(k), v) for k, v in want.items() if e.get(k) != v}
if j.get("structured") is not True: bad["structured"] = j.get("structured")
if "base:allocation" not in e.get("contexts", []): bad["contexts"] = e.get("contexts")
if bad:
    print("mismatch (got, want):", bad); sys.exit(1)
PYEOF
stop_server

start_server --readonly -- null size=1M
nbdinfo --json "$URI" > "$TMP/ro.json" || fail "nbdinfo read-only"
$PY - "$TMP/ro.json" <<'PYEOF' || fail "read-only flags"
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
ok = e["is_read_only"] and not e["can_trim"] and not e["can_zero"] and not e["can_flush"]
ok = ok and e["export-size"] == 1 << 20 and e["block_size_minimum"] == 512
sys.exit(0 if ok else 1)
PYEOF
# A write to a read-only export fails with EPERM and the connection stays usable.
$PY - "$URI" <<'PYEOF' || fail "write to a read-only export"
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
try:
    h.pwrite(b"x" * 512, 0); sys.exit("write succeeded")
except nbd.Error as e:
    pass  # strict mode: libnbd itself refuses (the export is read-only)
h.set_strict_mode(0)
try:
    h.pwrite(b"x" * 512, 0); sys.exit("write succeeded")
except nbd.Error as e:
    assert e.errno == "EPERM", e  # from the server itself
assert len(h.pread(512, 0)) == 512  # usable after the refusal
PYEOF
stop_server
echo PASS
