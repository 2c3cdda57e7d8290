#!/usr/bin/env bash
# The command line: bad input gives one line and exit status != 0; --run, --print-uri,
# --pidfile, --listen (IPv4, IPv6), background mode, --exit-with-parent, stale and live
# socket files, SIGTERM/SIGINT.
source "$(dirname "$0")/lib.sh"

one_line_error() {  # one_line_error WHAT ARGS...: must fail with a one-line "mqblk: " message
  local what=$1; shift
  local err rc=0
  err=$("$MQBLK" nbd "$@" 2>&1 >/dev/null) || rc=$?
  (( rc != 0 )) || fail "$what: exit status 0"
  [[ $(printf '%s\n' "$err" | wc -l) == 1 && $err == mqblk:* ]] || fail "$what: not one line: $err"
}
one_line_error "no driver" --foreground --socket "$SOCK"
one_line_error "unknown driver" -f --socket "$SOCK" nosuchdriver
one_line_error "bad attribute" -f --socket "$SOCK" null size=banana
one_line_error "unknown attribute" -f --socket "$SOCK" null colour=blue
one_line_error "socket and listen" -f --socket "$SOCK" --listen 127.0.0.1:0 null
one_line_error "bad port" -f --listen 127.0.0.1:99999 null
one_line_error "unbracketed IPv6" -f --listen ::1:10809 null
one_line_error "socket dir missing" -f --socket "$TMP/no/such/dir/s" null
touch "$TMP/file"
one_line_error "socket path is a file" -f --socket "$TMP/file" null
one_line_error "bad --poll-us" -f --socket "$TMP/s2" --poll-us -5 null
one_line_error "unknown option" -f --socket "$TMP/s2" --no-such-option null
one_line_error "several devices" -f --socket "$TMP/s2" null nr_devices=2 shared_tags=1
one_line_error "bad --handshake-timeout" -f --socket "$TMP/s2" --handshake-timeout -1 null
one_line_error "bad --stall-timeout" -f --socket "$TMP/s2" --stall-timeout 1x null
[[ ! -e $SOCK ]] || fail "a refused start left a socket file"
[[ ! -e $TMP/file.lock && ! -e $TMP/s2.lock ]] || fail "a refused start left a lock file"

# --run with $uri and $unixsocket, exits with the command's status.
rc=0
"$MQBLK" nbd --socket "$SOCK" --run 'test "$unixsocket" = "'"$SOCK"'" && nbdinfo --size "$uri" > '"$TMP/size"' && exit 7' null size=3M || rc=$?
(( rc == 7 )) || fail "--run exit status $rc, want 7"
[[ $(cat "$TMP/size") == 3145728 ]] || fail "--run: nbdinfo --size through \$uri"
[[ ! -e $SOCK ]] || fail "--run left its socket file"
# --run without an address uses a private socket; TCP with --listen sets $port.
"$MQBLK" nbd --run 'nbdinfo --size "$uri"' null size=1M > "$TMP/out" || fail "--run on a temporary socket"
[[ $(cat "$TMP/out") == 1048576 ]] || fail "--run temp socket size"
"$MQBLK" nbd --listen 127.0.0.1:0 --run 'test -n "$port" && nbdinfo --size "nbd://127.0.0.1:$port"' null size=2M > "$TMP/out" || fail "--run TCP"
[[ $(cat "$TMP/out") == 2097152 ]] || fail "--run TCP size"
if [[ -e /proc/net/if_inet6 ]] && "$MQBLK" nbd --listen '[::1]:0' --print-uri --run 'nbdinfo --size "$uri"' null size=1M > "$TMP/out"; then
  grep -q '^nbd://\[::1\]:[0-9]*/$' "$TMP/out" || fail "IPv6 --print-uri: $(cat "$TMP/out")"
  grep -qx 1048576 "$TMP/out" || fail "IPv6 export size"
else
  echo "note: IPv6 loopback unavailable here, IPv6 not tested"
fi

# Background mode: returns once listening, pidfile written; SIGTERM removes socket and pidfile.
"$MQBLK" nbd --socket "$SOCK" --pidfile "$TMP/pid" --print-uri null size=1M > "$TMP/uri" || fail "background start"
[[ $(cat "$TMP/uri") == "nbd+unix:///?socket=$SOCK" ]] || fail "--print-uri: $(cat "$TMP/uri")"
pid=$(cat "$TMP/pid")
nbdinfo --size "$URI" >/dev/null || fail "background server not serving"
# A live socket makes a second server refuse to start.
one_line_error "live socket" -f --socket "$SOCK" null size=1M
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && fail "server ignored SIGTERM"
[[ ! -e $SOCK && ! -e $TMP/pid ]] || fail "socket or pidfile left after SIGTERM"

# A stale socket file (its server died) is replaced.
$PY -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
[[ -S $SOCK ]] || fail "could not make a stale socket"
start_server null size=1M
nbdinfo --size "$URI" >/dev/null || fail "server on a replaced stale socket"
kill -INT "$SERVER_PID"; wait "$SERVER_PID" || fail "SIGINT exit status"; SERVER_PID=
[[ ! -e $SOCK ]] || fail "socket left after SIGINT"

# --exit-with-parent: the server goes when its parent does.
bash -c '"$0" nbd --exit-with-parent --socket "$1" null size=1M & echo $! > "$2"; sleep 1; test -S "$1"' \
  "$MQBLK" "$SOCK" "$TMP/pid2" || fail "--exit-with-parent: not serving while the parent lives"
pid=$(cat "$TMP/pid2")
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && { kill "$pid"; fail "--exit-with-parent: server outlived its parent"; }
[[ ! -e $SOCK ]] || fail "--exit-with-parent left its socket"
echo PASS
