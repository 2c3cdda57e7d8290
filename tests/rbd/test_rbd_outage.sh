#!/usr/bin/env bash
# The whole cluster stops under a running server: requests fail within op_timeout (librbd
# cannot cancel an aio; the client's op timeouts turn the wait into -ETIMEDOUT), the
# server stays up and answers each next request, and once the cluster is back the same
# connection-less server serves the data written before the outage (service resumes).
# Then the engine's timeout path on a parked request: with request_timeout=1 under
# op_timeout=3 the engine records the timeout after about 1 s and the driver reports it,
# but the request stays the driver's until librbd gives it back (the client gets the
# timeout then, not before); no crash, no double end, under ASan and TSan too.
source "$(dirname "$0")/lib.sh"
cluster_start 64M
OP_TIMEOUT=2
start_server rbd pool=rbd image=img op_timeout=$OP_TIMEOUT 2>>"$TMP/server.err"
qemu-io -f raw -c 'write -P 0x5a 0 1M' -c flush "$URI" >/dev/null || fail "write before the outage"

bash "$CLUSTER" stop "$CEPH_DIR"
echo "ok: cluster stopped"
# timed_io WHAT CMD...: runs a qemu-io command that must fail; prints the seconds it took.
timed_fail() {
  local what=$1 t0 out; shift
  t0=$(date +%s.%N)
  out=$(timeout 60 qemu-io -f raw "$@" "$URI" 2>&1 || true)
  grep -qE "failed|error" <<<"$out" || fail "$what during the outage did not fail: $out"
  awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN {printf "%.2f", a - b}'
}
# (A flush with nothing written since the last one succeeds at once, and a read of an object
# the object map says does not exist reads zeros without asking an OSD: neither waits.)
for op in "read 0 4k" "write -P 0x11 2M 4k" "write -z 3M 64k"; do
  t=$(timed_fail "$op" -c "$op")
  awk -v t="$t" -v b="$OP_TIMEOUT" 'BEGIN {exit !(t >= b * 0.5 && t <= b + 6)}' ||
    fail "'$op' failed after ${t}s: want about op_timeout=${OP_TIMEOUT}s"
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died during the outage: $(tail -5 "$TMP/server.err")"
  echo "ok: '$op' failed after ${t}s, the server is up"
done
grep -q "rbd: queue 0: .*Connection timed out (no answer within op_timeout" "$TMP/server.err" ||
  fail "the driver did not report the timeouts: $(cat "$TMP/server.err")"

bash "$CLUSTER" restart "$CEPH_DIR"
echo "ok: cluster restarted"
ok=0
for _ in $(seq 30); do  # librados finds the mon again by itself; bounded: 30 tries
  if out=$(timeout 20 qemu-io -f raw -c 'read -P 0x5a 0 1M' "$URI" 2>&1) && ! grep -qE "failed|error" <<<"$out"; then
    ok=1
    break
  fi
  sleep 1
done
((ok)) || fail "service did not resume after the restart: $out: $(tail -5 "$TMP/server.err")"
qemu-io -f raw -c 'write -P 0x22 4M 1M' -c 'read -P 0x22 4M 1M' "$URI" | grep -q "verification failed" &&
  fail "a write after the restart does not read back"
echo "ok: service resumed, the data written before the outage is there"
stop_server

# The engine's timeout path, with the cluster stopped again.
start_server rbd pool=rbd image=img op_timeout=3 request_timeout=1 2>>"$TMP/server2.err"
bash "$CLUSTER" stop "$CEPH_DIR"
t=$(timed_fail "read with request_timeout=1" -c "read 0 4k")
awk -v t="$t" 'BEGIN {exit !(t <= 3 * 2 + 4)}' || fail "the timed-out read took ${t}s"
grep -q "timed out; librbd still has it" "$TMP/server2.err" ||
  fail "the timeout was not reported: $(cat "$TMP/server2.err")"
kill -0 "$SERVER_PID" 2>/dev/null || fail "the server died after the timeout"
stop_server
echo "ok: a request timed out (the engine reported it), failed to the client after ${t}s"
echo PASS
