#!/usr/bin/env bash
# tests/rbd/test_rbd_vm.sh MQBLK RBD_MON_COMMAND - runs tests/rbd/vm_rbd.sh in a fresh VM of
# ../shared/vm/run-in-vm.sh: `mqblk add rbd ...` (ublk) against a cluster started in the
# guest. Stages mqblk, rbd_mon_command, cluster.sh, tests/vm/lib.sh and the OSD's plugins
# (erasure code, object classes: loaded at run time, so run-in-vm.sh's library copying
# does not find them); brings Ceph's daemons and tools with -b. Exits 77 (skipped) when
# the harness is not there (1, failed, if CI=true). The guest gets 2 GB (a mon, a memstore OSD, mqblk).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
harness=${MQBLK_VM_HARNESS:-$root/../shared/vm/run-in-vm.sh}
if [ ! -x "$harness" ]; then
  # Under CI (CI=true, as .ci/run sets it) a VM test that cannot run fails: a missing
  # harness must not pass as green. Elsewhere it is a skip (ctest: SKIP_RETURN_CODE 77).
  [ "${CI:-}" = true ] && { echo "FAIL: no VM harness at $harness (CI=true: a VM test that cannot run is a failure)"; exit 1; }
  echo "SKIP: no VM harness at $harness"
  exit 77
fi
stage=$(mktemp -d "${TMPDIR:-/tmp}/mqblk-vm-rbd.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$1" "$stage/mqblk"
cp "$2" "$stage/rbd_mon_command"
cp "$here/cluster.sh" "$here/vm_rbd.sh" "$root/tests/vm/lib.sh" "$stage/"
mkdir -p "$stage/cephlib"
cp -r /usr/lib/x86_64-linux-gnu/ceph/erasure-code /usr/lib/x86_64-linux-gnu/rados-classes "$stage/cephlib/"
export VM_CACHE_DIR=${VM_CACHE_DIR:-$root/build/vm-cache}
for try in 1 2 3; do  # 125: the VM died booting (TCG), as tests/vm/run.sh retries it
  rc=0
  "$harness" -q -m 2048 -t "${VM_TEST_TIMEOUT:-280}" \
    -b "jq timeout blockdev mkfs.ext4 e2fsck ceph-mon ceph-osd monmaptool ceph-authtool rbd" \
    "$stage" ./vm_rbd.sh || rc=$?
  [ "$rc" = 125 ] && [ "$try" -lt 3 ] || exit "$rc"
  echo "test_rbd_vm.sh: the VM gave no result (exit 125), booting it again" >&2
done
