#!/usr/bin/env bash
# poll_queues over NBD: with submit_queues=1 poll_queues=1 the server has two I/O threads,
# one per hardware queue, and connections go to them in turn; the second one's requests
# end only when that thread reaps its queue (null_blk's null_poll). fio verify over two
# connections (disjoint ranges), then `mqblk get` shows that the polled queue ended
# requests; without poll_queues the counter is not there.
source "$(dirname "$0")/lib.sh"

start_server null size=64M memory_backed=1 submit_queues=1 poll_queues=1 irqmode=2 \
  completion_nsec=20000
ID=$("$MQBLK" list --json | jq -r --arg u "$URI" '.[] | select(.uri == $u) | .id')
[[ $ID == nbd* ]] || fail "no NBD entry for $URI in mqblk list"
fio --name=v --ioengine=nbd --uri="$URI" --rw=randwrite --bs=4k --size=8M --offset_increment=16M \
  --numjobs=2 --iodepth=8 --verify=crc32c --do_verify=1 --verify_fatal=1 --group_reporting \
  --output-format=json --output="$TMP/fio.json" >/dev/null 2>&1 ||
  fail "fio verify over a polled queue: $(jq -c '.jobs[0].error' "$TMP/fio.json" 2>&1)"
[[ $(jq '.jobs[0].error' "$TMP/fio.json") == 0 ]] || fail "fio error $(jq '.jobs[0].error' "$TMP/fio.json")"
ios=$(jq '.jobs[0].write.total_ios + .jobs[0].read.total_ios' "$TMP/fio.json")
polled=$("$MQBLK" get "$ID" polled_ios) || fail "get polled_ios"
# One of the two connections is on the polled queue: its 2048 writes and 2048 verify reads.
((polled >= 4096 && polled <= ios)) || fail "polled_ios=$polled of $ios I/Os (4096 or more expected)"
echo "ok: fio verify over 2 connections, $polled of $ios I/Os ended by the polled queue"
stop_server

start_server null size=64M memory_backed=1
ID=$("$MQBLK" list --json | jq -r --arg u "$URI" '.[] | select(.uri == $u) | .id')
"$MQBLK" get "$ID" --json | jq -e 'has("polled_ios") | not' >/dev/null ||
  fail "polled_ios reported without poll queues"
stop_server
echo PASS
