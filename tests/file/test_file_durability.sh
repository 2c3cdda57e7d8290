#!/usr/bin/env bash
# Acknowledged FUA writes, and writes acknowledged before an acknowledged FLUSH, are in the
# file after the server is killed with SIGKILL (buffered on tmpfs, O_DIRECT and buffered
# on the file system of /tmp). The page cache outlives the process, so this proves only
# that the server keeps nothing of its own; the VM test cuts the power beneath the file.
source "$(dirname "$0")/../nbd/lib.sh"
SHM=$(mktemp -d /dev/shm/mqblk-file-dur.XXXXXX)
trap 'cleanup; rm -rf "$SHM"' EXIT

for where in "$SHM direct=0" "$TMP direct=1" "$TMP direct=0"; do
  read -r dir direct <<<"$where"
  img=$dir/dur.img
  rm -f "$img"
  start_server file path="$img" size=16M "$direct"
  # 64 FUA writes of 4K, then 64 plain writes and one flush, each pattern its own byte.
  $PY - "$URI" <<'PYEOF' || fail "$dir $direct: writes"
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
for i in range(64):
    h.pwrite(bytes([i + 1]) * 4096, i * 8192, nbd.CMD_FLAG_FUA)
for i in range(64):
    h.pwrite(bytes([i + 101]) * 4096, (1 << 20) + i * 8192)
h.flush()
print("acknowledged")
PYEOF
  kill -KILL "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
  $PY - "$img" <<'PYEOF' || fail "$dir $direct: acknowledged data missing after kill -9"
import sys
d = open(sys.argv[1], "rb").read()
bad = [i for i in range(64) if d[i * 8192:i * 8192 + 4096] != bytes([i + 1]) * 4096]
bad += [64 + i for i in range(64)
        if d[(1 << 20) + i * 8192:(1 << 20) + i * 8192 + 4096] != bytes([i + 101]) * 4096]
if bad:
    sys.exit(f"{len(bad)} of 128 acknowledged writes missing, first {bad[:5]}")
PYEOF
  echo "ok: $dir $direct"
done
echo PASS
