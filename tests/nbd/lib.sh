# tests/nbd/lib.sh - shared set-up for the NBD client tests (sourced, not run).
# MQBLK is the mqblk binary (CTest passes it). Each test gets a private directory, a
# server started in the foreground and killed on exit, and fail() for one-line failures.
set -euo pipefail
MQBLK=${MQBLK:?set MQBLK to the mqblk binary}
TMP=$(mktemp -d /tmp/mqblk-nbd-test.XXXXXX)
SOCK=$TMP/sock
URI="nbd+unix:///?socket=$SOCK"
SERVER_PID=
PY=/usr/bin/python3  # python3-libnbd is installed for Debian's python, not pyenv's

cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# start_server [nbd options --] DRIVER [key=value ...]: serves on $SOCK.
# Readiness is the pidfile, written once the server listens (a stale socket file may exist
# before that).
start_server() {
  rm -f "$TMP/ready.pid"
  "$MQBLK" nbd --foreground --socket "$SOCK" --pidfile "$TMP/ready.pid" "$@" &
  SERVER_PID=$!
  for _ in $(seq 200); do
    [[ -s $TMP/ready.pid ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited during start-up"
    sleep 0.05
  done
  fail "server did not create $SOCK"
}

stop_server() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || fail "server exited with status $? after SIGTERM"
  SERVER_PID=
}
