#!/usr/bin/env bash
# tests/install/test_install.sh BUILD_DIR LIBDIR UBLK(0|1) - `cmake --install` of the build
# into a fresh prefix: the files are there, the installed mqblk runs and says its version,
# every man page renders without a warning, the udev rule names the installed mqblk, the
# completion completes, and a small driver program (tests/install/example) builds against
# the installed tree with find_package(mqblk) and with pkg-config, and runs (it does I/O
# and checks it).
set -euo pipefail
build=$(cd "$1" && pwd) libdir=$2 ublk=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqblk-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
p=$tmp/prefix

cmake --install "$build" --prefix "$p" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install"; }
want=(bin/mqblk include/mqblk/device.hpp include/mqblk/registry.hpp include/mqblk/detail/slot_word.hpp
  "$libdir/libmqblk_engine.a" "$libdir/libmqblk_drivers.a" "$libdir/cmake/mqblk/mqblkConfig.cmake"
  "$libdir/cmake/mqblk/mqblkConfigVersion.cmake" "$libdir/cmake/mqblk/mqblkTargets.cmake"
  "$libdir/pkgconfig/mqblk.pc" share/man/man1/mqblk.1 share/man/man5/mqblk-attributes.5
  share/bash-completion/completions/mqblk)
drivers=$("$build/src/cli/mqblk" features --json | jq -r '.drivers[].name')
for d in $drivers; do want+=("share/man/man5/mqblk-$d.5"); done
[ "$ublk" = 1 ] && want+=(lib/udev/rules.d/99-mqblk-ublk.rules)
for f in "${want[@]}"; do [ -f "$p/$f" ] || fail "not installed: $f (installed: $(cd "$p" && find . -type f | tr '\n' ' '))"; done
ok "installed ${#want[@]} files, man pages for drivers: $(echo $drivers)"
[ "$(cd "$p/include/mqblk" && find . -name '*.hpp' | sort)" = "$(cd "$here/../../include/mqblk" && find . -name '*.hpp' | sort)" ] ||
  fail "installed headers differ from include/mqblk"

v=$("$p/bin/mqblk" --version) || fail "installed mqblk --version"
[ "$v" = "$("$build/src/cli/mqblk" --version)" ] && [[ $v == "mqblk "[0-9]* ]] || fail "installed mqblk --version: '$v'"
ok "installed $v"

features=$("$build/src/cli/mqblk" features --json)
for page in "$p"/share/man/man*/*; do
  err=$(MANWIDTH=200 man --warnings -l "$page" 2>&1 >"$tmp/$(basename "$page").txt") || fail "man -l $page failed: $err"
  [ -z "$err" ] || fail "man -l $page warns: $err"
  lines=$(wc -l <"$tmp/$(basename "$page").txt")
  [ "$lines" -gt 10 ] || fail "man -l $page renders only $lines lines"
done
for d in $drivers; do  # every attribute of the driver is on its page (or the engine's)
  for a in $(jq -r --arg d "$d" '.drivers[] | select(.name == $d) | .attributes[].name' <<<"$features"); do
    grep -q -- "$a=" "$tmp/mqblk-$d.5.txt" "$tmp/mqblk-attributes.5.txt" ||
      fail "attribute $d $a is on neither mqblk-$d(5) nor mqblk-attributes(5)"
  done
done
subs=$("$build/src/cli/mqblk" --help | awk '/^Subcommands:/ { on = 1; next } on && NF { print $1 }')
[ -n "$subs" ] || fail "no subcommands in mqblk --help"
for sub in $subs; do
  grep -q "mqblk $sub" "$tmp/mqblk.1.txt" || fail "subcommand $sub (mqblk --help) is not in mqblk(1)"
done
ok "man pages render without warnings and list every subcommand ($(echo $subs)) and attribute"

if [ "$ublk" = 1 ]; then
  grep -q "RUN+=\"$p/bin/mqblk chown-dev %k\"" "$p/lib/udev/rules.d/99-mqblk-ublk.rules" ||
    fail "the udev rule does not run the installed mqblk: $(grep RUN "$p/lib/udev/rules.d/99-mqblk-ublk.rules")"
  ok "udev rule runs $p/bin/mqblk chown-dev"
fi

complete_words() {  # the completions bash offers for the words given (the last is the one completed)
  bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mqblk; echo "${COMPREPLY[*]}"' \
    _ "$p/share/bash-completion/completions/mqblk" mqblk "$@"
}
[ "$(complete_words be)" = bench ] || fail "completion of 'mqblk be': '$(complete_words be)'"
[ "$(complete_words bench --iodepth 4 nu)" = null ] || fail "completion of a driver: '$(complete_words bench --iodepth 4 nu)'"
[[ " $(complete_words bench null memory_) " == *" memory_backed= "* ]] || fail "completion of null's attributes: '$(complete_words bench null memory_)'"
[[ " $(complete_words bench null bad) " == *" badblocks= "* ]] || fail "completion of the engine's attributes"
[[ " $(complete_words bench --r) " == *" --rw "* ]] || fail "completion of bench's options: '$(complete_words bench --r)'"
ok "bash completion: subcommands, drivers, attributes, options"

# Both builds of the example at once (each is a compile of a few seconds).
export PKG_CONFIG_PATH=$p/$libdir/pkgconfig
flags=$(pkg-config --cflags --libs mqblk) || fail "pkg-config mqblk"
[ "$(pkg-config --modversion mqblk)" = "$(sed -n 's/^Version: //p' "$p/$libdir/pkgconfig/mqblk.pc")" ] || fail "pkg-config --modversion"
# shellcheck disable=SC2086  # the flags are words
"${CXX:-c++}" -std=c++20 -o "$tmp/pc_example" "$here/example/install_example.cpp" $flags >"$tmp/pc.log" 2>&1 &
pc=$!
export CMAKE_PREFIX_PATH=$p
cmake -S "$here/example" -B "$tmp/cmake" >"$tmp/cmake.log" 2>&1 && cmake --build "$tmp/cmake" >>"$tmp/cmake.log" 2>&1 ||
  { wait "$pc"; cat "$tmp/cmake.log"; fail "the example does not build with find_package(mqblk)"; }
pc_rc=0
wait "$pc" || pc_rc=$?
out=$("$tmp/cmake/install_example") || fail "the example built with find_package(mqblk) failed: $out"
ok "find_package(mqblk): $out"
[ "$pc_rc" = 0 ] || { cat "$tmp/pc.log"; fail "the example does not build with pkg-config: c++ ... $flags"; }
out=$("$tmp/pc_example") || fail "the example built with pkg-config failed: $out"
ok "pkg-config mqblk: $out"
