#!/usr/bin/env bash
# Static checks: clang-format (formatting drift), cppcheck, clang-tidy (.clang-tidy).
# Uses build/compile_commands.json (run scripts/build.sh build first). Exit 1 on findings.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
mapfile -t sources < <(git ls-files 'src/*.cpp' 'examples/*.cpp')
mapfile -t formatted < <(git ls-files 'include/*.hpp' 'src/engine/*.cpp' 'src/cli/*.cpp' \
                          'src/cli/*.hpp' 'src/drivers/*.cpp' 'src/drivers/*.hpp' 'tests/unit/*.cpp' \
                          'tests/unit/*.hpp' 'tests/stress/*.cpp' 'examples/*.cpp')
echo "== clang-format"
clang-format --dry-run -Werror "${formatted[@]}" || fail=1
echo "== cppcheck"
cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --std=c++20 \
  --inline-suppr --library=googletest -Iinclude -Isrc \
  --suppress=useInitializationList --suppress=uninitMemberVar --suppress='*:/usr/*' \
  "${sources[@]}" || fail=1
echo "== clang-tidy"
[ -f build/compile_commands.json ] || { echo "lint: build/compile_commands.json missing (scripts/build.sh build)"; exit 2; }
out=$(clang-tidy -p build --quiet "${sources[@]}" 2>/dev/null | grep -E "warning:|error:" | sort -u)
if [ -n "$out" ]; then
  echo "$out"
  fail=1
fi
exit $fail
