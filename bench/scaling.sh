#!/usr/bin/env bash
# Multi-queue scaling of the in-process engine: `mqblk bench` with 1..N jobs on their own
# hardware queues, N jobs on one queue, N devices on one shared tag set against N devices
# with a tag set each, and irqmode 1 and 2 at N jobs. Prints one line per case (IOPS, CPU,
# p50/p99 latency). Meant for a machine with many cores (N = nproc, at most 16).
#
# Usage: bench/scaling.sh [MQBLK...]   (default build/src/cli/mqblk; several words allowed,
#        e.g. a carried loader: bench/scaling.sh dir/ld-linux-x86-64.so.2 --library-path dir dir/mqblk)
# Environment: RT (2s per case), OUT (a directory to keep the JSON of each case).
set -u
if [ $# -eq 0 ]; then set -- build/src/cli/mqblk; fi
RT=${RT:-2s}
N=$(nproc)
((N > 16)) && N=16
OUT=${OUT:-$(mktemp -d /tmp/mqblk-scaling.XXXXXX)}
mkdir -p "$OUT"
echo "nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
case_no=0
run() {  # label, bench args...
  local label=$1 f
  shift
  case_no=$((case_no + 1))
  f="$OUT/case$case_no.json"
  "${MQBLK[@]}" bench --json --runtime "$RT" "$@" >"$f" 2>&1
  # The bench prints pretty JSON: pick the fields by name.
  awk -v label="$label" '
    /"iops":/ {gsub(/[",]/, ""); iops = $2}
    /"percent":/ {gsub(/[",]/, ""); cpu = $2}
    /"p50":/ {gsub(/[",]/, ""); p50 = $2}
    /"p99":/ {gsub(/[",]/, ""); p99 = $2}
    /"errors":/ {gsub(/[",]/, ""); err = $2}
    END {printf "%-40s %8.1fM IOPS  CPU %5.0f%%  p50 %6d ns  p99 %6d ns  errors %s\n",
         label, iops / 1e6, cpu, p50, p99, err}' "$f"
}
MQBLK=("$@")
j=1
while ((j <= N)); do
  run "$j queues, $j jobs, irqmode=0" --jobs $j --iodepth 32 null irqmode=0 submit_queues=$j hw_queue_depth=64
  j=$((j * 2))
done
run "1 queue, $N jobs, irqmode=0" --jobs $N --iodepth 32 null irqmode=0 submit_queues=1 hw_queue_depth=1024
run "$N devices, one shared tag set" --jobs $N --iodepth 32 null irqmode=0 nr_devices=$N shared_tags=1 hw_queue_depth=1024
run "$N devices, a tag set each" --jobs $N --iodepth 32 null irqmode=0 nr_devices=$N hw_queue_depth=64
run "$N queues, $N jobs, irqmode=1" --jobs $N --iodepth 32 null irqmode=1 submit_queues=$N hw_queue_depth=64
run "$N queues, $N jobs, irqmode=2 10us" --jobs $N --iodepth 32 null irqmode=2 completion_nsec=10000 submit_queues=$N hw_queue_depth=64
echo "JSON of each case in $OUT"
