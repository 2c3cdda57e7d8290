#!/usr/bin/env bash
# The whole suite, as CI runs it: three builds (release, ASan+UBSan, TSan), every test in
# each (the VM tests of ublk in the release build; the sanitizer builds leave the ublk
# frontend out, as its tests need the VM), the static checks (scripts/lint.sh) and the NBD
# fuzzer for a bounded time.
#   FUZZ_SECONDS (default 60), SKIP_VM=1 (leave the VM tests out; refused under CI=true),
#   JOBS (build parallelism). CI=true (.ci/run): a VM test that cannot run fails, not skips.
# The sanitizer builds leave out the VM tests and the compile_fail tests, and build without
# the ublk frontend: a ublk device needs the VM's kernel, whose guest runs the release
# binary; compile_fail checks what the compiler refuses, the same in every build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
start=$SECONDS
step() { printf '\n== %s (%ds so far)\n' "$*" $((SECONDS - start)); }
fail=0
run_ctest() {  # dir, extra ctest args
  local dir=$1
  shift
  (cd "$dir" && ctest --output-on-failure --timeout 600 "$@") || fail=1
}

step "release build"
scripts/build.sh build
step "lint (clang-format, cppcheck, clang-tidy)"
JOBS=2 scripts/lint.sh || fail=1
step "release tests"
run_ctest build -j2 -LE vm
if [ "${SKIP_VM:-0}" = 1 ] && [ "${CI:-}" = true ]; then
  echo "FAIL: SKIP_VM=1 under CI=true: CI must run the VM tests" >&2
  fail=1
elif [ "${SKIP_VM:-0}" != 1 ]; then
  step "VM tests (ublk in a 6.12 kernel)"
  run_ctest build -L vm
fi

step "ASan+UBSan build"
scripts/build.sh build-asan -DMQBLK_SANITIZE=address -DMQBLK_BUILD_BENCH=OFF -DMQBLK_WITH_UBLK=OFF
step "ASan+UBSan tests"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan -j2 -LE "vm|compile_fail"

step "TSan build"
scripts/build.sh build-tsan -DMQBLK_SANITIZE=thread -DMQBLK_BUILD_BENCH=OFF -DMQBLK_WITH_UBLK=OFF
step "TSan tests"
TSAN_OPTIONS=halt_on_error=1 run_ctest build-tsan -j2 -LE "vm|compile_fail"

step "fuzz (NBD handshake and request parser)"
fuzz/run.sh "${FUZZ_SECONDS:-60}" || fail=1

step "done: $([ $fail = 0 ] && echo all passed || echo FAILURES)"
exit $fail
