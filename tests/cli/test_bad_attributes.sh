#!/usr/bin/env bash
# Every bad attribute or option of `mqblk bench` gives exactly one line on stderr naming
# the problem, exit status 2, and creates nothing (the backing file stays absent).
set -u
MQBLK=${MQBLK:?set MQBLK to the mqblk binary}
file=/dev/shm/mqblk-bad-attr-test.$$
trap 'rm -f "$file"' EXIT
fails=0
check() {  # expected-substring, args...
  local want=$1
  shift
  rm -f "$file"
  err=$("$MQBLK" bench --ios 1 "$@" 2>&1 >/dev/null)
  rc=$?
  lines=$(printf '%s\n' "$err" | grep -c .)
  if [ $rc -ne 2 ] || [ "$lines" -ne 1 ] || ! grep -q -- "$want" <<<"$err" || [ -e "$file" ]; then
    echo "FAIL: mqblk bench $*: rc=$rc lines=$lines file_created=$([ -e "$file" ] && echo yes || echo no)"
    echo "      stderr: $err (wanted: $want)"
    fails=$((fails + 1))
  else
    echo "ok: $* -> $err"
  fi
}
bf="memory_backed=1 backing_file=$file"
check "blocksize=1000" null $bf blocksize=1000
check "sise" null $bf sise=1G
check "size=1x" null $bf size=1x
check "irqmode=7" null $bf irqmode=7
check "hw_queue_depth" null $bf hw_queue_depth=0
check "submit_queues" null $bf submit_queues=1000
check "discard" null discard=1
check "not a multiple" null $bf size=1025K blocksize=4096
check "queue_mode" null $bf queue_mode=1
check "mbps=fast" null $bf mbps=fast
check "badblocks=+9-2" null $bf badblocks=+9-2
check "badblocks=7" null $bf badblocks=7
check "timeout=1,100" null $bf timeout=1,100
check "requeue=1,101,0,1" null $bf requeue=1,101,0,1
check "init_hctx=1,100,0,1" null $bf init_hctx=1,100,0,1
check "error=EWHAT" null $bf error_rate=0.5 error=EWHAT
check "error_rate=2" null $bf error_rate=2
check "error_ops" null $bf error_rate=1 error_ops=read,fly
check "power=0" null $bf power=0
check "cache_size" null cache_size=8
check "poll_queues" null $bf submit_queues=200 poll_queues=100
check "nr_devices" null $bf nr_devices=0
check "cannot hold 2 devices" null $bf nr_devices=2 shared_tags=1
check "off the write pointers" --rw randwrite null size=64 zoned=1 zone_size=8
check "needs zoned=1" null zone_size=64
check "larger than the device" null size=64 zoned=1 zone_size=128
check "smaller last zone" null size=60 zoned=1 zone_size=8 zone_capacity=4
check "conventional" null size=64 zoned=1 zone_size=8 zone_nr_conv=2 zone_offline=100
check "missing '='\|no '='\|key=value" null $bf memory_backed
check "unknown driver" nope size=1G
check "--bs" --bs 1000 null $bf
check "--iodepth" --iodepth 100000 null $bf
check "--rw" --rw sideways null
check "--runtime" --runtime 5parsecs null
[ $fails -eq 0 ] || { echo "$fails failures"; exit 1; }
