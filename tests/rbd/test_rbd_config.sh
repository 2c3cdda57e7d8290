#!/usr/bin/env bash
# The rbd driver's refusals, each one line that names the attribute and the fix, with
# nothing created (no socket, no server left): bad attributes before any connection, then
# what only the cluster can answer (no such pool, image, snapshot; a wrong key; no monitor
# within op_timeout). And a snapshot served read-only: its data is the snapshot's, writes
# are refused, the image itself is untouched by the attempt.
source "$(dirname "$0")/lib.sh"

# refuse WANT ARGS...: `mqblk nbd ... rbd ARGS` exits non-zero with one line matching WANT.
refuse() {
  local want=$1 out rc; shift
  rm -f "$SOCK"
  set +e
  out=$(timeout 30 "$MQBLK" nbd --foreground --socket "$SOCK" rbd "$@" 2>&1)
  rc=$?
  set -e
  [[ $rc != 0 && $rc != 124 ]] || fail "rbd $*: exit status $rc (want a refusal): $out"
  [[ $(wc -l <<<"$out") == 1 ]] || fail "rbd $*: more than one line: $out"
  grep -qE -- "$want" <<<"$out" || fail "rbd $*: '$out' does not match '$want'"
  [[ ! -e $SOCK ]] || fail "rbd $*: the socket was created"
  echo "ok: refused rbd $*: $out"
}

# Before any connection (no cluster yet).
refuse "rbd: no pool given" image=img
refuse "rbd: no image given" pool=rbd
refuse "rbd: color=red: unknown attribute" pool=rbd image=img color=red
refuse "rbd: snap=s1: a snapshot cannot be written: add readonly=1" pool=rbd image=img snap=s1
refuse "rbd: op_timeout=0: must be a whole number between 1 and 3600" pool=rbd image=img op_timeout=0
refuse "rbd: image=a/b: must not contain" pool=rbd image=a/b
refuse "rbd: pool=rbd: given twice" pool=rbd pool=rbd image=img
refuse "rbd: 'img' has no '='" pool=rbd img
refuse "conf=$TMP/none.conf: cannot read it" pool=rbd image=img conf="$TMP/none.conf"

# A monitor that does not answer: refused within op_timeout (2 s here), not hung.
printf '[global]\nmon host = [v1:127.0.0.1:9]\nauth client required = none\n' >"$TMP/dead.conf"
t0=$SECONDS
refuse "cannot connect as client.admin: .*within op_timeout=2s" pool=rbd image=img conf="$TMP/dead.conf" op_timeout=2
(( SECONDS - t0 <= 10 )) || fail "an unreachable cluster took $((SECONDS - t0)) s to refuse (op_timeout=2)"

cluster_start
refuse "pool=nopool image=img: no such pool" pool=nopool image=img
refuse "pool=rbd image=nothere: no such image" pool=rbd image=nothere
refuse "snap=nosnap: no such image or snapshot" pool=rbd image=img snap=nosnap readonly=1
printf '[client.admin]\n\tkey = AQBuE+BlAAAAABAAKEJ4xQdS9dbhIOVbmlSmAw==\n' >"$TMP/wrong.keyring"
refuse "cannot connect as client.admin: .*(refused|denied|not permitted)" pool=rbd image=img \
  keyring="$TMP/wrong.keyring" op_timeout=5
refuse "cannot connect as client.nobody" pool=rbd image=img id=nobody op_timeout=5

# The snapshot: data at snapshot time, read-only, writes refused.
start_server rbd pool=rbd image=img id=admin keyring="$CEPH_DIR/keyring"
qemu-io -f raw -c 'write -P 0x5a 0 1M' "$URI" >/dev/null || fail "write before the snapshot"
stop_server
rbd_cli snap create --no-progress rbd/img@s1 >/dev/null || fail "rbd snap create"
start_server rbd pool=rbd image=img
qemu-io -f raw -c 'write -P 0x33 0 1M' "$URI" >/dev/null || fail "write after the snapshot"
stop_server
start_server rbd pool=rbd image=img snap=s1 readonly=1
out=$(qemu-io -f raw -r -c 'read -P 0x5a 0 1M' "$URI")
if grep -q "verification failed" <<<"$out"; then fail "the snapshot does not hold the data written before it"; fi
# A client that writes anyway (libnbd's strict checks off): the server refuses it.
out=$($PY - "$SOCK" <<'PY' 2>&1 || true
import sys, nbd
h = nbd.NBD()
h.set_strict_mode(0)
h.connect_unix(sys.argv[1])
try:
    h.pwrite(b"\x77" * 4096, 0)
    print("write accepted")
except nbd.Error as e:
    print("refused:", e)
PY
)
grep -qE "^refused:.*(EPERM|EROFS|ermission|ead-only)" <<<"$out" || fail "a write to the snapshot was not refused: $out"
echo "ok: a write to the snapshot: $out"
out=$(nbdinfo --json "$URI") || fail "nbdinfo on the snapshot"
jq -e '.exports[0].is_read_only == true' <<<"$out" >/dev/null || fail "the snapshot's export is not read-only: $out"
stop_server
start_server rbd pool=rbd image=img readonly=1
out=$(qemu-io -f raw -r -c 'read -P 0x33 0 1M' "$URI")
if grep -q "verification failed" <<<"$out"; then fail "the image lost the write made after the snapshot"; fi
stop_server
echo PASS
