#!/usr/bin/env bash
# The file driver in process (`mqblk bench --verify`): on tmpfs (buffered and O_DIRECT
# where allowed) and on the file system of /tmp (ext4 here; the VM test covers an ext4 it
# mounts itself), each read checked against what was written;
# then the size rules (grow, prefix, one line each) and every refusal: exit status 2, one
# line on stderr, nothing created.
set -euo pipefail
MQBLK=${MQBLK:?set MQBLK to the mqblk binary}
SHM=$(mktemp -d /dev/shm/mqblk-file-test.XXXXXX)
EXT=$(mktemp -d /tmp/mqblk-file-test.XXXXXX)
trap 'rm -rf "$SHM" "$EXT"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

verify() {  # label, bench options..., -- driver attributes...
  local label=$1
  shift
  out=$(timeout 60 "$MQBLK" bench --verify "$@" 2>&1) || fail "$label: $out"
  grep -q " 0 mismatches" <<<"$out" || fail "$label: no verification: $out"
  grep -q " 0 errors" <<<"$out" || fail "$label: I/O errors: $out"
  echo "ok: $label: $(grep -o 'verify: .*' <<<"$out")"
}

verify "tmpfs buffered randrw" --runtime 1s --rw randrw file path="$SHM/a.img" size=32M direct=0
verify "tmpfs auto randwrite" --runtime 1s --rw randwrite file path="$SHM/b.img" size=32M
verify "ext4 O_DIRECT randrw" --runtime 1s --rw randrw file path="$EXT/a.img" size=32M direct=1
verify "ext4 buffered 128k write" --runtime 1s --rw write --bs 128k file path="$EXT/b.img" size=32M direct=0
verify "ext4 O_DIRECT 4k blocks, 2 queues" --runtime 1s --rw randrw --jobs 2 \
  file path="$EXT/c.img" size=32M direct=1 blocksize=4096 submit_queues=2
grep -q "direct=1" <<<"$("$MQBLK" bench --ios 1 file path="$EXT/a.img" 2>&1)" ||
  fail "direct=auto on ext4 did not choose O_DIRECT"

# The data is in the file: a run's pattern read back by a second process.
"$MQBLK" bench --verify --ios 2000 --rw write --bs 64k file path="$SHM/a.img" >/dev/null 2>&1 ||
  fail "sequential write"
[[ $(stat -c %s "$SHM/a.img") == $((32 << 20)) ]] || fail "the file changed size"

# Sizes: larger grows (one line), smaller serves a prefix (one line), none: the file's.
truncate -s 1M "$EXT/small.img"
err=$("$MQBLK" bench --ios 10 file path="$EXT/small.img" size=4M 2>&1 >/dev/null)
grep -q "grew .* from 1048576 to 4194304" <<<"$err" || fail "grow line: $err"
[[ $(stat -c %s "$EXT/small.img") == 4194304 ]] || fail "the file did not grow"
err=$("$MQBLK" bench --ios 10 file path="$EXT/small.img" size=1M 2>&1 >/dev/null)
grep -q "serving the first 1048576 of the 4194304 bytes" <<<"$err" || fail "prefix line: $err"
out=$("$MQBLK" bench --ios 10 file path="$EXT/small.img" readonly=1 --rw randread 2>&1)
grep -q "size=4194304 readonly=1" <<<"$out" || fail "readonly: $out"

# Refusals: status 2, exactly one line naming the problem, nothing created or grown.
refuse() {  # expected-substring, driver attributes...
  local want=$1
  shift
  rm -f "$SHM/none.img"
  set +e
  err=$("$MQBLK" bench --ios 1 file "$@" 2>&1 >/dev/null)
  rc=$?
  set -e
  lines=$(grep -c . <<<"$err")
  [[ $rc == 2 && $lines == 1 ]] && grep -q -- "$want" <<<"$err" ||
    fail "file $*: rc=$rc lines=$lines: $err (wanted: $want)"
  [[ ! -e $SHM/none.img ]] || fail "file $*: created the file"
  echo "ok: refused $* -> $err"
}
refuse "no path given" size=1M
refuse "no such file" path="$SHM/none.img"
refuse "not a multiple of the block size 512" path="$SHM/none.img" size=1000
refuse "not a multiple of the block size 4096" path="$EXT/small.img" blocksize=4096 size=6144
refuse "readonly=1 cannot grow it" path="$EXT/small.img" size=8M readonly=1
refuse "readonly=1 cannot create" path="$SHM/none.img" size=1M readonly=1
refuse "not a regular file or block device" path="$SHM"
refuse "unknown attribute" path="$EXT/small.img" sise=1M
refuse "direct=2: must be 0 or 1" path="$EXT/small.img" direct=2
refuse "size=1x" path="$EXT/small.img" size=1x
refuse "hw_queue_depth=0" path="$EXT/small.img" hw_queue_depth=0
: >"$EXT/empty.img"
refuse "the file is empty" path="$EXT/empty.img"
[[ $(stat -c %s "$EXT/small.img") == 4194304 ]] || fail "a refused run changed the file's size"
echo PASS
