#!/usr/bin/env bash
# `mqblk nbd` as nbdkit users expect: `-U -` / `--socket -` is a private socket in a fresh
# temporary directory ($TMPDIR), never a file named "-", for --run (with $uri, $nbd and
# $unixsocket set, the command's status the server's) or --print-uri, and the directory is
# gone once the server stops; a server in the background (or on a private socket nobody
# was told of) says on stderr where it serves and its pid. Checked with nbdinfo and nbdsh.
# (nbdsh is `python3 -m nbd`, run with Debian's python, which has the nbd module.)
source "$(dirname "$0")/lib.sh"
DAEMONS=()
cleanup_all() {
  local p
  for p in "${DAEMONS[@]}"; do kill "$p" 2>/dev/null || true; done
  cleanup
}
trap cleanup_all EXIT
export TMPDIR=$TMP/tmpdir  # the private directories land here, so that leftovers show
mkdir "$TMPDIR"
mkdir "$TMP/cwd"
cd "$TMP/cwd" || exit 1  # a file named "-" would appear here

leftovers() { find "$TMPDIR" -mindepth 1 | head -5; }
# wait_gone PID: until the process (not our child: a daemon) has stopped serving.
wait_gone() {
  for _ in $(seq 100); do
    [[ -z $(leftovers) ]] && ! kill -0 "$1" 2>/dev/null && return 0
    # A daemon reparented to a non-reaping init stays a zombie: then its directory going
    # is the sign that it stopped.
    [[ -z $(leftovers) && $(ps -o stat= -p "$1" 2>/dev/null) == Z* ]] && return 0
    sleep 0.05
  done
  return 1
}
# roundtrip URI: nbdsh writes a pattern, reads it back, and nbdinfo sees the size.
roundtrip() {
  $PY -m nbd -u "$1" -c '
data = bytes(range(256)) * 16
h.pwrite(data, 8192)
assert h.pread(len(data), 8192) == data
' || return 1
  [[ $(nbdinfo --size "$1") == "$2" ]]
}

# --- -U - with --run: the variables, a private 0700 directory, the command's exit status.
rc=0
"$MQBLK" nbd -U - --run '
  set -e
  case "$unixsocket" in "$TMPDIR"/mqblk-nbd*/sock) ;; *) echo "unixsocket=$unixsocket"; exit 90;; esac
  test "$uri" = "nbd+unix:///?socket=$unixsocket" || exit 91
  test "$nbd" = "$uri" || exit 92
  test -S "$unixsocket" || exit 93
  test "$(stat -c %a "$(dirname "$unixsocket")")" = 700 || exit 94
  nbdinfo --size "$uri" > "'"$TMP"'/size"
  /usr/bin/python3 -m nbd -u "$uri" -c "h.pwrite(b\"m\" * 4096, 0); assert h.pread(4096, 0) == b\"m\" * 4096"
  echo "$unixsocket" > "'"$TMP"'/sockpath"
  exit 7' null size=3M memory_backed=1 2>"$TMP/err" || rc=$?
(( rc == 7 )) || fail "-U - --run: exit status $rc, want 7: $(cat "$TMP/err")"
[[ $(cat "$TMP/size") == 3145728 ]] || fail "-U - --run: nbdinfo --size \$uri"
[[ ! -s $TMP/err ]] || fail "-U - --run said something on stderr: $(cat "$TMP/err")"
[[ -z $(leftovers) ]] || fail "-U - --run left $(leftovers)"
[[ ! -e - ]] || fail "-U - made a file named -"
echo "ok: -U - --run: $(cat "$TMP/sockpath") (gone after), exit status 7 passed on"

# --socket - (the long option) with --run: nbdinfo through $uri, then nothing left.
"$MQBLK" nbd --socket - --run 'nbdinfo "$uri"' null size=1M > "$TMP/info" ||
  fail "--socket - --run nbdinfo"
grep -q 'export-size: 1048576' "$TMP/info" || fail "nbdinfo via \$uri: $(cat "$TMP/info")"
[[ -z $(leftovers) && ! -e - ]] || fail "--socket - --run left $(leftovers)"
echo "ok: --socket - --run nbdinfo \$uri"

