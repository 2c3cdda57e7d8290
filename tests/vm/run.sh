#!/bin/bash
# tests/vm/run.sh MQBLK_BINARY SCRIPT [HOST_BINS [FILE...]] - runs one VM test script in a
# fresh VM of ../shared/vm/run-in-vm.sh, with the binary, lib.sh, jq and the FILEs (test
# programs; in the guest's working directory). Exits 77 (skipped) when the harness is not
# there, 1 (failed) then if CI=true.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
harness=${MQBLK_VM_HARNESS:-$root/../shared/vm/run-in-vm.sh}
bin=$1 script=$2 extra=${3:-}
shift $(($# < 3 ? $# : 3))
if [ ! -x "$harness" ]; then
  # Under CI (CI=true, as .ci/run sets it) a VM test that cannot run fails: a missing
  # harness must not pass as green. Elsewhere it is a skip (ctest: SKIP_RETURN_CODE 77).
  [ "${CI:-}" = true ] && { echo "FAIL: no VM harness at $harness (CI=true: a VM test that cannot run is a failure)"; exit 1; }
  echo "SKIP: no VM harness at $harness"
  exit 77
fi
stage=$(mktemp -d "${TMPDIR:-/tmp}/mqblk-vm.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$bin" "$stage/mqblk"
cp "$here/lib.sh" "$here/$script" "$stage/"
for f in "$@"; do cp "$f" "$stage/"; done
export VM_CACHE_DIR=${VM_CACHE_DIR:-$root/build/vm-cache}
# Exit 125 is the harness saying the VM died or gave no result: under TCG emulation the
# guest kernel itself sometimes panics while booting (seen: an int3 in sched_clock_cpu
# during static-key patching, before init). That is retried, twice at most, and said so;
# a test that fails, or a VM that dies every time, still fails.
for try in 1 2 3; do
  rc=0
  "$harness" -q -t "${VM_TEST_TIMEOUT:-240}" -b "jq $extra" "$stage" "./$script" || rc=$?
  [ "$rc" = 125 ] && [ "$try" -lt 3 ] || exit "$rc"
  echo "tests/vm/run.sh: the VM gave no result (exit 125), booting it again (try $((try + 1)) of 3)" >&2
done
