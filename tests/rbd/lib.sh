# tests/rbd/lib.sh - shared set-up for the rbd driver's tests (sourced, not run): the NBD
# test library (a private $TMP, start_server/stop_server, fail) plus a private Ceph cluster
# in $TMP/ceph (tests/rbd/cluster.sh), stopped on exit whatever happens.
source "$(dirname "${BASH_SOURCE[0]}")/../nbd/lib.sh"
CLUSTER="$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
CEPH_DIR=$TMP/ceph
export CEPH_CONF=$CEPH_DIR/ceph.conf

rbd_cleanup() {
  local rc=$?
  if ((rc != 0)); then  # servers started with 2>>$TMP/server*.err: show why they failed
    for f in "$TMP"/server*.err; do
      [[ -s $f ]] || continue
      { echo "--- last lines of $(basename "$f"):"; tail -n 15 "$f"; } >&2
      grep -A 40 -m 1 "WARNING: ThreadSanitizer" "$f" >&2 || true  # the first report whole
    done
  fi
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
  bash "$CLUSTER" stop "$CEPH_DIR" || true
  cleanup
}
trap rbd_cleanup EXIT

# cluster_start [IMAGE_SIZE]: the cluster with pool rbd and image rbd/img.
cluster_start() { bash "$CLUSTER" start "$CEPH_DIR" "${1:-64M}" || fail "the test cluster did not start"; }

# rbd_cli ARGS...: the rbd tool on the test cluster, bounded.
rbd_cli() { timeout -k 2 30 rbd --rados-osd-op-timeout 10 --rados-mon-op-timeout 10 "$@"; }


# Under TSan, Ceph's uninstrumented libraries are left out (see tsan.supp).
export TSAN_OPTIONS="${TSAN_OPTIONS:-} suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tsan.supp"
