#!/usr/bin/env bash
# TLS (NBD_OPT_STARTTLS) with real clients: nbdinfo, nbdcopy, nbdsh (python3-libnbd),
# qemu-img and qemu-io, with X.509 (Unix socket) and PSK (TCP on 127.0.0.1), structured
# replies and multi-conn; data written is read back and compared. Negative cases: a plain
# client against --tls=require (refused, export list not given), an untrusted certificate,
# a wrong PSK, a missing client certificate under --tls-verify-peer: each fails the client,
# the server logs one line and goes on serving. Keys are made here (certtool, psktool).
source "$(dirname "$0")/lib.sh"
command -v certtool >/dev/null && command -v psktool >/dev/null ||
  fail "certtool/psktool missing: install gnutls-bin (scripts/setup.sh)"
T="timeout 30"
HERE=$(dirname "$0")

# ---------------------------------------------------------------- keys
PKI=$TMP/pki
mkdir -p "$PKI"/{ca,server,client,client-nocert,client-rogue,rogue}
ct() { certtool "$@" >/dev/null 2>&1 || fail "certtool $*"; }
tmpl() { printf '%s\n' "$@" > "$PKI/tmpl"; }
tmpl "cn = mqblk test CA" ca cert_signing_key "expiration_days = 2"
ct --generate-privkey --outfile "$PKI/ca/key.pem"
ct --generate-self-signed --load-privkey "$PKI/ca/key.pem" --template "$PKI/tmpl" --outfile "$PKI/ca/cert.pem"
issue() {  # issue DIR NAME ROLE: DIR/NAME-{key,cert}.pem signed by the test CA
  tmpl "organization = mqblk test" "cn = localhost" "dns_name = localhost" "ip_address = 127.0.0.1" \
    "$3" encryption_key signing_key "expiration_days = 2"
  ct --generate-privkey --outfile "$1/$2-key.pem"
  ct --generate-certificate --load-ca-certificate "$PKI/ca/cert.pem" --load-ca-privkey "$PKI/ca/key.pem" \
    --load-privkey "$1/$2-key.pem" --template "$PKI/tmpl" --outfile "$1/$2-cert.pem"
}
issue "$PKI/server" server tls_www_server
issue "$PKI/client" client tls_www_client
for d in server client client-nocert; do cp "$PKI/ca/cert.pem" "$PKI/$d/ca-cert.pem"; done
# A client that trusts another CA only.
tmpl "cn = rogue CA" ca cert_signing_key "expiration_days = 2"
ct --generate-privkey --outfile "$PKI/rogue/key.pem"
ct --generate-self-signed --load-privkey "$PKI/rogue/key.pem" --template "$PKI/tmpl" --outfile "$PKI/rogue/ca-cert.pem"
# A client certificate signed by the rogue CA.
tmpl "organization = rogue" "cn = rogue client" tls_www_client encryption_key signing_key "expiration_days = 2"
ct --generate-privkey --outfile "$PKI/client-rogue/client-key.pem"
ct --generate-certificate --load-ca-certificate "$PKI/rogue/ca-cert.pem" --load-ca-privkey "$PKI/rogue/key.pem" \
  --load-privkey "$PKI/client-rogue/client-key.pem" --template "$PKI/tmpl" --outfile "$PKI/client-rogue/client-cert.pem"
cp "$PKI/ca/cert.pem" "$PKI/client-rogue/ca-cert.pem"
psktool -u alice -p "$PKI/keys.psk" >/dev/null || fail "psktool"
mkdir -p "$PKI/wrongpsk" && psktool -u alice -p "$PKI/wrongpsk/keys.psk" >/dev/null
mkdir -p "$PKI/psk" && cp "$PKI/keys.psk" "$PKI/psk/keys.psk"

LOG=$TMP/server.log
# log_lines: how many lines the server wrote to its log so far.
log_lines() { wc -l < "$LOG"; }
# expect_one_line BEFORE WHAT: exactly one new log line since BEFORE, mentioning TLS.
expect_one_line() {
  local new
  for _ in $(seq 50); do (($(log_lines) > $1)) && break; sleep 0.1; done
  new=$(tail -n +"$(($1 + 1))" "$LOG")
  [[ $(printf '%s\n' "$new" | grep -c .) == 1 && $new == *TLS* ]] ||
    fail "$2: want one TLS line in the server's log, got: $new"
}

