#!/usr/bin/env bash
# Replication under the driver: fio writes and verifies through `mqblk nbd rbd ...` while
# one of the two OSDs (pool size 2, min_size 1) is killed with SIGKILL mid-run. librbd
# resends what the dead OSD had once the mon marks it down, so fio sees no error and no
# mismatch, and nothing times out.
source "$(dirname "$0")/lib.sh"
cluster_start 64M
start_server rbd pool=rbd image=img op_timeout=20 2>>"$TMP/server.err"
fio --name=w --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --iodepth=32 --size=48M \
  --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 --output="$TMP/fio" >/dev/null 2>"$TMP/fio.err" &
fio_pid=$!
sleep 0.7
kill -0 "$fio_pid" 2>/dev/null || fail "fio ended before the OSD was killed: $(cat "$TMP/fio")"
bash "$CLUSTER" stop-osd "$CEPH_DIR" 1 KILL
echo "ok: osd.1 killed during the run"
set +e
timeout 120 tail --pid="$fio_pid" -f /dev/null  # bounded wait for fio
wait "$fio_pid"
rc=$?
set -e
[[ $rc == 0 ]] || fail "fio exited with $rc after the OSD kill: $(tail -n 20 "$TMP/fio" "$TMP/fio.err")"
grep -q "err= 0" "$TMP/fio" || fail "fio reported errors: $(cat "$TMP/fio")"
if grep -qi "verify: bad" "$TMP/fio.err"; then fail "fio found mismatches: $(cat "$TMP/fio.err")"; fi
kill -0 "$SERVER_PID" || fail "the server died"
if grep -q "rbd:" "$TMP/server.err"; then fail "the driver reported errors: $(cat "$TMP/server.err")"; fi
echo "ok: fio verify with one OSD killed: $(grep -oE 'write: IOPS=[^,]+' "$TMP/fio")"
stop_server
echo PASS
