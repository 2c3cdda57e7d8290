#!/usr/bin/env bash
# Resident memory of a memory_backed null device after writing N MiB, against N.
#
# For each N: `mqblk bench --rw write --bs 1M --iodepth 1 --ios N --size NM` on
# `null size=N memory_backed=1` (sequential: every MiB written once), peak RSS of the
# process from /usr/bin/time -v (VmHWM; the store is a MAP_SHARED memfd mapping, counted in
# RssShmem), minus a baseline of the same device with one 4 KiB write. Prints the
# difference against N and the ratio (1.00 = exactly the data written).
#
# Usage: bench/memory.sh [MQBLK_BINARY]   (default build-bench/src/cli/mqblk)
# Environment: SIZES ("64 256 1024": MiB).
set -euo pipefail
BIN=${1:-build-bench/src/cli/mqblk}
SIZES=${SIZES:-"64 256 1024"}
[[ -x $BIN ]] || { echo "memory: no executable $BIN (build first)" >&2; exit 2; }

maxrss_kib() {  # command... -> peak RSS in KiB
  /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}'
}

printf '%8s %14s %14s %14s %8s\n' N_MiB peak_RSS_MiB baseline_MiB delta_MiB delta/N
for n in $SIZES; do
  base=$(maxrss_kib "$BIN" bench --rw write --bs 4k --iodepth 1 --ios 1 null size="$n" memory_backed=1)
  full=$(maxrss_kib "$BIN" bench --rw write --bs 1M --iodepth 1 --ios "$n" --size "${n}M" \
           null size="$n" memory_backed=1)
  python3 -c "
n, b, f = $n, $base / 1024, $full / 1024
print(f'{n:8d} {f:14.1f} {b:14.1f} {f - b:14.1f} {(f - b) / n:8.3f}')"
done
