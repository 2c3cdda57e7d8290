#!/usr/bin/env bash
# Claiming the listening address: two servers started at once on one socket path (exactly
# one serves, the loser says one line and leaves the winner's socket alone), and the
# warning for TCP beyond loopback without TLS (one line; none on loopback).
source "$(dirname "$0")/lib.sh"

serves() {  # serves SOCKET: a client completes a READ through it
  $PY - "$1" <<'PYEOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
def recv(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c: raise EOFError
        b += c
    return b
assert recv(18)[:8] == b"NBDMAGIC"
s.sendall(struct.pack(">I", 3) + struct.pack(">QII", 0x49484156454F5054, 1, 0))  # EXPORT_NAME ""
recv(8 + 2)
s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, 7, 0, 4096))
magic, err, cookie = struct.unpack(">IIQ", recv(16))
assert (magic, err, cookie) == (0x67446698, 0, 7), (magic, err, cookie)
assert len(recv(4096)) == 4096
PYEOF
}

for i in $(seq 30); do
  rm -f "$TMP"/a.pid "$TMP"/b.pid
  "$MQBLK" nbd -f --socket "$SOCK" --pidfile "$TMP/a.pid" null size=16M 2> "$TMP/a.err" & A=$!
  "$MQBLK" nbd -f --socket "$SOCK" --pidfile "$TMP/b.pid" null size=16M 2> "$TMP/b.err" & B=$!
  # Wait (bounded) until one has exited and the other is listening.
  for _ in $(seq 100); do
    a=0 b=0
    kill -0 $A 2>/dev/null && a=1
    kill -0 $B 2>/dev/null && b=1
    (( a + b == 1 )) && { [[ -s $TMP/a.pid || -s $TMP/b.pid ]] && break; }
    (( a + b == 0 )) && break
    sleep 0.05
  done
  (( a + b == 1 )) || { cat "$TMP"/a.err "$TMP"/b.err >&2; kill $A $B 2>/dev/null; fail "try $i: $((a + b)) servers running"; }
  if (( a )); then W=$A L=$B LERR=$TMP/b.err; else W=$B L=$A LERR=$TMP/a.err; fi
  SERVER_PID=$W  # lib.sh's cleanup stops it if a check below fails
  wait $L && fail "try $i: the losing server exited 0"
  [[ $(wc -l < "$LERR") == 1 ]] || { cat "$LERR" >&2; fail "try $i: loser printed not one line"; }
  grep -q "another server holds $SOCK.lock" "$LERR" || { cat "$LERR" >&2; fail "try $i: loser's message"; }
  serves "$SOCK" || fail "try $i: the socket does not work after the loser exited"
  stop_server
  [[ ! -e $SOCK && ! -e $SOCK.lock ]] || fail "try $i: socket or lock file left behind"
done

# TCP beyond loopback without TLS: one warning line; loopback: none.
"$MQBLK" nbd -f --listen 0.0.0.0:0 --pidfile "$TMP/t.pid" null size=16M 2> "$TMP/t.err" & T=$!
SERVER_PID=$T
for _ in $(seq 100); do [[ -s $TMP/t.pid ]] && break; sleep 0.05; done
stop_server
[[ $(grep -c "without TLS" "$TMP/t.err") == 1 && $(wc -l < "$TMP/t.err") == 1 ]] ||
  { cat "$TMP/t.err" >&2; fail "expected one warning line for 0.0.0.0"; }
rm -f "$TMP/t.pid"
"$MQBLK" nbd -f --listen 127.0.0.1:0 --pidfile "$TMP/t.pid" null size=16M 2> "$TMP/t.err" & T=$!
SERVER_PID=$T
for _ in $(seq 100); do [[ -s $TMP/t.pid ]] && break; sleep 0.05; done
stop_server
[[ ! -s $TMP/t.err ]] || { cat "$TMP/t.err" >&2; fail "a warning on loopback"; }
echo PASS
