#!/usr/bin/env bash
# bench/rbd/run.sh - the rbd driver against the tools people use on the same RBD image,
# same run, alternating, R rounds (median); prints IOPS and the ratio mqblk/baseline:
#   in process: `mqblk bench rbd ...` vs fio's rbd engine (librbd aio, fio's thread);
#               goal >= 0.9 (librbd and the OSDs are the limit)
#   over NBD:   `mqblk nbd rbd ...` vs `qemu-nbd` serving the image through qemu's rbd
#               driver, both driven by fio's nbd engine over a Unix socket; goal >= 1.5
# Workloads: 4k randread and randwrite at QD32, one job. The image lives on a throwaway
# loopback cluster (tests/rbd/cluster.sh; OSDS memstore OSDs, default 1, pool size OSDS),
# written in full first so that reads find data. Every client runs with librbd's cache in
# writeback from the start (rbd_cache_writethrough_until_flush=false, what the rbd driver
# sets since it declares a volatile write cache; fio's rbd engine writes back from its start
# anyway; qemu-nbd gets it through CEPH_ARGS).
#
# Usage: bench/rbd/run.sh [BUILD_DIR] [-r ROUNDS] [-T SECONDS]
# Paste the table into docs/benchmarks.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
[[ $# -gt 0 ]] && shift
rounds=3 secs=5
while getopts "r:T:" o; do
  case $o in
    r) rounds=$OPTARG ;;
    T) secs=$OPTARG ;;
    *) echo "usage: $0 [BUILD_DIR] [-r ROUNDS] [-T SECONDS]" >&2; exit 2 ;;
  esac
done
mqblk=$here/$build/src/cli/mqblk
[[ -x $mqblk ]] || { echo "bench/rbd/run.sh: no mqblk binary under $build (build it first)" >&2; exit 1; }
for t in fio qemu-nbd ceph-mon jq; do
  command -v $t >/dev/null || { echo "bench/rbd/run.sh: $t missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
export OSDS=${OSDS:-1}
dir=$(mktemp -d /tmp/mqblk-bench-rbd.XXXXXX)
server=
stop_server() {
  if [[ -n $server ]]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  server=
}
trap 'stop_server; bash "$here/tests/rbd/cluster.sh" stop "$dir/ceph"; rm -rf "$dir"' EXIT
bash "$here/tests/rbd/cluster.sh" start "$dir/ceph" 256M
export CEPH_CONF=$dir/ceph/ceph.conf
export CEPH_ARGS="--rbd-cache-writethrough-until-flush=false"
fio --name=fill --ioengine=rbd --clientname=admin --pool=rbd --rbdname=img --rw=write --bs=1M \
  --iodepth=8 --output=/dev/null
sock=$dir/sock

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
fio_iops() {  # fio ARGS... -> IOPS (read + write); fio's nbd engine prints to stdout too
  fio "$@" --output-format=json --output="$dir/fio.json" >/dev/null
  jq '.jobs[0] | (.read.iops + .write.iops) | round' "$dir/fio.json"
}
inproc_mqblk() {  # rw
  "$mqblk" bench --json --runtime "${secs}s" --rw "$1" --bs 4k --iodepth 32 \
    rbd pool=rbd image=img | jq '.iops | round'
}
inproc_fio() {  # rw
  fio_iops --name=b --ioengine=rbd --clientname=admin --pool=rbd --rbdname=img --rw="$1" \
    --bs=4k --iodepth=32 --runtime="$secs" --time_based
}
wait_ready() {  # FILE: the server's readiness (mqblk's pidfile, qemu-nbd's socket)
  for _ in $(seq 200); do
    [[ -e $1 ]] && return 0
    kill -0 "$server" 2>/dev/null || { echo "bench/rbd/run.sh: the server exited" >&2; exit 1; }
    sleep 0.05
  done
  echo "bench/rbd/run.sh: no socket after 10 s" >&2
  exit 1
}
over_nbd() {  # rw: fio's nbd engine against whatever serves $sock
  fio_iops --name=b --ioengine=nbd --uri="nbd+unix:///?socket=$sock" --rw="$1" --bs=4k \
    --iodepth=32 --runtime="$secs" --time_based
}
nbd_mqblk() {  # rw
  rm -f "$sock"
  rm -f "$dir/pid"
  "$mqblk" nbd --foreground --socket "$sock" --pidfile "$dir/pid" rbd pool=rbd image=img >/dev/null &
  server=$!
  wait_ready "$dir/pid"
  over_nbd "$1"
  stop_server
}
nbd_qemu() {  # rw
  rm -f "$sock"
  qemu-nbd --socket="$sock" --format=raw --cache=writeback --persistent --shared=8 \
    "rbd:rbd/img:id=admin:conf=$CEPH_CONF" &
  server=$!
  wait_ready "$sock"
  over_nbd "$1"
  stop_server
}

printf '%-12s %-16s %-22s %11s %11s %7s\n' path workload baseline "mqblk IOPS" "base IOPS" ratio
for c in "in-process inproc_mqblk inproc_fio fio-rbd-engine" "NBD nbd_mqblk nbd_qemu qemu-nbd(rbd)"; do
  read -r label mine theirs base <<<"$c"
  for rw in randread randwrite; do
    m=() b=()
    for ((i = 0; i < rounds; i++)); do
      m+=("$($mine "$rw")")
      b+=("$($theirs "$rw")")
    done
    mm=$(median "${m[@]}") bm=$(median "${b[@]}")
    printf '%-12s %-16s %-22s %11s %11s %7.2f\n' "$label" "$rw 4k QD32" "$base" "$mm" "$bm" \
      "$(awk -v a="$mm" -v b="$bm" 'BEGIN {print a / b}')"
  done
done
echo "(median of $rounds rounds of ${secs}s, alternating; $OSDS memstore OSD(s) on loopback;" \
  "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