# ---------------------------------------------------------------- X.509, Unix socket
start_server --tls=require --tls-certificates "$PKI/server" --name secret-export-name -- \
  null size=64M memory_backed=1 submit_queues=2 2> "$LOG"  # two I/O threads, sessions on each
X="nbds+unix:///secret-export-name?socket=$SOCK&tls-certificates=$PKI/client"
$T nbdinfo "$X" > "$TMP/info" || fail "nbdinfo over TLS"
grep -q "with TLS, using structured" "$TMP/info" || fail "nbdinfo: no TLS or no structured replies: $(head -1 "$TMP/info")"

# Data round trip with nbdcopy (4 connections: multi-conn), both ways.
head -c $((16 << 20)) /dev/urandom > "$TMP/pattern"
$T nbdcopy -C 4 "$TMP/pattern" "$X" || fail "nbdcopy to the export over TLS"
$T nbdcopy -C 4 "$X" "$TMP/back" || fail "nbdcopy from the export over TLS"
cmp -n $((16 << 20)) "$TMP/pattern" "$TMP/back" || fail "nbdcopy over TLS: data read back differs"

# nbdsh: structured replies, block status, multi-conn (write on one, flush, read on another).
$T $PY - "$X" "$TMP/pattern" <<'PYEOF' || fail "nbdsh (python3-libnbd) over TLS"
import nbd, sys
hs = []
for _ in range(2):
    h = nbd.NBD(); h.add_meta_context("base:allocation"); h.set_uri_allow_local_file(True)
    h.connect_uri(sys.argv[1]); hs.append(h)
a, b = hs
assert a.get_tls_negotiated() and a.get_structured_replies_negotiated(), "no TLS/structured"
assert a.can_multi_conn(), "multi-conn not advertised"
buf = bytes(range(256)) * 256  # 64 KiB
a.pwrite(buf, 1 << 20); a.flush()
assert b.pread(len(buf), 1 << 20) == buf, "multi-conn: the other connection reads other data"
seen = []
b.block_status(1 << 20, 63 << 20, lambda m, o, e, err: seen.append((m, list(e))) or 0)
assert seen and seen[0][0] == "base:allocation", seen
# One 16 MiB read: its reply outgrows the socket buffer many times over (the server's
# output waits inside GnuTLS for EPOLLOUT); it must arrive whole and right.
assert b.pread(16 << 20, 0) == open(sys.argv[2], "rb").read(16 << 20)[: 1 << 20] + buf + \
    open(sys.argv[2], "rb").read(16 << 20)[(1 << 20) + len(buf):], "16 MiB read over TLS differs"
for h in hs: h.shutdown()
PYEOF
# (nbdsh -u refuses tls-certificates in a URI: local file access must be allowed first.)
X="$X" $T $PY -m nbd -c 'import os; h.set_uri_allow_local_file(True); h.connect_uri(os.environ["X"])' \
  -c 'assert h.get_tls_negotiated(); h.pwrite(b"z" * 4096, 0); assert h.pread(4096, 0) == b"z" * 4096' ||
  fail "nbdsh -u over TLS (python3 -m nbd, as /usr/bin/nbdsh runs it)"

# qemu-img / qemu-io with tls-creds-x509.
QOBJ="tls-creds-x509,id=tls0,dir=$PKI/client,endpoint=client"
QIMG="driver=nbd,path=$SOCK,export=secret-export-name,tls-creds=tls0,tls-hostname=localhost"
$T qemu-io --object "$QOBJ" --image-opts "$QIMG" -c 'write -P 0x5a 4M 1M' -c 'read -P 0x5a 4M 1M' \
  > "$TMP/qio" 2>&1 || fail "qemu-io over TLS: $(tail -2 "$TMP/qio")"
