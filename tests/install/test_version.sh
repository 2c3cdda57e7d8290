#!/usr/bin/env bash
# tests/install/test_version.sh MQBLK PROJECT_VERSION SOURCE_DIR - `mqblk --version` says
# the project's version, and `git describe` of the tree when it is a git checkout;
# `mqblk features --json` has the same string as "version", the text form its first line.
set -euo pipefail
m=$1 pv=$2 src=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
v=$("$m" --version) || fail "mqblk --version exits $?"
[[ $v == "mqblk $pv"* ]] || fail "mqblk --version: '$v', want 'mqblk $pv...'"
if command -v git >/dev/null && git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  # The commit part of git describe (the tree may have been edited since CMake configured).
  head=$(git -C "$src" describe --tags --always | sed 's/-dirty$//')
  [[ $v == "mqblk $pv (git $head"* ]] || fail "mqblk --version: '$v', want 'mqblk $pv (git $head...)'"
fi
j=$("$m" features --json | jq -r .version)
[ "mqblk $j" = "$v" ] || fail "features --json version '$j' differs from --version '$v'"
first=$("$m" features | sed -n 1p)
[ "$first" = "$v" ] || fail "mqblk features' first line '$first', want '$v'"
echo "ok: $v (--version, features --json, features)"
