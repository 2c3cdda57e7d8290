#!/usr/bin/env bash
# `mqblk bench` as fio users expect it, through the real binary: trim, randtrim and flush
# workloads (and trim really freeing a file's blocks), randrw reported per direction, the
# latency histogram's bins, the IOPS log and the --plot SVG (parsed as XML, its figures
# checked against the JSON of the same run), --iodepth above the queue's depth (the extra
# I/Os wait for room: bounded IOPS, longer latency), and one-line refusals that create
# nothing (--verify with a workload that writes nothing, trim without discard, flush
# without a volatile cache, a --plot path that cannot be written).
set -euo pipefail
M=${MQBLK:?path to mqblk}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/mqblk-bench-fio.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
bench() { timeout 60 "$M" bench "$@"; }

# --- randrw: read and write apart, adding up to the total; bins add up to the I/Os timed.
# (--verify gives each job its own slice: two jobs writing one block at once is a race that
# the TSan build reports in the null store.)
js=$(bench --json --rw randrw --verify --jobs 2 --ios 20000 --lat-sample 1 --log-interval 10ms \
  null memory_backed=1 size=64 submit_queues=2) || fail "randrw"
jq -e '.errors == 0 and .ios == 40000 and .verify.mismatches == 0 and .read.ios > 0 and .write.ios > 0 and
       .read.ios + .write.ios == .ios and .trim.ios == 0 and .flush.ios == 0 and
       .read.bytes + .write.bytes == .ios * .bs and
       ((.read.iops + .write.iops) - .iops | fabs) < 1e-6 * .iops and
       ([.lat_ns.bins[]] | add) == .ios and .lat_ns.samples == .ios and
       ([.read.lat_ns.bins[]] | add) == .read.ios and
       ([.write.lat_ns.bins[]] | add) == .write.ios and
       .read.lat_ns.min <= .read.lat_ns.p50 and .read.lat_ns.p50 <= .read.lat_ns.max and
       (([.iops_log.samples[] | .iops * .len_s] | add) - .ios | fabs) < 1e-6 * .ios' \
  <<<"$js" >/dev/null || fail "randrw split: $(jq -c 'del(.lat_ns, .read.lat_ns, .write.lat_ns, .trim, .flush, .iops_log)' <<<"$js")"
echo "ok: randrw: $(jq -c '{ios, read: .read.ios, write: .write.ios, log: (.iops_log.samples | length)}' <<<"$js")"

# The text output says the same per direction.
txt=$(bench --rw randrw --ios 5000 null memory_backed=1 size=16) || fail "randrw text"
r=$(sed -n 's/^  read: .* \([0-9]*\) I\/Os .*/\1/p' <<<"$txt")
w=$(sed -n 's/^  write: .* \([0-9]*\) I\/Os .*/\1/p' <<<"$txt")
[[ -n $r && -n $w && $((r + w)) == 5000 ]] || fail "randrw text: read=$r write=$w: $txt"
echo "ok: randrw text: read $r + write $w"

# --- trim and randtrim on null (discard=1): every request a DISCARD that reached the device.
for rw in trim randtrim; do
  js=$(bench --json --rw $rw --bs 64k --ios 3000 null memory_backed=1 discard=1 size=64) ||
    fail "$rw"
  jq -e '.errors == 0 and .ios == 3000 and .trim.ios == 3000 and .read.ios == 0 and
         .write.ios == 0 and .trim.bytes == 3000 * 65536 and
         .per_device[0].ios_ended == 3000' <<<"$js" >/dev/null || fail "$rw: $js"
  echo "ok: $rw: $(jq -c '{ios, trim: .trim.ios, ended: .per_device[0].ios_ended}' <<<"$js")"
done

# Trim frees: a file written with a pattern (--verify) reads zeros and holds no block after
# --rw trim over it.
img=$T/img
bench --json --rw write --verify --bs 64k --ios 128 file path="$img" size=8M 2>/dev/null |
  jq -e '.verify.mismatches == 0 and .write.ios == 128' >/dev/null || fail "file write"
