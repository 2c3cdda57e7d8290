#!/bin/bash
# The null device's volatile write cache (cache_size) through a power cut on command
# (`mqblk set ID power=0`), with the kernel's own FLUSH and FUA over ublk:
#  a. a raw pattern, the cache larger than what is written (nothing evicted): blocks written
#     before a FLUSH, and FUA writes, survive the cut; plain writes after the last FLUSH read
#     as before them; while the power is off, reads and writes fail with EIO;
#  b. ext4 with its journal: fsynced files survive the cut intact, the journal replays,
#     e2fsck is clean; files written (O_DIRECT, so their data reached the device's cache)
#     but never synced may be gone or short, never wrong.
# Needs -b "mkfs.ext4 e2fsck".
. ./lib.sh

B=4096
# blocks DEV_BLOCK COUNT OUT: the device's blocks, read with O_DIRECT (the cache or the store,
# never the guest's page cache).
blocks() { within 30 dd if="$dev" of="$3" bs=$B skip="$1" count="$2" iflag=direct status=none; }
# same DEV_BLOCK COUNT FILE FILE_BLOCK: the device's blocks hold FILE's blocks.
same() {
  blocks "$1" "$2" /tmp/got || return 1
  dd if="$3" of=/tmp/want bs=$B skip="$4" count="$2" status=none
  cmp -s /tmp/got /tmp/want
}
# put FILE DEV_BLOCK [dd conv]: the whole FILE, plain O_DIRECT writes (no FUA); conv=notrunc,fsync adds the
# FLUSH (fsync on a block device: blkdev_issue_flush).
put() { within 30 dd if="$1" of="$dev" bs=$B seek="$2" oflag=direct conv="${3:-notrunc}" status=none; }
# fua NAME DEV_BLOCK COUNT [verify]: O_DIRECT|O_SYNC writes, which the block layer sends as
# REQ_FUA to a queue with FUA. Asynchronous (io_uring): a synchronous O_SYNC write(2) on a
# block device is also followed by a FLUSH (generic_write_sync -> blkdev_fsync), which
# would make the unflushed blocks durable too. fio's crc32c headers (with each block's
# offset) check the data.
fua() {
  within 60 fio --name="$1" --filename="$dev" --rw=write --bs=$B --offset=$(($2 * B)) \
    --size=$(($3 * B)) --direct=1 --sync=1 --ioengine=io_uring --iodepth=1 --eta=never --verify=crc32c \
    $([ -n "${4:-}" ] && echo --verify_only --verify_fatal=1 || echo --do_verify=0) \
    --output="/tmp/$1.out"
}
dirty() { within 10 mqblk get "$id" cache_dirty_bytes; }
off_fails() {  # the command fails, saying EIO
  local out
  out=$("$@" 2>&1) && { echo "succeeded while the power was off: $*"; return 1; }
  grep -q "Input/output error" <<<"$out" || { echo "not EIO: $out"; return 1; }
}

