#!/usr/bin/env bash
# Static checks, as CI runs them: clang-format (formatting drift), cppcheck, clang-tidy
# (.clang-tidy). Uses build/compile_commands.json (scripts/build.sh build first).
# JOBS: clang-tidy processes in parallel (default 2). Exit 1 on any finding.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
mapfile -t sources < <(git ls-files 'src/*.cpp' 'examples/*.cpp')
mapfile -t formatted < <(git ls-files 'include/*.hpp' 'src/*.cpp' 'src/*.hpp' 'tests/unit/*.cpp' \
                          'tests/unit/*.hpp' 'tests/stress/*.cpp' 'tests/compile_fail/*.cpp' \
                          'examples/*.cpp' 'bench/*.cpp' 'fuzz/*.cpp')
echo "== clang-format (${#formatted[@]} files)"
clang-format --dry-run -Werror "${formatted[@]}" || fail=1
echo "== cppcheck (${#sources[@]} files)"
cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c++20 \
  --inline-suppr --library=googletest -Iinclude -Isrc \
  --suppress=useInitializationList --suppress=uninitMemberVar --suppress='*:/usr/*' \
  "${sources[@]}" || fail=1
echo "== clang-tidy (${#sources[@]} files)"
[ -f build/compile_commands.json ] || { echo "lint: build/compile_commands.json missing (scripts/build.sh build)"; exit 2; }
out=$(printf '%s\n' "${sources[@]}" | xargs -P "${JOBS:-2}" -n1 clang-tidy -p build --quiet 2>/dev/null |
      grep -E "warning:|error:" | sort -u)
if [ -n "$out" ]; then
  echo "$out"
  fail=1
fi
[ $fail = 0 ] && echo "lint: clean"
exit $fail
