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
                          'tests/model/*.cpp' 'tests/drivers/*.cpp' \
                          'examples/*.cpp' 'bench/*.cpp' 'fuzz/*.cpp')
echo "== layers (arrows point down: cli -> frontends -> engine <- drivers)"
# The engine (include/mqblk, src/engine) includes no driver, frontend or CLI header; drivers
# include no frontend or CLI header; frontends include no CLI header.
layer_violation() {  # what, grep pattern, files...
  local what=$1 pat=$2
  shift 2
  local hits
  hits=$(grep -HnE "#include \"($pat)/" "$@" 2>/dev/null) && { echo "$what: $hits"; fail=1; }
}
layer_violation "the engine includes an upper layer" "drivers|nbd|ublk|cli" \
  $(git ls-files 'include/mqblk/*' 'src/engine/*')
layer_violation "a driver includes a frontend or the CLI" "nbd|ublk|cli" $(git ls-files 'src/drivers/*')
layer_violation "a frontend includes the CLI" "cli" $(git ls-files 'src/nbd/*' 'src/ublk/*')
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