cmp -s "$img" <(head -c 8M /dev/zero) && fail "the written file reads as zeros"
(( $(stat -c %b "$img") >= 8 * 2048 )) || fail "the written file is not allocated"
bench --json --rw trim --bs 64k --ios 128 file path="$img" |
  jq -e '.errors == 0 and .trim.ios == 128' >/dev/null || fail "file trim"
cmp -s "$img" <(head -c 8M /dev/zero) || fail "the file does not read zeros after trim"
blocks=$(stat -c %b "$img")
(( blocks < 64 )) || fail "trim left $blocks blocks of 512 allocated"
echo "ok: trim freed the file: $blocks blocks left, reads zeros"

# --- flush: one FLUSH per request, no bytes.
js=$(bench --json --rw flush --ios 2000 --iodepth 4 --jobs 2 null memory_backed=1 \
  submit_queues=2) || fail "flush"
jq -e '.errors == 0 and .ios == 4000 and .flush.ios == 4000 and .flush.bytes == 0 and
       .read.ios + .write.ios + .trim.ios == 0 and
       ([.per_device[].ios_ended] | add) == 4000' <<<"$js" >/dev/null || fail "flush: $js"
echo "ok: flush: $(jq -c '{ios, flush: .flush.ios, ended: .per_device}' <<<"$js")"

# --- --iodepth above the queue's depth: the extra I/Os wait for room. Each request takes at
# least 100 us (irqmode=2), 8 in flight at most: IOPS cannot pass 80k whatever the
# iodepth, and at iodepth 64 an I/O waits behind 7 others' turns (p50 about 8x).
base=$(bench --json --iodepth 8 --ios 8000 --lat-sample 1 null hw_queue_depth=8 irqmode=2 \
  completion_nsec=100000) || fail "iodepth 8"
deep=$(bench --json --iodepth 64 --ios 8000 --lat-sample 1 null hw_queue_depth=8 irqmode=2 \
  completion_nsec=100000) || fail "iodepth 64"
jq -e '.errors == 0 and .ios == 8000 and .queue.cap == 8 and .queue.waited_for_room == 0' \
  <<<"$base" >/dev/null || fail "iodepth 8: $(jq -c .queue <<<"$base")"
jq -e '.errors == 0 and .ios == 8000 and .queue.cap == 8 and .queue.waited_for_room > 0 and
       .iops < 80000 * 1.02' <<<"$deep" >/dev/null ||
  fail "iodepth 64: $(jq -c '{ios, iops, queue}' <<<"$deep")"
b50=$(jq .lat_ns.p50 <<<"$base")
d50=$(jq .lat_ns.p50 <<<"$deep")
(( d50 > 4 * b50 )) || fail "iodepth 64 p50 $d50 ns is not well above iodepth 8's $b50 ns"
echo "ok: iodepth 64 on 8 tags: p50 $d50 ns vs $b50 ns, $(jq -c '{iops, queue}' <<<"$deep")"
# Waiting keeps the order: zoned writes (which must reach each zone in order) and verified
# randrw with three jobs sharing one queue's 16 tags, every block read back right.
js=$(bench --json --rw zoned --bs 16k --iodepth 64 --ios 6000 --verify null size=64 zoned=1 \
  zone_size=4 memory_backed=1 hw_queue_depth=8 irqmode=2 completion_nsec=5000) || fail "zoned deep"
jq -e '.errors == 0 and .verify.mismatches == 0 and .verify.blocks > 0 and .zone_resets > 1 and
       .queue.waited_for_room > 0' <<<"$js" >/dev/null || fail "zoned deep: $js"
js=$(bench --json --rw randrw --verify --iodepth 100 --jobs 3 --ios 10000 null memory_backed=1 \
  size=64 hw_queue_depth=16 irqmode=2 completion_nsec=3000) || fail "randrw deep"
jq -e '.errors == 0 and .ios == 30000 and .verify.mismatches == 0 and .verify.blocks > 0 and
       .queue.waited_for_room > 0' <<<"$js" >/dev/null || fail "randrw deep: $js"
