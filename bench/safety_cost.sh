#!/usr/bin/env bash
# Cost of safety: the ownership API (checked) against the raw baseline in one binary.
#
# 1. Checks that the raw TU does not call into the library's ownership namespace (its
#    object has no undefined symbol in mqblk::*_ownership).
# 2. Runs bench/safety_cost with repetitions, interleaved at random (so that the load of
#    the host falls on both variants alike), and prints per (queue kind, QD) the median
#    ns per I/O of each and the ratio checked/raw. Target: <= 1.05.
# 3. Paired runs: PAIRS (31) x checked and raw back to back with PAIR_IOS (1000000) I/Os
#    each, thread CPU time; the median of the per-pair ratios.
# 4. Unless NO_CALLGRIND=1: the marginal instructions per I/O of each variant under
#    callgrind (--fixed runs of IOS1 and IOS2 I/Os), deterministic.
#
# Usage: bench/safety_cost.sh [BUILD_DIR]   (default build-bench; builds the target)
# Environment: REPS (15), MIN_TIME (0.2 s per repetition), LIMIT (1.05), IOS1, IOS2.
set -euo pipefail
B=${1:-build-bench}
REPS=${REPS:-15}
MIN_TIME=${MIN_TIME:-0.2}
LIMIT=${LIMIT:-1.05}
IOS1=${IOS1:-200000}
IOS2=${IOS2:-1200000}
BIN=$B/bench/safety_cost

cmake --build "$B" -j2 --target safety_cost >/dev/null
OBJ=$(find "$B/bench" -name 'raw.cpp.o' | head -1)
if nm -C --undefined-only "$OBJ" | grep -E 'mqblk::(detail::)?[a-z]+_ownership' ; then
  echo "safety_cost: the raw TU depends on library symbols in an ownership namespace" >&2
  exit 1
fi
echo "raw TU: no undefined symbol in an ownership namespace (checked with nm)"

OUT=$(mktemp -d /tmp/mqblk-safety.XXXXXX)
"$BIN" --benchmark_repetitions="$REPS" --benchmark_min_time="$MIN_TIME" \
  --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true \
  --benchmark_out="$OUT/safety_cost.json" --benchmark_out_format=json >/dev/null

status=0
python3 - "$OUT/safety_cost.json" "$LIMIT" <<'PYEOF' || status=1
import json, sys
data = json.load(open(sys.argv[1])); limit = float(sys.argv[2])
med = {}
for b in data["benchmarks"]:
    if b.get("aggregate_name") != "median": continue
    name = b["run_name"]                       # BM_checked_typed/128
    variant, kind_qd = name[3:].split("_", 1)  # checked, typed/128
    med[(variant, kind_qd)] = b["ns_per_io"] * 1e9   # the counter is s per I/O
print(f"{'case':<12} {'checked ns/IO':>14} {'raw ns/IO':>10} {'ratio':>7}")
ok = True
for kind in ("typed", "iface"):
    for qd in (1, 32, 128):
        k = f"{kind}/{qd}"
        c, r = med[("checked", k)], med[("raw", k)]
        ratio = c / r
        ok &= ratio <= limit
        print(f"{k:<12} {c:14.2f} {r:10.2f} {ratio:7.3f}")
print(f"median of {data['benchmarks'][0].get('repetitions', '?')} repetitions; "
      f"target ratio <= {limit}: {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PYEOF

echo "paired runs (checked and raw back to back, order alternating; thread CPU time):"
for qd in 1 32 128; do "$BIN" --paired "$qd" "${PAIRS:-31}" "${PAIR_IOS:-1000000}"; done

if [[ ${NO_CALLGRIND:-0} != 1 ]] && command -v valgrind >/dev/null; then
  echo "instructions per I/O (callgrind, marginal between $IOS1 and $IOS2 I/Os, typed queue):"
  for qd in 1 32 128; do
    line="  QD $qd:"
    declare -A ir
    for v in checked raw; do
      for n in "$IOS1" "$IOS2"; do
        f="$OUT/cg.$v.$qd.$n"
        valgrind --tool=callgrind --callgrind-out-file="$f" -q "$BIN" --fixed "$v" "$qd" "$n"
        ir[$v.$n]=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
      done
    done
    python3 -c "
c=(${ir[checked.$IOS2]}-${ir[checked.$IOS1]})/($IOS2-$IOS1)
r=(${ir[raw.$IOS2]}-${ir[raw.$IOS1]})/($IOS2-$IOS1)
print(f'$line checked {c:.1f}  raw {r:.1f}  ratio {c/r:.3f}')"
  done
fi
echo "raw results in $OUT"
exit $status