grep -q "Pattern verification failed" "$TMP/qio" && fail "qemu-io over TLS: pattern mismatch"
$T qemu-img info --object "$QOBJ" --image-opts "$QIMG" | grep -q "virtual size: 64 MiB" ||
  fail "qemu-img info over TLS"
$T qemu-img convert -n --object "$QOBJ" -f raw "$TMP/pattern" --target-image-opts "$QIMG" ||
  fail "qemu-img convert to the export over TLS"
$T qemu-img compare --object "$QOBJ" --image-opts "driver=file,filename=$TMP/pattern" "$QIMG" > /dev/null ||
  fail "qemu-img compare over TLS: data differs"

# Without TLS: refused; the export list is not given away.
before=$(log_lines)
$T nbdinfo "nbd+unix:///secret-export-name?socket=$SOCK" > /dev/null 2>&1 && fail "plain nbdinfo was served"
$T nbdinfo --list "nbd+unix:///?socket=$SOCK" > "$TMP/list" 2>&1 && fail "plain nbdinfo --list succeeded"
grep -q secret-export-name "$TMP/list" && fail "the export list was given to a plain client"
$T qemu-io -f raw -r -c 'read 0 4k' "nbd+unix:///secret-export-name?socket=$SOCK" > /dev/null 2>&1 &&
  fail "plain qemu-io was served"
$T $PY "$HERE/test_tls_raw.py" require "$SOCK" "$PKI/ca/cert.pem" || fail "raw STARTTLS checks (require)"

# An untrusted server certificate: the client fails and hangs up (qemu checks the
# certificate once the TLS handshake is over, so the server sees a client that left); the
# server serves on. (qemu: libnbd 1.14 does not verify the server's certificate over a
# Unix socket.)
$T qemu-io --object "tls-creds-x509,id=tls0,dir=$PKI/rogue,endpoint=client" --image-opts \
  "driver=nbd,path=$SOCK,tls-creds=tls0,tls-hostname=localhost" -c 'read 0 4k' > /dev/null 2>&1 &&
  fail "a client that does not trust the server's CA connected"
$T nbdinfo "$X" > /dev/null || fail "not serving after a failed TLS handshake"
stop_server

# --tls-verify-peer: a client without a certificate signed by ca-cert.pem is refused.
start_server --tls=require --tls-certificates "$PKI/server" --tls-verify-peer -- null size=16M 2> "$LOG"
before=$(log_lines)
$T nbdinfo "nbds+unix:///?socket=$SOCK&tls-certificates=$PKI/client-nocert" > /dev/null 2>&1 &&
  fail "--tls-verify-peer: a client without a certificate connected"
expect_one_line "$before" "no client certificate"
before=$(log_lines)
$T nbdinfo "nbds+unix:///?socket=$SOCK&tls-certificates=$PKI/client-rogue" > /dev/null 2>&1 &&
  fail "--tls-verify-peer: a client certificate from an untrusted CA was accepted"
expect_one_line "$before" "untrusted client certificate"
$T nbdinfo "nbds+unix:///?socket=$SOCK&tls-certificates=$PKI/client" > /dev/null ||
  fail "--tls-verify-peer: the client with a certificate was refused"
stop_server

# --tls=on: clear and TLS clients both; --tls=off: STARTTLS refused with ERR_POLICY.
start_server --tls=on --tls-certificates "$PKI/server" --name secret-export-name -- null size=16M memory_backed=1 2> "$LOG"
$T nbdinfo "nbd+unix:///?socket=$SOCK" | grep -q "without TLS" || fail "--tls=on: plain client"
$T nbdinfo "nbds+unix:///?socket=$SOCK&tls-certificates=$PKI/client" | grep -q "with TLS" ||
  fail "--tls=on: TLS client"
