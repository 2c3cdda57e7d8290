#!/bin/sh
# expect_refusal.sh RUNNER CXX SRC_DIR INCLUDE_DIR FILE REASON
# The harness's own test: runs RUNNER (run_compile_fail.sh) on a fixture it must refuse
# and passes only when it exits 1 with the line "FAIL: FILE: ..." containing REASON (a
# fixed string), so that the fixture is refused for the reason it was written for and not,
# say, because a header moved.
set -u
runner=$1 cxx=$2 src=$3 inc=$4 file=$5 reason=$6
out=$(sh "$runner" "$cxx" "$src" "$inc" "$file" 2>&1)
rc=$?
first=$(printf '%s\n' "$out" | head -1)
if [ "$rc" -eq 1 ] && printf '%s\n' "$first" | grep -qF -- "FAIL: $file: " &&
  printf '%s\n' "$first" | grep -qF -- "$reason"; then
  echo "ok: the harness refuses $file ($first)"
  exit 0
fi
echo "FAIL: the harness did not refuse $file for '$reason' (exit $rc):"
printf '%s\n' "$out"
exit 1
