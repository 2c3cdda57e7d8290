#!/usr/bin/env bash
# At the descriptor limit (RLIMIT_NOFILE 64) the listener backs off instead of spinning,
# says so once, and serves again when descriptors free up (test_hostile.py fd_limit).
source "$(dirname "$0")/lib.sh"
(ulimit -n 64 && exec "$MQBLK" nbd --foreground --socket "$SOCK" --pidfile "$TMP/ready.pid" \
  null size=64M memory_backed=1 2> "$TMP/err") &
SERVER_PID=$!
for _ in $(seq 200); do
  [[ -s $TMP/ready.pid ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited during start-up"
  sleep 0.05
done
[[ -s $TMP/ready.pid ]] || fail "server did not start"
$PY "$(dirname "$0")/test_hostile.py" fd_limit "$SOCK" "$SERVER_PID" || fail "fd_limit"
kill -0 "$SERVER_PID" || fail "server died"
stop_server
n=$(grep -c "out of file descriptors" "$TMP/err" || true)
[[ $n == 1 ]] || { cat "$TMP/err" >&2; fail "expected one 'out of file descriptors' line, got $n"; }
echo PASS
