#!/usr/bin/env bash
# Marginal instructions per I/O of `mqblk bench`, in process, under callgrind.
#
# Runs the same bench twice with different --ios under `valgrind --tool=callgrind` and
# prints (Ir2 - Ir1) / (ios2 - ios1): set-up, device creation and teardown cancel out, what
# remains is the per-I/O cost of everything the process does (the bench loop, its offset
# generator and sampled latency recording included, the engine, the driver). The count is
# deterministic, so it does not depend on the load of the host.
#
# It also diffs the per-function self cost of the two runs (callgrind_annotate), divided
# by the same delta: where the instructions of one I/O go.
#
# Usage: bench/callgrind_per_io.sh [MQBLK_BINARY]    (default build-bench/src/cli/mqblk)
# Environment: IOS1 (200000), IOS2 (1200000), QDS ("128 1": the iodepths to measure),
#   LIMIT (250: the target for QD 128), TOP (15: functions listed), OUT (a temp dir),
#   EXTRA (more bench options, e.g. "--lat-sample 1"), ATTRS (the device: default
#   "null irqmode=0 hw_queue_depth=128").
set -euo pipefail

BIN=${1:-build-bench/src/cli/mqblk}
IOS1=${IOS1:-200000}
IOS2=${IOS2:-1200000}
QDS=${QDS:-"128 1"}
LIMIT=${LIMIT:-250}
TOP=${TOP:-15}
EXTRA=${EXTRA:-}
ATTRS=${ATTRS:-"null irqmode=0 hw_queue_depth=128"}
OUT=${OUT:-$(mktemp -d /tmp/mqblk-callgrind.XXXXXX)}
mkdir -p "$OUT"

[[ -x $BIN ]] || { echo "callgrind_per_io: no executable $BIN (build first)" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "callgrind_per_io: valgrind not installed" >&2; exit 2; }

# Total Ir of a callgrind output file (the "summary:" or "totals:" line).
total_ir() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }

run_one() {  # qd ios -> callgrind out file
  local qd=$1 ios=$2 f="$OUT/callgrind.qd$1.ios$2.out"
  # shellcheck disable=SC2086
  valgrind --tool=callgrind --callgrind-out-file="$f" -q \
    "$BIN" bench --rw randread --bs 4k --iodepth "$qd" --jobs 1 --ios "$ios" $EXTRA \
    $ATTRS >"$OUT/bench.qd$qd.ios$ios.txt"
  echo "$f"
}

# Per-function self Ir difference between the two runs, per I/O.
per_function() {  # file1 file2 delta_ios
  python3 - "$1" "$2" "$3" "$TOP" <<'EOF'
import re, subprocess, sys
f1, f2, dios, top = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def costs(f):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", f],
                         capture_output=True, text=True, check=True).stdout
    fn, src = {}, {}
    body = out.split("file:function", 1)[1].split("\n", 2)[2]   # after the header rule
    for line in body.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+\([^)]*\)\s+(\S.*?)\s*$", line)
        if not m: continue
        ir = int(m.group(1).replace(",", ""))
        name = re.sub(r"\s+\[[^\]]*\]$", "", m.group(2))        # drop " [object]"
        path, _, func = name.partition(":")
        func = re.sub(r" \[clone [^\]]*\]", "", func)
        fn[func] = fn.get(func, 0) + ir                      # by function (inlined code in it)
        src[path] = src.get(path, 0) + ir                    # by source file of the code
    return fn, src
(a_fn, a_src), (b_fn, b_src) = costs(f1), costs(f2)
def table(a, b, title):
    rows = sorted(((b.get(k, 0) - a.get(k, 0)) / dios, k) for k in set(a) | set(b))
    rows.reverse()
    print(f"    {'Ir/IO':>7}  {title}")
    shown = 0.0
    for v, k in rows[:top]:
        if abs(v) < 0.05: break
        shown += v
        print(f"    {v:7.1f}  {k[:150]}")
    total = sum(v for v, _ in rows)
    print(f"    {total - shown:7.1f}  (everything else)")
table(a_fn, b_fn, "by function, self cost (code inlined into it included), marginal")
table(a_src, b_src, "by source file of the instructions, marginal")
EOF
}

status=0
for qd in $QDS; do
  f1=$(run_one "$qd" "$IOS1")
  f2=$(run_one "$qd" "$IOS2")
  ir1=$(total_ir "$f1")
  ir2=$(total_ir "$f2")
  per_io=$(python3 -c "print(f'{($ir2 - $ir1) / ($IOS2 - $IOS1):.1f}')")
  echo "QD $qd: Ir($IOS1 I/Os) = $ir1, Ir($IOS2 I/Os) = $ir2"
  if [[ $qd == 128 ]]; then
    verdict=$(python3 -c "print('PASS' if $per_io <= $LIMIT else 'FAIL')")
    [[ $verdict == PASS ]] || status=1
    echo "QD $qd: $per_io instructions per I/O (marginal)   target <= $LIMIT: $verdict"
  else
    echo "QD $qd: $per_io instructions per I/O (marginal)"
  fi
  per_function "$f1" "$f2" "$((IOS2 - IOS1))"
done
echo "callgrind files in $OUT"
exit $status
