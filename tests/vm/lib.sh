# tests/vm/lib.sh - helpers for the ublk VM tests (sourced inside the guest).
# Every check prints what it expected on failure and exits non-zero, so each test can fail.

fail() { echo "FAIL: $*" >&2; dump; exit 1; }
ok() { echo "ok: $*"; }
dump() {
  echo "--- server logs" >&2; cat /run/mqblk/*.log >&2 2>/dev/null
  echo "--- dmesg tail" >&2; dmesg | tail -15 >&2
  echo "--- processes" >&2; ps -o pid,stat,args 2>/dev/null | grep -v '\[' >&2
  for p in /proc/[0-9]*; do
    grep -q '^State:.*D' $p/status 2>/dev/null && { echo "D: $(cat $p/comm)" >&2; cat $p/stack >&2; }
  done
}
# check "what" command...: the command must succeed.
check() { local what=$1; shift; "$@" || fail "$what (command: $*)"; ok "$what"; }
# Runs a command with a deadline (busybox timeout): a hang becomes a failure.
within() { local secs=$1; shift; timeout "$secs" "$@"; }
jqv() { jq -r "$1" <<<"$2"; }
no_ublk_devices() { ! ls /dev/ublkb* >/dev/null 2>&1; }
# The server's exit report must show every received request ended, per queue.
report_balanced() {
  local rep=$1
  [ -n "$rep" ] || return 1
  echo "$rep" | awk '/received/ { if ($6 != $8) bad=1; n++ } END { exit (n > 0 && !bad) ? 0 : 1 }'
}
