#!/bin/sh
# run_compile_fail.sh CXX SRC_DIR INCLUDE_DIR FILE
#
# One compile-fail test: SRC_DIR/FILE must be refused by the compiler, for the reason
# it states, at the line it marks. The rule:
#
#  * ok_*.cpp are controls: they must compile (and carry no EXPECT or MISUSE line).
#  * Every other file must have exactly one line `// EXPECT: <ERE>` (a POSIX extended
#    regex, matched by grep -E; keep it within 100 columns, or clang-format wraps it) and
#    exactly one code line ending in the comment `// MISUSE`. A file without them (or
#    with two, or a MISUSE mark on a line without code) is refused before it is compiled.
#  * It passes only when the compiler reports an error that
#      (a) matches the EXPECT regex on its own `error:` line, and
#      (b) is tied to FILE:LINE of the MISUSE line: either the error itself is at that
#          line, or its instantiation chain passes through it. For an error raised inside
#          a library header (the static_asserts in device.hpp, a deleted constructor
#          called from a std template) g++ prints that chain before the error, as
#          `FILE:LINE:COL:   required from here` (or `required from ...`/`required by ...`)
#          after the last diagnostic of the previous error; clang prints it after the
#          error as `FILE:LINE:COL: note: ... requested here`. Only those lines count, not
#          other notes ("declared here", "candidate ...").
#  * and no error is reported directly at another line of FILE: the program around the
#    misuse must itself be well-formed. Errors elsewhere in library headers (cascades of
#    the misuse) are allowed.
# So a typo, a missing include or an error about something else cannot pass for the API
# refusing the misuse. Diagnostics are read with LC_ALL=C (plain ASCII quotes: write
# 'data', not the typographic quotes of a UTF-8 locale) and without colour.
set -u
cxx=$1 src=$2 inc=$3 file=$4
path=$src/$file
log=$(mktemp)
trap 'rm -f "$log" "$log.cls"' EXIT

fail() {
  echo "FAIL: $file: $*"
  exit 1
}

[ -f "$path" ] || fail "no such file $path"
n_expect=$(grep -c '^// EXPECT:' "$path")
n_misuse=$(grep -c '// MISUSE[[:space:]]*$' "$path")

compile() {
  LC_ALL=C "$cxx" -std=c++20 -fsyntax-only -fdiagnostics-color=never -I"$inc" -I"$src" \
    "$path" >"$log" 2>&1
}

case $file in
  ok_* | */ok_*)
    [ "$n_expect" -eq 0 ] && [ "$n_misuse" -eq 0 ] ||
      fail "a control (ok_*) must have no '// EXPECT:' or '// MISUSE' line"
    if compile; then
      echo "ok: control $file compiles"
      exit 0
    fi
    echo "FAIL: $file: control does not compile (the harness or the API is broken):"
    cat "$log"
    exit 1
    ;;
esac

[ "$n_expect" -eq 1 ] ||
  fail "refused: needs exactly one '// EXPECT: <ERE>' line naming the error (found $n_expect)"
[ "$n_misuse" -eq 1 ] ||
  fail "refused: needs exactly one code line marked with a trailing '// MISUSE' (found $n_misuse)"
expect=$(sed -n 's|^// EXPECT:[[:space:]]*||p' "$path")
[ -n "$expect" ] || fail "refused: the '// EXPECT:' line has an empty regex"
misuse=$(grep -n '// MISUSE[[:space:]]*$' "$path")
line=${misuse%%:*}
code=$(printf '%s\n' "${misuse#*:}" | sed 's|// MISUSE[[:space:]]*$||; s|^[[:space:]]*||')
case $code in
  '' | //*) fail "refused: line $line: '// MISUSE' must end a line of code, not stand alone" ;;
esac

if compile; then
  fail "compiled, but the API must refuse line $line: $code"
fi

# Classify every error of the log: "TIED" when it is at FILE:LINE or its instantiation
# chain passes through it, "OTHER" when it is directly at another line of FILE, else
# "ELSEWHERE". Each output line is the class, a tab, and the error line.
LOC_TIE="$path:$line:" LOC_FILE="$path:" awk '
  function locof(s,   m) {  # "path:L:" of a "path:L:C: ..." line, or ""
    if (match(s, /^[^ ][^:]*:[0-9]+:[0-9]+:/)) {
      m = substr(s, 1, RLENGTH - 1)
      sub(/:[0-9]+$/, "", m)
      return m ":"
    }
    return ""
  }
  function flush() {
    if (err != "") {
      if (tied) cls = "TIED"
      else if (index(errloc, file) == 1) cls = "OTHER"
      else cls = "ELSEWHERE"
      print cls "\t" err
    }
    err = ""; tied = 0
  }
  BEGIN { tie = ENVIRON["LOC_TIE"]; file = ENVIRON["LOC_FILE"]; pre = 0 }
  {
    loc = locof($0)
    if (loc != "" && $0 ~ /^[^ ][^:]*:[0-9]+:[0-9]+: (fatal error|error|warning|note):/) {
      if ($0 ~ /: note:/) {
        # clang: the instantiation chain follows the error, as notes "... requested here".
        if (err != "" && $0 ~ /requested here/ && loc == tie) tied = 1
      } else {
        flush()
        if ($0 ~ /: (fatal error|error):/) {
          err = $0; errloc = loc
          tied = (loc == tie || pre)
        }
      }
      pre = 0  # g++: a chain belongs to the diagnostic right after it
    } else if (loc != "" && $0 ~ /^[^ ][^:]*:[0-9]+:[0-9]+: +required (from|by)/) {
      if (loc == tie) pre = 1
    }
  }
  END { flush() }
' "$log" >"$log.cls"

if grep -q '^OTHER' "$log.cls"; then
  echo "FAIL: $file: an error at another line of the file (the test itself is ill-formed):"
  grep '^OTHER' "$log.cls" | cut -f2-
  echo "--- compiler output:"
  cat "$log"
  exit 1
fi
hit=$(grep '^TIED' "$log.cls" | cut -f2- | grep -E -- "$expect" | head -1)
if [ -n "$hit" ]; then
  echo "ok: $file refused at line $line: $(printf '%s\n' "$hit" | grep -Eo -- "$expect" | head -1)"
  exit 0
fi
if grep -q '^TIED' "$log.cls"; then
  echo "FAIL: $file: refused at line $line, but not with /$expect/:"
  grep '^TIED' "$log.cls" | cut -f2-
elif cut -f2- "$log.cls" | grep -Eq -- "$expect"; then
  echo "FAIL: $file: an error matches /$expect/, but none is at (or instantiated from) line $line:"
  cut -f2- "$log.cls" | grep -E -- "$expect"
else
  echo "FAIL: $file: no error at (or instantiated from) line $line, and none matches /$expect/"
fi
echo "--- compiler output:"
cat "$log"
exit 1