$T $PY "$HERE/test_tls_raw.py" on "$SOCK" "$PKI/ca/cert.pem" || fail "raw STARTTLS checks (on)"
stop_server
# The handshake timeout covers the TLS handshake too.
start_server --handshake-timeout 1 --tls=require --tls-certificates "$PKI/server" -- null size=16M 2> "$LOG"
$T $PY "$HERE/test_tls_raw.py" stall "$SOCK" || fail "a stalled TLS handshake was kept"
$T nbdinfo "nbds+unix:///?socket=$SOCK&tls-certificates=$PKI/client" > /dev/null || fail "not serving after a stalled TLS handshake"
stop_server
start_server -- null size=16M 2> "$LOG"
$T $PY "$HERE/test_tls_raw.py" off "$SOCK" || fail "raw STARTTLS checks (off)"
stop_server

# ---------------------------------------------------------------- PSK, TCP
rm -f "$TMP/ready.pid"
"$MQBLK" nbd --foreground --listen 127.0.0.1:0 --print-uri --pidfile "$TMP/ready.pid" \
  --tls=require --tls-psk "$PKI/keys.psk" -- null size=64M memory_backed=1 > "$TMP/uri" 2> "$LOG" &
SERVER_PID=$!
for _ in $(seq 200); do [[ -s $TMP/ready.pid ]] && break; sleep 0.05; done
[[ -s $TMP/ready.pid ]] || fail "PSK server did not start"
URI_TCP=$(cat "$TMP/uri")
[[ $URI_TCP == nbds://127.0.0.1:*/ ]] || fail "--print-uri under --tls=require: $URI_TCP"
PORT=${URI_TCP##*:}
PORT=${PORT%/}
P="nbds://alice@127.0.0.1:$PORT/?tls-psk-file=$PKI/keys.psk"
$T nbdinfo "$P" | grep -q "with TLS" || fail "nbdinfo with PSK"
$T nbdcopy -C 2 "$TMP/pattern" "$P" || fail "nbdcopy with PSK"
$T nbdcopy "$P" "$TMP/back2" || fail "nbdcopy from the export with PSK"
cmp -n $((16 << 20)) "$TMP/pattern" "$TMP/back2" || fail "PSK: data read back differs"
QPSK="tls-creds-psk,id=tls0,dir=$PKI/psk,username=alice,endpoint=client"
$T qemu-io --object "$QPSK" --image-opts "driver=nbd,host=127.0.0.1,port=$PORT,tls-creds=tls0" \
  -c 'write -P 0xc3 8M 2M' -c 'read -P 0xc3 8M 2M' > "$TMP/qio" 2>&1 || fail "qemu-io with PSK: $(tail -2 "$TMP/qio")"
grep -q "Pattern verification failed" "$TMP/qio" && fail "qemu-io with PSK: pattern mismatch"
before=$(log_lines)
$T nbdinfo "nbds://alice@127.0.0.1:$PORT/?tls-psk-file=$PKI/wrongpsk/keys.psk" > /dev/null 2>&1 &&
  fail "a wrong PSK connected"
expect_one_line "$before" "wrong PSK"
$T nbdinfo "$P" > /dev/null || fail "not serving after a wrong PSK"
stop_server

# ---------------------------------------------------------------- bad options: one line, exit 1
bad() {  # bad WHAT ARGS...: the server refuses to start with one line naming the problem
  local what=$1 out
  shift
  out=$($T "$MQBLK" nbd -f --socket "$TMP/bad.sock" "$@" -- null size=1M 2>&1) && fail "$what: started"
  [[ $(printf '%s\n' "$out" | grep -c .) == 1 ]] || fail "$what: not one line: $out"
}
bad "missing certificates" --tls=require --tls-certificates "$TMP/nowhere"
bad "no credentials" --tls=require
bad "both credentials" --tls=on --tls-certificates "$PKI/server" --tls-psk "$PKI/keys.psk"
bad "credentials without --tls" --tls-psk "$PKI/keys.psk"
bad "unknown --tls" --tls=maybe --tls-psk "$PKI/keys.psk"
echo "alice:nothex" > "$TMP/bad.psk"
bad "malformed PSK file" --tls=require --tls-psk "$TMP/bad.psk"
bad "verify-peer with PSK" --tls=require --tls-psk "$PKI/keys.psk" --tls-verify-peer
[[ -e $TMP/bad.sock ]] && fail "a refused server left its socket"
echo PASS
