#!/usr/bin/env bash
# test_hostile.sh CASE: one hostile-client case of test_hostile.py against a fresh server
# configured for it; the server must still be alive afterwards and stop cleanly.
source "$(dirname "$0")/lib.sh"
CASE=${1:?usage: test_hostile.sh CASE}
ARGS=()
case $CASE in
  torn_write) DEV=(null size=64M memory_backed=1) ;;
  vanish_whole) DEV=(null size=64M memory_backed=1 irqmode=2 completion_nsec=50000000 hw_queue_depth=1) ;;
  output_flood) ARGS=(--name "$(printf 'x%.0s' {1..1000})"); DEV=(null size=64M memory_backed=1) ;;
  starve) DEV=(null size=1G memory_backed=1) ;;
  starve_write) DEV=(null size=1G memory_backed=1 memory_cap=256M) ;;
  stall) ARGS=(--stall-timeout 1); DEV=(null size=1G memory_backed=1 memory_cap=256M) ;;
  handshake_timeout) ARGS=(--handshake-timeout 1); DEV=(null size=64M) ;;
  idle_connections) DEV=(null size=64M memory_backed=1) ;;
  zero_reads) DEV=(null size=64M) ;;
  *) fail "unknown case $CASE" ;;
esac
start_server "${ARGS[@]}" "${DEV[@]}"
case $CASE in
  starve_write) $PY "$(dirname "$0")/test_hostile.py" starve "$SOCK" "$SERVER_PID" write ;;
  *) $PY "$(dirname "$0")/test_hostile.py" "$CASE" "$SOCK" "$SERVER_PID" ;;
esac || fail "$CASE"
kill -0 "$SERVER_PID" || fail "server died"
stop_server
echo PASS
