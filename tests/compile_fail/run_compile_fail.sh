#!/bin/sh
# run_compile_fail.sh CXX SRC_DIR INCLUDE_DIRS FILE
# Passes when FILE fails to compile with an error matching its "// EXPECT: regex" line
# (so a typo cannot pass for the API refusing misuse); ok_*.cpp must compile.
set -u
cxx=$1 src=$2 inc=$3 file=$4
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if "$cxx" -std=c++20 -fsyntax-only -I"$inc" -I"$src" "$src/$file" >"$log" 2>&1; then
  case $file in
    ok_*) exit 0 ;;
    *) echo "FAIL: $file compiled, but the API must refuse it"; exit 1 ;;
  esac
fi
case $file in
  ok_*) echo "FAIL: control $file does not compile:"; cat "$log"; exit 1 ;;
esac
expect=$(sed -n 's|^// EXPECT: ||p' "$src/$file")
if grep -Eq "$expect" "$log"; then
  echo "ok: $file refused ($(grep -Eo "$expect" "$log" | head -1))"
  exit 0
fi
echo "FAIL: $file failed to compile, but not with /$expect/:"
cat "$log"
exit 1
