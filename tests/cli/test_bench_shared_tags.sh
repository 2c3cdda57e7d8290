#!/usr/bin/env bash
# `mqblk bench` over several null devices on one shared tag set (null_blk's nr_devices and
# shared_tags): data written through each device reads back verified, every device did
# work, and an --iodepth beyond a device's fair share of the set waits for room.
set -euo pipefail
MQBLK=${MQBLK:?set MQBLK to the mqblk binary}
fail() { echo "FAIL: $*"; exit 1; }

out=$("$MQBLK" bench --json --rw randrw --verify --jobs 4 --iodepth 16 --ios 40000 \
  null nr_devices=2 shared_tags=1 memory_backed=1 size=32M irqmode=2 completion_nsec=2000)
/usr/bin/python3 - "$out" <<'PY' || fail "bench result: $out"
import json, sys
r = json.loads(sys.argv[1])
assert r["devices"] == 2, r["devices"]
assert r["errors"] == 0 and r["ios"] == 4 * 40000, (r["errors"], r["ios"])
assert r["verify"]["blocks"] > 0 and r["verify"]["mismatches"] == 0, r["verify"]
ended = [d["ios_ended"] for d in r["per_device"]]
# Two jobs per device, 40000 I/Os each, plus the verify reads: each device saw its own.
assert all(e >= 2 * 40000 for e in ended), ended
print("ok: 2 devices on one tag set:", ended, "I/Os ended,", r["verify"]["blocks"], "blocks verified")
PY

# Without shared_tags each device has its own set (and the whole depth per queue).
out=$("$MQBLK" bench --json --jobs 2 --iodepth 64 --ios 20000 null nr_devices=2)
grep -q '"devices": 2' <<<"$out" || fail "nr_devices=2 without shared tags: $out"

# hw_queue_depth=64 over 2 devices: a queue's share is 32. An --iodepth past it runs, as on
# a real device under fio: the I/Os past the share wait for room, none is lost.
out=$("$MQBLK" bench --json --jobs 2 --iodepth 64 --ios 4000 null nr_devices=2 shared_tags=1) ||
  fail "iodepth past the fair share"
jq -e '.errors == 0 and .ios == 8000 and .queue.cap == 32 and .queue.waited_for_room > 0' \
  <<<"$out" >/dev/null || fail "iodepth past the fair share: $(jq -c '{ios, errors, queue}' <<<"$out")"
echo "ok: iodepth 64 on a share of 32: $(jq -c .queue <<<"$out")"
