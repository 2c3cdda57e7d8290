#!/usr/bin/env bash
# A driver that lives in its own folder (tests/drivers/ramtest) registers itself: features
# lists it beside null, `bench` serves it (with data verified), its bad attribute is refused
# in one line, and an unknown driver's error lists both.
set -euo pipefail
M=${MQBLK:?path to mqblk_with_test_drivers}
fail() { echo "FAIL: $*" >&2; exit 1; }

json=$("$M" features --json)
names=$(jq -r '.drivers[].name' <<<"$json" | tr '\n' ' ')
[[ $names == *"null "* && $names == *"ramtest "* ]] || fail "features lists '$names'"
[[ $(jq -r '.drivers[] | select(.name=="ramtest") | .attributes[0].unit' <<<"$json") == MB ]] ||
  fail "ramtest's attribute has no unit"

out=$("$M" bench --rw randwrite --verify --ios 20000 --iodepth 8 ramtest size=4)
echo "$out" | tail -3
grep -q "verif" <<<"$out" || fail "bench did not verify ramtest's data"

if err=$("$M" bench ramtest sise=4 2>&1); then fail "a bad attribute was accepted"; fi
[[ $err == *"ramtest: unknown attribute 'sise=4'"* ]] || fail "bad attribute: $err"
if err=$("$M" bench nosuch 2>&1); then fail "an unknown driver was accepted"; fi
[[ $err == *"unknown driver 'nosuch'"*"null"*"ramtest"* ]] || fail "unknown driver: $err"
echo "ok: ramtest registered itself and was served"