echo "ok: zoned and verified randrw past the queue's depth"
txt=$(bench --iodepth 16 --ios 2000 null hw_queue_depth=4) || fail "iodepth text"
grep -q "waited for room: --iodepth 16 is above the 4 a queue may hold" <<<"$txt" ||
  fail "iodepth text: $txt"

# --- --plot: an SVG that parses, holding the run's figures (checked against its JSON).
js=$(bench --json --rw randrw --ios 30000 --lat-sample 1 --log-interval 5ms --plot "$T/run.svg" \
  null memory_backed=1 size=16 irqmode=2 completion_nsec=2000) || fail "--plot"
$PY - "$T/run.svg" "$js" <<'PY' || fail "--plot: the SVG does not hold the run"
import json, sys, xml.etree.ElementTree as ET
ns = {"s": "http://www.w3.org/2000/svg"}
root = ET.parse(sys.argv[1]).getroot()
r = json.loads(sys.argv[2])
assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
assert int(root.get("data-ios")) == r["ios"], (root.get("data-ios"), r["ios"])
assert abs(float(root.get("data-iops")) - r["iops"]) <= 1e-6 * r["iops"], root.get("data-iops")
figures = root.find(".//s:text[@class='figures']", ns).text
assert f"{r['ios']} I/Os" in figures and f"({r['iops']:.1f})" in figures, figures
# Every bucket of each direction, as in the JSON's bins, and nothing else.
for d in ("read", "write", "trim", "flush"):
    bars = {b.get("data-lo"): int(b.get("data-count"))
            for b in root.iterfind(f".//s:rect[@class='bucket'][@data-dir='{d}']", ns)}
    assert bars == r[d]["lat_ns"]["bins"], (d, bars, r[d]["lat_ns"]["bins"])
total = sum(int(b.get("data-count")) for b in root.iterfind(".//s:rect[@class='bucket']", ns))
assert total == r["ios"] == r["lat_ns"]["samples"], (total, r["ios"])
pts = [(float(c.get("data-t")), float(c.get("data-iops")))
       for c in root.iterfind(".//s:g[@class='iops-log']/s:circle", ns)]
log = r["iops_log"]["samples"]
assert len(pts) == len(log) >= 2, (len(pts), len(log))
for (t, v), s in zip(pts, log):
    assert abs(t - s["t_s"]) <= 1e-6 and abs(v - s["iops"]) <= 1e-6 * max(1, s["iops"]), (t, v, s)
print(f"ok: --plot: {len(pts)} IOPS samples, {total} I/Os in the histogram's bars")
PY

# --- refusals: one line, status 2, nothing created.
refuse() {  # refuse WANT ARGS...: mqblk bench ARGS must fail with one line containing WANT
  local want=$1 err rc=0; shift
  err=$(timeout 20 "$M" bench --ios 100 --plot "$T/refused.svg" "$@" 2>&1 >/dev/null) || rc=$?
  [[ $rc == 2 && $(grep -c . <<<"$err") == 1 && $err == *"$want"* ]] ||
    fail "bench $*: rc=$rc: $err"
  [[ ! -e $T/refused.svg ]] || fail "bench $*: a refused run wrote its plot"
  echo "ok: refused: $err"
}
for rw in read randread trim flush; do
  refuse "writes no data, so --verify would check nothing" --rw $rw --verify \
    null memory_backed=1 discard=1
done
refuse "does not support discard" --rw randtrim null memory_backed=1
refuse "no volatile write cache" --rw flush null
refuse "--iodepth 0 must be between 1 and 65536" --iodepth 0 null
err=$(timeout 20 "$M" bench --ios 10 --plot "$T/no/such/dir/x.svg" null 2>&1 >/dev/null) &&
  fail "--plot into a missing directory ran"
[[ $(grep -c . <<<"$err") == 1 && $err == *"cannot write in $T/no/such/dir"* ]] ||
  fail "--plot missing directory: $err"
echo "ok: refused: $err"
echo PASS
