#!/usr/bin/env bash
# Runs test_edge.py against a fresh server, then checks the server is still alive and
# shuts down cleanly (socket removed).
source "$(dirname "$0")/lib.sh"
start_server null size=64M memory_backed=1 discard=1
SERVER_PID=$SERVER_PID $PY "$(dirname "$0")/test_edge.py" "$SOCK" || fail "edge cases"
kill -0 "$SERVER_PID" || fail "server died"
stop_server
[[ ! -e $SOCK ]] || fail "socket file left behind after SIGTERM"
echo PASS
