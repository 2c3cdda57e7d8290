#!/usr/bin/env bash
# `mqblk bench --rw zoned` on zoned null devices: sequential writes at the write pointers,
# zones reset and rewritten, every completion ok and every block read back right
# (--verify), in each completion mode and with two jobs on two queues; and an NBD server
# refuses a zoned device in one line, creating nothing.
set -euo pipefail
M=${MQBLK:?path to mqblk}
fail() { echo "FAIL: $*" >&2; exit 1; }
for extra in "irqmode=0" "irqmode=1" "irqmode=2 completion_nsec=2000" \
  "irqmode=1 submit_queues=2 zone_capacity=3 zone_nr_conv=2 zone_max_open=3"; do
  jobs=1
  [[ $extra == *submit_queues=2* ]] && jobs=2
  # shellcheck disable=SC2086
  js=$(timeout 60 "$M" bench --json --rw zoned --bs 16k --iodepth 16 --jobs $jobs --ios 6000 \
    --verify null size=64 zoned=1 zone_size=4 memory_backed=1 $extra) || fail "bench $extra"
  jq -e '.errors == 0 and .verify.mismatches == 0 and .verify.blocks > 0 and
         .zone_resets > .jobs and .ios == 6000 * .jobs' <<<"$js" >/dev/null ||
    fail "bench $extra: $js"
  echo "ok: $extra: $(jq -c '{ios, zone_resets, verify}' <<<"$js")"
done
err=$(timeout 10 "$M" nbd --socket /tmp/mqblk-zoned-$$.sock null size=64 zoned=1 zone_size=4 \
  2>&1 >/dev/null) && fail "nbd served a zoned device"
[[ $(grep -c . <<<"$err") == 1 && $err == *"cannot be served over NBD"* ]] || fail "nbd: $err"
[[ ! -e /tmp/mqblk-zoned-$$.sock ]] || fail "nbd left a socket"
echo "ok: nbd refuses: $err"
