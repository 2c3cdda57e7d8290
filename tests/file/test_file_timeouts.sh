#!/usr/bin/env bash
# The timeout path on real io_uring requests: a 1 ms request timeout under O_DIRECT random
# writes from two jobs on two queues makes requests time out while the kernel still has
# them; the driver asks io_uring to cancel each one, and every I/O still completes exactly
# once (the run ends, counts its timeouts as errors, and exits 1 with one summary line).
# Under the ASan and TSan builds this is the file driver's race test: submitters, the
# reapers, the timeout thread's cancels and teardown at the end all at once.
set -euo pipefail
MQBLK=${MQBLK:?set MQBLK to the mqblk binary}
EXT=$(mktemp -d /tmp/mqblk-file-timeouts.XXXXXX)
trap 'rm -rf "$EXT"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

for rw in randwrite randrw; do
  set +e
  out=$(timeout 60 "$MQBLK" bench --rw $rw --jobs 2 --iodepth 64 --runtime 1s \
    file path="$EXT/t.img" size=64M direct=1 submit_queues=2 request_timeout=1ms 2>&1)
  rc=$?
  set -e
  [[ $rc == 1 ]] || fail "$rw: exit status $rc (want 1: timeouts counted as errors): $out"
  errors=$(grep -oE '[0-9]+ errors' <<<"$out" | grep -oE '^[0-9]+')
  ios=$(grep -oE '[0-9]+ I/Os, [0-9]+ errors' <<<"$out" | grep -oE '^[0-9]+')  # the totals line
  (( errors > 0 && ios > errors )) || fail "$rw: $ios I/Os, $errors errors: $out"
  grep -q "mqblk: $errors I/O errors during the run" <<<"$out" || fail "$rw: summary: $out"
  echo "ok: $rw: $ios I/Os, $errors timed out"
done
# The same file with the default timeout: nothing times out, the data verifies.
out=$("$MQBLK" bench --verify --rw randrw --jobs 2 --runtime 1s file path="$EXT/t.img" direct=1 submit_queues=2 2>&1) ||
  fail "after the timeouts: $out"
echo PASS