# --- a. raw pattern ---------------------------------------------------------------------
# request_timeout=60: a request the timeout fault holds stays held until the cut.
dev=$(within 30 mqblk add null size=64M memory_backed=1 cache_size=32 request_timeout=60) || fail "add"
id=${dev#/dev/ublkb}
sys=/sys/block/${dev#/dev/}
[ "$(cat $sys/queue/write_cache)" = "write back" ] || fail "write_cache: $(cat $sys/queue/write_cache)"
[ "$(cat $sys/queue/fua)" = 1 ] || fail "queue/fua: $(cat $sys/queue/fua)"
ok "the kernel sees a volatile write cache with FUA"
[ "$(dirty)" = 0 ] || fail "dirty before any write: $(dirty)"
head -c $((64 * B)) /dev/urandom >/tmp/A
head -c $((16 * B)) /dev/urandom >/tmp/B
head -c $((16 * B)) /dev/urandom >/tmp/D1
head -c $((64 * B)) /dev/urandom >/tmp/D2
head -c $((64 * B)) /dev/zero >/tmp/Z

# The kernel's requests, as the block layer issues them (rwbs: W write, F after W = FUA).
T=/sys/kernel/tracing
[ -e $T/events/block/block_rq_issue/enable ] || T=/sys/kernel/debug/tracing
majmin=$(tr : , <$sys/dev)
trace_on() { echo >$T/trace && echo 1 >$T/events/block/block_rq_issue/enable; }
trace_off() { echo 0 >$T/events/block/block_rq_issue/enable; grep " $majmin " $T/trace >/tmp/trace; }

put /tmp/A 0 notrunc,fsync || fail "A: write + fsync"                  # A: blocks 0-63, FLUSH
[ "$(dirty)" = 0 ] || fail "dirty after the FLUSH: $(dirty)"
put /tmp/B 0 || fail "B: write"                                        # B: blocks 0-15 over A
[ "$(dirty)" = $((16 * B)) ] || fail "dirty after B (16 blocks unflushed): $(dirty)"
check "B: fsync" within 30 dd if=/dev/null of="$dev" conv=notrunc,fsync status=none
[ "$(dirty)" = 0 ] || fail "dirty after B's FLUSH: $(dirty)"
ok "A and B made durable by FLUSH (cache_dirty_bytes 0 after each fsync)"
put /tmp/D1 16 || fail "D1: write"                                     # D1: 16-31 over A
trace_on || fail "tracing block_rq_issue ($T)"
fua C 64 32 || fail "C: FUA writes: $(tail -5 /tmp/C.out)"             # C: 64-95, FUA
fua C2 20 4 || fail "C2: FUA writes: $(tail -5 /tmp/C2.out)"           # C2: 20-23, FUA over D1
trace_off
nfua=$(grep -cE " $majmin F?WF" /tmp/trace)
[ "$nfua" -ge 36 ] || fail "the kernel issued $nfua FUA writes for C and C2 (36 expected): $(head -5 /tmp/trace)"
nflush=$(grep -cE " $majmin F?F[A-Z]* " /tmp/trace)
[ "$nflush" = 0 ] || fail "the kernel sent $nflush FLUSH requests with C and C2: $(grep -E " $majmin F?F" /tmp/trace | head -3)"
ok "the kernel sent C and C2 as $nfua REQ_FUA writes (block_rq_issue rwbs WF*), no FLUSH"
[ "$(dirty)" = $((16 * B)) ] || fail "dirty after the FUA writes (D1's 16 blocks expected): $(dirty)"
put /tmp/D2 128 || fail "D2: write"                                    # D2: 128-191 over zeros
dirty_before=$(dirty)
[ "$dirty_before" = $((80 * B)) ] || fail "dirty before the cut (D1 16 + D2 64 blocks): $dirty_before"
same 16 4 /tmp/D1 0 && same 24 8 /tmp/D1 8 && same 128 64 /tmp/D2 0 ||
  fail "the unflushed writes do not read back before the cut"
ok "before the cut: $dirty_before bytes dirty, the unflushed writes read back"
# A request in flight at the cut: the timeout fault holds the next one (for request_timeout,
# 60 s); the cut ends it with EIO at once.
check "timeout=1,100,0,1" within 10 mqblk set "$id" timeout=1,100,0,1
head -c $((64 * B)) /dev/urandom >/tmp/E
rm -f /tmp/E.rc
(put /tmp/E 256 >/tmp/E.out 2>&1; echo $? >/tmp/E.rc) </dev/null >/dev/null 2>&1 &
for _ in $(seq 100); do [ "$(within 10 mqblk get "$id" fault_held)" -gt 0 ] && break; sleep 0.1; done
[ "$(within 10 mqblk get "$id" fault_held)" = 1 ] || fail "no write held by the timeout fault"
[ "$(within 10 mqblk get "$id" in_flight)" = 1 ] || fail "held write not in flight: $(mqblk get "$id" in_flight)"

check "power=0" within 10 mqblk set "$id" power=0
[ "$(within 10 mqblk get "$id" power)" = 0 ] || fail "get power after power=0"
[ "$(dirty)" = 0 ] || fail "dirty after the cut: $(dirty)"
for _ in $(seq 100); do [ -s /tmp/E.rc ] && break; sleep 0.1; done
[ -s /tmp/E.rc ] || fail "the write in flight at the cut did not end in 10 s after it"
[ "$(cat /tmp/E.rc)" != 0 ] && grep -q "Input/output error" /tmp/E.out ||
  fail "the write in flight at the cut: rc $(cat /tmp/E.rc): $(cat /tmp/E.out)"
[ "$(within 10 mqblk get "$id" in_flight)" = 0 ] || fail "in_flight after the cut: $(mqblk get "$id" in_flight)"
[ "$(within 10 mqblk get "$id" timeouts)" = 0 ] || fail "the held write timed out instead of failing at the cut"
ok "the write held in flight at the cut failed: $(cat /tmp/E.out)"
r=$(off_fails blocks 0 1 /tmp/off) || fail "read while off: $r"
r=$(off_fails put /tmp/A 200) || fail "write while off: $r"
[ -e "$dev" ] || fail "$dev gone while the power is off"
ok "power off: cache_dirty_bytes 0, reads and writes fail with EIO, $dev stays"

check "power=1" within 10 mqblk set "$id" power=1
same 0 16 /tmp/B 0 || fail "B (flushed) lost"
same 16 4 /tmp/A 16 || fail "D1 blocks 16-19 (unflushed) do not read as A"
same 24 40 /tmp/A 24 || fail "D1 blocks 24-31 (unflushed) / A 32-63 do not read as A"
same 128 64 /tmp/Z 0 || fail "D2 (unflushed) does not read as zeros"
same 256 64 /tmp/Z 0 || fail "E (in flight at the cut) does not read as zeros"
fua C 64 32 verify || fail "C (FUA) lost: $(grep -m3 -i 'verify\|bad\|err' /tmp/C.out)"
fua C2 20 4 verify || fail "C2 (FUA over a dirty cached page) lost: $(grep -m3 -i 'verify\|bad\|err' /tmp/C2.out)"
ok "after the cut: flushed A/B and FUA C/C2 survived, unflushed D1/D2 read as before"
[ "$(within 10 mqblk get "$id" cache_evicted_pages)" = 0 ] || fail "pages were evicted"
rep=$(within 30 mqblk del -n "$id") || fail "del"
report_balanced "$rep" || fail "exit report not balanced: $rep"

# --- b. ext4 with its journal -------------------------------------------------------------
dev=$(within 30 mqblk add null size=128M memory_backed=1 cache_size=32) || fail "add (ext4)"
id=${dev#/dev/ublkb}
check "mkfs.ext4" within 120 mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$dev"
mkdir -p /mnt/u
# commit=300: the journal commits (with its FLUSH) only when a fsync asks for it.
check "mount" within 30 mount -t ext4 -o commit=300 "$dev" /mnt/u
for i in 1 2 3; do head -c $((300000 + i * 4096 * 7)) /dev/urandom >/tmp/f$i; done
for i in 1 2 3; do head -c $((65536 * (i + 1))) /dev/urandom >/tmp/g$i; done
mkdir /mnt/u/d || fail "mkdir"
check "f1: write + fsync" within 30 dd if=/tmp/f1 of=/mnt/u/f1 bs=64k conv=fsync status=none
check "f2: write + fsync" within 30 dd if=/tmp/f2 of=/mnt/u/d/f2 bs=64k conv=fsync status=none
# g: O_DIRECT, so the data reaches the device (its cache) at once, but nothing flushes it.
for i in 1 2; do check "g$i: O_DIRECT write" within 30 dd if=/tmp/g$i of=/mnt/u/g$i bs=64k oflag=direct status=none; done
check "f3: write + fsync" within 30 dd if=/tmp/f3 of=/mnt/u/f3 bs=64k conv=fsync status=none
check "g3: O_DIRECT write" within 30 dd if=/tmp/g3 of=/mnt/u/g3 bs=64k oflag=direct status=none
echo unsynced >/mnt/u/h                                   # in the page cache only
dirty_before=$(dirty)
[ "$dirty_before" -gt 0 ] || fail "nothing dirty in the device's cache before the cut"
ok "before the cut: $dirty_before bytes dirty in the device's cache"

check "power=0 (ext4)" within 10 mqblk set "$id" power=0
[ "$(dirty)" = 0 ] || fail "dirty after the cut: $(dirty)"
sync 2>/dev/null   # fails: the page cache's writes die with EIO
within 60 umount /mnt/u || within 30 umount -l /mnt/u || fail "umount after the cut"
ok "umount after the cut"
# The guest's caches of the device go: only what the device holds is read from here on.
blockdev --flushbufs "$dev" 2>/dev/null
echo 3 >/proc/sys/vm/drop_caches
check "power=1 (ext4)" within 10 mqblk set "$id" power=1
dmesg -c >/dev/null
check "mount again" within 60 mount -t ext4 "$dev" /mnt/u
dmesg | grep -q "EXT4-fs (${dev#/dev/}): recovery complete" ||
  fail "no journal replay at the mount after the cut: $(dmesg | grep EXT4 | tr '\n' ' ')"
ok "the journal replayed: $(dmesg | grep -o 'EXT4-fs.*recovery complete')"
for f in f1 d/f2 f3; do cmp /tmp/${f#d/} /mnt/u/$f || fail "$f (fsynced) differs after the cut"; done
ok "fsynced f1 d/f2 f3 intact"
for g in g1 g2 g3; do
  if [ -e /mnt/u/$g ]; then
    sz=$(stat -c %s /mnt/u/$g)
    cmp -n "$sz" /tmp/$g /mnt/u/$g || fail "$g (unsynced) survived with wrong data ($sz bytes)"
    echo "  $g: $sz of $(stat -c %s /tmp/$g) bytes"
  else
    echo "  $g: gone"
  fi
done
echo "  h: $([ -e /mnt/u/h ] && echo "present, $(stat -c %s /mnt/u/h) bytes" || echo gone)"
ok "unsynced files gone or short, never wrong"
check "umount" within 60 umount /mnt/u
check "e2fsck -f -n clean" within 120 e2fsck -f -n "$dev"
rep=$(within 30 mqblk del -n "$id") || fail "del (ext4)"
report_balanced "$rep" || fail "exit report not balanced: $rep"
check "device gone" no_ublk_devices
echo PASS