# --- in the background, -U - --print-uri: the URI on stdout, where and which pid on stderr.
"$MQBLK" nbd -U - --print-uri null size=2M memory_backed=1 > "$TMP/out" 2> "$TMP/err" ||
  fail "background -U -: $(cat "$TMP/err")"
uri=$(cat "$TMP/out")
[[ $uri == "nbd+unix:///?socket=$TMPDIR/mqblk-nbd"*/sock ]] || fail "--print-uri: $uri"
line=$(cat "$TMP/err")
[[ $(grep -c . <<<"$line") == 1 ]] || fail "background: not one line on stderr: $line"
pid=$(sed -n 's/^mqblk: serving \(.*\) as pid \([0-9]*\) (stop it with: kill \2)$/\2/p' <<<"$line")
said=$(sed -n 's/^mqblk: serving \(.*\) as pid [0-9]* .*/\1/p' <<<"$line")
[[ -n $pid && $said == "$uri" ]] || fail "background: stderr says: $line"
DAEMONS+=("$pid")
kill -0 "$pid" || fail "background: pid $pid is not running"
roundtrip "$uri" 2097152 || fail "background -U -: nbdsh/nbdinfo through $uri"
kill "$pid"
wait_gone "$pid" || fail "background -U -: after kill $pid: $(leftovers)"
[[ ! -e - ]] || fail "background -U - made a file named -"
echo "ok: background -U -: $line; kill $pid removed $(dirname "${uri#*socket=}")"

# --- in the background on a named socket: the same line, the pid the pidfile has.
"$MQBLK" nbd --socket "$SOCK" --pidfile "$TMP/pid" null size=1M memory_backed=1 2> "$TMP/err" > "$TMP/out" ||
  fail "background --socket: $(cat "$TMP/err")"
pid=$(cat "$TMP/pid")
DAEMONS+=("$pid")
[[ $(cat "$TMP/err") == "mqblk: serving $URI as pid $pid (stop it with: kill $pid)" ]] ||
  fail "background --socket: stderr says: $(cat "$TMP/err")"
[[ ! -s $TMP/out ]] || fail "background without --print-uri printed on stdout: $(cat "$TMP/out")"
roundtrip "$URI" 1048576 || fail "background --socket: nbdsh/nbdinfo"
kill "$pid"
for _ in $(seq 100); do [[ -e $SOCK ]] || break; sleep 0.05; done
[[ ! -e $SOCK && ! -e $TMP/pid ]] || fail "background --socket: socket or pidfile left"
echo "ok: background --socket: $(cat "$TMP/err")"

# --- in the foreground, -U - with neither --run nor --print-uri: the line says where.
"$MQBLK" nbd -f -U - null size=1M memory_backed=1 2> "$TMP/err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q 'serving' "$TMP/err" && break; sleep 0.05; done
line=$(cat "$TMP/err")
uri=$(sed -n 's/^mqblk: serving \(.*\) as pid '"$SERVER_PID"' (stop it with: kill '"$SERVER_PID"')$/\1/p' <<<"$line")
[[ -n $uri ]] || fail "foreground -U -: stderr says: $line"
roundtrip "$uri" 1048576 || fail "foreground -U -: nbdsh/nbdinfo through $uri"
stop_server
[[ -z $(leftovers) ]] || fail "foreground -U -: left $(leftovers)"
echo "ok: foreground -U -: $line"

# --- a TMPDIR that cannot take the directory: one line, nothing served, nothing made.
rc=0
err=$(TMPDIR=$TMP/no/such "$MQBLK" nbd -U - --run true null 2>&1 >/dev/null) || rc=$?
(( rc != 0 )) && [[ $(grep -c . <<<"$err") == 1 && $err == *"cannot make a private directory for the socket in $TMP/no/such"* ]] ||
  fail "missing TMPDIR: rc=$rc: $err"
[[ ! -e - && ! -e $TMP/no ]] || fail "missing TMPDIR: something was created"
echo "ok: refused: $err"
echo PASS
