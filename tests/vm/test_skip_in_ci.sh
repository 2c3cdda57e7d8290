#!/usr/bin/env bash
# A VM test without its harness: skipped (77) on a developer's machine, failed (1) under
# CI=true, so that CI cannot pass with the VM tests not run. Runs the real wrappers
# (tests/vm/run.sh, tests/rbd/test_rbd_vm.sh) with MQBLK_VM_HARNESS pointing at nothing.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
fails=0
expect() {  # rc-wanted word-wanted CI-value command...
  local want=$1 word=$2 ci=$3
  shift 3
  local out rc
  out=$(env -u CI ${ci:+CI=$ci} MQBLK_VM_HARNESS=/nonexistent/run-in-vm.sh "$@" 2>&1)
  rc=$?
  if [ "$rc" != "$want" ] || [[ $out != *"$word"* ]]; then
    echo "FAIL: CI=${ci:-unset} $*: rc=$rc (want $want), output: $out"
    fails=$((fails + 1))
  else
    echo "ok: CI=${ci:-unset} $(basename "$1"): rc=$rc, $out"
  fi
}
for wrapper in "$root/tests/vm/run.sh /bin/true ublk_io.sh" "$root/tests/rbd/test_rbd_vm.sh /bin/true /bin/true"; do
  # shellcheck disable=SC2086  # the wrapper and its arguments are words
  expect 77 SKIP "" $wrapper
  # shellcheck disable=SC2086
  expect 77 SKIP false $wrapper
  # shellcheck disable=SC2086
  expect 1 FAIL true $wrapper
done
exit $((fails > 0))
